"""FastAPI dependencies of the actions service: its context and idempotent POSTs."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from kernel.convention_ref import ConventionRef, ConventionRefReplica
from kernel.errors import Conflict, InvalidPayload, ServiceUnavailable
from kernel.json_response import json_response
from kernel.principal import Principal
from services.actions import repository as repo
from services.actions.settings import ActionsSettings

_log = logging.getLogger("coop.actions")


@dataclass
class ActionsContext:
    settings: ActionsSettings
    replica: ConventionRefReplica
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
    """What a POST produced: replayed verbatim for a retried Idempotency-Key."""

    body: Any
    status_code: int = 201
    headers: dict[str, str] = field(default_factory=dict)


MAX_KEY_LENGTH = 200


async def idempotent(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    run: Callable[[], Awaitable[Created]],
) -> Response:
    """Run a POST once per ``Idempotency-Key`` (per principal); replays return the first result."""
    key = request.headers.get("idempotency-key")
    if key is None:
        created = await run()
        return json_response(
            jsonable_encoder(created.body), status_code=created.status_code, headers=created.headers
        )
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidPayload(f"Idempotency-Key : 1 à {MAX_KEY_LENGTH} caractères.")
    digest = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + await request.body()
    ).hexdigest()
    previous = await repo.idempotency_record(session, principal.subject, key)
    if previous is not None:
        if previous.request_hash != digest:
            raise Conflict(
                "Cette clé d'idempotence a déjà servi pour une autre requête.",
                extra={"code": "idempotency-key-reused"},
            )
        return json_response(
            previous.body,
            status_code=previous.status_code,
            headers={**previous.headers, "idempotent-replayed": "true"},
        )
    created = await run()
    body = jsonable_encoder(created.body)
    stored = await repo.store_idempotency(
        session,
        principal=principal.subject,
        key=key,
        request_hash=digest,
        status_code=created.status_code,
        body=body,
        headers=created.headers,
    )
    if not stored:
        # A concurrent twin won the race: roll this one back rather than create twice.
        raise Conflict("Une requête avec la même clé d'idempotence est en cours ; réessayez.")
    return json_response(body, status_code=created.status_code, headers=created.headers)
