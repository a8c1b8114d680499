"""The internal token is the only identity a service accepts; forgeries are refused."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from kernel import dev_keys
from kernel.errors import ServiceUnavailable, Unauthorized
from kernel.internal_token import (
    INTERNAL_TOKEN_TYP,
    LEEWAY_SECONDS,
    InternalTokenSigner,
    InternalTokenVerifier,
    read_internal,
)
from kernel.principal import PrincipalKind, Role
from tests.kernel.toy_app import create_toy_app
from tests.support.apps import running
from tests.support.personas import CAF_A, CAF_A_AGENT, X_CONTRIBUTEUR, internal_token

GATEWAY_KEY = ECKey.import_key(json.loads(dev_keys.private_jwk("gateway")))
verifier = InternalTokenVerifier("conventions", dev_keys.all_public_jwks())


def forge(header: dict[str, Any], claims: dict[str, Any], key: Any = GATEWAY_KEY) -> str:
    return jwt.encode(header, claims, key, algorithms=[header["alg"]])


def good_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "gateway",
        "aud": "conventions",
        "iat": now,
        "exp": now + 30,
        "sub": "someone",
        "kind": "person",
        "grants": [{"org": str(CAF_A), "kind": "caf", "role": "agent"}],
    }
    claims.update(changes)
    return claims


HEADER = {"alg": "ES256", "typ": INTERNAL_TOKEN_TYP, "kid": "gateway"}


def test_round_trip_carries_subject_kind_and_grants() -> None:
    principal = verifier.verify(internal_token(CAF_A_AGENT, "conventions"))
    assert principal == CAF_A_AGENT
    assert principal.caf_write_ids() == {CAF_A}
    assert principal.kind is PrincipalKind.person
    assert forge(HEADER, good_claims())  # the forging helper itself produces valid tokens
    assert verifier.verify(forge(HEADER, good_claims())).grants[0].role is Role.agent


def test_the_token_carries_the_display_name_and_the_client_used() -> None:
    """Histories name who acted and through which app: the gateway puts both in the
    token; a token minted before those claims existed (none of them) still verifies."""
    named = CAF_A_AGENT.model_copy(update={"name": "Agnès Martin", "client": "ctg-dans-ma-poche"})
    principal = verifier.verify(internal_token(named, "conventions"))
    assert (principal.name, principal.client) == ("Agnès Martin", "ctg-dans-ma-poche")
    old = verifier.verify(forge(HEADER, good_claims()))
    assert (old.name, old.client) == (None, None)
    with pytest.raises(Unauthorized, match="Contenu"):
        verifier.verify(forge(HEADER, good_claims(name=["not", "a", "name"])))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("token_factory", "reason"),
    [
        (lambda: internal_token(CAF_A_AGENT, "actions"), "autre service"),
        (lambda: forge(HEADER, good_claims(exp=int(time.time()) - 60)), "expiré"),
        (lambda: forge(HEADER, good_claims(exp=int(time.time()) + 600)), "Durée de vie"),
        (lambda: forge({**HEADER, "typ": "JWT"}, good_claims()), "pas un jeton interne"),
        (lambda: forge({**HEADER, "kid": "inconnu"}, good_claims()), "inconnu"),
        (lambda: forge(HEADER, good_claims(iss="documents")), "incohérent"),
        (lambda: forge(HEADER, good_claims(kind="admin")), "Contenu"),
        (
            lambda: forge(HEADER, good_claims(), ECKey.generate_key("P-256", private=True)),
            "Signature",
        ),
        (
            lambda: f"{_b64({**HEADER, 'alg': 'none'})}.{_b64(good_claims())}.",
            "Algorithme",
        ),
        (
            lambda: forge(
                {**HEADER, "alg": "HS256"},
                good_claims(),
                OctKey.import_key(dev_keys.all_public_jwks()["gateway"].encode()),
            ),
            "Algorithme",
        ),
        (lambda: "not-a-jwt", "illisible"),
    ],
)
def test_forged_or_misaddressed_tokens_are_refused(token_factory: Any, reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verifier.verify(token_factory())


def test_tampered_payload_breaks_the_signature() -> None:
    token = internal_token(X_CONTRIBUTEUR, "conventions")
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["grants"][0]["role"] = "referent"
    with pytest.raises(Unauthorized, match="Signature"):
        verifier.verify(f"{head}.{_b64(claims)}.{sig}")


def test_tampering_with_an_already_verified_token_is_still_refused() -> None:
    # Verified tokens are remembered by their exact string: a variant is verified anew.
    token = internal_token(X_CONTRIBUTEUR, "conventions")
    assert verifier.verify(token) == X_CONTRIBUTEUR
    assert verifier.verify(token) == X_CONTRIBUTEUR
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["grants"][0]["role"] = "referent"
    with pytest.raises(Unauthorized, match="Signature"):
        verifier.verify(f"{head}.{_b64(claims)}.{sig}")


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    fresh = InternalTokenVerifier("conventions", dev_keys.all_public_jwks(), cache_size=1)
    # Accepted only within the leeway: expired within two seconds.
    exp = int(time.time()) - LEEWAY_SECONDS + 1
    token = forge(HEADER, good_claims(iat=exp - 30, exp=exp))
    assert fresh.verify(token).subject == "someone"
    while int(time.time()) - LEEWAY_SECONDS <= exp:
        time.sleep(0.05)
    with pytest.raises(Unauthorized, match="expiré"):
        fresh.verify(token)


def test_signer_refuses_lifetimes_over_a_minute() -> None:
    with pytest.raises(ValueError, match="60 seconds"):
        InternalTokenSigner("gateway", dev_keys.private_jwk("gateway"), ttl_seconds=61)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_toy_app(database_url=database_url)) as c:  # type: ignore[arg-type]
        yield c


async def test_public_routes_need_a_person_or_client_token(client: httpx.AsyncClient) -> None:
    missing = await client.get("/me")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    # A plain header never stands for identity.
    spoofed = await client.get("/me", headers={"x-user-id": "admin", "x-coop-principal": "x"})
    assert spoofed.status_code == 401
    ok = await client.get(
        "/me", headers={"authorization": f"Bearer {internal_token(CAF_A_AGENT, 'conventions')}"}
    )
    assert ok.json() == {"subject": CAF_A_AGENT.subject, "grants": 1}
    service = InternalTokenSigner("actions", dev_keys.private_jwk("actions")).mint_service(
        "conventions"
    )
    refused = await client.get("/me", headers={"authorization": f"Bearer {service}"})
    assert refused.status_code == 403


async def test_internal_routes_only_take_service_tokens(client: httpx.AsyncClient) -> None:
    service = InternalTokenSigner("actions", dev_keys.private_jwk("actions")).mint_service(
        "conventions"
    )
    ok = await client.get("/internal/v1/ping", headers={"authorization": f"Bearer {service}"})
    assert ok.json() == {"caller": "actions"}
    person = internal_token(CAF_A_AGENT, "conventions")
    refused = await client.get("/internal/v1/ping", headers={"authorization": f"Bearer {person}"})
    assert refused.status_code == 403


async def test_an_internal_read_it_cannot_use_is_a_503_naming_what_waits() -> None:
    """Every reader of another app's internal route (people, bilans, reminders, the
    conventions' replica, event feeds) answers alike when that app cannot: a 503 with
    Retry-After naming the app and what waits; a status the reader expects comes back."""
    other = FastAPI()

    @other.get("/en-panne")
    async def broken() -> Response:
        return Response(status_code=500)

    @other.get("/absent")
    async def absent() -> Response:
        return Response(status_code=404)

    signer = InternalTokenSigner("actions", dev_keys.private_jwk("actions"))
    said = {"service": "Service des actions", "consequence": "les rappels attendront."}
    async with running(other) as http:
        with pytest.raises(ServiceUnavailable) as failed:
            await read_internal(http, "http://testserver/en-panne", signer, "gateway", **said)
        assert failed.value.detail == "Service des actions : réponse 500, les rappels attendront."
        assert failed.value.headers == {"Retry-After": "5"}
        with pytest.raises(ServiceUnavailable):
            await read_internal(http, "http://testserver/absent", signer, "gateway", **said)
        found = await read_internal(
            http, "http://testserver/absent", signer, "gateway", accept=(200, 404), **said
        )
        assert found.status_code == 404
    async with httpx.AsyncClient(timeout=2) as http:  # nothing listens on port 9
        with pytest.raises(ServiceUnavailable) as failed:
            await read_internal(http, "http://127.0.0.1:9/x", signer, "gateway", **said)
        assert failed.value.detail == "Service des actions injoignable : les rappels attendront."
