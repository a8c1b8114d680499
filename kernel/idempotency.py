"""Idempotency-Key on every POST of the public API: one mechanism for every app.

A client that did not get the answer to a POST (a mobile network, a timeout) sends it
again with the same ``Idempotency-Key``: the request runs once, the retries get its
answer again (status, body, ``ETag``, ``Location``) with ``Idempotent-Replayed: true``.
The same key with another body is a 409 (``code: idempotency-key-reused``). Keys are
per principal and kept ``COOP_IDEMPOTENCY_RETENTION_HOURS`` (then purged, and free).

How, for a router built with `idempotent_route_class` (each app's public routers):

1. the route class adds the `_guard` dependency to every POST route and, when the
   header is sent, hashes the body as it is read (SHA-256 of method, path and body;
   nothing is buffered here: a multipart upload streams through the hash);
2. once the body is read and the caller known, the key is **claimed** in the request's
   own transaction: ``INSERT … ON CONFLICT DO NOTHING`` on (principal, key). A
   concurrent twin blocks on that row until this transaction ends, then finds it: the
   two never both run. An existing row answers at once: its response again (same
   hash) or 409 (another hash). A JSON body is read by FastAPI before the guard runs; a
   multipart upload (the documents service reads it itself) is claimed as its last
   chunk arrives, before anything is published;
3. the endpoint runs; its 2xx answer is written into the claimed row, in the same
   transaction as the writes it made (both commit or neither does). Fields marked
   `secret_field` (an invitation's token) are not kept: a replay gives them as null
   and names them in ``X-Coop-Secret-Omis``.

Each app keeps its keys in its own schema (`idempotency_table`, created by its own
Alembic migration); its `idempotency_purge_job` (kernel.jobs, run by `coop worker`)
deletes the expired ones.
"""

# No `from __future__ import annotations`: the guard's annotations name the factory's
# argument, which FastAPI could not resolve from a string.

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from python_multipart.multipart import parse_options_header
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Message, Receive

from kernel.database import DbSession
from kernel.errors import Conflict, InvalidPayload
from kernel.internal_token import current_principal
from kernel.json_response import json_response
from kernel.openapi import declare
from kernel.principal import Principal
from kernel.rights import RightRoute
from kernel.settings import CommonSettings

_log = logging.getLogger("coop.idempotency")

HEADER = "idempotency-key"
REPLAYED_HEADER = "idempotent-replayed"
# Names the fields a replay leaves out (secrets are never stored, see `secret_field`).
SECRET_OMITTED_HEADER = "x-coop-secret-omis"  # noqa: S105 (a header's name)
MAX_KEY_LENGTH = 200
KEY_DESCRIPTION = (
    "Clé choisie par le client (1 à 200 caractères) pour rejouer une requête sans "
    "l'exécuter deux fois : la même clé avec le même corps renvoie la première réponse "
    "(en-tête Idempotent-Replayed: true), avec un autre corps un 409 "
    "(idempotency-key-reused). Clés par appelant, conservées 24 h par défaut."
)
# Headers of the first answer a replay gives again.
_KEPT_HEADERS = ("etag", "location")
_SECRET_MARK = "x-coop-secret"  # noqa: S105 (a schema extension's name)
_CLAIM_SCOPE_KEY = "coop.idempotency"


