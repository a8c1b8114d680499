"""The campaign counters (migration 0006): equal to a scan of the suivis through every
write, and no shared row between conventions when submissions pile up at quarter end."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kernel.convention_ref import upsert_refs
from kernel.database import asyncpg_dsn
from kernel.principal import Principal
from services.actions.models import convention_ref
from tests.actions.conftest import CONV_A, CONV_B, CONV_RESILIEE, Api, ref
from tests.support.compteurs import assert_counters_match_a_rescan
from tests.support.personas import (
    CAF_A,
    CAF_A_AGENT,
    CAF_B_AGENT,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    NATIONAL,
    X_LECTEUR,
    stable_id,
)

# A third convention of Caf A, starting later: its campaigns are not the others'.
CONV_C = stable_id("actions:convention-c")
PERIODES = ("2025-T4", "2026-T1", "2026-T2")
AGENT = {CONV_A: CAF_A_AGENT, CONV_B: CAF_B_AGENT, CONV_C: CAF_A_AGENT}
PORTEUR = {CONV_A: COLLECTIVITE_X, CONV_B: COLLECTIVITE_Y, CONV_C: COLLECTIVITE_X}
ANY = {"if-match": "*"}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    yield conn
    await conn.close()


@pytest.fixture
async def convention_c(db_engine: AsyncEngine, seeded: None) -> None:
    async with AsyncSession(db_engine) as session:
        conv = ref(CONV_C, CAF_A, (COLLECTIVITE_X,), dt.date(2026, 1, 1), dt.date(2030, 12, 31))
        await upsert_refs(session, convention_ref, [conv])
        await session.commit()


async def action(api: Api, convention: uuid.UUID, axe: str, **fields: Any) -> str:
    made = await api.action(
        AGENT[convention], convention, axe, porteur_ids=[str(PORTEUR[convention])], **fields
    )
    return str(made["id"])


async def suivi(api: Api, who: Principal, action_id: str, periode: str, **extra: Any) -> None:
    r = await api.post(
        who,
        f"/api/v1/actions/{action_id}/suivis",
        json={"statut_action": "en cours", "periode": periode, **extra},
    )
    assert r.status_code == 201, r.text


async def step(api: Api, who: Principal, action_id: str, periode: str, name: str) -> int:
    bodies = {"renvoi": {"commentaire": "À préciser"}, "correction": {"motif": "Erreur"}}
    r = await api.post(
        who,
        f"/api/v1/actions/{action_id}/suivis/{periode}/{name}",
        json=bodies.get(name, {}),
        headers=ANY,
    )
    return r.status_code


class Writes:
    """Random writes through the API, each of the kinds that move the counters."""

    def __init__(self, api: Api, rng: random.Random) -> None:
        self.api, self.rng = api, rng
        self.axes: dict[uuid.UUID, str] = {}
        self.actions: dict[str, uuid.UUID] = {}  # action id -> convention
        self.top: set[str] = set()  # actions that are not sous-actions
        # (action id, periode) created, in creation order: a seeded pick must not depend on
        # the random ids' order, or a seed's sequence changes from run to run.
        self.suivis: dict[tuple[str, str], None] = {}
        self.done: dict[str, int] = {}  # kind -> writes that succeeded

    async def setup(self) -> None:
        for conv in AGENT:
            self.axes[conv] = (await self.api.axe(AGENT[conv], conv, "Accueillir les enfants"))[
                "id"
            ]

    def _count(self, kind: str, status: int) -> None:
        assert status < 500, kind
        if status < 300:
            self.done[kind] = self.done.get(kind, 0) + 1

    async def new_action(self) -> None:
        conv = self.rng.choice(list(AGENT))
        statut = self.rng.choice(["en cours", "à venir", "réalisée", "abandonnée"])
        parents = [a for a, c in self.actions.items() if c == conv and a in self.top]
        fields: dict[str, Any] = {"statut": statut}
        if parents and self.rng.random() < 0.2:
            fields["parent_id"] = self.rng.choice(parents)  # a sous-action counts too
        made = await action(self.api, conv, self.axes[conv], **fields)
        self.actions[made] = conv
        if "parent_id" not in fields:
            self.top.add(made)
        self._count("action", 201)

    def _pick(self) -> tuple[str, uuid.UUID] | None:
        if not self.actions:
            return None
        action_id = self.rng.choice(list(self.actions))
        return action_id, self.actions[action_id]

    async def new_suivi(self) -> None:
        if (picked := self._pick()) is None:
            return
        action_id, conv = picked
        alerte = self.rng.random() < 0.3
        periode = self.rng.choice(PERIODES)
        r = await self.api.post(
            AGENT[conv],
            f"/api/v1/actions/{action_id}/suivis",
            json={
                "statut_action": "en cours",
                "periode": periode,
                "alerte": alerte,
                **({"alerte_message": "Locaux indisponibles"} if alerte else {}),
            },
        )
        self._count("suivi", r.status_code)
        if r.status_code == 201:
            self.suivis[action_id, periode] = None

    def _pick_suivi(self) -> tuple[str, uuid.UUID, str] | None:
        if not self.suivis:
            return None
        action_id, periode = self.rng.choice(list(self.suivis))
        return action_id, self.actions[action_id], periode

    async def change_alert(self) -> None:
        if (picked := self._pick_suivi()) is None:
            return
        action_id, conv, periode = picked
        alerte = self.rng.random() < 0.5
        r = await self.api.patch(
            AGENT[conv],
            f"/api/v1/actions/{action_id}/suivis/{periode}",
            json={"alerte": alerte, "alerte_message": "Retard du chantier" if alerte else None},
            headers=ANY,
        )
        self._count("alerte", r.status_code)

    async def transition(self) -> None:
        if (picked := self._pick_suivi()) is None:
            return
        action_id, conv, periode = picked
        r = await self.api.get(AGENT[conv], f"/api/v1/actions/{action_id}/suivis/{periode}")
        assert r.status_code == 200, r.text
        # Mostly a step its state allows; now and then any (refused: nothing moves).
        allowed = {
            "brouillon": ["soumission"],
            "à compléter": ["soumission"],
            "soumis": ["validation", "renvoi"],
            "validé": ["correction"],
        }[r.json()["etat"]]
        everything = ["soumission", "validation", "renvoi", "correction"]
        name = self.rng.choice(allowed if self.rng.random() < 0.8 else everything)
        status = await step(self.api, AGENT[conv], action_id, periode, name)
        self._count(name, status)

    async def change_statut(self) -> None:
        if (picked := self._pick()) is None:
            return
        action_id, conv = picked
        statut = self.rng.choice(["abandonnée", "abandonnée", "en cours", "en pause"])
        r = await self.api.patch(
            AGENT[conv], f"/api/v1/actions/{action_id}", json={"statut": statut}, headers=ANY
        )
        self._count("statut", r.status_code)

    async def delete_action(self) -> None:
        if (picked := self._pick()) is None:
            return
        action_id, conv = picked
        r = await self.api.delete(AGENT[conv], f"/api/v1/actions/{action_id}", headers=ANY)
        self._count("suppression", r.status_code)
        if r.status_code == 204:
            del self.actions[action_id]
            self.suivis = {(a, p): None for a, p in self.suivis if a != action_id}

    async def due_date(self) -> None:
        conv = self.rng.choice(list(AGENT))
        periode = self.rng.choice(PERIODES)
        start = dt.date(int(periode[:4]), 3 * int(periode[-1]) - 2, 1)
        due = start + dt.timedelta(days=self.rng.randint(20, 200))
        r = await self.api.put(
            AGENT[conv],
            f"/api/v1/conventions/{conv}/campagnes/{periode}",
            json={"date_limite": due.isoformat()},
            headers=ANY if self.rng.random() < 0.5 else {},
        )
        self._count("échéance", r.status_code)

    def pick(self) -> Callable[[], Awaitable[None]]:
        kinds = [
            (self.new_action, 3),
            (self.new_suivi, 5),
            (self.change_alert, 2),
            (self.transition, 6),
            (self.change_statut, 2),
            (self.delete_action, 1),
            (self.due_date, 1),
        ]
        return self.rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]


async def _line(api: Api, who: Principal, convention: uuid.UUID, periode: str) -> Any:
    """The per-convention view (a scan of its actions and suivis): its counters and due date."""
    r = await api.get(who, f"/api/v1/conventions/{convention}/campagnes/{periode}")
    if r.status_code == 404:
        return None  # the convention does not run that quarter
    assert r.status_code == 200, r.text
    return r.json()["compteurs"], r.json()["date_limite"]


async def assert_views_match_the_scan(api: Api) -> None:
    """The Caf agents', a collectivité's and the national views of each campaign (read
    from the counters) against each convention's own view (a scan of its suivis)."""
    for periode in PERIODES:
        scanned = {
            conv: await _line(api, who, conv, periode)
            for conv, who in {**AGENT, CONV_RESILIEE: CAF_A_AGENT}.items()
        }
        scanned = {conv: line for conv, line in scanned.items() if line is not None}
        per_caf: dict[str, dict[str, int]] = {}
        for who in (CAF_A_AGENT, CAF_B_AGENT, X_LECTEUR):
            view = (await api.get(who, f"/api/v1/campagnes/{periode}")).json()
            for line in view["conventions"]:
                conv = uuid.UUID(line["convention_id"])
                assert (line["compteurs"], line["date_limite"]) == scanned[conv], (periode, conv)
                if who is not X_LECTEUR:
                    totals = per_caf.setdefault(line["caf_id"], {})
                    for k, v in line["compteurs"].items():
                        totals[k] = totals.get(k, 0) + v
        national = (await api.get(NATIONAL, f"/api/v1/campagnes/{periode}")).json()
        assert {c["caf_id"]: c["compteurs"] for c in national["cafs"]} == per_caf, periode


