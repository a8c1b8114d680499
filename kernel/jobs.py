"""Background jobs of the apps, as each app declares them (no job queue imported here:
served apps load this module; `kernel.job_queue` runs the jobs in `coop worker`).

An app with periodic work gives a *job source*: an async context manager that takes the
app's settings, builds what the work needs (`job_resources`: database, internal token
signer, HTTP client) and yields its `PeriodicJob`s. `coop worker` enters every app's
source (`coop.apps.AppSpec.jobs`) and runs the jobs once per interval across all
worker processes and replicas.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kernel.app import internal_signer, resolve_database_url
from kernel.database import create_engine, create_sessionmaker
from kernel.idempotency import PURGE_SECONDS, IdempotencyStore
from kernel.internal_token import InternalTokenSigner
from kernel.settings import CommonSettings


@dataclass(frozen=True)
class PeriodicJob:
    """Work run every `every_seconds` by one worker of the suite (never two at once)."""

    # Unique in the suite, "<app>.<what>": the task's name, its lock and its queueing lock.
    name: str
    every_seconds: float
    work: Callable[[], Awaitable[object]]


# settings of the app -> its periodic jobs while the block runs
JobSource = Callable[[Any], AbstractAsyncContextManager[list[PeriodicJob]]]


# Connections of an app's jobs in one `coop worker` process (no overflow): part of the
# worker's connection budget (coop.worker.connection_budget).
JOB_POOL_SIZE = 2


@dataclass(frozen=True)
class JobResources:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    signer: InternalTokenSigner
    http: httpx.AsyncClient


@asynccontextmanager
async def job_resources(settings: CommonSettings) -> AsyncIterator[JobResources]:
    """What an app's jobs need, built from its settings as its lifespan builds them
    (a small pool: a worker runs a few jobs at a time)."""
    engine = create_engine(
        resolve_database_url(settings),
        pool_size=JOB_POOL_SIZE,
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout_seconds,
        application_name=f"coop-worker-{settings.app_name}",
    )
    try:
        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
            yield JobResources(engine, create_sessionmaker(engine), internal_signer(settings), http)
    finally:
        await engine.dispose()


class IntervalError(ValueError):
    """An interval no fixed schedule can keep (the message is for the operator)."""


def cron_every(seconds: float) -> str:
    """The cron line (seconds field last, as procrastinate reads it) of a fixed interval:
    a divisor of a minute in seconds, of an hour in minutes, or of a day in hours."""
    if seconds != int(seconds) or seconds < 1:
        raise IntervalError(f"intervalle non entier : {seconds} s")
    whole = int(seconds)
    if whole < 60 and 60 % whole == 0:
        return f"* * * * * */{whole}"
    if whole % 60 == 0 and whole < 3600 and 60 % (whole // 60) == 0:
        return f"*/{whole // 60} * * * * 0"
    if whole % 3600 == 0 and whole <= 86400 and 24 % (whole // 3600) == 0:
        return f"0 */{whole // 3600} * * * 0"
    raise IntervalError(
        f"intervalle de {whole} s : il doit diviser la minute (en secondes), l'heure (en "
        "minutes) ou le jour (en heures)"
    )


def idempotency_purge_job(
    settings: CommonSettings, table: Table, resources: JobResources
) -> PeriodicJob:
    """`<app>.idempotency-purge`: delete the app's expired Idempotency-Keys (its own
    table, kernel.idempotency)."""
    store = IdempotencyStore.of(table, settings)
    return PeriodicJob(
        f"{settings.app_name}.idempotency-purge",
        PURGE_SECONDS,
        lambda: store.purge(resources.sessionmaker),
    )