def idempotency_table(metadata: MetaData) -> Table:
    """The app's keys, in its own schema (`metadata`'s)."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("principal", String(200), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        # Null while the request that claimed the key runs (never committed so).
        Column("status_code", Integer),
        Column("body", JSONB(none_as_null=True)),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index(None, "created_at"),
    )


def secret_field(description: str) -> Any:
    """A response field given once (an invitation's token): never stored for a replay,
    null in a replayed answer (named in ``X-Coop-Secret-Omis``)."""
    extra: dict[str, Any] = {_SECRET_MARK: True}
    return Field(default=None, description=description, json_schema_extra=extra)


def _secret_fields(model: Any) -> tuple[str, ...]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ()
    return tuple(
        name
        for name, info in model.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get(_SECRET_MARK)
    )


# Expired keys are deleted this often (`kernel.jobs.idempotency_purge_job`); a key past
# its retention is free at once anyway.
PURGE_SECONDS = 3600.0


@dataclass(frozen=True)
class IdempotencyStore:
    """The app's keys table and how long keys are kept (`kernel.app` builds it)."""

    table: Table
    retention: dt.timedelta

    @classmethod
    def of(cls, table: Table, settings: CommonSettings) -> "IdempotencyStore":
        return cls(table, dt.timedelta(hours=settings.idempotency_retention_hours))

    def _cutoff(self) -> Any:
        # The database's clock; the period as seconds (a plain number to bind).
        seconds = int(self.retention.total_seconds())
        return func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds)

    async def claim(
        self, session: AsyncSession, principal: str, key: str, request_hash: str
    ) -> bool:
        """Take the key for this request (False: someone's row is there, committed)."""
        t = self.table
        values = insert(t).values(principal=principal, key=key, request_hash=request_hash)
        # An expired row is taken over as if it were not there.
        stmt = values.on_conflict_do_update(
            index_elements=[t.c.principal, t.c.key],
            set_={
                "request_hash": values.excluded.request_hash,
                "status_code": None,
                "body": None,
                "headers": {},
                "created_at": func.now(),
            },
            where=t.c.created_at < self._cutoff(),
        ).returning(t.c.key)
        return (await session.execute(stmt)).first() is not None

    async def get(self, session: AsyncSession, principal: str, key: str) -> Any:
        t = self.table
        stmt = select(t.c.request_hash, t.c.status_code, t.c.body, t.c.headers).where(
            t.c.principal == principal, t.c.key == key
        )
        return (await session.execute(stmt)).first()

    async def complete(
        self,
        session: AsyncSession,
        principal: str,
        key: str,
        status_code: int,
        body: Any,
        headers: dict[str, str],
    ) -> None:
        t = self.table
        await session.execute(
            update(t)
            .where(t.c.principal == principal, t.c.key == key)
            .values(status_code=status_code, body=body, headers=headers)
        )

    async def release(self, session: AsyncSession, principal: str, key: str) -> None:
        t = self.table
        await session.execute(delete(t).where(t.c.principal == principal, t.c.key == key))

    async def purge(self, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
        """Delete the expired keys; how many."""
        t = self.table
        async with sessionmaker() as session:
            result = await session.execute(delete(t).where(t.c.created_at < self._cutoff()))
            await session.commit()
        deleted: int = getattr(result, "rowcount", 0)
        return deleted


class _Replay(Exception):
    """Not an error: the stored answer, raised up to the route's handler."""

    def __init__(self, response: Response) -> None:
        super().__init__("replay")
        self.response = response


def _replayed(row: Any) -> Response:
    return json_response(
        row.body, status_code=row.status_code, headers={**row.headers, REPLAYED_HEADER: "true"}
    )


class _Claim:
    """One POST carrying an Idempotency-Key: its body's hash, then its key's row."""

    def __init__(self, request: Request, key: str, secrets: tuple[str, ...]) -> None:
        self.key = key
        self.secrets = secrets
        self.store: IdempotencyStore = request.app.state.idempotency
        content_type = request.headers.get("content-type", "")
        self.multipart = content_type.startswith("multipart/")
        self._hash = hashlib.sha256(request.method.encode() + b" " + request.url.path.encode())
        self._hash.update(b"\n")
        # A client retrying an upload builds its form again, with a fresh boundary: the
        # same request all the same. The boundary is left out of the hash.
        _, params = parse_options_header(content_type)
        self._boundary: bytes = params.get(b"boundary", b"") if self.multipart else b""
        self._pending = b""
        self.body_read = False
        self.principal: str | None = None
        self.session: AsyncSession | None = None
        self.claimed = False

    def hashing(self, receive: Receive) -> Receive:
        async def hashed_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                more = bool(message.get("more_body", False))
                self._digest(message.get("body", b""), more)
                if not more:
                    self.body_read = True
                    if self.session is not None:  # an upload's last chunk: claim now
                        await self.take()
            return message

        return hashed_receive

    def _digest(self, chunk: bytes, more: bool) -> None:
        if not self._boundary:
            self._hash.update(chunk)
            return
        data = (self._pending + chunk).replace(self._boundary, b"")
        # A boundary may straddle two chunks: its start waits for the next one.
        keep = len(self._boundary) - 1 if more else 0
        self._pending = data[len(data) - keep :] if keep else b""
        self._hash.update(data[: len(data) - keep])

    async def take(self) -> None:
        """Claim the key, or raise: the stored answer (`_Replay`) or a 409."""
        assert self.session is not None
        assert self.principal is not None
        if self.claimed:
            return
        digest = self._hash.hexdigest()
        if await self.store.claim(self.session, self.principal, self.key, digest):
            self.claimed = True
            return
        row = await self.store.get(self.session, self.principal, self.key)
        if row is not None and row.request_hash != digest:
            raise Conflict(
                "Cette clé d'idempotence a déjà servi pour une autre requête.",
                extra={"code": "idempotency-key-reused"},
            )
        if row is None or row.status_code is None:  # purged meanwhile; cannot happen else
            raise Conflict(
                "Une requête avec la même clé d'idempotence est en cours ; réessayez.",
                headers={"Retry-After": "1"},
                extra={"code": "idempotency-key-in-use"},
            )
        raise _Replay(_replayed(row))

    async def finish(self, response: Response) -> Response:
        """Keep a 2xx answer with the key (same transaction as the request's writes)."""
        if self.session is None or self.principal is None:
            return response  # refused before the guard ran (no caller)
        if not 200 <= response.status_code < 300:
            if self.claimed:
                await self.store.release(self.session, self.principal, self.key)
            return response
        if not self.claimed:
            # An upload whose body the endpoint did not read to its end: claimed now,
            # after its writes, which a concurrent twin's row undoes.
            try:
                await self.take()
            except (_Replay, Conflict):
                await self.session.rollback()
                raise
        raw = getattr(response, "body", b"")
        body = orjson.loads(raw) if raw else None
        headers = {k: response.headers[k] for k in _KEPT_HEADERS if k in response.headers}
        omitted = [name for name in self.secrets if isinstance(body, dict) and name in body]
        if omitted:
            assert isinstance(body, dict)
            body = {**body, **dict.fromkeys(omitted)}
            headers[SECRET_OMITTED_HEADER] = ", ".join(omitted)
        await self.store.complete(
            self.session, self.principal, self.key, response.status_code, body, headers
        )
        return response


# What a replayed answer adds (documented on every POST's 2xx).
_REPLAY_HEADERS = {
    "Idempotent-Replayed": {
        "description": "true : la réponse d'une requête déjà exécutée avec cette clé.",
        "schema": {"type": "string"},
    },
    "X-Coop-Secret-Omis": {
        "description": "Les champs secrets laissés vides dans une réponse rejouée.",
        "schema": {"type": "string"},
    },
}


def _key_of(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidPayload(
            f"Idempotency-Key : 1 à {MAX_KEY_LENGTH} caractères.",
            errors=[{"location": "header", "field": "Idempotency-Key"}],
        )
    return key


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class IdempotentRouteBase(RightRoute):
    """What every class `idempotent_route_class` builds is (tests check every public POST);
    a public route, its right refused before its handler (`kernel.rights`)."""


def idempotent_route_class(principal: Callable[..., Any]) -> type[APIRoute]:
    """The route class of an app's public routers: Idempotency-Key on every POST.
    `principal` is the app's dependency giving the caller (`kernel.principal.Principal`)."""

    async def guard(
        request: Request,
        session: DbSession,
        caller: Annotated[Principal, Depends(principal)],
        # Read (and checked) by the route's handler; declared here for the documentation.
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", description=KEY_DESCRIPTION)
        ] = None,
    ) -> None:
        claim: _Claim | None = request.scope.get(_CLAIM_SCOPE_KEY)
        if claim is None:
            return
        claim.principal, claim.session = caller.subject, session
        if not claim.body_read and not claim.multipart:
            await request.body()  # a POST without a body model: read (and hashed) here
        if claim.body_read:
            await claim.take()
        # Otherwise a multipart upload, claimed at its last chunk (`_Claim.hashing`).

    # The key reused with another body, or its twin still running (409); a key out of
    # bounds (422).
    declare(guard, 409, 422, success_headers=_REPLAY_HEADERS)

    class IdempotentRoute(IdempotentRouteBase):
        def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
            if "POST" in {m.upper() for m in kwargs.get("methods") or ()}:
                dependencies = list(kwargs.get("dependencies") or ())
                if not any(d.dependency is guard for d in dependencies):
                    kwargs["dependencies"] = [*dependencies, Depends(guard)]
            super().__init__(path, endpoint, **kwargs)

        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()
            if "POST" not in (self.methods or ()):
                return handler
            secrets = _secret_fields(self.response_model)

            async def idempotent_handler(request: Request) -> Response:
                key = _key_of(request) if request.method == "POST" else None
                if key is None:
                    return await handler(request)
                claim = _Claim(request, key, secrets)
                request.scope[_CLAIM_SCOPE_KEY] = claim
                try:
                    response = await handler(Request(request.scope, claim.hashing(request.receive)))
                    return await claim.finish(response)
                except _Replay as replay:
                    return replay.response

            return idempotent_handler

    return IdempotentRoute


# The services' public routers: the caller is the internal token's principal.
IdempotentRoute = idempotent_route_class(current_principal)
