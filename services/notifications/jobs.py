"""The notifications service's periodic jobs, run by `coop worker` (kernel.jobs): one
follower per event feed, the campaigns' reminders (rappels.py), the sender of the
e-mails due, the digests, and the delivery log's purge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import httpx
from sqlalchemy import Table

from kernel.jobs import PeriodicJob, idempotency_purge_job, job_resources
from kernel.outbox import OutboxClient
from kernel.people_ref import PersonnesClient
from kernel.rappels_ref import RappelsClient
from kernel.retention import delivery_log_purge_job
from services.notifications import digests, rappels, service
from services.notifications.messages import ACTIONS, GATEWAY
from services.notifications.models import Envoi, idempotency_keys
from services.notifications.settings import NotificationsSettings


@asynccontextmanager
async def periodic_jobs(settings: NotificationsSettings) -> AsyncIterator[list[PeriodicJob]]:
    async with (
        job_resources(settings) as resources,
        httpx.AsyncClient(timeout=settings.http_timeout_seconds, trust_env=False) as http,
    ):
        people = PersonnesClient(http, resources.signer, settings.gateway_url)
        feeds = {
            GATEWAY: OutboxClient(http, resources.signer, GATEWAY, settings.gateway_url),
            ACTIONS: OutboxClient(http, resources.signer, ACTIONS, settings.actions_url),
        }

        def follower(feed: OutboxClient) -> PeriodicJob:
            async def work() -> int:
                return await service.follow(resources.sessionmaker, feed, people, settings)

            return PeriodicJob(f"notifications.follow-{feed.source}", settings.follow_seconds, work)

        async def send() -> int:
            return await service.send_due(resources.sessionmaker, settings)

        async def digest() -> int:
            return await digests.send_digests(resources.sessionmaker, settings, people)

        reminders = RappelsClient(http, resources.signer, settings.actions_url)

        async def remind() -> int:
            made = await rappels.run(resources.sessionmaker, reminders, people, settings)
            await rappels.purge(resources.sessionmaker, settings.now())
            return made

        yield [
            *(follower(feed) for feed in feeds.values()),
            PeriodicJob("notifications.send", settings.send_seconds, send),
            PeriodicJob("notifications.digests", settings.digest_seconds, digest),
            PeriodicJob("notifications.rappels", settings.rappels_seconds, remind),
            delivery_log_purge_job(settings, cast(Table, Envoi.__table__), "cree_le", resources),
            idempotency_purge_job(settings, idempotency_keys, resources),
        ]
