"""The actions service's periodic jobs, run by `coop worker` (kernel.jobs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kernel.convention_ref import sync_job
from kernel.jobs import PeriodicJob, idempotency_purge_job, job_resources
from kernel.retention import event_purge_job, log_purge_job
from services.actions import service_cdsf, service_export_jobs
from services.actions.archive_rapports import archive_pending
from services.actions.models import EXPORTS, IMPORTS, convention_ref, evenements, idempotency_keys
from services.actions.settings import ActionsSettings


@asynccontextmanager
async def periodic_jobs(settings: ActionsSettings) -> AsyncIterator[list[PeriodicJob]]:
    async with job_resources(settings) as resources:

        async def cdsf_reminders() -> int:
            return await service_cdsf.remind(resources.sessionmaker, settings.now())

        yield [
            sync_job(
                "actions.convention-ref-sync",
                convention_ref,
                settings.conventions_url,
                resources,
                settings.conventions_sync_seconds,
            ),
            idempotency_purge_job(settings, idempotency_keys, resources),
            event_purge_job(settings, evenements, resources),
            # The weekly reminders of the CDSF agreements asked (service_cdsf.py).
            PeriodicJob(
                "actions.cdsf-agreement-reminders",
                settings.cdsf_reminders_seconds,
                cdsf_reminders,
            ),
            # Adopted bilans' reports kept as documents (archive_rapports.py).
            PeriodicJob(
                "actions.bilans-rapports",
                settings.rapports_archive_seconds,
                lambda: archive_pending(
                    resources.sessionmaker, resources.http, resources.signer, settings.documents_url
                ),
            ),
            # Imports of a plan expire (expire_le, 24 h after the upload): file and report go.
            log_purge_job(settings, "import", IMPORTS, "expire_le", 0, resources),
            # Large exports asked for through the API, written one after the other
            # (service_export_jobs.py); each expires (expire_le) with its file.
            PeriodicJob(
                "actions.exports",
                settings.exports_seconds,
                lambda: service_export_jobs.run_pending(resources.sessionmaker, settings),
            ),
            log_purge_job(settings, "export", EXPORTS, "expire_le", 0, resources),
        ]
