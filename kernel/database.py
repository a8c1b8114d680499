"""Async engine, sessions and the naming convention shared by every schema.

The engine is built in each app's lifespan (`create_engine`); one session per
request through `get_session`, committed by the dependency itself before the
response is sent. Services only ever ``flush``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated, Any, Protocol

import asyncpg  # type: ignore[import-untyped]
import orjson
from fastapi import Depends, Request
from sqlalchemy import MetaData, event, make_url
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from kernel.errors import database_saturated, database_unresponsive

_log = logging.getLogger("coop.database")

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


def asyncpg_dsn(url: str) -> str:
    """The URL as asyncpg itself reads it: no SQLAlchemy driver name, and the ``ssl``
    option SQLAlchemy's asyncpg dialect takes written as libpq's ``sslmode`` (asyncpg
    would send an unknown option to the server as a setting)."""
    parsed = make_url(url).set(drivername="postgresql")
    if "ssl" in parsed.query:
        query = dict(parsed.query)
        query.setdefault("sslmode", query.pop("ssl"))
        parsed = parsed.set(query=query)
    return parsed.render_as_string(hide_password=False)


# A statement past its statement_timeout is cancelled by PostgreSQL itself (the
# connection stays usable); a server that does not answer at all is given up this much
# later, by the client.
_SILENT_SERVER_GRACE = 0.5


def _connect_args(
    application_name: str, connect_timeout: float | None, statement_timeout: float | None
) -> dict[str, Any]:
    """asyncpg's connect arguments: the name, and the bounds of each wait on the server."""
    server_settings = {"application_name": application_name}
    args: dict[str, Any] = {"server_settings": server_settings}
    if connect_timeout is not None:
        args["timeout"] = connect_timeout
    if statement_timeout is not None:
        server_settings["statement_timeout"] = str(max(1, round(statement_timeout * 1000)))
        args["command_timeout"] = statement_timeout + _SILENT_SERVER_GRACE
    return args


def cut_unresponsive(connection: DriverConnection) -> Exception:
    """A statement PostgreSQL never answered: its connection is cut at once (asyncpg
    would first try to cancel the statement over a new connection, as long again, and
    the connection could not be trusted after it), and the request gets a 503."""
    connection.terminate()
    return database_unresponsive()


def _on_statement_error(context: ExceptionContext) -> None:
    """SQLAlchemy's ``handle_error``: a statement past asyncpg's command timeout."""
    connection = context.connection
    if (
        isinstance(context.original_exception, TimeoutError)
        and connection is not None
        and not connection.invalidated  # (else .connection would open a new one)
    ):
        driver = connection.connection.driver_connection
        if driver is not None:
            raise cut_unresponsive(driver) from context.original_exception


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int | None = None,
    pool_timeout: float = 30.0,
    application_name: str = "coop",
    connect_timeout: float | None = None,
    statement_timeout: float | None = None,
) -> AsyncEngine:
    """An engine; ``max_overflow`` defaults to ``pool_size`` (tools and tests burst).

    The apps bound every wait on PostgreSQL (`connect_timeout`, `statement_timeout`,
    `pool_timeout`): past one, the request gets a 503 with Retry-After. None leaves a
    wait unbounded (tools whose statements may legitimately run long)."""
    engine = create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=False,
        connect_args=_connect_args(application_name, connect_timeout, statement_timeout),
    )
    if statement_timeout is not None:
        event.listen(engine.sync_engine, "handle_error", _on_statement_error)
    return engine


class Session(AsyncSession):
    """SQLAlchemy's async session, closed at no cost when no transaction is open.

    SQLAlchemy closes in a task of its own (leaving ``async with``) and, inside it, a
    greenlet: about 20 µs of CPU, two more turns of the loop and a 16 KiB frame stack
    mapped and unmapped (measured on Python 3.11), on every request. With no transaction open
    (committed, or never begun: typed reads only) the session holds no connection
    and closing it is bookkeeping in memory, done at once. A session still in a
    transaction keeps SQLAlchemy's shielded close: a cancelled caller must not abandon
    its rollback halfway."""

    async def close(self) -> None:
        if self.in_transaction():
            await super().close()
        else:
            self.sync_session.close()

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if self.in_transaction():
            await super().__aexit__(type_, value, traceback)
        else:
            await self.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: the response is serialised after the commit.
    return async_sessionmaker(engine, class_=Session, expire_on_commit=False, autoflush=False)


class DriverConnection(Protocol):
    """What the typed reads use of an asyncpg connection (asyncpg ships no types)."""

    async def fetch(self, query: str, *args: object) -> list[Sequence[object]]: ...

    def terminate(self) -> None: ...


