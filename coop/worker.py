"""`coop worker`: the suite's background jobs (kernel.job_queue), from every app that has
some (`coop.apps.AppSpec.jobs`). As many workers as wanted, on as many hosts: each
periodic job still runs once per interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import ClassVar

import procrastinate
import typer
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from rich.console import Console
from sqlalchemy import text

from coop.apps import APPS
from kernel.app import resolve_database_url
from kernel.background import periodic
from kernel.database import create_engine
from kernel.job_queue import failed_jobs_purge_job, jobs_app, register_periodic
from kernel.jobs import JOB_POOL_SIZE, IntervalError, PeriodicJob
from kernel.observability import logging_config
from kernel.settings import CommonSettings

_log = logging.getLogger("coop.worker")


class WorkerSettings(CommonSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="COOP_WORKER_")
    app_name: ClassVar[str] = "worker"

    # Jobs one worker process runs at once (a long rescan never holds up a replica's sync).
    concurrency: int = Field(default=4, ge=1, le=32)
    # Touched while the worker reaches the database; `coop healthcheck worker` reads its age.
    heartbeat_file: str = ".coop/worker.heartbeat"
    # Healthy while the file is younger than three heartbeats.
    heartbeat_seconds: float = Field(default=10.0, gt=0, le=300)
    # A job out of retries is kept this long (with its events) for the operator to read,
    # then deleted by the hourly `queue.failed-jobs-purge`.
    failed_job_retention_hours: int = Field(default=168, ge=1, le=24 * 366)

    def production_problems(self) -> list[str]:
        # The worker signs nothing itself: each app's jobs sign with that app's own key.
        return [
            problem
            for problem in super().production_problems()
            if problem != "internal signing key is a development key"
        ]


@asynccontextmanager
async def suite_jobs() -> AsyncIterator[list[PeriodicJob]]:
    """Every app's periodic jobs, each built from that app's own settings."""
    async with contextlib.AsyncExitStack() as stack:
        jobs: list[PeriodicJob] = []
        for spec in APPS.values():
            source = spec.job_source()
            if source is None:
                continue
            settings = spec.settings_class()()
            settings.check()
            jobs += await stack.enter_async_context(source(settings))
        yield jobs


def queue_pool_size(concurrency: int) -> int:
    """procrastinate's pool: a connection per job running, one to listen for new jobs,
    one for its heartbeat."""
    return concurrency + 2


def connection_budget(settings: WorkerSettings) -> int:
    """PostgreSQL connections one `coop worker` process holds at most: the queue's pool,
    each app's jobs' pool (kernel.jobs.JOB_POOL_SIZE) and our heartbeat's one."""
    with_jobs = sum(1 for spec in APPS.values() if spec.jobs is not None)
    return queue_pool_size(settings.concurrency) + with_jobs * JOB_POOL_SIZE + 1


def build_app(
    database_url: str,
    jobs: list[PeriodicJob],
    concurrency: int,
    *,
    failed_job_retention_hours: int,
) -> tuple[procrastinate.App, list[PeriodicJob]]:
    """The queue with `jobs` and its own purge of failed jobs registered; every job
    registered, the purge included."""
    app = jobs_app(database_url, pool_size=queue_pool_size(concurrency))
    registered = [*jobs, failed_jobs_purge_job(app, failed_job_retention_hours)]
    for job in registered:
        register_periodic(app, job)
    return app, registered


@asynccontextmanager
async def heartbeat(settings: WorkerSettings, database_url: str) -> AsyncIterator[None]:
    """Touch the heartbeat file each time the database answers (the container's probe)."""
    path = Path(settings.heartbeat_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        database_url, pool_size=1, max_overflow=0, application_name="coop-worker"
    )

    async def beat() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        await asyncio.to_thread(path.touch)

    try:
        async with periodic("worker-heartbeat", settings.heartbeat_seconds, beat, _log):
            yield
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        await engine.dispose()


async def run_worker(settings: WorkerSettings, console: Console) -> None:
    database_url = resolve_database_url(settings)
    async with suite_jobs() as app_jobs:
        app, jobs = build_app(
            database_url,
            app_jobs,
            settings.concurrency,
            failed_job_retention_hours=settings.failed_job_retention_hours,
        )
        async with app.open_async(), heartbeat(settings, database_url):
            console.print(
                f"Travailleur prêt : {len(jobs)} tâches périodiques, "
                f"{connection_budget(settings)} connexions PostgreSQL au plus."
            )
            for job in jobs:
                console.print(f"  {job.name} : toutes les {job.every_seconds:g} s")
            await app.run_worker_async(
                concurrency=settings.concurrency,
                # Finished jobs are deleted (a replica's sync every 2 s would pile up);
                # failed ones stay, with their events, for the operator to read, until
                # queue.failed-jobs-purge (COOP_WORKER_FAILED_JOB_RETENTION_HOURS).
                delete_jobs="successful",
                shutdown_graceful_timeout=8.0,
                name=f"{socket.gethostname()}-{os.getpid()}",
            )
    console.print("Travailleur arrêté.")


def healthy(settings: WorkerSettings) -> str | None:
    """None when the worker's heartbeat is fresh, else why not (French, for the probe)."""
    path = Path(settings.heartbeat_file)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return f"aucun battement ({path} absent)"
    if age > 3 * settings.heartbeat_seconds:
        return f"dernier battement il y a {age:.0f} s"
    return None


def main(console: Console) -> None:
    """The body of `coop worker` (the database URL is resolved by the caller)."""
    settings = WorkerSettings()
    settings.check()
    # The JSON lines on stderr every served app writes (kernel.observability).
    logging.config.dictConfig(logging_config(settings.log_level))
    # procrastinate logs each deferral, start and success at INFO (several lines a second
    # with the replicas' syncs); a failure is logged at WARNING by kernel.job_queue, a job
    # out of retries at ERROR by procrastinate.
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    try:
        asyncio.run(run_worker(settings, console))
    except IntervalError as exc:
        console.print(f"[red]Tâche périodique impossible : {exc}.[/]")
        raise typer.Exit(2) from exc
