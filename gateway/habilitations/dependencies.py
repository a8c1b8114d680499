"""The habilitations' context (built in the lifespan) and per-request dependencies.

The router carries its own lifespan (merged by FastAPI into the gateway's): it runs
after the gateway's, so the database and the grant resolver already exist. It listens
for grant changes; the replica's catch-up and the expiry sweep are jobs (jobs.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth.dependencies import current_principal
from gateway.habilitations import service
from gateway.habilitations.models import convention_ref
from gateway.habilitations.notify import invalidate_on_grant_change
from gateway.habilitations.resolver import DbGrantResolver
from gateway.settings import GatewaySettings
from kernel.convention_ref import ConventionRefClient, ConventionRefReplica
from kernel.database import DbSession
from kernel.errors import ServiceUnavailable
from kernel.principal import Principal

_log = logging.getLogger("coop.gateway.habilitations")


@dataclass
class HabilitationsContext:
    settings: GatewaySettings
    replica: ConventionRefReplica
    # None when the gateway runs with another resolver (tests of the auth layer).
    resolver: DbGrantResolver | None


def conventions_url(settings: GatewaySettings) -> str:
    return settings.conventions_url or settings.service_urls.get(
        "conventions", "http://127.0.0.1:8001"
    )


async def sweep_expired(
    sessionmaker: async_sessionmaker[AsyncSession], resolver: DbGrantResolver | None
) -> int:
    async with sessionmaker() as session:
        count = await service.expire_due(session, resolver)
        await session.commit()
    return count


@asynccontextmanager
async def habilitations_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: GatewaySettings = app.state.settings
    resolver = getattr(app.state, "grant_resolver", None)
    db_resolver = resolver if isinstance(resolver, DbGrantResolver) else None
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False) as http:
        client = ConventionRefClient(http, app.state.internal_signer, conventions_url(settings))
        replica = ConventionRefReplica(convention_ref, client, app.state.sessionmaker)
        app.state.habilitations = HabilitationsContext(settings, replica, db_resolver)

        # The replica's catch-up and the grant-expiry sweep are jobs (jobs.py); the
        # NOTIFY listener stays here: every gateway process drops its own cache.
        if db_resolver is None:
            yield
            return
        async with invalidate_on_grant_change(app.state.engine, db_resolver.invalidate):
            yield


def _context(request: Request) -> HabilitationsContext:
    ctx: HabilitationsContext = request.app.state.habilitations
    return ctx


Ctx = Annotated[HabilitationsContext, Depends(_context)]


async def _authority(
    session: DbSession, principal: Annotated[Principal, Depends(current_principal)], ctx: Ctx
) -> service.Authority:
    if principal.caf_write_ids():
        # A Caf agent often invites a collectivité's referent right after signing: catch
        # the replica up first (one feed call) so the new signatory is known. If the
        # conventions service is down, decide on the replica as it is.
        try:
            await ctx.replica.sync_once()
        except ServiceUnavailable:
            _log.warning("convention replica catch-up failed; deciding on the replica as is")
    return await service.authority_for(session, principal)


Auth = Annotated[service.Authority, Depends(_authority)]
