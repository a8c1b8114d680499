"""Fixtures of the actions suite: the app on a fixed date, conventions in its replica.

Most tests seed the replica (the service's own ``convention_ref`` table) directly and
run with the conventions service unreachable, so that the service decides from its
replica; `test_with_conventions.py` runs the real conventions app in-process.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kernel.convention_ref import ConventionRef, StatutConvention, upsert_refs
from kernel.principal import Principal
from services.actions.app import create_app
from services.actions.models import convention_ref
from services.actions.settings import ActionsSettings
from tests.support.apps import running
from tests.support.personas import (
    CAF_A,
    CAF_A_AGENT,
    CAF_B,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    X_CONTRIBUTEUR,
    auth_headers,
    stable_id,
)

TODAY = dt.date(2026, 4, 10)  # campaign 2026-T1 open until 2026-04-15
COLLECTIVITE_Z = stable_id("collectivite-z")  # co-signs Caf A's main convention with X
# What the conventions service's feed names them (the replica's `noms`).
NOMS = {
    CAF_A: "Caf A (test)",
    CAF_B: "Caf B (test)",
    COLLECTIVITE_X: "Collectivité X (test)",
    COLLECTIVITE_Y: "Collectivité Y (test)",
    COLLECTIVITE_Z: "Collectivité Z (test)",
}

CONV_A = stable_id("actions:convention-a")
CONV_B = stable_id("actions:convention-b")
CONV_RESILIEE = stable_id("actions:convention-resiliee")
CONV_ECHUE = stable_id("actions:convention-echue")


def ref(
    cid: uuid.UUID,
    caf: uuid.UUID,
    signataires: tuple[uuid.UUID, ...],
    debut: dt.date,
    fin: dt.date,
    *,
    resiliation: dt.date | None = None,
    seq: int = 1,
) -> ConventionRef:
    return ConventionRef(
        id=cid,
        caf_id=caf,
        titre=f"CTG {cid.hex[:6]}",
        echelon="commune",
        statut=StatutConvention.resiliee if resiliation else StatutConvention.signee,
        date_debut=debut,
        date_fin=fin,
        date_effet_resiliation=resiliation,
        signataire_ids=(caf, *signataires),
        seq=seq,
        noms={o: NOMS[o] for o in (caf, *signataires) if o in NOMS},
    )


REFS = [
    ref(
        CONV_A, CAF_A, (COLLECTIVITE_X, COLLECTIVITE_Z), dt.date(2025, 1, 1), dt.date(2029, 12, 31)
    ),
    ref(CONV_B, CAF_B, (COLLECTIVITE_Y,), dt.date(2025, 1, 1), dt.date(2029, 12, 31)),
    ref(
        CONV_RESILIEE,
        CAF_A,
        (COLLECTIVITE_X,),
        dt.date(2024, 1, 1),
        dt.date(2028, 12, 31),
        resiliation=dt.date(2026, 3, 1),
    ),
    ref(CONV_ECHUE, CAF_A, (COLLECTIVITE_X,), dt.date(2020, 1, 1), dt.date(2024, 12, 31)),
]


def conventions_unreachable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"detail": "indisponible"})


@pytest.fixture
async def seeded(db_engine: AsyncEngine) -> None:
    async with AsyncSession(db_engine) as session:
        await upsert_refs(session, convention_ref, REFS)
        await session.commit()


@pytest.fixture
async def client(database_url: str, seeded: None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        ActionsSettings(database_url=database_url, conventions_sync_seconds=3600),
        conventions_transport=httpx.MockTransport(conventions_unreachable),
        today=lambda: TODAY,
    )
    async with running(app) as c:
        yield c


def h(principal: Principal, **extra: str) -> dict[str, str]:
    return {**auth_headers(principal, "actions"), **extra}


Call = Callable[..., Awaitable[httpx.Response]]


class Api:
    """Short calls for the tests: ``await api.post(who, path, json=...)``."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(self, who: Principal, path: str, **kw: Any) -> httpx.Response:
        return await self.client.get(path, headers=h(who, **kw.pop("headers", {})), **kw)

    async def post(self, who: Principal, path: str, **kw: Any) -> httpx.Response:
        return await self.client.post(path, headers=h(who, **kw.pop("headers", {})), **kw)

    async def patch(self, who: Principal, path: str, **kw: Any) -> httpx.Response:
        return await self.client.patch(path, headers=h(who, **kw.pop("headers", {})), **kw)

    async def put(self, who: Principal, path: str, **kw: Any) -> httpx.Response:
        return await self.client.put(path, headers=h(who, **kw.pop("headers", {})), **kw)

    async def delete(self, who: Principal, path: str, **kw: Any) -> httpx.Response:
        return await self.client.delete(path, headers=h(who, **kw.pop("headers", {})), **kw)

    # Builders used by many tests (as a Caf A agent unless told).
    async def axe(self, who: Principal, convention: uuid.UUID, titre: str) -> dict[str, Any]:
        r = await self.post(who, f"/api/v1/conventions/{convention}/axes", json={"titre": titre})
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def action(
        self, who: Principal, convention: uuid.UUID, axe_id: str, **fields: Any
    ) -> dict[str, Any]:
        body = {"axe_id": axe_id, "titre": "Créer un RPE", "porteur_ids": [str(COLLECTIVITE_X)]}
        body.update(fields)
        r = await self.post(who, f"/api/v1/conventions/{convention}/actions", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def indicateur(self, action_id: str, **fields: Any) -> dict[str, Any]:
        """An indicator of the action, created by the Caf A agent."""
        body = {"libelle": "Places créées", "nature": "réalisation", "unite": "places"} | fields
        r = await self.post(CAF_A_AGENT, f"/api/v1/actions/{action_id}/indicateurs", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def suivi_valide(self, action_id: str, periode: str, **fields: Any) -> dict[str, Any]:
        """A suivi filled and submitted by collectivité X's contributeur, then validated by
        the Caf A agent (art. 9: the Caf validates the suivi)."""
        path = f"/api/v1/actions/{action_id}/suivis"
        r = await self.post(X_CONTRIBUTEUR, path, json={"periode": periode} | fields)
        assert r.status_code == 201, r.text
        path = f"{path}/{periode}"
        r = await self.post(
            X_CONTRIBUTEUR, f"{path}/soumission", headers={"if-match": r.headers["etag"]}
        )
        assert r.status_code == 200, r.text
        r = await self.post(
            CAF_A_AGENT, f"{path}/validation", headers={"if-match": r.headers["etag"]}, json={}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)


__all__ = ["CAF_A", "CAF_B", "COLLECTIVITE_Y"]
