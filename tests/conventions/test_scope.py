"""Scope per persona: two Cafs, two collectivités, national; reading and writing each
other's data. Out of scope 404, readable but not writable 403; nothing written."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.principal import Principal, Role
from tests.conventions.helpers import h, payload, table_counts
from tests.support.conventions import make_convention
from tests.support.personas import (
    CAF,
    CAF_A,
    CAF_A_ADMIN,
    CAF_A_AGENT,
    CAF_A_LECTEUR,
    CAF_B,
    CAF_B_AGENT,
    COLL,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    NATIONAL,
    NOBODY,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    X_PARTNER_CLIENT,
    X_REFERENT,
    Y_CONTRIBUTEUR,
    person,
)


@pytest.fixture
async def pair(client: httpx.AsyncClient) -> tuple[uuid.UUID, uuid.UUID]:
    """Convention A (Caf A + X) and convention B (Caf B + Y)."""
    a = await make_convention(client, titre="CTG A")
    b = await make_convention(client, caf_id=CAF_B, signataire_ids=(COLLECTIVITE_Y,), titre="CTG B")
    return a, b


# (principal, sees A, sees B, writes A)
MATRIX: list[tuple[str, Principal, bool, bool, bool]] = [
    ("caf-a-agent", CAF_A_AGENT, True, False, True),
    ("caf-a-admin", CAF_A_ADMIN, True, False, True),
    ("caf-a-lecteur", CAF_A_LECTEUR, True, False, False),
    ("caf-b-agent", CAF_B_AGENT, False, True, False),
    ("x-referent", X_REFERENT, True, False, False),
    ("x-contributeur", X_CONTRIBUTEUR, True, False, False),
    ("x-lecteur", X_LECTEUR, True, False, False),
    ("x-client", X_PARTNER_CLIENT, True, False, False),
    ("y-contributeur", Y_CONTRIBUTEUR, False, True, False),
    ("national", NATIONAL, True, True, False),
    ("nobody", NOBODY, False, False, False),
    # Both kinds of grant: the Caf's conventions, and those its collectivité signs.
    (
        "caf-b-agent-x-lecteur",
        person(
            "caf-b-agent-x-lecteur", (CAF_B, CAF, Role.agent), (COLLECTIVITE_X, COLL, Role.lecteur)
        ),
        True,
        True,
        False,
    ),
]


async def test_scope_of_every_persona(
    client: httpx.AsyncClient,
    db_engine: AsyncEngine,
    pair: tuple[uuid.UUID, uuid.UUID],
) -> None:
    # One test for the whole matrix: each persona reads and tries to write both conventions.
    for name, principal, sees_a, sees_b, writes_a in MATRIX:
        await _check_persona(client, db_engine, pair, name, principal, sees_a, sees_b, writes_a)


async def _check_persona(
    client: httpx.AsyncClient,
    db_engine: AsyncEngine,
    pair: tuple[uuid.UUID, uuid.UUID],
    name: str,
    principal: Principal,
    sees_a: bool,
    sees_b: bool,
    writes_a: bool,
) -> None:
    a, b = pair
    listed = (await client.get("/api/v1/conventions", headers=h(principal))).json()
    assert {c["titre"] for c in listed["items"]} == {
        t for t, seen in (("CTG A", sees_a), ("CTG B", sees_b)) if seen
    }, name
    for cid, seen in ((a, sees_a), (b, sees_b)):
        for path in ("", "/signataires", "/avenants", "/versions", "/schema-ao"):
            resp = await client.get(f"/api/v1/conventions/{cid}{path}", headers=h(principal))
            assert resp.status_code == (200 if seen else 404), (name, path, resp.text)
        # The service's part of the convention's history feed, for the gateway.
        resp = await client.get(f"/internal/v1/conventions/{cid}/historique", headers=h(principal))
        assert resp.status_code == (200 if seen else 404), (name, resp.text)
    before = await table_counts(db_engine)
    writes_b = CAF_B in principal.caf_write_ids()
    for cid, seen, writes in ((a, sees_a, writes_a), (b, sees_b, writes_b)):
        if writes:
            continue
        expected = 403 if seen else 404
        url = f"/api/v1/conventions/{cid}"
        attempts = [
            (
                "POST",
                f"{url}/avenants",
                {"date_avenant": "2026-06-01", "objet": "x", "articles_modifies": ["A1"]},
            ),
            ("POST", f"{url}/resiliation", {"mode": "sans mise en demeure", "motif": "x"}),
            ("POST", f"{url}/renouvellement", None),
            ("POST", f"{url}/signature", None),
            ("POST", f"{url}/signataires", {"organisation_id": str(COLLECTIVITE_Y)}),
            (
                "POST",
                f"{url}/equipements",
                {"organisation_id": str(CAF_A), "type": "RPE", "nom": "x"},
            ),
            ("PATCH", url, {"titre": "x"}),
        ]
        for method, path, body in attempts:
            resp = await client.request(
                method, path, json=body, headers=h(principal, **{"If-Match": "*"})
            )
            assert resp.status_code == expected, (name, method, path, resp.text)
            assert resp.headers["content-type"] == "application/problem+json"
    assert await table_counts(db_engine) == before, name
    transitions = (await client.get(f"/api/v1/conventions/{a}", headers=h(principal))).json()
    if writes_a:
        assert transitions["transitions_disponibles"] == [
            "avenant",
            "mettre en demeure",
            "résilier",
            "renouveler",
        ]
    elif principal is X_REFERENT:
        # A signatory collectivité's referent acts for it at the end of the convention.
        assert transitions["transitions_disponibles"] == ["mettre en demeure", "résilier"]
    elif sees_a:
        assert transitions["transitions_disponibles"] == [], name


@pytest.mark.parametrize(
    "principal",
    [CAF_A_LECTEUR, CAF_B_AGENT, X_REFERENT, NATIONAL, NOBODY],
    ids=["caf-a-lecteur", "caf-b-agent", "x-referent", "national", "nobody"],
)
async def test_only_the_cafs_agents_create_its_conventions(
    client: httpx.AsyncClient, db_engine: AsyncEngine, principal: Principal
) -> None:
    before = await table_counts(db_engine)
    resp = await client.post("/api/v1/conventions", json=payload(), headers=h(principal))
    assert resp.status_code == 403
    assert await table_counts(db_engine) == before


async def test_service_tokens_are_refused_on_public_routes(client: httpx.AsyncClient) -> None:
    from kernel import dev_keys
    from kernel.internal_token import InternalTokenSigner

    token = InternalTokenSigner("actions", dev_keys.private_jwk("actions")).mint_service(
        "conventions"
    )
    resp = await client.get("/api/v1/conventions", headers={"authorization": f"Bearer {token}"})
    assert resp.status_code == 403
    anonymous = await client.get("/api/v1/conventions")
    assert anonymous.status_code == 401


async def test_unknown_convention_is_404_for_its_own_caf(client: httpx.AsyncClient) -> None:
    resp = await client.get(f"/api/v1/conventions/{uuid.uuid4()}", headers=h())
    assert resp.status_code == 404
    assert CAF_A  # the persona's Caf exists: only the convention is unknown
