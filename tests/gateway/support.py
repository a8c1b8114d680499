"""Helpers of the gateway tests: a real dev IdP in process, forged tokens, a test resolver."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from gateway.devidp.app import create_app as create_idp_app
from gateway.devidp.keys import KeyStore
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
        return Principal(subject=identity.subject, kind=identity.kind)


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
async def running_idp(key_dir: Path) -> AsyncIterator[tuple[FastAPI, CountingTransport]]:
    app = create_idp_app(idp_settings(key_dir))
    async with app.router.lifespan_context(app):
        yield app, CountingTransport(httpx.ASGITransport(app=app))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(sub: str = "person-1", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": IDP_ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
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