@pytest.mark.parametrize("seed", [22, 2026])
async def test_counters_equal_a_scan_after_any_sequence_of_writes(
    api: Api, db: asyncpg.Connection, convention_c: None, seed: int
) -> None:
    """Random writes through the API (actions created, sous-actions, abandoned and taken
    up again, deleted; suivis created, alerts raised and dropped, submitted, validated,
    sent back, corrected; due dates moved) on three conventions and three quarters: the
    counters equal a scan of the suivis after each write, and every view read from them
    gives each convention's numbers as its own scan does."""
    writes = Writes(api, random.Random(seed))
    await writes.setup()
    for _ in range(4):
        await writes.new_action()
    for _ in range(110):
        await writes.pick()()
        await assert_counters_match_a_rescan(db)
    # Each kind of write happened (the sequence did move the counters every way).
    assert set(writes.done) >= {
        "action",
        "suivi",
        "alerte",
        "soumission",
        "validation",
        "renvoi",
        "correction",
        "statut",
    }, writes.done
    await assert_views_match_the_scan(api)


async def test_a_correction_and_a_deletion_move_the_counters(
    api: Api, db: asyncpg.Connection
) -> None:
    """The two rarest moves, each once for sure: a correction opens revision n+1 in
    brouillon (validé -1, brouillon +1); deleting an action takes its draft suivis
    (and their alerts) with it."""
    axe = (await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents"))["id"]
    kept = await action(api, CONV_A, axe)
    gone = await action(api, CONV_A, axe)
    await suivi(api, CAF_A_AGENT, kept, "2026-T1")
    for name in ("soumission", "validation", "correction"):
        assert await step(api, CAF_A_AGENT, kept, "2026-T1", name) == 200
    await suivi(api, CAF_A_AGENT, gone, "2026-T1", alerte=True, alerte_message="Pas de locaux")
    counters = await db.fetchrow(
        "SELECT brouillon, valide, alertes FROM actions.compteurs_campagnes "
        "WHERE convention_id = $1 AND periode = '2026-T1'",
        CONV_A,
    )
    assert tuple(counters) == (2, 0, 1)
    r = await api.delete(CAF_A_AGENT, f"/api/v1/actions/{gone}", headers=ANY)
    assert r.status_code == 204, r.text
    await assert_counters_match_a_rescan(db)
    compteurs = (await _line(api, CAF_A_AGENT, CONV_A, "2026-T1"))[0]
    assert (compteurs["actions"], compteurs["brouillon"], compteurs["alertes"]) == (1, 1, 0)


async def _waiting(db: asyncpg.Connection, n: int, what: str) -> None:
    """Until `n` backends of this database wait for a lock (no timing: a count)."""
    for _ in range(1000):
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what}: {waiting} backend(s) waiting, {n} expected")


