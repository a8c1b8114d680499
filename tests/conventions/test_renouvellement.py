"""Renouvellement: a new convention linked to the previous one, once its bilan final is
adopted, as the real actions service says (served over HTTP)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.conventions.schemas import ConventionOut
from tests.conventions.conftest import TODAY
from tests.conventions.helpers import h, table_counts
from tests.support.apps import running
from tests.support.contract import assert_reads_back
from tests.support.conventions import (
    WithActions,
    conventions_app,
    make_bilan,
    make_convention,
    resilier,
    seed_organisations,
    with_actions,
)
from tests.support.personas import CAF_A, COLLECTIVITE_X


@pytest.fixture
async def suite(database_url: str) -> AsyncIterator[WithActions]:
    async with with_actions(database_url, TODAY) as both:
        yield both


async def _renew(client: httpx.AsyncClient, cid: object, **body: object) -> httpx.Response:
    return await client.post(f"/api/v1/conventions/{cid}/renouvellement", json=body, headers=h())


async def test_renewal_requires_an_adopted_bilan_final(
    suite: WithActions, db_engine: AsyncEngine
) -> None:
    """002 (lettre circulaire 2013-205): "L'évaluation est un préalable à tout
    renouvellement." The conventions service asks the actions service for the bilan
    final, and names what is missing."""
    client = suite.conventions
    old = await make_convention(
        client, date_debut=dt.date(2022, 1, 1), date_fin=dt.date(2026, 12, 31), titre="CTG 2022"
    )
    before = await table_counts(db_engine)
    none = await _renew(client, old, titre="CTG 2027")
    assert none.status_code == 409, none.text
    assert "aucun bilan final" in none.json()["detail"]
    assert none.json()["manquants"][0]["code"] == "bilan_final_adopte"
    draft = await make_bilan(suite.actions, old, adopte=False)
    unadopted = await _renew(client, old, titre="CTG 2027")
    assert unadopted.status_code == 409
    assert "pas encore adopté" in unadopted.json()["detail"]
    assert unadopted.json()["manquants"][0]["bilans_finals"] == [
        {"id": draft["id"], "etat": "brouillon"}
    ]
    assert await table_counts(db_engine) == before

    await make_bilan(suite.actions, old)
    resp = await _renew(client, old, titre="CTG 2027")
    assert resp.status_code == 201, resp.text
    new = resp.json()
    assert new["statut"] == "en préparation"
    assert new["precedente_id"] == str(old)
    assert (new["date_debut"], new["date_fin"]) == ("2027-01-01", "2031-12-31")
    assert [s["organisation_id"] for s in new["signataires"]] == [str(CAF_A), str(COLLECTIVITE_X)]
    assert all(s["date_signature"] is None for s in new["signataires"])
    assert new["thematiques"] == ["petite enfance", "enfance", "jeunesse", "parentalité"]
    detail = await client.get(f"/api/v1/conventions/{new['id']}", headers=h())
    assert_reads_back(detail.content, ConventionOut)
    assert detail.json() == new
    previous = (await client.get(f"/api/v1/conventions/{old}", headers=h())).json()
    assert previous["suivante_id"] == new["id"]
    assert "renouveler" not in previous["transitions_disponibles"]
    twice = await _renew(client, old)
    assert twice.status_code == 409
    draft_renewal = await _renew(client, new["id"])
    assert draft_renewal.status_code == 409


async def test_another_kind_of_bilan_does_not_open_the_renewal(suite: WithActions) -> None:
    cid = await make_convention(suite.conventions)
    await make_bilan(suite.actions, cid, type_="bilan intermédiaire")
    resp = await _renew(suite.conventions, cid)
    assert resp.status_code == 409
    assert "aucun bilan final" in resp.json()["detail"]


async def test_resiliee_cannot_be_renewed(client: httpx.AsyncClient) -> None:
    cid = await make_convention(client)
    await resilier(client, cid)
    resp = await _renew(client, cid)
    assert resp.status_code == 409
    url = f"/api/v1/conventions/{cid}"
    etag = (await client.get(url, headers=h())).headers["etag"]
    patch = await client.patch(url, json={"titre": "Autre"}, headers=h(**{"If-Match": etag}))
    assert patch.status_code == 409
    assert "résiliée" in patch.json()["detail"]


async def _stalled_server() -> tuple[asyncio.Server, int, list[asyncio.StreamWriter]]:
    """A server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    return server, port, held


async def test_renewal_answers_503_fast_when_the_actions_service_cannot_answer(
    database_url: str, db_engine: AsyncEngine
) -> None:
    """Unreachable (nobody listens) or stalled (accepts, never answers): a 503 problem
    within the configured timeout, and nothing written."""
    await seed_organisations(database_url)
    server, port, held = await _stalled_server()
    try:
        stalled = conventions_app(
            database_url,
            today=TODAY,
            actions_url=f"http://127.0.0.1:{port}",
            actions_timeout_seconds=0.5,
        )
        unreachable = conventions_app(database_url, today=TODAY)
        for app in (stalled, unreachable):
            async with running(app) as client:
                cid = await make_convention(client)
                before = await table_counts(db_engine)
                started = time.monotonic()
                resp = await _renew(client, cid)
                assert resp.status_code == 503, resp.text
                assert time.monotonic() - started < 2.5
                assert resp.headers["content-type"] == "application/problem+json"
                assert "bilan final" in resp.json()["detail"]
                assert resp.headers["retry-after"] == "5"
                assert await table_counts(db_engine) == before
        assert held, "the stalled server was never called"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
