"""The development identity provider's signing keys and the shapes of its tokens.

`<key_dir>/keys.json` holds the current RS256 key and the previous one (kept after a
rotation so tokens it signed stay valid until they expire; `retire=True` drops it at
once, as after a leaked key). The running provider re-reads the file when it changes,
so `coop token --as` and `coop idp rotate-keys` work with or without it running.

Two token shapes, so every test meets both kinds a real deployment sees: persons get
RFC 9068 access tokens (`typ: at+jwt`, `client_id` = the app they came through), machine
clients get Keycloak's service-account tokens (a UUID `sub`, `preferred_username:
service-account-<client_id>`, `client_id` and `azp`).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

ALGORITHM = "RS256"
# RFC 9068 §2.1: the media type of JWT access tokens.
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 (a media type, not a secret)
# The app persons use by default (`/dev/token`, `coop token --as`, password grant).
MOBILE_APP = "ctg-dans-ma-poche"
_SERVICE_ACCOUNTS = uuid.UUID("5f0e1d2c-3b4a-4e5f-8a9b-0c1d2e3f4a5b")


def _new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": f"dev-{secrets.token_hex(6)}"})


class KeyStore:
    def __init__(self, key_dir: str | os.PathLike[str]) -> None:
        self.path = Path(key_dir) / "keys.json"
        self._version: tuple[int, int] | None = None
        self._keys: list[RSAKey] = []

    def _write(self, keys: list[RSAKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"keys": [k.as_dict(private=True) for k in keys]})
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(data)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)  # atomic: readers see the old or the new set
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load(self) -> list[RSAKey]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                # O_EXCL: when two processes start together, one key set wins.
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return self._load()
            with os.fdopen(fd, "w") as handle:
                handle.write(json.dumps({"keys": [_new_key().as_dict(private=True)]}))
            return self._load()
        version = (stat.st_ino, stat.st_mtime_ns)
        if version != self._version:
            raw = json.loads(self.path.read_text())
            keys = [RSAKey.import_key(entry) for entry in raw["keys"]]
            if not keys:
                raise ValueError(f"{self.path} holds no key")
            self._keys, self._version = keys, version
        return self._keys

    @property
    def current(self) -> RSAKey:
        return self._load()[0]

    def public_jwks(self) -> dict[str, Any]:
        keys = []
        for key in self._load():
            public = key.as_dict(private=False)
            public.update({"use": "sig", "alg": ALGORITHM})
            keys.append(public)
        return {"keys": keys}

    def rotate(self, *, retire: bool = False) -> str:
        """A new current key; the old current becomes the previous one (older dropped),
        or is dropped at once with `retire` (a leaked key: its tokens must stop working)."""
        keys = self._load()
        fresh = _new_key()
        self._write([fresh] if retire else [fresh, keys[0]])
        self._load()
        return str(fresh.kid)

    def sign(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        key = self.current
        header = {"alg": ALGORITHM, "typ": typ, "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])


@dataclass(frozen=True)
class TokenSubject:
    """Who a token is for: the claims naming them and the token's `typ` header."""

    claims: dict[str, Any]
    typ: str


def access_token_claims(
    *, issuer: str, audience: str, ttl_seconds: int, subject_claims: dict[str, Any]
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
        **subject_claims,
    }


def access_token(
    store: KeyStore, *, issuer: str, audience: str, ttl_seconds: int, subject: TokenSubject
) -> str:
    claims = access_token_claims(
        issuer=issuer, audience=audience, ttl_seconds=ttl_seconds, subject_claims=subject.claims
    )
    return store.sign(claims, typ=subject.typ)


def person_subject(
    subject: str, email: str, name: str, username: str, *, client_id: str = MOBILE_APP
) -> TokenSubject:
    """RFC 9068: a person's access token names the client they came through."""
    return TokenSubject(
        {
            "sub": subject,
            "client_id": client_id,
            "azp": client_id,
            "scope": "openid profile email",
            "email": email,
            "email_verified": True,
            "name": name,
            "preferred_username": username,
        },
        ACCESS_TOKEN_TYP,
    )


def service_account_id(client_id: str) -> uuid.UUID:
    """The stable id of a client's service account (Keycloak gives it a user UUID)."""
    return uuid.uuid5(_SERVICE_ACCOUNTS, client_id)


def service_account_subject(client_id: str) -> TokenSubject:
    """As Keycloak issues them for `client_credentials`: `sub` is the service account."""
    return TokenSubject(
        {
            "sub": str(service_account_id(client_id)),
            "typ": "Bearer",
            "azp": client_id,
            "client_id": client_id,
            "scope": "profile email",
            "preferred_username": f"service-account-{client_id}",
        },
        "JWT",
    )
