"""Helpers of the gateway tests: a real dev IdP in process, forged tokens, a test resolver."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from gateway.devidp.app import create_app as create_idp_app
from gateway.devidp.keys import (
    MOBILE_APP,
    KeyStore,
    access_token,
    person_subject,
    service_account_subject,
)
from gateway.devidp.settings import DevIdpSettings
from gateway.identity import CallerIdentity
from kernel.principal import Principal

IDP_ISSUER = "http://idp.test"
AUDIENCE = "coop-api"
# The auth and proxy paths never touch the gateway's database (grants come from the
# test resolver); the engine is created lazily and never connects.
NO_DATABASE = "postgresql://coop:unused@127.0.0.1:9/unused"


class StaticGrantResolver:
    """Test-only GrantResolver: grants by subject, as the habilitations would give them."""

    def __init__(self, grants: Mapping[str, Principal] | None = None) -> None:
        self.grants = dict(grants or {})
        self.calls: list[CallerIdentity] = []

    async def principal_for(self, identity: CallerIdentity) -> Principal:
        self.calls.append(identity)
        known = self.grants.get(identity.subject)
        if known is not None:
            return known
        return Principal(
            subject=identity.subject, kind=identity.kind, name=identity.name, client=identity.client
        )


class CountingTransport(httpx.AsyncBaseTransport):
    """A real transport that counts the requests it carries, by path."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await self.inner.handle_async_request(request)

    def count(self, path: str) -> int:
        return self.paths.count(path)


def idp_settings(key_dir: Path, **overrides: Any) -> DevIdpSettings:
    return DevIdpSettings(key_dir=str(key_dir), issuer=IDP_ISSUER, **overrides)


@asynccontextmanager
async def running_idp(
    key_dir: Path, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, CountingTransport]]:
    app = create_idp_app(idp_settings(key_dir, **overrides))
    async with app.router.lifespan_context(app):
        yield app, CountingTransport(httpx.ASGITransport(app=app))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(sub: str = "person-1", **overrides: Any) -> dict[str, Any]:
    """A person's access token as RFC 9068 shapes it (`client_id`: the app they use)."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": IDP_ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "client_id": MOBILE_APP,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "email": f"{sub}@demo.coop.invalid",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(store: KeyStore, payload: Mapping[str, Any], **header: Any) -> str:
    key = store.current
    head = {"alg": "RS256", "typ": "JWT", "kid": key.kid, **header}
    return jwt.encode(head, dict(payload), key, algorithms=[head["alg"]])


def person_token(
    store: KeyStore, subject: str, email: str, name: str, *, client_id: str = MOBILE_APP
) -> str:
    """A person's token exactly as the development provider issues it (RFC 9068)."""
    return access_token(
        store,
        issuer=IDP_ISSUER,
        audience=AUDIENCE,
        ttl_seconds=300,
        subject=person_subject(subject, email, name, name.lower(), client_id=client_id),
    )


def client_token(store: KeyStore, client_id: str) -> str:
    """A machine client's token as the development provider issues it (Keycloak's shape)."""
    return access_token(
        store,
        issuer=IDP_ISSUER,
        audience=AUDIENCE,
        ttl_seconds=300,
        subject=service_account_subject(client_id),
    )


def sign_with(key: RSAKey | ECKey, alg: str, payload: Mapping[str, Any], kid: str) -> str:
    return jwt.encode({"alg": alg, "kid": kid}, dict(payload), key, algorithms=[alg])


def unsigned(header: Mapping[str, Any], payload: Mapping[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        (
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(payload).encode()),
            b64url(signature),
        )
    )


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# --- authorization code + PKCE, as an app drives it (no browser: the form is plain HTML)


class LoginForm(HTMLParser):
    """The development provider's login page: where it posts, what it carries, who."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.personas: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.action = found.get("action") or ""
        elif tag == "input" and found.get("type") == "hidden":
            self.fields[found.get("name") or ""] = found.get("value") or ""
        elif tag == "button" and found.get("name") == "persona":
            self.personas.append(found.get("value") or "")


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge), RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(48)
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


async def authorize(
    idp: httpx.AsyncClient,
    persona: str,
    *,
    challenge: str,
    redirect_uri: str,
    client_id: str = MOBILE_APP,
    state: str = "etat-1",
) -> httpx.URL:
    """Open the login page, choose `persona`: the redirect back to the app."""
    page = await idp.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": "openid profile email",
            "state": state,
        },
    )
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    form = LoginForm(page.text)
    assert persona in form.personas
    answer = await idp.post(form.action, data={**form.fields, "persona": persona})
    assert answer.status_code == 303, answer.text
    return httpx.URL(answer.headers["location"])
