"""The retention rules of the suite (kernel.retention and each app's jobs) on the job
queue: every rule runs once per interval whatever the number of workers, as of the
clock setting (`COOP_CLOCK`, moved here, never slept). What each rule keeps and erases
is tested beside its app (tests/gateway/habilitations/test_retention.py,
tests/documents/test_bin_and_operations.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.worker import suite_jobs
from gateway.habilitations.models import journal_acces
from kernel.database import create_sessionmaker
from kernel.retention import purge_before
from tests.support.jobs import finished_ticks, run_workers

NOW = dt.datetime.now(dt.UTC)
RETENTION_RULES = {
    "gateway.access-log-purge",
    "gateway.event-purge",
    "actions.event-purge",
    "gateway.person-erasure",
    "documents.bin-purge",
}


async def journal_rows(engine: AsyncEngine, *ages_in_days: int) -> None:
    rows = [
        {
            "at": NOW - dt.timedelta(days=age),
            "principal_id": uuid.uuid4(),
            "method": "GET",
            "route": "/api/v1/moi",
            "path": "/api/v1/moi",
            "status": 200,
            "request_id": f"r{n}",
        }
        for n, age in enumerate(ages_in_days)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(journal_acces), rows)


async def journal_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(journal_acces))).scalar_one()
        )


async def test_rows_past_their_period_go_in_batches_oldest_first(db_engine: AsyncEngine) -> None:
    await journal_rows(db_engine, 400, 390, 380, 370, 366, 10, 0)
    cutoff = NOW - dt.timedelta(days=365)
    deleted = await purge_before(
        create_sessionmaker(db_engine), journal_acces, "at", cutoff, batch=2
    )
    assert deleted == 5
    async with db_engine.connect() as conn:
        kept = (await conn.execute(select(journal_acces.c.request_id).order_by("id"))).scalars()
        assert list(kept) == ["r5", "r6"]


async def test_every_retention_rule_runs_once_per_interval_on_the_queue(
    database_url: str, db_engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers, as `coop worker` runs them (every app's jobs, from the environment),
    the rules every second with the clock moved a year on: each tick of each rule runs
    once, and the journal's year-old rows go."""
    for name, value in {
        "DATABASE_URL": database_url,
        "COOP_RETENTION_SWEEP_SECONDS": "1",
        "COOP_CLOCK": (NOW + dt.timedelta(days=366)).isoformat(),
        "COOP_DOCUMENTS_ANTIVIRUS": "false",
        "COOP_DOCUMENTS_STORAGE_ROOT": str(tmp_path / "documents"),
    }.items():
        monkeypatch.setenv(name, value)
    await journal_rows(db_engine, 0, 1)

    async def purged_then_a_few_ticks() -> None:
        while await journal_count(db_engine):  # noqa: ASYNC110 (the rule's effect, in PostgreSQL)
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.2)

    async with suite_jobs() as jobs:
        rules = [job for job in jobs if job.name in RETENTION_RULES]
        assert sorted(job.name for job in rules) == sorted(RETENTION_RULES)
        assert {job.every_seconds for job in rules} == {1}
        await asyncio.wait_for(
            run_workers(database_url, rules, 2, purged_then_a_few_ticks()), timeout=60
        )

    for name in RETENTION_RULES:
        ticks = await finished_ticks(db_engine, name)
        assert len(ticks) >= 2, name
        stamps = [tick for tick, _, _ in ticks]
        assert len(set(stamps)) == len(stamps), f"{name}: a tick ran twice: {stamps}"
        assert {status for _, status, _ in ticks} <= {"succeeded", "doing", "todo"}, name
