"""What the suite keeps about people, and for how long: rows past their retention
period are deleted by each app's periodic jobs (`coop worker`, kernel.jobs).

A log table (the gateway's access journal, the delivery log of e-mails) registers its
time column with `log_purge_job`: the rows older than the period are deleted in small
batches (each its own short transaction: no long lock on a table the requests write),
"now" being the app's `settings.now()` (a clock the tests move). What is kept and why
is written in docs/architecture.md, "What is kept about people".
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.jobs import JobResources, PeriodicJob
from kernel.settings import CommonSettings

BATCH_ROWS = 10_000


async def purge_before(
    sessionmaker: async_sessionmaker[AsyncSession],
    table: Table,
    time_column: str,
    cutoff: dt.datetime,
    *,
    batch: int = BATCH_ROWS,
) -> int:
    """Delete the rows of `table` whose `time_column` is before `cutoff`, oldest first,
    `batch` rows per transaction (an index on that column keeps each one short). How
    many were deleted."""
    column = table.c[time_column]
    key = tuple_(*table.primary_key.columns)
    total = 0
    while True:
        oldest = (
            select(*table.primary_key.columns).where(column < cutoff).order_by(column).limit(batch)
        )
        async with sessionmaker() as session:
            result = await session.execute(delete(table).where(key.in_(oldest)))
            await session.commit()
        deleted: int = getattr(result, "rowcount", 0)
        total += deleted
        if deleted < batch:
            return total


def log_purge_job(
    settings: CommonSettings,
    what: str,
    table: Table,
    time_column: str,
    retention_days: int,
    resources: JobResources,
) -> PeriodicJob:
    """`<app>.<what>-purge`: every `retention_sweep_seconds`, delete the rows of
    `table` whose `time_column` is older than `retention_days` (as of `settings.now()`)."""

    async def work() -> int:
        cutoff = settings.now() - dt.timedelta(days=retention_days)
        return await purge_before(resources.sessionmaker, table, time_column, cutoff)

    return PeriodicJob(f"{settings.app_name}.{what}-purge", settings.retention_sweep_seconds, work)


def delivery_log_purge_job(
    settings: CommonSettings, table: Table, time_column: str, resources: JobResources
) -> PeriodicJob:
    """The purge of an app's delivery log (each e-mail and its state), kept
    `COOP_DELIVERY_LOG_RETENTION_DAYS`: the app yields it from its `jobs.py` with its
    table and time column (`<app>.delivery-log-purge`)."""
    return log_purge_job(
        settings,
        "delivery-log",
        table,
        time_column,
        settings.delivery_log_retention_days,
        resources,
    )


def event_purge_job(settings: CommonSettings, table: Table, resources: JobResources) -> PeriodicJob:
    """The purge of an app's domain events (kernel.outbox), kept
    `COOP_EVENT_RETENTION_DAYS`: their followers read them within seconds and keep what
    they act on; an invitation's carries its invitee's address (`<app>.event-purge`)."""
    return log_purge_job(settings, "event", table, "le", settings.event_retention_days, resources)
