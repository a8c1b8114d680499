"""procrastinate's real worker in the test's event loop, on the test database, with the
very registration `coop worker` uses (`coop.worker.build_app`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.worker import build_app
from kernel.database import asyncpg_dsn
from kernel.job_queue import JOBS_SCHEMA
from kernel.jobs import PeriodicJob


async def empty_queue(database_url: str) -> None:
    """No job left by an earlier test of this process (the per-test TRUNCATE leaves the
    queue to the worker, tests/conftest.py): none to run for a task it does not know,
    none holding a task's queueing lock. The jobs first, then what refers to them (their
    events, the periodic deferrals), the order a deferral locks them in."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(f"TRUNCATE {JOBS_SCHEMA}.procrastinate_jobs CASCADE")
    finally:
        await conn.close()


async def run_workers(
    database_url: str, jobs: Sequence[PeriodicJob], count: int, until: Awaitable[object]
) -> None:
    """`count` workers, as `coop worker` runs them (each its own pool), on an empty
    queue, until `until` (an awaitable) is done; finished jobs are kept to be counted."""
    await empty_queue(database_url)
    async with contextlib.AsyncExitStack() as stack:
        apps = [
            build_app(database_url, list(jobs), concurrency=2, failed_job_retention_hours=168)[0]
            for _ in range(count)
        ]
        for app in apps:
            await stack.enter_async_context(app.open_async())
        workers = [
            asyncio.create_task(
                app.run_worker_async(
                    concurrency=2,
                    delete_jobs="never",
                    install_signal_handlers=False,
                    name=f"essai-{n}",
                )
            )
            for n, app in enumerate(apps)
        ]
        try:
            await until
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)


async def finished_ticks(engine: AsyncEngine, task: str) -> list[tuple[int, str, int]]:
    """(tick, status, attempts) of every job of `task`, as the queue recorded them."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT (args->>'timestamp')::bigint, status::text, attempts"
                " FROM procrastinate.procrastinate_jobs WHERE task_name = :task ORDER BY id"
            ),
            {"task": task},
        )
        return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]
