"""The public API through the gateway (in process, real echo services behind it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from kernel.principal import Grant, OrganisationKind, Principal, PrincipalKind, Role
from tests.gateway.conftest import GatewayRig, RigFactory
from tests.gateway.support import bearer, claims, sign
from tests.support.personas import CAF_A, COLLECTIVITE_X

# Fixed: the parameters below name it, and every xdist worker must collect the same tests.
CONVENTION = uuid.UUID("501e7127-60a1-428d-9bfa-a2abc10ffa00")


def token(rig: GatewayRig, sub: str = "p-1") -> dict[str, str]:
    return bearer(sign(rig.store, claims(sub)))


def grants(subject: str, *pairs: tuple[uuid.UUID, OrganisationKind, Role]) -> Principal:
    return Principal(
        subject=subject,
        kind=PrincipalKind.person,
        grants=tuple(Grant(organisation_id=o, organisation_kind=k, role=r) for o, k, r in pairs),
    )


async def test_identity_is_carried_only_by_the_internal_token(rig: GatewayRig) -> None:
    rig.resolver.grants["p-1"] = grants("p-1", (CAF_A, OrganisationKind.caf, Role.agent))
    forged = {
        "x-coop-principal": "admin",
        "x-coop-grants": "everything",
        "x-forwarded-for": "6.6.6.6",
        "x-forwarded-host": "evil.test",
        "forwarded": "for=6.6.6.6",
        "x-real-ip": "6.6.6.6",
        "x-internal-service": "conventions",
        "cookie": "session=stolen",
        "connection": "x-secret-hop",
        "x-secret-hop": "1",
        "x-request-id": "trace-42",
        "x-custom": "kept",
    }
    response = await rig.client.get(
        "/api/v1/conventions", params={"q": "a b", "limit": "2"}, headers={**token(rig), **forged}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["service"] == "conventions"
    assert body["subject"] == "p-1"
    assert body["grants"] == [
        {"organisation_id": str(CAF_A), "organisation_kind": "caf", "role": "agent"}
    ]
    assert body["query"] == "q=a+b&limit=2"
    seen = dict(body["headers"])
    names = [name for name, _ in body["headers"]]
    for stripped in (
        "x-coop-principal",
        "x-coop-grants",
        "forwarded",
        "x-real-ip",
        "x-internal-service",
        "cookie",
        "x-secret-hop",
    ):
        assert stripped not in seen
    assert names.count("x-forwarded-for") == 1
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-host"] == "testserver"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-request-id"] == "trace-42"
    assert seen["x-custom"] == "kept"
    assert names.count("authorization") == 1
    assert response.headers["x-request-id"] == "trace-42"
    assert response.headers.get_list("x-request-id") == ["trace-42"]


async def test_changed_grants_reach_the_service_on_the_next_request(rig: GatewayRig) -> None:
    rig.resolver.grants["p-1"] = grants(
        "p-1", (COLLECTIVITE_X, OrganisationKind.collectivite, Role.referent)
    )
    first = (await rig.client.get("/api/v1/conventions", headers=token(rig))).json()
    assert [g["role"] for g in first["grants"]] == ["referent"]
    rig.resolver.grants["p-1"] = grants("p-1")  # revoked
    second = (await rig.client.get("/api/v1/conventions", headers=token(rig))).json()
    assert second["grants"] == []


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/organisations", "conventions"),
        ("/api/v1/organisations/abc", "conventions"),
        (f"/api/v1/conventions/{CONVENTION}", "conventions"),
        (f"/api/v1/conventions/{CONVENTION}/signataires", "conventions"),
        (f"/api/v1/conventions/{CONVENTION}/axes", "actions"),
        (f"/api/v1/conventions/{CONVENTION}/actions", "actions"),
        (f"/api/v1/conventions/{CONVENTION}/campagnes/2025-T1", "actions"),
        (f"/api/v1/conventions/{CONVENTION}/bilans", "actions"),
        ("/api/v1/actions/xyz/suivis/2025-T2", "actions"),
        ("/api/v1/campagnes/2025-T1", "actions"),
        ("/api/v1/moi/actions-a-renseigner", "actions"),
        ("/api/v1/documents", "documents"),
        (f"/api/v1/conventions/{CONVENTION}/documents", "documents"),
    ],
)
async def test_routes_reach_their_service(rig: GatewayRig, path: str, service: str) -> None:
    response = await rig.client.get(path, headers=token(rig))
    assert response.status_code == 200, response.text
    assert response.json()["service"] == service
    assert response.json()["path"] == path


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nowhere",
        "/api/v2/conventions",
        "/internal/v1/secret",
        "/api/v1/conventions/../../internal/v1/secret",
        "/api/v1/conventions/%2e%2e/x",
        "/api/v1//conventions",
    ],
)
async def test_unknown_paths_are_404_problems_and_never_proxied(rig: GatewayRig, path: str) -> None:
    response = await rig.client.get(path, headers=token(rig))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_security_headers(rig: GatewayRig) -> None:
    response = await rig.client.get("/api/v1/conventions", headers=token(rig))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["server"] == "coop"  # no software named, the service's dropped
    unauthenticated = await rig.client.get("/api/v1/conventions")
    assert unauthenticated.headers["x-content-type-options"] == "nosniff"
    download = await rig.client.get("/api/v1/documents/10/contenu", headers=token(rig))
    assert download.headers.get_list("x-content-type-options") == ["nosniff"]


async def test_hsts_when_configured_and_the_consoles_own_csp(make_rig: RigFactory) -> None:
    async with make_rig(hsts=True) as hsts_rig:
        api = await hsts_rig.client.get("/api/v1/conventions", headers=token(hsts_rig))
        docs = await hsts_rig.client.get("/docs")
    assert api.headers["strict-transport-security"].startswith("max-age=")
    assert "default-src 'none'" in api.headers["content-security-policy"]
    assert docs.status_code == 200
    assert docs.headers["strict-transport-security"].startswith("max-age=")
    assert docs.headers["x-content-type-options"] == "nosniff"
    # The console's policy is not the API's (its page would not load), nor none at all.
    assert "script-src 'self'" in docs.headers["content-security-policy"]


async def test_no_hsts_by_default(rig: GatewayRig) -> None:
    response = await rig.client.get("/api/v1/conventions", headers=token(rig))
    assert "strict-transport-security" not in response.headers


async def test_cors_for_configured_origins_only(make_rig: RigFactory) -> None:
    async with make_rig(cors_origins=["https://app.coop.example"]) as rig:
        preflight = await rig.client.options(
            "/api/v1/conventions",
            headers={
                "origin": "https://app.coop.example",
                "access-control-request-method": "PATCH",
                "access-control-request-headers": "authorization, if-match",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.coop.example"
        other = await rig.client.options(
            "/api/v1/conventions",
            headers={"origin": "https://evil.test", "access-control-request-method": "GET"},
        )
        assert "access-control-allow-origin" not in other.headers
        simple = await rig.client.get(
            "/api/v1/conventions", headers={**token(rig), "origin": "https://app.coop.example"}
        )
        assert simple.headers["access-control-allow-origin"] == "https://app.coop.example"
        assert "etag" in simple.headers["access-control-expose-headers"].lower()


async def test_rate_limit_per_principal(make_rig: RigFactory) -> None:
    async with make_rig(rate_limit_burst=3, rate_limit_per_second=0.01) as rig:
        statuses = [
            (await rig.client.get("/api/v1/conventions", headers=token(rig, "busy"))).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        limited = await rig.client.get("/api/v1/conventions", headers=token(rig, "busy"))
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) >= 1
        other = await rig.client.get("/api/v1/conventions", headers=token(rig, "calm"))
        assert other.status_code == 200


async def test_rate_limit_per_ip_before_authentication(make_rig: RigFactory) -> None:
    async with make_rig(ip_rate_limit_burst=2, ip_rate_limit_per_second=0.01) as rig:
        first = [(await rig.client.get("/api/v1/conventions")).status_code for _ in range(2)]
        assert first == [401, 401]
        limited = await rig.client.get("/api/v1/conventions", headers=token(rig))
        assert limited.status_code == 429
        assert "retry-after" in limited.headers
        # The IETF draft's fields: the whole budget (2 per 200 s), none left.
        assert limited.headers["ratelimit-policy"] == '"par-adresse-ip";q=2;w=200'
        assert limited.headers["ratelimit"].startswith('"par-adresse-ip";r=0;t=')
        # Refused before the router, rendered like every other problem.
        assert limited.json()["instance"] == "/api/v1/conventions"


async def _chunks(total: int, size: int = 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


async def test_body_size_limits(make_rig: RigFactory) -> None:
    async with make_rig(
        max_body_bytes=4096, documents_max_body_bytes=64 * 1024, imports_max_body_bytes=32 * 1024
    ) as rig:
        small = await rig.client.post(
            "/api/v1/conventions/x/y", headers=token(rig), content=b"a" * 4096
        )
        assert small.status_code == 200
        assert small.json()["bytes"] == 4096
        declared = await rig.client.post(
            "/api/v1/conventions/x/y", headers=token(rig), content=b"a" * 4097
        )
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"
        too_large = "Le contenu dépasse la taille maximale (4096 octets)."
        assert declared.json()["detail"] == too_large
        assert declared.json()["instance"] == "/api/v1/conventions/x/y"
        chunked = await rig.client.post(
            "/api/v1/conventions/x/y", headers=token(rig), content=_chunks(8192)
        )
        assert chunked.status_code == 413
        assert chunked.json()["detail"] == too_large
        document = await rig.client.post(
            "/api/v1/documents", headers=token(rig), content=_chunks(60 * 1024)
        )
        assert document.status_code == 200
        assert document.json()["bytes"] == 60 * 1024
        too_big = await rig.client.post(
            "/api/v1/documents", headers=token(rig), content=_chunks(80 * 1024)
        )
        assert too_big.status_code == 413
        # An imported plan d'actions (the actions service takes 10 MiB): its own limit.
        imported = "/api/v1/conventions/x/imports"
        plan = await rig.client.post(imported, headers=token(rig), content=_chunks(30 * 1024))
        assert plan.status_code == 200
        assert plan.json()["bytes"] == 30 * 1024
        plan = await rig.client.post(imported, headers=token(rig), content=_chunks(40 * 1024))
        assert plan.status_code == 413


async def test_merged_openapi_and_swagger_ui(rig: GatewayRig) -> None:
    document = (await rig.client.get("/api/v1/openapi.json")).json()
    paths = document["paths"]
    assert "get" in paths["/api/v1/conventions"]
    assert "post" in paths["/api/v1/documents"]
    assert "/api/v1/documents/{size}/contenu" in paths
    assert not any(p.startswith("/internal") or p in ("/healthz", "/metrics") for p in paths)
    assert document["components"]["securitySchemes"]["oidc"]["openIdConnectUrl"].endswith(
        "/.well-known/openid-configuration"
    )
    docs = await rig.client.get("/docs")
    assert docs.status_code == 200
    assert "/api/v1/openapi.json" in docs.text