async def test_a_submission_and_its_actions_abandonment_at_once_both_succeed(
    api: Api, db: asyncpg.Connection, database_url: str
) -> None:
    """The submission of a suivi and the abandonment of its action, at once: one waits
    for the other, both succeed, and the counters are a scan's. (The submission locks
    the action before the change sequence: taken after it, as the counters' trigger
    takes it, each would wait for the other, a deadlock.)"""
    axe = (await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents"))["id"]
    action_id = await action(api, CONV_A, axe)
    await suivi(api, CAF_A_AGENT, action_id, "2026-T1")
    # Every writer queues behind this transaction's number of the change sequence.
    holder = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.fetchval("SELECT actions.next_change_seq()")
        submission = asyncio.create_task(step(api, CAF_A_AGENT, action_id, "2026-T1", "soumission"))
        await _waiting(db, 1, "the submission")
        abandonment = asyncio.create_task(
            api.patch(
                CAF_A_AGENT,
                f"/api/v1/actions/{action_id}",
                json={"statut": "abandonnée"},
                headers=ANY,
            )
        )
        await _waiting(db, 2, "the abandonment")
        await tx.commit()
    finally:
        await holder.close()
    assert await submission == 200
    assert (await abandonment).status_code == 200
    await assert_counters_match_a_rescan(db)


async def test_concurrent_submissions_at_quarter_end(
    api: Api, db: asyncpg.Connection, convention_c: None
) -> None:
    """Quarter end: suivis created, then submitted, then validated or sent back, all at
    once on three conventions (several actions each, so the same convention's counters
    too), while an action of each convention is abandoned. Every request succeeds (no
    deadlock), and the counters are a scan's (no update lost)."""
    actions: dict[str, uuid.UUID] = {}
    for conv in AGENT:
        axe = (await api.axe(AGENT[conv], conv, "Accueillir les enfants"))["id"]
        for _ in range(4):
            actions[await action(api, conv, axe)] = conv

    async def gather(calls: Sequence[Awaitable[int]]) -> None:
        assert set(await asyncio.gather(*calls)) == {200}

    async def create(action_id: str, conv: uuid.UUID) -> int:
        await suivi(api, AGENT[conv], action_id, "2026-T1", alerte=False)
        return 200

    await gather([create(a, c) for a, c in actions.items()])
    await gather([step(api, AGENT[c], a, "2026-T1", "soumission") for a, c in actions.items()])
    abandoned = {conv: a for a, conv in actions.items()}  # the last action of each

    async def abandon(action_id: str, conv: uuid.UUID) -> int:
        r = await api.patch(
            AGENT[conv], f"/api/v1/actions/{action_id}", json={"statut": "abandonnée"}, headers=ANY
        )
        return r.status_code

    await gather(
        [
            step(api, AGENT[c], a, "2026-T1", "validation" if i % 2 else "renvoi")
            for i, (a, c) in enumerate(actions.items())
        ]
        + [abandon(a, c) for c, a in abandoned.items()]
    )
    await assert_counters_match_a_rescan(db)
    rows = await db.fetch(
        "SELECT convention_id, valide + a_completer FROM actions.compteurs_campagnes "
        "WHERE periode = '2026-T1'"
    )
    assert {r[0]: r[1] for r in rows} == dict.fromkeys(AGENT, 3)  # the 4th was abandoned


async def test_a_submission_does_not_wait_for_another_conventions_counters(
    api: Api, db: asyncpg.Connection, database_url: str
) -> None:
    """An uncommitted write that moved convention A's campaign counters (a submission
    there, as its trigger does it) holds A's counters row only: a submission on
    convention B goes through meanwhile, waiting for nothing; a second one on A waits
    for that row (blocked by the first writer's transaction only, from within the
    counters' upsert: `pg_locks`), then goes through when the first commits."""
    drafts: dict[uuid.UUID, list[str]] = {}
    for conv in (CONV_A, CONV_B):
        axe = (await api.axe(AGENT[conv], conv, "Accueillir les enfants"))["id"]
        drafts[conv] = [await action(api, conv, axe) for _ in range(2)]
        for action_id in drafts[conv]:
            await suivi(api, AGENT[conv], action_id, "2026-T1")
    first = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        tx = first.transaction()
        await tx.start()
        await first.execute(
            "UPDATE actions.suivis SET etat = 'soumis' WHERE action_id = $1 AND periode = $2",
            uuid.UUID(drafts[CONV_A][0]),
            "2026-T1",
        )
        assert await step(api, CAF_B_AGENT, drafts[CONV_B][0], "2026-T1", "soumission") == 200
        same = asyncio.create_task(
            step(api, CAF_A_AGENT, drafts[CONV_A][1], "2026-T1", "soumission")
        )
        await _waiting(db, 1, "the second submission on convention A")
        # What it waits for: the first writer's transaction, from within the counters'
        # upsert (it holds its lock on that table, nothing else of the first writer's).
        first_pid = await first.fetchval("SELECT pg_backend_pid()")
        blocked = await db.fetch(
            """
            SELECT pg_blocking_pids(w.pid) AS by,
                   EXISTS (SELECT 1 FROM pg_locks h
                           WHERE h.pid = $1 AND h.granted AND h.locktype = 'transactionid'
                             AND h.transactionid = w.transactionid) AS on_first_transaction,
                   EXISTS (SELECT 1 FROM pg_locks l
                           WHERE l.pid = w.pid AND l.granted
                             AND l.relation = 'actions.compteurs_campagnes'::regclass
                             AND l.mode = 'RowExclusiveLock') AS in_counters
            FROM pg_locks w JOIN pg_stat_activity a ON a.pid = w.pid
            WHERE NOT w.granted AND a.datname = current_database()
            """,
            first_pid,
        )
        assert [tuple(r) for r in blocked] == [([first_pid], True, True)]
        await tx.commit()
    finally:
        await first.close()
    assert await same == 200
    await assert_counters_match_a_rescan(db)


async def test_the_counters_hold_under_concurrent_transactions(
    api: Api, db: asyncpg.Connection, database_url: str
) -> None:
    """The triggers on their own, without the service's locks and its change sequence
    (which queues its writers): many transactions at once, each moving one suivi (same
    and other conventions, same campaign) or abandoning an action or taking one up
    again. All commit and the counters are a scan's."""
    ids: list[tuple[uuid.UUID, uuid.UUID]] = []  # (action, convention)
    for conv in (CONV_A, CONV_B):
        axe = (await api.axe(AGENT[conv], conv, "Accueillir les enfants"))["id"]
        for _ in range(6):
            action_id = await action(api, conv, axe)
            await suivi(api, AGENT[conv], action_id, "2026-T1")
            await suivi(api, AGENT[conv], action_id, "2025-T4")
            ids.append((uuid.UUID(action_id), conv))
    pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=8, max_size=8)
    try:

        async def submit(action_id: uuid.UUID, periode: str) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE actions.suivis SET etat = 'soumis', alerte = true, "
                    "alerte_message = 'm' WHERE action_id = $1 AND periode = $2",
                    action_id,
                    periode,
                )

        async def statut(action_id: uuid.UUID, value: str) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE actions.actions SET statut = $2 WHERE id = $1", action_id, value
                )

        moves: list[Awaitable[None]] = []
        for i, (moved, _) in enumerate(ids):
            moves += [submit(moved, "2026-T1"), submit(moved, "2025-T4")]
            if i % 3 == 0:
                moves.append(statut(moved, "abandonnée"))
            if i % 6 == 0:
                moves.append(statut(moved, "en cours"))
        await asyncio.gather(*moves)
    finally:
        await pool.close()
    await assert_counters_match_a_rescan(db)
