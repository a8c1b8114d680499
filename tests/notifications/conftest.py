"""The notifications service in its world: the gateway with real grants and the real
actions service, each served over loopback HTTP, the notifications app served behind
the gateway, and a real SMTP server (aiosmtpd) keeping the messages in a Maildir.

The jobs' work (`service.follow`, `service.send_due`) is called as `coop worker` calls
it; time moves by the settings' clock, never by sleeping."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from coop.mailbox import messages, smtp_server
from coop.ports import free_port
from kernel.app import internal_signer
from kernel.database import create_sessionmaker
from kernel.outbox import OutboxClient
from kernel.people_ref import PersonnesClient
from services.notifications import service
from services.notifications.app import create_app
from services.notifications.messages import ACTIONS, GATEWAY
from services.notifications.settings import NotificationsSettings
from tests.gateway.habilitations.rig import (
    CONVENTION_A,
    UNREACHABLE,
    HabRig,
    actions_served,
    habilitations_rig,
)
from tests.support.apps import running
from tests.support.served import served


@pytest.fixture(scope="module")
def gateway_port() -> int:
    """Each test's gateway is served on this port: the module's actions service asks it
    who reads a convention (mentions)."""
    return free_port()


@pytest.fixture(scope="module")
async def actions_url(database_url: str, gateway_port: int) -> AsyncIterator[str]:
    async with actions_served(database_url, f"http://127.0.0.1:{gateway_port}") as url:
        yield url


@dataclass
class World:
    hab: HabRig
    settings: NotificationsSettings
    sessionmaker: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    gateway_url: str
    actions_url: str
    maildir: Path
    smtp_port: int
    extra: dict[str, Any] = field(default_factory=dict)

    def feed(self, source: str) -> OutboxClient:
        url = self.gateway_url if source == GATEWAY else self.actions_url
        return OutboxClient(self.http, internal_signer(self.settings), source, url)

    @property
    def people(self) -> PersonnesClient:
        return PersonnesClient(self.http, internal_signer(self.settings), self.gateway_url)

    async def follow(self, source: str = ACTIONS) -> int:
        return await service.follow(
            self.sessionmaker, self.feed(source), self.people, self.settings
        )

    async def send(self) -> int:
        return await service.send_due(self.sessionmaker, self.settings)

    def mails(self) -> list[EmailMessage]:
        return messages(self.maildir)

    def later(self, seconds: float) -> None:
        """Move the clock the jobs read (COOP_CLOCK) forward."""
        self.settings.clock = self.settings.now() + dt.timedelta(seconds=seconds)

    async def login(self, name: str) -> uuid.UUID:
        """The person logs in (the token's verified e-mail is recorded); their id."""
        resp = await self.hab.client.get("/api/v1/moi", headers=self.hab.headers(name))
        assert resp.status_code == 200, resp.text
        return await self.hab.person_id(name)

    async def as_(self, name: str, method: str, path: str, **kw: Any) -> httpx.Response:
        """A request through the gateway as `name` (the production path to the services)."""
        headers = {**self.hab.headers(name), **kw.pop("headers", {})}
        return await self.hab.client.request(method, path, headers=headers, **kw)


@pytest.fixture
async def world(
    tmp_path: Path, database_url: str, db_engine: AsyncEngine, actions_url: str, gateway_port: int
) -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        smtp_port = free_port()
        base = NotificationsSettings(
            database_url=database_url,
            smtp_port=smtp_port,
            app_base_url="https://app.cooperation.test",
            api_base_url="https://api.cooperation.test",
            retry_base_seconds=60,
            send_max_attempts=3,
            smtp_timeout_seconds=2,
            clock=dt.datetime.now(dt.UTC),
        )
        app = create_app(base)
        await stack.enter_async_context(running(app))
        notifications_url = await stack.enter_async_context(served(app))
        hab = await stack.enter_async_context(
            habilitations_rig(
                tmp_path,
                database_url,
                db_engine,
                actions_url,
                service_urls={
                    "conventions": UNREACHABLE,
                    "actions": actions_url,
                    "documents": UNREACHABLE,
                    "notifications": notifications_url,
                },
            )
        )
        gateway_url = await stack.enter_async_context(served(hab.app, gateway_port))
        settings = base.model_copy(update={"gateway_url": gateway_url, "actions_url": actions_url})
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=5, trust_env=False))
        maildir = tmp_path / "mails"
        stack.enter_context(smtp_server(maildir, port=smtp_port))
        yield World(
            hab,
            settings,
            create_sessionmaker(db_engine),
            http,
            gateway_url,
            actions_url,
            maildir,
            smtp_port,
        )


__all__ = ["CONVENTION_A", "World"]
