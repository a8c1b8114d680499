"""Access token attacks and the JWKS cache, through the gateway's public API."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey

from kernel.principal import PrincipalKind
from tests.gateway.conftest import GatewayRig, RigFactory
from tests.gateway.support import (
    IDP_ISSUER,
    MOBILE_APP,
    b64url,
    bearer,
    claims,
    client_token,
    person_token,
    sign,
    sign_with,
    unsigned,
)
from tests.support.personas import CAF_A_AGENT, internal_token

PATH = "/api/v1/conventions"


def assert_invalid_token(response: httpx.Response, description: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert f'error_description="{description}"' in challenge
    assert response.json()["status"] == 401


async def test_valid_token_reaches_the_service(rig: GatewayRig) -> None:
    token = sign(rig.store, claims("p-1", name="Paule Un"))
    response = await rig.client.get(PATH, headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["subject"] == "p-1"
    # The internal token names the caller and the app they came through (issue 24).
    assert (response.json()["name"], response.json()["client"]) == ("Paule Un", MOBILE_APP)
    assert rig.resolver.calls[-1].kind is PrincipalKind.person
    assert rig.resolver.calls[-1].email == "p-1@demo.coop.invalid"


async def test_missing_token_has_a_bare_challenge(rig: GatewayRig) -> None:
    response = await rig.client.get(PATH)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="coop"'
    assert response.headers["content-type"] == "application/problem+json"
    basic = await rig.client.get(PATH, headers={"authorization": "Basic dXNlcjpwYXNz"})
    assert_invalid_token(basic, "expected a Bearer token")


async def test_expired_token(rig: GatewayRig) -> None:
    now = int(time.time())
    token = sign(rig.store, claims(iat=now - 600, nbf=now - 600, exp=now - 120))
    assert_invalid_token(await rig.client.get(PATH, headers=bearer(token)), "token expired")


async def test_expiry_within_leeway_is_tolerated(rig: GatewayRig) -> None:
    now = int(time.time())
    token = sign(rig.store, claims(iat=now - 60, nbf=now - 60, exp=now - 5))
    assert (await rig.client.get(PATH, headers=bearer(token))).status_code == 200


async def test_token_without_exp(rig: GatewayRig) -> None:
    token = sign(rig.store, {k: v for k, v in claims().items() if k != "exp"})
    assert_invalid_token(await rig.client.get(PATH, headers=bearer(token)), "missing exp")


async def test_not_yet_valid_token(rig: GatewayRig) -> None:
    now = int(time.time())
    token = sign(rig.store, claims(nbf=now + 600, iat=now, exp=now + 900))
    assert_invalid_token(await rig.client.get(PATH, headers=bearer(token)), "token not yet valid")


async def test_wrong_issuer(rig: GatewayRig) -> None:
    token = sign(rig.store, claims(iss="http://evil.test"))
    assert_invalid_token(await rig.client.get(PATH, headers=bearer(token)), "wrong issuer")


async def test_wrong_audience(rig: GatewayRig) -> None:
    token = sign(rig.store, claims(aud="another-api"))
    assert_invalid_token(await rig.client.get(PATH, headers=bearer(token)), "wrong audience")
    listed = sign(rig.store, claims(aud=["another-api", "coop-api"]))
    assert (await rig.client.get(PATH, headers=bearer(listed))).status_code == 200


async def test_alg_none_is_refused(rig: GatewayRig) -> None:
    for alg in ("none", "None", "NONE"):
        token = unsigned({"alg": alg, "typ": "JWT", "kid": rig.store.current.kid}, claims())
        response = await rig.client.get(PATH, headers=bearer(token))
        assert_invalid_token(response, "algorithm not allowed")


async def test_hs256_signed_with_the_public_key_is_refused(rig: GatewayRig) -> None:
    public_pem = rig.store.current.as_pem(private=False)
    header = {"alg": "HS256", "typ": "JWT", "kid": rig.store.current.kid}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims()).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64url(mac)}"
    assert_invalid_token(await rig.client.get(PATH, headers=bearer(token)), "algorithm not allowed")


async def test_key_type_must_match_the_algorithm(rig: GatewayRig) -> None:
    # ES256 is allowed, but the kid names the issuer's RSA key.
    attacker = ECKey.generate_key("P-256")
    token = sign_with(attacker, "ES256", claims(), kid=str(rig.store.current.kid))
    response = await rig.client.get(PATH, headers=bearer(token))
    assert_invalid_token(response, "key type does not match alg")


async def test_tampered_payload(rig: GatewayRig) -> None:
    header, _, signature = sign(rig.store, claims("p-1")).split(".")
    forged = b64url(json.dumps(claims("caf-admin")).encode())
    token = f"{header}.{forged}.{signature}"
    assert_invalid_token(await rig.client.get(PATH, headers=bearer(token)), "invalid signature")


async def test_signed_by_another_key_with_the_issuers_kid(rig: GatewayRig) -> None:
    attacker = RSAKey.generate_key(2048)
    token = sign_with(attacker, "RS256", claims(), kid=str(rig.store.current.kid))
    assert_invalid_token(await rig.client.get(PATH, headers=bearer(token)), "invalid signature")


async def test_internal_token_is_refused_at_the_gateway(rig: GatewayRig) -> None:
    for audience in ("gateway", "conventions"):
        token = internal_token(CAF_A_AGENT, audience)
        response = await rig.client.get(PATH, headers=bearer(token))
        assert_invalid_token(response, "not an access token")


async def test_garbage_token(rig: GatewayRig) -> None:
    for token in (b"abc", b"a.b.c", "é.é.é".encode(), base64.b64encode(b"{}")):
        response = await rig.client.get(PATH, headers={"authorization": b"Bearer " + token})
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_token_without_subject(rig: GatewayRig) -> None:
    token = sign(rig.store, claims(sub=None, client_id=None))
    assert_invalid_token(await rig.client.get(PATH, headers=bearer(token)), "missing sub")


async def caller(rig: GatewayRig, token: str) -> tuple[PrincipalKind, str]:
    response = await rig.client.get(PATH, headers=bearer(token))
    assert response.status_code == 200, response.text
    return rig.resolver.calls[-1].kind, response.json()["subject"]


async def test_a_person_is_the_person_whatever_app_they_came_through(rig: GatewayRig) -> None:
    """RFC 9068 §2.2: `client_id` is REQUIRED in every JWT access token, persons' too.

    Today's rule took any token with `client_id` for that machine client: a person
    logged in through the mobile app was refused as an unregistered client."""
    sub = "3b0c8a52-7a51-4c43-9d5e-2a8f0c1d9e11"
    mobile = person_token(rig.store, sub, "agnes@demo.coop.invalid", "Agnès")
    assert await caller(rig, mobile) == (PrincipalKind.person, sub)
    assert rig.resolver.calls[-1].email == "agnes@demo.coop.invalid"
    # Histories name the person and the app they came through (issue 24).
    assert (rig.resolver.calls[-1].name, rig.resolver.calls[-1].client) == (
        "Agnès",
        "ctg-dans-ma-poche",
    )
    # The same person through another app is the same caller, not that app.
    other_app = person_token(rig.store, sub, "agnes@demo.coop.invalid", "Agnès", client_id="x")
    assert await caller(rig, other_app) == (PrincipalKind.person, sub)
    assert rig.resolver.calls[-1].client == "x"
    # Keycloak's person tokens name the app in `azp` only.
    keycloak = sign(rig.store, claims(sub, client_id=None, azp="ctg-dans-ma-poche"))
    assert await caller(rig, keycloak) == (PrincipalKind.person, sub)
    assert rig.resolver.calls[-1].client == "ctg-dans-ma-poche"
    # A username that looks like another client's service account is still a person:
    # the rule compares it with the token's own client.
    lookalike = sign(rig.store, claims(sub, preferred_username="service-account-partenaire"))
    assert await caller(rig, lookalike) == (PrincipalKind.person, sub)


async def test_a_person_without_a_name_claim_is_named_from_their_other_claims(
    rig: GatewayRig,
) -> None:
    """Given and family names (ProConnect's `usual_name`), else the username; never the
    e-mail, erased when the person leaves while histories keep the name."""
    cases = [
        ({"name": None, "given_name": "Agnès", "usual_name": "Martin"}, "Agnès Martin"),
        ({"name": None, "preferred_username": "amartin"}, "amartin"),
        ({"name": None}, None),
    ]
    for extra, expected in cases:
        token = sign(rig.store, claims("p-9", **extra))
        assert (await rig.client.get(PATH, headers=bearer(token))).status_code == 200
        assert rig.resolver.calls[-1].name == expected


async def test_machine_clients_are_tokens_without_a_person_subject(rig: GatewayRig) -> None:
    # Keycloak's service account, as the development provider issues it (UUID `sub`).
    assert await caller(rig, client_token(rig.store, "partenaire")) == (
        PrincipalKind.client,
        "partenaire",
    )
    # `sub` = the client id (Ory Hydra, panva's oidc-provider).
    hydra = sign(rig.store, claims("back-office", client_id="back-office"))
    assert await caller(rig, hydra) == (PrincipalKind.client, "back-office")
    # No `sub` at all: the client named by `client_id`, else `azp`.
    no_sub = sign(rig.store, claims(sub=None, client_id="partenaire"))
    assert await caller(rig, no_sub) == (PrincipalKind.client, "partenaire")
    azp_only = sign(rig.store, claims(sub=None, client_id=None, azp="back-office"))
    assert await caller(rig, azp_only) == (PrincipalKind.client, "back-office")


async def test_the_service_account_rule_is_a_setting(make_rig: RigFactory) -> None:
    # Auth0's machine tokens: `sub` = "<client_id>@clients".
    async with make_rig(
        oidc_service_account_claim="sub", oidc_service_account_value="{client_id}@clients"
    ) as rig:
        auth0 = sign(rig.store, claims("partenaire@clients", client_id="partenaire"))
        assert await caller(rig, auth0) == (PrincipalKind.client, "partenaire")
        # Keycloak's rule no longer applies: that service account is a subject of its own.
        keycloak = client_token(rig.store, "partenaire")
        kind, subject = await caller(rig, keycloak)
        assert kind is PrincipalKind.person
        assert subject != "partenaire"
    async with make_rig(oidc_service_account_claim="") as rig:
        assert (await caller(rig, client_token(rig.store, "partenaire")))[0] is PrincipalKind.person


async def test_unknown_kids_refresh_once_per_cooldown(make_rig: RigFactory) -> None:
    async with make_rig(jwks_refresh_cooldown_seconds=3600) as rig:
        # A burst of random kids, concurrently (nothing cached yet), then one by one.
        tokens = [sign(rig.store, claims(), kid=f"random-{i}") for i in range(20)]
        responses = await asyncio.gather(
            *(rig.client.get(PATH, headers=bearer(t)) for t in tokens[:10])
        )
        for t in tokens[10:]:
            responses.append(await rig.client.get(PATH, headers=bearer(t)))
        for response in responses:
            assert_invalid_token(response, "unknown signing key")
        # The start-up load, then one fetch shared by the concurrent burst, none for
        # the later kids (cooldown).
        assert rig.idp_transport.count("/jwks") == 2
        assert rig.idp_transport.count("/.well-known/openid-configuration") == 1
        valid = await rig.client.get(PATH, headers=bearer(sign(rig.store, claims())))
        assert valid.status_code == 200
        assert rig.idp_transport.count("/jwks") == 2


async def test_unknown_kid_refreshes_after_the_cooldown(make_rig: RigFactory) -> None:
    async with make_rig(jwks_refresh_cooldown_seconds=0) as rig:
        assert (
            await rig.client.get(PATH, headers=bearer(sign(rig.store, claims())))
        ).status_code == 200
        unknown = sign(rig.store, claims(), kid="random")
        assert_invalid_token(
            await rig.client.get(PATH, headers=bearer(unknown)), "unknown signing key"
        )
        assert rig.idp_transport.count("/jwks") == 2


async def test_rotation_new_key_is_fetched_and_dropped_key_stops_working(
    make_rig: RigFactory,
) -> None:
    async with make_rig(jwks_refresh_cooldown_seconds=0) as rig:
        old_token = sign(rig.store, claims("before"))
        assert (await rig.client.get(PATH, headers=bearer(old_token))).status_code == 200
        rig.store.rotate()
        new_token = sign(rig.store, claims("after"))
        # The new kid is unknown to the cache: one refresh, then accepted.
        assert (await rig.client.get(PATH, headers=bearer(new_token))).status_code == 200
        # The previous key is still published: its tokens still work.
        assert (await rig.client.get(PATH, headers=bearer(old_token))).status_code == 200
        # A second rotation drops the first key; once the gateway refreshed, its
        # tokens (even cached as verified) are refused.
        rig.store.rotate()
        newest = sign(rig.store, claims("newest"))
        assert (await rig.client.get(PATH, headers=bearer(newest))).status_code == 200
        response = await rig.client.get(PATH, headers=bearer(old_token))
        assert_invalid_token(response, "unknown signing key")


async def test_jwks_cache_control_is_honoured(rig: GatewayRig) -> None:
    from gateway.auth.jwks import cache_lifetime

    assert cache_lifetime("public, max-age=60", 300, 3600) == 60
    assert cache_lifetime(None, 300, 3600) == 300
    assert cache_lifetime("max-age=999999", 300, 3600) == 3600
    assert cache_lifetime("no-store", 300, 3600) == 1
    for _ in range(5):
        await rig.client.get(PATH, headers=bearer(sign(rig.store, claims())))
    assert rig.idp_transport.count("/jwks") == 1


async def test_identity_provider_down_is_503_not_401(make_rig: RigFactory) -> None:
    async with make_rig(
        oidc_issuer="http://idp.test", oidc_discovery_url="http://idp.test/nowhere"
    ) as rig:
        response = await rig.client.get(PATH, headers=bearer(sign(rig.store, claims())))
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "5"


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= logging.ERROR]


@pytest.fixture
def jwks_log() -> Iterator[Collected]:
    # On the logger itself: the apps' logging set-up replaces the root's handlers.
    handler, logger = Collected(), logging.getLogger("coop.gateway.jwks")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


async def test_an_issuer_that_does_not_match_discovery_is_loud(
    make_rig: RigFactory, database_url: str, jwks_log: Collected
) -> None:
    """A trailing slash is enough: the provider's discovery document names its issuer
    without it, tokens carry it without it, so no token could ever be verified. Today
    /readyz said ready while every request was a 503."""
    issuer = f"{IDP_ISSUER}/"
    async with make_rig(database_url=database_url, oidc_issuer=issuer) as rig:
        # Start-up says it plainly, before any request.
        for _ in range(100):
            if jwks_log.errors():
                break
            await asyncio.sleep(0.02)
        (line,) = jwks_log.errors()
        assert "OIDC issuer mismatch" in line
        assert repr(issuer) in line
        assert repr(IDP_ISSUER) in line
        ready = await rig.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        detail = ready.json()["detail"]
        assert f"COOP_GATEWAY_OIDC_ISSUER = « {issuer} »" in detail
        assert f"(« {IDP_ISSUER} »)" in detail
        token = sign(rig.store, claims())
        refused = await rig.client.get(PATH, headers=bearer(token))
        assert refused.status_code == 503
        assert "COOP_GATEWAY_OIDC_ISSUER" in refused.json()["detail"]
        # Still one line, however many requests and retries.
        assert len(jwks_log.errors()) == 1
    async with make_rig(database_url=database_url) as rig:
        assert (await rig.client.get("/readyz")).status_code == 200
