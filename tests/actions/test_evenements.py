"""The actions service's domain events (kernel.outbox): a suivi's workflow steps,
recorded with the step, served to the suite's services in commit order."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel import dev_keys
from kernel.database import create_sessionmaker
from kernel.internal_token import InternalTokenSigner
from kernel.outbox import EVENTS_PATH, Evenements
from services.actions.events import OUTBOX
from tests.actions.conftest import CONV_A, Api
from tests.actions.test_suivis import SUIVI, etag
from tests.support.locks import until_waiting_on_a_lock
from tests.support.personas import (
    CAF_A,
    CAF_A_AGENT,
    COLLECTIVITE_X,
    X_CONTRIBUTEUR,
    internal_token,
)


async def feed(client: httpx.AsyncClient, after: int = 0) -> Evenements:
    signer = InternalTokenSigner("gateway", dev_keys.private_jwk("gateway"))
    resp = await client.get(
        EVENTS_PATH,
        params={"after": after},
        headers={"authorization": f"Bearer {signer.mint_service('actions')}"},
    )
    assert resp.status_code == 200, resp.text
    return Evenements.model_validate_json(resp.content)


async def test_a_suivi_s_steps_are_events_with_what_a_message_needs(
    api: Api, client: httpx.AsyncClient
) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    action = await api.action(CAF_A_AGENT, CONV_A, axe["id"])
    base = f"/api/v1/actions/{action['id']}/suivis/2026-T1"
    r = await api.post(X_CONTRIBUTEUR, f"/api/v1/actions/{action['id']}/suivis", json=SUIVI)
    assert r.status_code == 201, r.text
    r = await api.post(X_CONTRIBUTEUR, f"{base}/soumission", headers=etag(r))
    r = await api.post(
        CAF_A_AGENT, f"{base}/renvoi", json={"commentaire": "Précisez."}, headers=etag(r)
    )
    r = await api.post(X_CONTRIBUTEUR, f"{base}/soumission", headers=etag(r))
    r = await api.post(CAF_A_AGENT, f"{base}/validation", json={}, headers=etag(r))
    assert r.status_code == 200, r.text

    items = (await feed(client)).items
    assert [e.type for e in items] == [
        "suivi.soumis",
        "suivi.a_completer",
        "suivi.soumis",
        "suivi.valide",
    ]
    assert [e.seq for e in items] == sorted(e.seq for e in items)
    renvoi = items[1]
    assert renvoi.convention_id == CONV_A
    assert renvoi.auteur_id == CAF_A_AGENT.subject
    assert renvoi.donnees["commentaire"] == "Précisez."
    assert renvoi.donnees["caf_id"] == str(CAF_A)
    assert renvoi.donnees["action_titre"] == action["titre"]
    assert str(COLLECTIVITE_X) in renvoi.donnees["porteur_ids"]  # type: ignore[operator]
    assert renvoi.donnees["periode"] == "2026-T1"
    # The cursor: what comes after the second event.
    assert [e.id for e in (await feed(client, items[1].seq)).items] == [e.id for e in items[2:]]


async def test_a_refused_step_records_no_event(api: Api, client: httpx.AsyncClient) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    action = await api.action(CAF_A_AGENT, CONV_A, axe["id"])
    r = await api.post(X_CONTRIBUTEUR, f"/api/v1/actions/{action['id']}/suivis", json=SUIVI)
    refused = await api.post(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{action['id']}/suivis/2026-T1/validation",
        json={},
        headers=etag(r),
    )
    assert refused.status_code == 403
    assert (await feed(client)).items == []


async def test_only_services_read_the_feed(client: httpx.AsyncClient) -> None:
    assert (await client.get(EVENTS_PATH)).status_code == 401
    person = internal_token(CAF_A_AGENT, "actions")
    refused = await client.get(EVENTS_PATH, headers={"authorization": f"Bearer {person}"})
    assert refused.status_code == 403


async def test_numbers_become_visible_in_commit_order(db_engine: AsyncEngine) -> None:
    """A writer holds the outbox lock from its event to its commit: a later writer waits,
    so a reader never sees a number appear below one it has already passed."""
    sessionmaker = create_sessionmaker(db_engine)
    async with sessionmaker() as first, sessionmaker() as second:
        await OUTBOX.record(first, "test.premier", {})
        waiting = asyncio.create_task(OUTBOX.record(second, "test.second", {}))
        await until_waiting_on_a_lock(db_engine, "the second writer")
        assert not waiting.done()
        async with sessionmaker() as reader:
            assert await OUTBOX.after(reader, 0, 10) == []
        await first.commit()
        await waiting
        async with sessionmaker() as reader:
            assert [e.type for e in await OUTBOX.after(reader, 0, 10)] == ["test.premier"]
        await second.commit()
    async with sessionmaker() as reader:
        seen = await OUTBOX.after(reader, 0, 10)
    assert [e.type for e in seen] == ["test.premier", "test.second"]
    assert seen[0].seq < seen[1].seq
    assert isinstance(seen[0].id, uuid.UUID)
