"""The suite's one job queue: procrastinate, on the suite's PostgreSQL, its tables in
their own schema (`procrastinate`, Alembic tree `migrations/procrastinate/`).

Periodic jobs (`kernel.jobs.PeriodicJob`) become procrastinate periodic tasks. Every
worker process defers the tick it sees; the database keeps one job per task and tick
(`procrastinate_periodic_defers`), the queueing lock keeps at most one waiting, and the
lock keeps two from running at once: the work runs once per interval across every
worker process and replica. A failed job is logged by the worker and retried with
back-off (`RETRY`); while it waits for its retry, the ticks it covers are skipped.
A job out of retries stays failed, with its events, for the operator to read, until
`failed_jobs_purge_job` deletes it once past its retention (procrastinate never does).
"""

from __future__ import annotations

import logging

import procrastinate

from kernel.database import asyncpg_dsn
from kernel.jobs import PeriodicJob, cron_every

JOBS_SCHEMA = "procrastinate"
# Retried after 2, 4, 8, 16 and 32 s, then left failed (the next tick starts afresh).
RETRY = procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2)
# How often the jobs left failed past their retention are deleted.
FAILED_JOBS_PURGE_SECONDS = 3600
_log = logging.getLogger("coop.jobs")


def job_connector(database_url: str, *, pool_size: int = 4) -> procrastinate.PsycopgConnector:
    """procrastinate's psycopg pool on the suite's database, in the jobs' own schema
    (procrastinate's documented way: the search path of its connections)."""
    return procrastinate.PsycopgConnector(
        conninfo=asyncpg_dsn(database_url),
        kwargs={"options": f"-c search_path={JOBS_SCHEMA}", "application_name": "coop-worker"},
        min_size=1,
        max_size=pool_size,
    )


def jobs_app(database_url: str, *, pool_size: int = 4) -> procrastinate.App:
    return procrastinate.App(connector=job_connector(database_url, pool_size=pool_size))


def register_periodic(app: procrastinate.App, job: PeriodicJob) -> None:
    """`job` as a periodic task of `app`: once per interval, one at a time, retried."""

    async def run(timestamp: int) -> None:
        try:
            await job.work()
        except Exception:
            # procrastinate retries it (RETRY); said at WARNING, where operators look.
            _log.warning(
                "job failed, retried with back-off",
                exc_info=True,
                extra={"fields": {"job": job.name, "tick": timestamp}},
            )
            raise

    task = app.task(
        name=job.name, lock=job.name, queueing_lock=job.name, retry=RETRY, pass_context=False
    )(run)
    app.periodic(cron=cron_every(job.every_seconds), periodic_id=job.name)(task)
    _log.info(
        "periodic job registered",
        extra={"fields": {"job": job.name, "every_seconds": job.every_seconds}},
    )


def failed_jobs_purge_job(app: procrastinate.App, retention_hours: int) -> PeriodicJob:
    """`queue.failed-jobs-purge`: every hour, the jobs of `app`'s queue that ended failed
    (out of retries), cancelled or aborted more than `retention_hours` ago are deleted
    with their events. A job failing at every tick (a service down for a week) would
    otherwise add a row and its events every few seconds, for ever."""

    async def work() -> None:
        # procrastinate's own deletion, as its builtin `remove_old_jobs` task does it.
        await app.job_manager.delete_old_jobs(
            nb_hours=retention_hours,
            include_failed=True,
            include_cancelled=True,
            include_aborted=True,
        )

    return PeriodicJob("queue.failed-jobs-purge", FAILED_JOBS_PURGE_SECONDS, work)
