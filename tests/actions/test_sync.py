"""Delta sync: an offline client catches up with changes and deletions."""

from __future__ import annotations

import asyncio

import asyncpg

from kernel.database import ReadPool, asyncpg_dsn, create_engine, create_read_sessionmaker
from kernel.pagination import encode_cursor
from services.actions.repository_sync import Parent, sync_point
from tests.actions.conftest import CONV_A, Api
from tests.support.personas import CAF_A_AGENT, X_CONTRIBUTEUR, X_LECTEUR


async def test_changes_and_tombstones_since_a_token(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Agir")
    keep = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="garde")
    gone = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="supprimée")
    untouched = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="inchangée")
    path = f"/api/v1/conventions/{CONV_A}/actions"
    full = (await api.get(X_LECTEUR, path)).json()
    assert [a["titre"] for a in full["items"]] == ["garde", "supprimée", "inchangée"]
    token = full["sync_token"]
    # Nothing changed: nothing returned.
    quiet = (await api.get(X_LECTEUR, path, params={"updated_since": token})).json()
    assert quiet["items"] == []
    assert quiet["deleted"] == []
    # A change, a deletion, a creation.
    r = await api.patch(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{keep['id']}",
        json={"statut": "en cours"},
        headers={"if-match": f'"{keep["id"]}.1"'},
    )
    assert r.status_code == 200
    r = await api.delete(
        CAF_A_AGENT, f"/api/v1/actions/{gone['id']}", headers={"if-match": f'"{gone["id"]}.1"'}
    )
    assert r.status_code == 204
    new = await api.action(CAF_A_AGENT, CONV_A, axe["id"], titre="nouvelle")
    delta = (await api.get(X_LECTEUR, path, params={"updated_since": token})).json()
    assert [a["id"] for a in delta["items"]] == [keep["id"], new["id"]]
    assert delta["items"][0]["statut"] == "en cours"
    assert delta["deleted"] == [{"id": gone["id"], "kind": "action"}]
    assert untouched["id"] not in {a["id"] for a in delta["items"]}
    # The next token starts after all of this.
    again = (await api.get(X_LECTEUR, path, params={"updated_since": delta["sync_token"]})).json()
    assert again["items"] == []
    assert again["deleted"] == []


async def test_delta_pages_follow_the_change_order(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Agir")
    path = f"/api/v1/conventions/{CONV_A}/axes"
    token = (await api.get(X_LECTEUR, path)).json()["sync_token"]
    for titre in ("Favoriser", "Renforcer", "Soutenir"):
        await api.axe(CAF_A_AGENT, CONV_A, titre)
    r = await api.delete(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/axes/{axe['id']}",
        headers={"if-match": f'"{axe["id"]}.1"'},
    )
    assert r.status_code == 204
    seen: list[str] = []
    deleted: list[str] = []
    params = {"updated_since": token, "limit": "2"}
    while True:
        page = (await api.get(X_LECTEUR, path, params=params)).json()
        seen += [a["titre"] for a in page["items"]]
        deleted += [d["id"] for d in page["deleted"]]
        if not page["next_cursor"]:
            break
        params = {"updated_since": token, "limit": "2", "cursor": page["next_cursor"]}
    assert seen == ["Favoriser", "Renforcer", "Soutenir"]
    assert deleted == [axe["id"]]


async def test_a_bad_sync_token_is_a_clear_error(api: Api) -> None:
    # Garbage, and a well-formed token of a change number that cannot exist.
    for token in ("pas-un-jeton", encode_cursor([-1])):
        r = await api.get(
            X_LECTEUR, f"/api/v1/conventions/{CONV_A}/axes", params={"updated_since": token}
        )
        assert r.status_code == 400
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"] == "Jeton de synchronisation invalide."


async def _visible_to_the_agent() -> None:
    raise AssertionError("CONV_A is the agent's Caf's convention")


async def test_a_sync_token_never_passes_an_uncommitted_change(database_url: str) -> None:
    """A writer holding a change number it has not committed yet holds back every token:
    otherwise a client syncing from that token would never receive the change."""
    writer = await asyncpg.connect(asyncpg_dsn(database_url))
    engine = create_engine(database_url, pool_size=1)
    read_pool = await ReadPool.open(database_url, size=1)
    try:
        tx = writer.transaction()
        await tx.start()
        pending = await writer.fetchval("SELECT actions.next_change_seq()")
        async with create_read_sessionmaker(engine, read_pool)() as session:
            reader_pid = (await session.read_connection()).get_server_pid()
            # The very round trip every list request starts with.
            parent = Parent("convention", CONV_A, CAF_A_AGENT, _visible_to_the_agent)
            token = asyncio.create_task(sync_point(session, parent))
            # Wait (bounded) until the reader is seen blocked on the writers' lock.
            for _ in range(500):
                waiting = await writer.fetchval(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                    reader_pid,
                )
                if waiting:
                    break
                await asyncio.sleep(0.01)
            assert waiting, "the token was read past an uncommitted change"
            assert not token.done()
            await tx.commit()
            token_now, _visible = await token
            assert token_now >= pending
    finally:
        await writer.close()
        await read_pool.close()
        await engine.dispose()
