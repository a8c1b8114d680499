"""The authorization matrix: personas × every public route × objects inside and outside
their scope → expected status, through the gateway in process (real grants, real IdP).

`ROWS` holds one row per route; the guard test lists the public routes (the gateway's
own, and the services' routes the routing table sends them) and fails when one has no
row. Service routes still to be written into the matrix are listed in PENDING, by name,
so that the gap is visible rather than silent.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.habilitations.endpoints import router as habilitations_router
from kernel.principal import OrganisationKind, Role
from tests.gateway.habilitations.rig import HabRig, habilitations_rig
from tests.support.personas import CAF_A, CAF_B, CNAF, COLLECTIVITE_X, COLLECTIVITE_Y

CAF = OrganisationKind.caf
COLL = OrganisationKind.collectivite

# persona -> grants (None: anonymous)
PERSONAS: dict[str, tuple[uuid.UUID, OrganisationKind, Role] | None] = {
    "caf_a_agent": (CAF_A, CAF, Role.agent),
    "caf_a_lecteur": (CAF_A, CAF, Role.lecteur),
    "caf_b_agent": (CAF_B, CAF, Role.agent),
    "x_referent": (COLLECTIVITE_X, COLL, Role.referent),
    "x_contributeur": (COLLECTIVITE_X, COLL, Role.contributeur),
    "x_lecteur": (COLLECTIVITE_X, COLL, Role.lecteur),
    "y_contributeur": (COLLECTIVITE_Y, COLL, Role.contributeur),
    "national": (CNAF, OrganisationKind.national, Role.lecteur_national),
    "partner_x": (COLLECTIVITE_X, COLL, Role.contributeur),  # machine client
    "anonymous": None,
}


@dataclass
class World:
    hab: HabRig

    def headers(self, persona: str) -> dict[str, str]:
        if persona == "anonymous":
            return {}
        return self.hab.headers(persona, client=persona == "partner_x")

    async def target_grant(self, org: uuid.UUID, role: Role = Role.lecteur) -> uuid.UUID:
        return await self.hab.grant(f"target-{uuid.uuid4().hex[:8]}", org, COLL, role)

    async def etag(self, grant_id: uuid.UUID) -> str:
        resp = await self.hab.client.get(
            f"/api/v1/habilitations/{grant_id}", headers=self.headers("national")
        )
        return resp.headers["etag"]


Call = Callable[[World, str, uuid.UUID], Awaitable[int]]


def _all(default: int, **overrides: int) -> dict[str, int]:
    out = {p: default for p in PERSONAS}
    out["anonymous"] = 401
    out.update(overrides)
    return out


# Who sees a grant on X (inside scope) / on Y (outside scope for Caf A and X personas).
SEES_X = _all(404, caf_a_agent=200, caf_a_lecteur=200, x_referent=200, national=200)
SEES_Y = _all(404, caf_b_agent=200, national=200)
MANAGES_X = _all(403, caf_b_agent=404, y_contributeur=404, caf_a_agent=200, x_referent=200)
MANAGES_Y = _all(404, caf_b_agent=200, national=403, y_contributeur=403)


async def _get_grant(w: World, who: str, org: uuid.UUID) -> int:
    gid = await w.target_grant(org)
    return (
        await w.hab.client.get(f"/api/v1/habilitations/{gid}", headers=w.headers(who))
    ).status_code


async def _history(w: World, who: str, org: uuid.UUID) -> int:
    gid = await w.target_grant(org)
    path = f"/api/v1/habilitations/{gid}/historique"
    return (await w.hab.client.get(path, headers=w.headers(who))).status_code


def _change(action: str, body: dict[str, str], suspend_first: bool = False) -> Call:
    async def call(w: World, who: str, org: uuid.UUID) -> int:
        gid = await w.target_grant(org)
        if suspend_first:
            await w.hab.client.post(
                f"/api/v1/habilitations/{gid}/suspension",
                json={"motif": "préparation"},
                headers={
                    **w.headers("caf_b_agent" if org == COLLECTIVITE_Y else "caf_a_agent"),
                    "if-match": await w.etag(gid),
                },
            )
        resp = await w.hab.client.post(
            f"/api/v1/habilitations/{gid}/{action}",
            json=body,
            headers={**w.headers(who), "if-match": await w.etag(gid)},
        )
        return resp.status_code

    return call


async def _list(w: World, who: str, org: uuid.UUID) -> int:
    return (await w.hab.client.get("/api/v1/habilitations", headers=w.headers(who))).status_code


async def _moi(w: World, who: str, org: uuid.UUID) -> int:
    return (await w.hab.client.get("/api/v1/moi", headers=w.headers(who))).status_code


async def _grant_new(w: World, who: str, org: uuid.UUID) -> int:
    person = await w.hab.person_id(f"new-{uuid.uuid4().hex[:8]}")
    resp = await w.hab.client.post(
        "/api/v1/habilitations",
        json={"personne_id": str(person), "organisation_id": str(org), "role": "lecteur"},
        headers=w.headers(who),
    )
    return resp.status_code


async def _invite(w: World, who: str, org: uuid.UUID) -> int:
    resp = await w.hab.client.post(
        "/api/v1/invitations",
        json={"email": "invite@test.invalid", "organisation_id": str(org), "role": "lecteur"},
        headers=w.headers(who),
    )
    return resp.status_code


ROWS: dict[tuple[str, str], list[tuple[str, Call, uuid.UUID, dict[str, int]]]] = {
    ("GET", "/api/v1/moi"): [("self", _moi, COLLECTIVITE_X, _all(200))],
    ("GET", "/api/v1/habilitations"): [("visible list", _list, COLLECTIVITE_X, _all(200))],
    ("POST", "/api/v1/habilitations"): [
        (
            "lecteur on X",
            _grant_new,
            COLLECTIVITE_X,
            {**MANAGES_X, "caf_a_agent": 201, "x_referent": 201},
        ),
        ("lecteur on Y", _grant_new, COLLECTIVITE_Y, {**MANAGES_Y, "caf_b_agent": 201}),
    ],
    ("GET", "/api/v1/habilitations/{grant_id}"): [
        ("grant on X", _get_grant, COLLECTIVITE_X, SEES_X),
        ("grant on Y", _get_grant, COLLECTIVITE_Y, SEES_Y),
    ],
    ("GET", "/api/v1/habilitations/{grant_id}/historique"): [
        ("grant on X", _history, COLLECTIVITE_X, SEES_X),
        ("grant on Y", _history, COLLECTIVITE_Y, SEES_Y),
    ],
    ("POST", "/api/v1/habilitations/{grant_id}/renouvellement"): [
        ("grant on X", _change("renouvellement", {}), COLLECTIVITE_X, MANAGES_X),
        ("grant on Y", _change("renouvellement", {}), COLLECTIVITE_Y, MANAGES_Y),
    ],
    ("POST", "/api/v1/habilitations/{grant_id}/suspension"): [
        ("grant on X", _change("suspension", {"motif": "m"}), COLLECTIVITE_X, MANAGES_X),
        ("grant on Y", _change("suspension", {"motif": "m"}), COLLECTIVITE_Y, MANAGES_Y),
    ],
    ("POST", "/api/v1/habilitations/{grant_id}/reactivation"): [
        ("grant on X", _change("reactivation", {}, True), COLLECTIVITE_X, MANAGES_X),
        ("grant on Y", _change("reactivation", {}, True), COLLECTIVITE_Y, MANAGES_Y),
    ],
    ("POST", "/api/v1/habilitations/{grant_id}/revocation"): [
        ("grant on X", _change("revocation", {"motif": "m"}), COLLECTIVITE_X, MANAGES_X),
        ("grant on Y", _change("revocation", {"motif": "m"}), COLLECTIVITE_Y, MANAGES_Y),
    ],
    ("POST", "/api/v1/invitations"): [
        (
            "lecteur on X",
            _invite,
            COLLECTIVITE_X,
            {**MANAGES_X, "caf_a_agent": 201, "x_referent": 201},
        ),
        ("lecteur on Y", _invite, COLLECTIVITE_Y, {**MANAGES_Y, "caf_b_agent": 201}),
    ],
}

# Public routes whose rows are still to be written (see the module docstring).
PENDING: set[tuple[str, str]] = {
    ("GET", "/api/v1/invitations"),
    ("POST", "/api/v1/invitations/acceptation"),
    ("POST", "/api/v1/invitations/{invitation_id}/annulation"),
    ("POST", "/api/v1/demandes-acces"),
    ("GET", "/api/v1/demandes-acces"),
    ("GET", "/api/v1/demandes-acces/{demande_id}"),
    ("POST", "/api/v1/demandes-acces/{demande_id}/approbation"),
    ("POST", "/api/v1/demandes-acces/{demande_id}/refus"),
    ("POST", "/api/v1/clients"),
    ("GET", "/api/v1/clients"),
}


def gateway_routes() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in habilitations_router.routes:
        if isinstance(route, APIRoute):
            for method in route.methods:
                found.add((method, route.path))
    return found


def test_every_gateway_route_has_a_row() -> None:
    missing = gateway_routes() - set(ROWS) - PENDING
    assert missing == set(), f"routes without a row in the matrix: {sorted(missing)}"
    assert set(ROWS) <= gateway_routes(), "rows for routes that no longer exist"


@pytest.fixture
async def world(tmp_path: Path, database_url: str, db_engine: AsyncEngine) -> AsyncIterator[World]:
    async with habilitations_rig(tmp_path, database_url, db_engine) as hab:
        for persona, grant in PERSONAS.items():
            if grant is None:
                continue
            if persona == "partner_x":
                await hab.client_grant(persona, *grant)
            else:
                await hab.grant(persona, *grant)
        yield World(hab)


@pytest.mark.parametrize("route", sorted(ROWS), ids=lambda r: f"{r[0]} {r[1]}")
async def test_matrix(world: World, route: tuple[str, str]) -> None:
    failures = []
    for label, call, org, expected in ROWS[route]:
        for persona, status in expected.items():
            got = await call(world, persona, org)
            if got != status:
                failures.append(f"{label} / {persona}: expected {status}, got {got}")
    assert failures == []
