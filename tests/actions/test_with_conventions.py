"""The actions service against the real conventions service, in-process.

Both apps share the test database (each its own schema); the actions app reaches the
conventions app's internal feed through an ASGI transport, as it would over HTTP.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.actions.app import create_app
from services.actions.models import convention_ref
from services.actions.settings import ActionsSettings
from tests.actions.conftest import Api
from tests.support.apps import running
from tests.support.conventions import (
    conventions_app,
    make_convention,
    resilier,
    seed_organisations,
)
from tests.support.personas import (
    CAF_A,
    CAF_A_AGENT,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    auth_headers,
)

TODAY = dt.date(2026, 11, 24)  # campaign 2026-T3 is due until 15 October: 2026-T4 is open


@dataclass
class Both:
    conventions: httpx.AsyncClient
    api: Api
    app: object


@pytest.fixture
async def both(database_url: str) -> AsyncIterator[Both]:
    await seed_organisations(database_url)
    conv_app = conventions_app(database_url, today=TODAY)
    async with running(conv_app) as conv_client:
        app = create_app(
            # A long interval: what these tests see comes from on-demand fetches.
            ActionsSettings(
                database_url=database_url,
                conventions_url="http://conventions",
                conventions_sync_seconds=3600,
            ),
            conventions_transport=httpx.ASGITransport(app=conv_app),
            today=lambda: TODAY,
        )
        async with running(app) as client:
            replica = app.state.actions.replica
            # Let the startup catch-up finish (the lock is fair: the second call runs after it).
            await replica.sync_once()
            await replica.sync_once()
            yield Both(conv_client, Api(client), app)


async def in_replica(engine: AsyncEngine, convention_id: uuid.UUID) -> bool:
    async with engine.connect() as conn:
        row = await conn.execute(
            select(convention_ref.c.id).where(convention_ref.c.id == convention_id)
        )
        return row.first() is not None


async def test_unknown_convention_is_fetched_on_demand(both: Both, db_engine: AsyncEngine) -> None:
    cid = await make_convention(both.conventions, signataire_ids=(COLLECTIVITE_X,))
    assert not await in_replica(db_engine, cid)
    r = await both.api.get(X_LECTEUR, f"/api/v1/conventions/{cid}/axes")
    assert r.status_code == 200
    assert await in_replica(db_engine, cid)
    # Unknown to the conventions service too: 404; another collectivité's: 404.
    r = await both.api.get(X_LECTEUR, f"/api/v1/conventions/{uuid.uuid4()}/axes")
    assert r.status_code == 404
    other = await make_convention(both.conventions, signataire_ids=(COLLECTIVITE_Y,))
    assert (await both.api.get(X_LECTEUR, f"/api/v1/conventions/{other}/axes")).status_code == 404


async def test_resiliation_is_seen_by_the_next_write(both: Both) -> None:
    cid = await make_convention(both.conventions, signataire_ids=(COLLECTIVITE_X,))
    axe = await both.api.axe(CAF_A_AGENT, cid, "Soutenir les parents")
    action = await both.api.action(CAF_A_AGENT, cid, axe["id"])
    await resilier(both.conventions, cid)
    # No background sync has run since: the write refreshes the convention first.
    r = await both.api.post(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{action['id']}/suivis",
        json={"periode": "2026-T4", "statut_action": "abandonnée"},
    )
    assert r.status_code == 409
    assert r.json()["etat_convention"] == "résiliée"
    r = await both.api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{cid}/actions",
        json={"axe_id": axe["id"], "titre": "Trop tard", "porteur_ids": [str(COLLECTIVITE_X)]},
    )
    assert r.status_code == 409
    # What exists stays readable.
    assert (await both.api.get(X_LECTEUR, f"/api/v1/actions/{action['id']}")).status_code == 200


async def test_echue_convention_accepts_no_new_work(both: Both) -> None:
    cid = await make_convention(
        both.conventions,
        signataire_ids=(COLLECTIVITE_X,),
        date_debut=dt.date(2021, 1, 1),
        date_fin=dt.date(2025, 12, 31),
    )
    r = await both.api.post(CAF_A_AGENT, f"/api/v1/conventions/{cid}/axes", json={"titre": "Agir"})
    assert r.status_code == 409
    assert r.json()["etat_convention"] == "échue"


async def test_porteurs_are_checked_against_the_real_signataires(both: Both) -> None:
    cid = await make_convention(both.conventions, signataire_ids=(COLLECTIVITE_X,))
    axe = await both.api.axe(CAF_A_AGENT, cid, "Agir")
    r = await both.api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{cid}/actions",
        json={"axe_id": axe["id"], "titre": "x", "porteur_ids": [str(COLLECTIVITE_Y)]},
    )
    assert r.status_code == 422
    created = await both.api.action(CAF_A_AGENT, cid, axe["id"])
    assert created["porteur_ids"] == [str(COLLECTIVITE_X)]


async def test_the_feed_brings_changes_to_reads(both: Both, db_engine: AsyncEngine) -> None:
    cid = await make_convention(both.conventions, signataire_ids=(COLLECTIVITE_X,))
    replica = both.app.state.actions.replica  # type: ignore[attr-defined]
    assert await replica.sync_once() >= 1
    assert await in_replica(db_engine, cid)
    await resilier(both.conventions, cid)
    assert await replica.sync_once() == 1
    async with db_engine.connect() as conn:
        statut = (
            await conn.execute(select(convention_ref.c.statut).where(convention_ref.c.id == cid))
        ).scalar_one()
    assert statut == "résiliée"


async def test_names_beside_ids_and_a_rename_reaches_them_through_the_sync(both: Both) -> None:
    """Issue 23: porteurs and the Caf are named beside their ids (the replica's `noms`,
    fed by the conventions service), in lists, details, campaigns and "my work"; a
    renamed organisation reaches them at the replica's next catch-up (the sync job)."""
    cid = await make_convention(both.conventions, signataire_ids=(COLLECTIVITE_X,))
    axe = await both.api.axe(CAF_A_AGENT, cid, "Agir")
    action = await both.api.action(CAF_A_AGENT, cid, axe["id"])
    assert action["porteur_noms"] == ["Collectivité X (test)"]

    async def named() -> tuple[object, ...]:
        listed = (await both.api.get(X_LECTEUR, f"/api/v1/conventions/{cid}/actions")).json()
        detail = (await both.api.get(X_LECTEUR, f"/api/v1/actions/{action['id']}")).json()
        campagne = (await both.api.get(CAF_A_AGENT, "/api/v1/campagnes/2026-T4")).json()
        work = (await both.api.get(X_CONTRIBUTEUR, "/api/v1/moi/actions-a-renseigner")).json()
        (ligne,) = [c for c in campagne["conventions"] if c["convention_id"] == str(cid)]
        (item,) = [i for i in work["items"] if i["action_id"] == action["id"]]
        return (
            listed["items"][0]["porteur_noms"],
            detail["porteur_noms"],
            ligne["caf_nom"],
            (item["caf_id"], item["caf_nom"], item["convention_titre"]),
        )

    caf = (str(CAF_A), "Caf A (test)", "CTG de test")
    assert await named() == (["Collectivité X (test)"], ["Collectivité X (test)"], caf[1], caf)

    url = f"/api/v1/organisations/{COLLECTIVITE_X}"
    headers = auth_headers(CAF_A_AGENT, "conventions")
    etag = (await both.conventions.get(url, headers=headers)).headers["etag"]
    renamed = await both.conventions.patch(
        url, json={"nom": "Voiron-sur-Test"}, headers={**headers, "if-match": etag}
    )
    assert renamed.status_code == 200, renamed.text
    replica = both.app.state.actions.replica  # type: ignore[attr-defined]
    assert await replica.sync_once() == 1  # the one convention X signs
    assert await named() == (["Voiron-sur-Test"], ["Voiron-sur-Test"], caf[1], caf)
