"""The gateway's periodic jobs, run by `coop worker` (kernel.jobs): its convention
replica, the grant-expiry sweep and notices (expiry.py), and what is kept about people
(retention.py, kernel.retention). (The NOTIFY listener that drops the grant cache is no job: every
gateway process runs its own, `notify.py`.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.habilitations.dependencies import conventions_url, sweep_expired
from gateway.habilitations.expiry import announce_expiring
from gateway.habilitations.models import (
    convention_ref,
    evenements,
    idempotency_keys,
    journal_acces,
)
from gateway.habilitations.retention import Erased, erase_departed
from gateway.settings import GatewaySettings
from kernel.convention_ref import sync_job
from kernel.jobs import PeriodicJob, idempotency_purge_job, job_resources
from kernel.retention import event_purge_job, log_purge_job


@asynccontextmanager
async def periodic_jobs(settings: GatewaySettings) -> AsyncIterator[list[PeriodicJob]]:
    async with job_resources(settings) as resources:

        async def sweep() -> int:
            # No resolver here: the grants trigger NOTIFYs every gateway, which drops its cache.
            return await sweep_expired(resources.sessionmaker, None)

        async def notices() -> int:
            return await announce_expiring(resources.sessionmaker, settings.now())

        async def erasure() -> Erased:
            return await erase_departed(
                resources.sessionmaker, settings.now(), settings.person_retention_days
            )

        yield [
            sync_job(
                "gateway.convention-ref-sync",
                convention_ref,
                conventions_url(settings),
                resources,
                settings.conventions_sync_seconds,
            ),
            PeriodicJob("gateway.grant-expiry-sweep", settings.grant_expiry_sweep_seconds, sweep),
            # The J-30 / J-7 notices of the grants about to end (expiry.py).
            PeriodicJob(
                "gateway.grant-expiry-notices", settings.grant_expiry_sweep_seconds, notices
            ),
            idempotency_purge_job(settings, idempotency_keys, resources),
            log_purge_job(
                settings,
                "access-log",
                journal_acces,
                "at",
                settings.access_log_retention_days,
                resources,
            ),
            event_purge_job(settings, evenements, resources),
            PeriodicJob("gateway.person-erasure", settings.retention_sweep_seconds, erasure),
        ]
