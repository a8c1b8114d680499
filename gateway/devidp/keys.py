"""The development identity provider's signing keys, in a small file store.

`<key_dir>/keys.json` holds the current RS256 key and the previous one (kept after a
rotation so tokens it signed stay valid until they expire). The running provider
re-reads the file when it changes, so `coop token --as` and `coop idp rotate-keys`
work with or without it running.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

ALGORITHM = "RS256"


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

    def rotate(self) -> str:
        """A new current key; the old current becomes the previous one (older dropped)."""
        keys = self._load()
        fresh = _new_key()
        self._write([fresh, keys[0]])
        self._load()
        return str(fresh.kid)

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.current
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])


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
        "typ": "Bearer",
        **subject_claims,
    }


def person_claims(subject: str, email: str, name: str, username: str) -> dict[str, Any]:
    return {
        "sub": subject,
        "azp": "coop-dev",
        "scope": "openid profile email",
        "email": email,
        "email_verified": True,
        "name": name,
        "preferred_username": username,
    }


def client_claims(client_id: str) -> dict[str, Any]:
    # As Keycloak does for a service account: `sub` is the account, `client_id` the client.
    return {
        "sub": f"service-account-{client_id}",
        "azp": client_id,
        "client_id": client_id,
        "scope": "profile",
        "preferred_username": f"service-account-{client_id}",
    }
