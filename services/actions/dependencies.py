"""FastAPI dependencies of the actions service: its context; what a POST answers."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from kernel.convention_ref import ConventionRef, ConventionRefReplica
from kernel.errors import ServiceUnavailable
from kernel.json_response import json_response
from kernel.people_ref import PersonnesClient
from services.actions import repository as repo
from services.actions.settings import ActionsSettings

_log = logging.getLogger("coop.actions")


@dataclass
class ActionsContext:
    settings: ActionsSettings
    replica: ConventionRefReplica
    # Who reads a convention (the gateway's habilitations): whom a comment may mention.
    people: PersonnesClient
    # Injectable for tests and demo: the service's notion of "today".
    today: Callable[[], dt.date]

    async def fresh_ref(self, session: AsyncSession, convention_id: uuid.UUID) -> ConventionRef:
        """The convention's state right now, before a write that depends on it.

        When the conventions service cannot be reached, the replica's row (at most one
        sync interval old before the outage) is used rather than refusing all writes.
        """
        try:
            return await self.replica.refresh(session, convention_id)
        except ServiceUnavailable:
            known = await repo.ref_by_id(session, convention_id)
            if known is None:
                raise
            _log.warning(
                "conventions unreachable, using the replica",
                extra={"fields": {"convention": str(convention_id)}},
            )
            return known


async def get_context(request: Request) -> ActionsContext:
    ctx: ActionsContext = request.app.state.actions
    return ctx


Ctx = Annotated[ActionsContext, Depends(get_context)]


@dataclass
class Created:
    """What a POST produced (Idempotency-Key: the routers' kernel route class)."""

    body: object
    status_code: int = 201
    headers: dict[str, str] = field(default_factory=dict)


def respond(created: Created) -> Response:
    return json_response(
        jsonable_encoder(created.body), status_code=created.status_code, headers=created.headers
    )
