"""The gateway's periodic jobs, run by `coop worker` (kernel.jobs): its convention
replica and the grant-expiry sweep. (The NOTIFY listener that drops the grant cache is
no job: every gateway process runs its own, `notify.py`.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.habilitations.dependencies import conventions_url, sweep_expired
from gateway.habilitations.models import convention_ref, idempotency_keys
from gateway.settings import GatewaySettings
from kernel.convention_ref import sync_job
from kernel.jobs import PeriodicJob, idempotency_purge_job, job_resources


@asynccontextmanager
async def periodic_jobs(settings: GatewaySettings) -> AsyncIterator[list[PeriodicJob]]:
    async with job_resources(settings) as resources:

        async def sweep() -> int:
            # No resolver here: the grants trigger NOTIFYs every gateway, which drops its cache.
            return await sweep_expired(resources.sessionmaker, None)

        yield [
            sync_job(
                "gateway.convention-ref-sync",
                convention_ref,
                conventions_url(settings),
                resources,
                settings.conventions_sync_seconds,
            ),
            PeriodicJob("gateway.grant-expiry-sweep", settings.grant_expiry_sweep_seconds, sweep),
            idempotency_purge_job(settings, idempotency_keys, resources),
        ]
