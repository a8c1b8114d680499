"""The access journal: who called which route of the public API, when, with which answer.

The traceability log the CNIL recommends (kept `COOP_GATEWAY_ACCESS_LOG_RETENTION_DAYS`,
then purged by the job `gateway.access-log-purge`), apart from the business data, with
as little personal data as that purpose allows: the caller's gateway-local id, the
application they came through, the route template and the path it matched (object ids),
the status, the time and the request id. Never a token, a body, a query string or an
address.

Off the request path: the request-id middleware tells `record` of each answered request
(a tuple appended to a list), and each gateway process writes what it has gathered in
one statement every `COOP_GATEWAY_ACCESS_JOURNAL_FLUSH_SECONDS`, and once more when it
stops. A database that cannot take the rows keeps them waiting, up to
`COOP_GATEWAY_ACCESS_JOURNAL_MAX_PENDING`; beyond, new rows are dropped and counted in
a warning (the JSON access log on stderr still has every request).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Scope

from gateway.auth.gatekeeper import IDENTITY_SCOPE_KEY, PRINCIPAL_SCOPE_KEY
from gateway.habilitations.models import journal_acces
from gateway.identity import CallerIdentity
from kernel.background import periodic
from kernel.principal import Principal

_log = logging.getLogger("coop.gateway.journal")

# Only the public API is traced (not probes, metrics or the documentation pages).
_TRACED_PREFIX = "/api/"
_COLUMNS = ["at", "principal_id", "client", "method", "route", "path", "status", "request_id"]
# What the request path keeps (the scope's objects as they are: turned into a row only
# when written): start time, principal, identity, method, route, path, status, request id.
_Noted = tuple[float, object, object, str, object, str, int, object]


class AccessJournal:
    """The rows gathered by one gateway process, written in batches (`flushing`)."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self._pending: list[_Noted] = []
        self._dropped = 0
        self._engine: AsyncEngine | None = None
        # Principal ids as UUIDs, parsed once (a UUID's parsing was a third of a row's cost).
        self._ids: dict[str, uuid.UUID | None] = {}

    def record(self, scope: Scope, status: int, elapsed: float) -> None:
        """The request-id middleware's hook: take note of an answered request (the
        scope's objects as they are; the row is made when written)."""
        path: str = scope["path"]
        if not path.startswith(_TRACED_PREFIX):
            return
        if len(self._pending) >= self.max_pending:
            self._dropped += 1
            return
        self._pending.append(
            (
                time.time() - elapsed,
                scope.get(PRINCIPAL_SCOPE_KEY),
                scope.get(IDENTITY_SCOPE_KEY),
                scope["method"],
                scope.get("route"),
                path,
                status,
                scope.get("state", {}).get("request_id"),
            )
        )

    def _principal_id(self, principal: object) -> uuid.UUID | None:
        if not isinstance(principal, Principal):
            return None
        subject = principal.subject
        if subject not in self._ids:
            if len(self._ids) >= 10_000:
                self._ids.clear()
            try:
                self._ids[subject] = uuid.UUID(subject)
            except ValueError:  # another resolver's ids (the auth layer's tests)
                self._ids[subject] = None
        return self._ids[subject]

    def _row(self, noted: _Noted) -> tuple[object, ...]:
        started, principal, identity, method, route, path, status, request_id = noted
        client = identity.client if isinstance(identity, CallerIdentity) else None
        template = getattr(route, "path", None)
        matched = isinstance(template, str)
        return (
            dt.datetime.fromtimestamp(started, dt.UTC),
            self._principal_id(principal),
            client[:255] if client else None,
            method[:10],
            template[:300] if isinstance(template, str) else "<unmatched>",
            path[:500] if matched else None,
            status,
            str(request_id or "")[:128],
        )

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Write the rows gathered so far (one COPY); how many. Rows the database
        refused wait for the next round (within `max_pending`)."""
        if self._dropped:
            _log.warning(
                "access journal full: rows dropped",
                extra={"fields": {"dropped": self._dropped, "max_pending": self.max_pending}},
            )
            self._dropped = 0
        if not self._pending or self._engine is None:
            return 0
        noted, self._pending = self._pending, []
        try:
            async with self._engine.connect() as conn:
                driver = (await conn.get_raw_connection()).driver_connection
                assert driver is not None
                # COPY: a tenth of the CPU of an INSERT of as many rows, measured.
                await driver.copy_records_to_table(
                    journal_acces.name,
                    schema_name=journal_acces.schema,
                    columns=_COLUMNS,
                    records=[self._row(n) for n in noted],
                )
        except Exception:
            room = max(0, self.max_pending - len(self._pending))
            self._dropped += max(0, len(noted) - room)
            self._pending[:0] = noted[:room]
            raise
        return len(noted)

    @asynccontextmanager
    async def flushing(self, engine: AsyncEngine, every_seconds: float) -> AsyncIterator[None]:
        """Write the journal every `every_seconds` while the block runs, and what is
        left when it ends (the process stops)."""
        self._engine = engine
        try:
            async with periodic(
                "access-journal", every_seconds, self.flush, _log, delay_first=True
            ):
                yield
        finally:
            try:
                await self.flush()
            except Exception as exc:
                _log.warning(
                    "access journal: last rows not written",
                    extra={"fields": {"rows": len(self._pending), "error": str(exc)}},
                )
            self._engine = None
