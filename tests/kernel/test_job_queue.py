"""The suite's job queue (procrastinate, schema `procrastinate`) on the real database, run
by procrastinate's real worker in this process, with the very registration `coop worker`
uses (`coop.worker.build_app`)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.worker import build_app
from kernel.job_queue import jobs_app
from kernel.jobs import PeriodicJob, cron_every
from services.actions.jobs import periodic_jobs as actions_jobs
from services.actions.models import convention_ref
from services.actions.settings import ActionsSettings
from tests.support.apps import running
from tests.support.conventions import conventions_app, make_convention, resilier, seed_organisations
from tests.support.jobs import finished_ticks, run_workers
from tests.support.served import served


async def test_the_queue_has_its_own_schema_and_procrastinate_sees_it(
    database_url: str, db_engine: AsyncEngine
) -> None:
    async with db_engine.connect() as conn:
        schemas = await conn.execute(
            text(
                "SELECT DISTINCT table_schema FROM information_schema.tables"
                " WHERE table_name LIKE 'procrastinate%'"
            )
        )
        assert [r[0] for r in schemas] == ["procrastinate"]
    app = jobs_app(database_url)
    async with app.open_async():
        assert await app.check_connection_async()


async def test_a_periodic_job_runs_once_per_interval_with_two_workers_and_the_replica_converges(
    database_url: str, db_engine: AsyncEngine
) -> None:
    """Two workers each defer every tick of the actions' replica sync (every second):
    each tick runs once, and a convention's résiliation reaches the replica by itself."""
    await seed_organisations(database_url)
    conv = conventions_app(database_url)
    async with running(conv) as client, served(conv) as url:
        convention_id = await make_convention(client)
        settings = ActionsSettings(
            database_url=database_url, conventions_url=url, conventions_sync_seconds=1
        )

        async def statut() -> str | None:
            async with db_engine.connect() as conn:
                row = await conn.execute(
                    select(convention_ref.c.statut).where(convention_ref.c.id == convention_id)
                )
                return row.scalar_one_or_none()

        async def converges() -> None:
            while await statut() is None:  # noqa: ASYNC110 (the replica reaches the new convention)
                await asyncio.sleep(0.1)
            await resilier(client, convention_id)
            while await statut() != "résiliée":  # noqa: ASYNC110 (and its résiliation)
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.5)  # a few more ticks to count

        async with actions_jobs(settings) as jobs:
            await asyncio.wait_for(run_workers(database_url, jobs, 2, converges()), timeout=60)

    ticks = await finished_ticks(db_engine, "actions.convention-ref-sync")
    timestamps = [tick for tick, _, _ in ticks]
    assert len(timestamps) >= 4
    assert len(set(timestamps)) == len(timestamps), f"a tick ran twice: {timestamps}"
    assert {status for _, status, _ in ticks} <= {"succeeded", "doing", "todo"}
    assert [s for _, s, _ in ticks].count("succeeded") >= 3


async def test_a_failing_job_is_logged_and_retried_with_back_off(
    database_url: str, db_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []
    succeeded = asyncio.Event()

    async def work() -> None:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 1:
            raise RuntimeError("service des conventions injoignable")
        succeeded.set()

    job = PeriodicJob("essai.echec-puis-succes", 60, work)
    with caplog.at_level(logging.WARNING, logger="coop.jobs"):
        await asyncio.wait_for(run_workers(database_url, [job], 1, succeeded.wait()), timeout=60)

    # One job, run twice: the retry waited its back-off (2 s), not the next tick (60 s).
    [(_, status, attempts)] = await finished_ticks(db_engine, job.name)
    assert (status, attempts) == ("succeeded", 2)
    assert 1.8 <= calls[1] - calls[0] < 30
    [failed] = [r for r in caplog.records if r.name == "coop.jobs" and r.exc_info]
    assert failed.levelname == "WARNING"
    assert failed.getMessage() == "job failed, retried with back-off"
    assert "injoignable" in str(failed.exc_info and failed.exc_info[1])


async def test_jobs_left_failed_go_with_their_events_once_past_their_retention(
    database_url: str, db_engine: AsyncEngine
) -> None:
    """procrastinate keeps a job out of retries, and its events, for ever: a job failing
    at every tick for a week would pile up rows. The worker's own hourly purge, registered
    by `build_app` beside the apps' jobs, deletes those that failed more than the
    retention ago, and leaves recent failures and jobs still to run."""
    app, registered = build_app(database_url, [], concurrency=1, failed_job_retention_hours=168)
    [purge] = registered
    assert (purge.name, purge.every_seconds) == ("queue.failed-jobs-purge", 3600)

    async def fails() -> None:
        raise RuntimeError("service injoignable")

    # A queue of its own: the worker below runs nothing else left in the test database.
    task = app.task(name="essai.toujours-en-echec", queue="essai-purge", pass_context=False)(fails)
    async with app.open_async():
        old, recent = await task.defer_async(), await task.defer_async()
        waiting = await task.configure(schedule_in={"days": 1}).defer_async()
        # procrastinate's real worker runs what is due, then returns.
        await app.run_worker_async(
            queues=["essai-purge"],
            wait=False,
            concurrency=1,
            delete_jobs="never",
            install_signal_handlers=False,
        )
        async with db_engine.begin() as conn:
            statuses = await conn.execute(
                text(
                    "SELECT id, status::text FROM procrastinate.procrastinate_jobs"
                    " WHERE id = ANY(:ids)"
                ),
                {"ids": [old, recent, waiting]},
            )
            assert dict(statuses.all()) == {old: "failed", recent: "failed", waiting: "todo"}
            # Eight days ago (the retention is seven), the waiting one's deferral too.
            await conn.execute(
                text(
                    "UPDATE procrastinate.procrastinate_events SET at = at - interval '8 days'"
                    " WHERE job_id = ANY(:ids)"
                ),
                {"ids": [old, waiting]},
            )
        await purge.work()

    async with db_engine.connect() as conn:
        jobs = await conn.execute(
            text("SELECT id FROM procrastinate.procrastinate_jobs WHERE id = ANY(:ids)"),
            {"ids": [old, recent, waiting]},
        )
        assert sorted(r[0] for r in jobs) == sorted([recent, waiting])
        events = await conn.execute(
            text("SELECT count(*) FROM procrastinate.procrastinate_events WHERE job_id = :id"),
            {"id": old},
        )
        assert events.scalar_one() == 0


def test_intervals_become_cron_lines_or_are_refused() -> None:
    assert cron_every(2) == "* * * * * */2"
    assert cron_every(300) == "*/5 * * * * 0"
    assert cron_every(3600) == "0 */1 * * * 0"
    for wrong in (0.5, 7, 420, 5 * 3600):
        with pytest.raises(ValueError, match="intervalle"):
            cron_every(wrong)
