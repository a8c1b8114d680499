"""The documents service's periodic jobs, run by `coop worker` (kernel.jobs): its
convention replica, the purge of the bin past its retention (the documents keep their
record, never their content), and the antivirus rescan of versions left `en_analyse`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kernel.convention_ref import sync_job
from kernel.jobs import PeriodicJob, idempotency_purge_job, job_resources
from services.documents import service
from services.documents.app import make_scanner, open_storage
from services.documents.models import convention_ref, idempotency_keys
from services.documents.settings import DocumentsSettings


@asynccontextmanager
async def periodic_jobs(settings: DocumentsSettings) -> AsyncIterator[list[PeriodicJob]]:
    async with job_resources(settings) as resources:
        storage = await open_storage(settings)
        try:

            async def purge() -> service.PurgeReport:
                return await service.purge(
                    resources.sessionmaker, storage, settings.bin_retention_days, settings.now()
                )

            jobs = [
                sync_job(
                    "documents.convention-ref-sync",
                    convention_ref,
                    settings.conventions_url,
                    resources,
                    settings.conventions_sync_seconds,
                ),
                idempotency_purge_job(settings, idempotency_keys, resources),
                PeriodicJob("documents.bin-purge", settings.retention_sweep_seconds, purge),
            ]
            scanner = make_scanner(settings)
            if scanner is None:  # scanning disabled: versions are `disponible` unscanned
                yield jobs
                return

            async def rescan() -> dict[str, int]:
                return await service.rescan(
                    resources.sessionmaker, storage, scanner, max_errors=settings.scan_max_errors
                )

            yield [*jobs, PeriodicJob("documents.rescan", settings.rescan_seconds, rescan)]
        finally:
            await storage.close()
