"""procrastinate's real worker in the test's event loop, on the test database, with the
very registration `coop worker` uses (`coop.worker.build_app`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence

from coop.worker import build_app
from kernel.jobs import PeriodicJob


async def run_workers(
    database_url: str, jobs: Sequence[PeriodicJob], count: int, until: Awaitable[object]
) -> None:
    """`count` workers, as `coop worker` runs them (each its own pool), until `until`
    (an awaitable) is done; finished jobs are kept to be counted."""
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
