"""Async engine, sessions and the naming convention shared by every schema.

The engine is built in each app's lifespan (`create_engine`); one session per
request through `get_session`, committed by the dependency itself before the
response is sent. Services only ever ``flush``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from sqlalchemy import ClauseElement, MetaData
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.compiler import SQLCompiler

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_metadata(schema: str) -> MetaData:
    """Metadata for one service's own schema, with the suite's constraint names."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def declarative_base(schema: str) -> type[DeclarativeBase]:
    metadata_ = make_metadata(schema)

    class Base(DeclarativeBase):
        metadata = metadata_

    return Base


def contains_pattern(text: str) -> str:
    """An ILIKE pattern matching ``text`` anywhere, literally (``%`` and ``_`` are not
    wildcards); use it with ``escape="\\"``."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def asyncpg_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs (as operators write them) for asyncpg."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int | None = None,
    pool_timeout: float = 30.0,
    application_name: str = "coop",
) -> AsyncEngine:
    """An engine; ``max_overflow`` defaults to ``pool_size`` (tools and tests burst)."""
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": application_name}},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: the response is serialised after the commit.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for safe requests: autocommit, so a read is one round trip per query.

    Without it every GET pays a BEGIN and a COMMIT around its statements. Same pool.
    A read request that writes anyway (a replica catching up, a first-seen stamp)
    commits each statement on its own: only idempotent writes belong in GETs.
    """
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"),
        expire_on_commit=False,
        autoflush=False,
    )


_SAFE_METHODS = frozenset({"GET", "HEAD"})


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    state = request.app.state
    read_only = request.method in _SAFE_METHODS and hasattr(state, "read_sessionmaker")
    sessionmaker: async_sessionmaker[AsyncSession] = (
        state.read_sessionmaker if read_only else state.sessionmaker
    )
    async with sessionmaker() as session:
        yield session
        if session.in_transaction():
            await session.commit()


# scope="function": the commit runs when the endpoint returns, before the response
# is sent, so a failed commit is reported to the client instead of being lost.
DbSession = Annotated[AsyncSession, Depends(_request_session, scope="function")]


# --- compiled reads --------------------------------------------------------------------

_ASYNCPG = asyncpg_dialect()  # type: ignore[no-untyped-call]


class CompiledQuery:
    """A statement compiled once for asyncpg and run straight on the session's connection.

    For the hottest reads (a page of a list, a detail): SQLAlchemy's work per execution
    (cache key, execution context, ORM rows) cost more CPU than PostgreSQL took to answer.
    Build it once per statement shape (as the lru-cached statement builders do), every
    per-request value a named ``bindparam``; rows come back as asyncpg Records (column
    label -> value in asyncpg's types: JSON decoded, enums as their text).

    Runs in read (autocommit) sessions only: there is no transaction of SQLAlchemy's to
    join. Refuses expanding ``IN`` lists (use ``= ANY(array)``) and ids written into the
    statement as literals (they would be baked into every later execution).
    """

    __slots__ = ("_slots", "sql")

    def __init__(self, statement: ClauseElement) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=_ASYNCPG))
        self.sql = str(compiled)
        slots: list[tuple[str, Any, bool, Callable[[Any], Any] | None]] = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            if bind.expanding or bind.literal_execute:
                raise ValueError(f"{name}: liste IN dépliée, utiliser = ANY(tableau)")
            if not bind.required and _holds_id(bind.value):
                raise ValueError(f"{name}: identifiant écrit dans la requête, utiliser bindparam")
            processor = bind.type.dialect_impl(_ASYNCPG).bind_processor(_ASYNCPG)
            slots.append((name, bind.value, bind.required, processor))
        self._slots = tuple(slots)

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional arguments, from named values (missing required: KeyError)."""
        out = []
        for name, default, required, processor in self._slots:
            value = params[name] if required or name in params else default
            if processor is not None and value is not None:
                value = processor(value)
            out.append(value)
        return out

    async def fetch(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Any]:
        driver, arguments = await self._prepare(session, params)
        return list(await driver.fetch(self.sql, *arguments))

    async def fetchrow(self, session: AsyncSession, params: Mapping[str, Any]) -> Any:
        driver, arguments = await self._prepare(session, params)
        return await driver.fetchrow(self.sql, *arguments)

    async def _prepare(
        self, session: AsyncSession, params: Mapping[str, Any]
    ) -> tuple[Any, list[Any]]:
        connection = (await session.connection()).sync_connection
        if connection is None or (
            connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT"
        ):
            raise RuntimeError("CompiledQuery runs in read (autocommit) sessions only")
        arguments = self.arguments(params)
        if connection.dispatch.before_cursor_execute:
            # Statement listeners (SQL capture, tracing) see these too; no cursor, no context.
            connection.dispatch.before_cursor_execute(
                connection, None, self.sql, tuple(arguments), None, False
            )
        return connection.connection.driver_connection, arguments


def attribute_rows(row: Sequence[Any], *groups: Sequence[str]) -> list[Any]:
    """Consecutive slices of a compiled query's row as read-only rows with attributes, one
    per list of names (what the rules written for ORM objects read); a slice all NULL
    (the missing side of an outer join) is None. Columns after the groups are left out."""
    out: list[Any] = []
    start = 0
    for names in groups:
        values = row[start : start + len(names)]
        start += len(names)
        absent = all(v is None for v in values)
        out.append(None if absent else SimpleNamespace(**dict(zip(names, values, strict=True))))
    return out


def _holds_id(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return any(_holds_id(v) for v in value)
    return isinstance(value, uuid.UUID)
