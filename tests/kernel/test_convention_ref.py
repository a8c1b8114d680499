"""The convention replica every consumer keeps: forward-only upserts, scope in SQL, state."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import MetaData, Table, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kernel import dev_keys
from kernel.convention_ref import (
    ConventionRef,
    ConventionRefClient,
    ConventionRefReplica,
    EtatConvention,
    ReadScope,
    StatutConvention,
    convention_ref_table,
    readable_replica,
    row_to_ref,
    upsert_refs,
)
from kernel.errors import NotFound
from kernel.internal_token import InternalTokenSigner
from kernel.principal import Principal, Role
from tests.support.personas import (
    CAF,
    CAF_A,
    CAF_A_AGENT,
    CAF_A_LECTEUR,
    CAF_B,
    CAF_B_AGENT,
    COLL,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    NATIONAL,
    NOBODY,
    X_LECTEUR,
    X_PARTNER_CLIENT,
    Y_CONTRIBUTEUR,
    person,
)

SCHEMA = "kernel_replica_test"


def ref(
    caf: uuid.UUID, signataires: tuple[uuid.UUID, ...], seq: int, **kw: object
) -> ConventionRef:
    data: dict[str, object] = {
        "id": uuid.uuid4(),
        "caf_id": caf,
        "titre": "CTG",
        "echelon": "commune",
        "statut": StatutConvention.signee,
        "date_debut": dt.date(2025, 1, 1),
        "date_fin": dt.date(2029, 12, 31),
        "signataire_ids": (caf, *signataires),
        "seq": seq,
    }
    data.update(kw)
    return ConventionRef.model_validate(data)


@pytest.fixture
async def replica(
    db_engine: AsyncEngine,
) -> AsyncIterator[tuple[Table, async_sessionmaker[AsyncSession]]]:
    metadata = MetaData(schema=SCHEMA)
    table = convention_ref_table(metadata)
    async with db_engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
    yield table, async_sessionmaker(db_engine, expire_on_commit=False)
    async with db_engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))


async def test_upserts_only_move_forward(
    replica: tuple[Table, async_sessionmaker[AsyncSession]],
) -> None:
    table, sessions = replica
    newer = ref(CAF_A, (COLLECTIVITE_X,), seq=10, statut=StatutConvention.resiliee)
    older = newer.model_copy(update={"seq": 4, "statut": StatutConvention.signee})
    async with sessions() as session:
        await upsert_refs(session, table, [newer])
        await upsert_refs(session, table, [older])  # a late, stale on-demand fetch
        await session.commit()
        row = (await session.execute(select(table))).one()
    assert row_to_ref(row) == newer


@pytest.mark.parametrize(
    ("principal", "visible"),
    [
        (CAF_A_AGENT, {"a-x", "a-y"}),
        (CAF_A_LECTEUR, {"a-x", "a-y"}),
        (CAF_B_AGENT, {"b-y"}),
        (X_LECTEUR, {"a-x"}),
        (X_PARTNER_CLIENT, {"a-x"}),
        (Y_CONTRIBUTEUR, {"a-y", "b-y"}),
        (NATIONAL, {"a-x", "a-y", "b-y"}),
        (NOBODY, set()),
        # Both kinds of grant: either reads.
        (
            person(
                "b-agent-x-lecteur", (CAF_B, CAF, Role.agent), (COLLECTIVITE_X, COLL, Role.lecteur)
            ),
            {"a-x", "b-y"},
        ),
    ],
)
async def test_readable_replica_and_readable_by_scope_by_caf_signature_or_national(
    replica: tuple[Table, async_sessionmaker[AsyncSession]], principal: Principal, visible: set[str]
) -> None:
    table, sessions = replica
    refs = {
        "a-x": ref(CAF_A, (COLLECTIVITE_X,), 1, titre="a-x"),
        "a-y": ref(CAF_A, (COLLECTIVITE_Y,), 2, titre="a-y"),
        "b-y": ref(CAF_B, (COLLECTIVITE_Y,), 3, titre="b-y"),
    }
    async with sessions() as session:
        await upsert_refs(session, table, refs.values())
        await session.commit()
        scope = ReadScope.of(principal)
        stmt = select(table.c.titre).where(readable_replica(table, scope.kind))
        titles = (await session.execute(stmt, scope.params)).scalars()
        assert set(titles) == visible
    # The same rule for a convention in hand (no query).
    assert {name for name, r in refs.items() if r.readable_by(principal)} == visible


@pytest.mark.parametrize(
    ("statut", "resiliation", "today", "etat", "accepts"),
    [
        (
            StatutConvention.en_preparation,
            None,
            dt.date(2030, 1, 1),
            EtatConvention.en_preparation,
            True,
        ),
        (StatutConvention.signee, None, dt.date(2024, 6, 1), EtatConvention.signee, True),
        (StatutConvention.signee, None, dt.date(2026, 11, 24), EtatConvention.active, True),
        (StatutConvention.signee, None, dt.date(2030, 1, 1), EtatConvention.echue, False),
        (
            StatutConvention.resiliee,
            dt.date(2026, 12, 1),
            dt.date(2026, 11, 24),
            EtatConvention.active,
            True,
        ),
        (
            StatutConvention.resiliee,
            dt.date(2026, 12, 1),
            dt.date(2026, 12, 1),
            EtatConvention.resiliee,
            False,
        ),
    ],
)
def test_state_is_derived_from_status_and_dates(
    statut: StatutConvention,
    resiliation: dt.date | None,
    today: dt.date,
    etat: EtatConvention,
    accepts: bool,
) -> None:
    convention = ref(CAF_A, (), 1, statut=statut, date_effet_resiliation=resiliation)
    assert convention.etat(today) is etat
    assert convention.accepts_new_work(today) is accepts


async def test_a_keep_alive_connection_closed_by_the_service_is_retried_once() -> None:
    """A real loopback server that drops the first connection without answering (as a
    service closing an idle keep-alive connection at the moment it is reused)."""
    ref = ConventionRef(
        id=uuid.uuid4(),
        caf_id=uuid.uuid4(),
        titre="CTG de Voiron",
        echelon="commune",
        statut=StatutConvention.signee,
        date_debut=dt.date(2025, 1, 1),
        date_fin=dt.date(2029, 12, 31),
        seq=1,
    )
    body = ref.model_dump_json().encode()
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        if connections > 1:
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    signer = InternalTokenSigner("documents", dev_keys.private_jwk("documents"), 60)
    try:
        async with httpx.AsyncClient() as http:
            client = ConventionRefClient(http, signer, f"http://127.0.0.1:{port}")
            assert await client.fetch(ref.id) == ref
    finally:
        server.close()
        await server.wait_closed()
    assert connections == 2


async def test_the_replica_answers_404_for_a_convention_out_of_scope(
    replica: tuple[Table, async_sessionmaker[AsyncSession]],
) -> None:
    table, sessions = replica
    held = ref(CAF_A, (COLLECTIVITE_X,), seq=1)
    signer = InternalTokenSigner("documents", dev_keys.private_jwk("documents"), 60)
    async with sessions() as session, httpx.AsyncClient() as http:
        await upsert_refs(session, table, [held])
        # A held row is answered from the replica: the (unreachable) service is not asked.
        client = ConventionRefClient(http, signer, "http://127.0.0.1:9")
        conventions = ConventionRefReplica(table, client, sessions)
        assert await conventions.readable(session, held.id, CAF_A_AGENT) == held
        assert await conventions.readable(session, held.id, X_LECTEUR) == held
        with pytest.raises(NotFound):
            await conventions.readable(session, held.id, CAF_B_AGENT)
