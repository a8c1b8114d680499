"""The conventions service's periodic jobs, run by `coop worker` (kernel.jobs): the
purge of its expired Idempotency-Keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kernel.jobs import PeriodicJob, idempotency_purge_job, job_resources
from services.conventions.models import idempotency_keys
from services.conventions.settings import ConventionsSettings


@asynccontextmanager
async def periodic_jobs(settings: ConventionsSettings) -> AsyncIterator[list[PeriodicJob]]:
    async with job_resources(settings) as resources:
        yield [idempotency_purge_job(settings, idempotency_keys, resources)]