# Called with each typed read's SQL and arguments before it runs (the bench's capture).
StatementListener = Callable[[str, Sequence[object]], None]


class ReadPool:
    """The connections typed reads run on (`kernel.reads`): an asyncpg pool of its own.

    A typed read taken through SQLAlchemy's session still paid for a session
    transaction, a pool checkout in a greenlet and its commit: more CPU than the
    statement itself on the fastest endpoints. Here a safe request borrows one
    connection on its first typed read and gives it back when its session closes.
    `listeners` see each statement before it runs (the bench's SQL capture).
    """

    def __init__(self, pool: Any, acquire_timeout: float) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self.listeners: list[StatementListener] = []

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        size: int = 10,
        acquire_timeout: float = 30.0,
        application_name: str = "coop",
        connect_timeout: float | None = None,
        statement_timeout: float | None = None,
    ) -> ReadPool:
        """Connections are opened on demand (none at start) up to `size`; idle ones are
        closed after five minutes. Timeouts as `create_engine`'s."""
        pool = await asyncpg.create_pool(
            asyncpg_dsn(url),
            min_size=0,
            max_size=size,
            max_inactive_connection_lifetime=300.0,
            init=_json_codecs,
            # Reads in autocommit set nothing that outlives them: an open transaction is
            # still rolled back on release (asyncpg does), the full RESET ALL round trip
            # is skipped.
            reset=_nothing_to_reset,
            **_connect_args(application_name, connect_timeout, statement_timeout),
        )
        return cls(pool, acquire_timeout)

    async def acquire(self) -> DriverConnection:
        try:
            connection: DriverConnection = await self._pool.acquire(timeout=self._acquire_timeout)
        except TimeoutError as exc:
            pool = self._pool
            if pool.get_size() >= pool.get_max_size() and not pool.get_idle_size():
                raise database_saturated() from exc  # every connection lent out
            raise database_unresponsive() from exc  # opening one timed out
        return connection

    async def release(self, connection: DriverConnection) -> None:
        await self._pool.release(connection)

    def statement_run(self, sql: str, arguments: Sequence[object]) -> None:
        for listener in self.listeners:
            listener(sql, arguments)

    async def close(self, within: float = 10.0) -> None:
        """Closes every connection once given back, waiting `within` seconds at most: a
        connection a request never gave back must not hang the app's stop (asyncpg's
        own close would wait for it for ever); then they are cut."""
        try:
            await asyncio.wait_for(self._pool.close(), within)
        except TimeoutError:
            _log.warning("read connections still lent out at shutdown: closed by force")
            self._pool.terminate()


async def _json_codecs(connection: Any) -> None:
    # As SQLAlchemy's asyncpg dialect decodes them: JSON to Python values, and binds
    # take the JSON text its bind processors produce.
    await connection.set_type_codec(
        "json", encoder=str.encode, decoder=orjson.loads, schema="pg_catalog", format="binary"
    )
    await connection.set_type_codec(
        "jsonb",
        encoder=lambda text: b"\x01" + text.encode(),
        decoder=lambda data: orjson.loads(data[1:]),
        schema="pg_catalog",
        format="binary",
    )


async def _nothing_to_reset(connection: Any) -> None:
    return None


class ReadSession(Session):
    """A safe request's session: autocommit, and the connection its typed reads run on
    (borrowed on the first one, given back when the session closes)."""

    def __init__(self, *args: Any, read_pool: ReadPool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_pool = read_pool
        self._read_connection: DriverConnection | None = None

    async def read_connection(self) -> DriverConnection:
        if self._read_connection is None:
            self._read_connection = await self.read_pool.acquire()
        return self._read_connection

    def statement_run(self, sql: str, arguments: Sequence[object]) -> None:
        self.read_pool.statement_run(sql, arguments)

    async def close(self) -> None:
        connection, self._read_connection = self._read_connection, None
        try:
            if connection is not None:
                await self.read_pool.release(connection)  # asyncpg shields the release
        finally:
            await super().close()


def create_read_sessionmaker(
    engine: AsyncEngine, read_pool: ReadPool
) -> async_sessionmaker[ReadSession]:
    """Sessions for safe requests: autocommit, so a read is one round trip per query.

    Without it every GET pays a BEGIN and a COMMIT around its statements. ORM statements
    use the engine's pool.
    A read request that writes anyway (a replica catching up, a first-seen stamp)
    commits each statement on its own: only idempotent writes belong in GETs.
    Typed reads (`kernel.reads`) run on `read_pool`.
    """
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"),
        class_=ReadSession,
        expire_on_commit=False,
        autoflush=False,
        read_pool=read_pool,
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
