"""Async engine, sessions and the naming convention shared by every schema.

The engine is built in each app's lifespan (`create_engine`); one session per
request through `get_session`, committed by the dependency itself before the
response is sent. Services only ever ``flush``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

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
