"""Request ids, one structured JSON log line per request, Prometheus metrics.

A pure ASGI middleware (no BaseHTTPMiddleware) so streamed bodies pass untouched.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import sys
import threading
import time
from contextvars import ContextVar
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            entry["request_id"] = rid
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes to whatever sys.stderr is at emit time (test runners swap it).

    On an event loop's thread, the lines of one loop step leave in one write at the
    next step: an access line is no longer a system call on each request's way out,
    and the responses of the step (whose sends were scheduled before their log lines)
    leave first. Elsewhere (threads, start-up, CLI), a line is written at once.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[str] = []
        self._flush_thread = 0  # the thread whose loop will write what is pending

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        if self._pending and self._flush_thread == threading.get_ident():
            # This thread's loop writes at its next step already; no need to ask for the
            # loop again (on 3.11 get_running_loop() is a getpid() system call).
            self._pending.append(line)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write(line)
            return
        if not self._pending:
            self._flush_thread = threading.get_ident()
            loop.call_soon(self.flush)
        self._pending.append(line)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            lines, self._pending = self._pending, []
            if lines:
                self._write("".join(lines))
            super().flush()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # as logging does: a failed write never breaks the caller
            self.handleError(logging.makeLogRecord({"msg": text}))


def configure_logging(level: str = "INFO") -> None:
    # JsonFormatter writes no thread or process: a record need not look them up (the
    # logging HOWTO's "Optimization" settings; os.getpid() was a system call a line).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Nor where the call was made from: no stack walk per line (same HOWTO table).
    logging._srcfile = None
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours.
    logging.getLogger("uvicorn.access").disabled = True


class Metrics:
    """Per-app registry (several apps can live in one test process)."""

    def __init__(self, app_name: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "coop_http_requests_total",
            "HTTP requests by route template and status",
            ["app", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "coop_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["app", "method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.app_name = app_name
        # labels() validates and locks on every call; a route's children never change.
        # (Bounded: route templates, the parser's methods and statuses are finite sets.)
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        counted = self._counted.get((method, route, status))
        if counted is None:
            counted = self.requests.labels(self.app_name, method, route, str(status))
            self._counted[(method, route, status)] = counted
        timed = self._timed.get((method, route))
        if timed is None:
            timed = self._timed[(method, route)] = self.latency.labels(self.app_name, method, route)
        counted.inc()
        timed.observe(seconds)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


_access_log = logging.getLogger("coop.access")
_STARTED = time.time()
# What every LogRecord carries, the same for each access line. Thread and process are
# None, as configure_logging has every record of the app leave them (no lookup a line).
_ACCESS_RECORD: dict[str, Any] = {
    "name": "coop.access",
    "msg": "request",
    "args": (),
    "levelname": "INFO",
    "levelno": logging.INFO,
    "pathname": __file__,
    "filename": "observability.py",
    "module": "observability",
    "exc_info": None,
    "exc_text": None,
    "stack_info": None,
    "lineno": 0,
    "funcName": "RequestContextMiddleware",
    "thread": None,
    "threadName": None,
    "processName": None,
    "process": None,
}


class AccessRecord(logging.LogRecord):
    """An access line's record, made without `Logger.makeRecord`'s general work (caller
    lookup, arguments, `extra` merging, a dozen attribute writes): the attributes every
    record has come from one template, so any handler or formatter reads it as usual.
    It goes through `Logger.handle`: level, filters, handlers and propagation apply."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(_ACCESS_RECORD)
        now = time.time()
        self.created = now
        self.msecs = (now - int(now)) * 1000
        self.relativeCreated = (now - _STARTED) * 1000
        self.fields = fields


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        if incoming and _REQUEST_ID_RE.match(incoming):
            request_id = incoming
        else:
            # A correlation id, not a secret: no system call for it (os.urandom is one).
            request_id = f"{random.getrandbits(128):032x}"
        token = request_id_var.set(request_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        start = time.perf_counter()
        status = 500
        rid_header = (b"x-request-id", request_id.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.observe(method, route, status, elapsed)
            if _access_log.isEnabledFor(logging.INFO):
                _access_log.handle(
                    AccessRecord(
                        {
                            "app": self.metrics.app_name,
                            "method": method,
                            "route": route,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 2),
                            "principal": state.get("principal_id"),
                        }
                    )
                )
            request_id_var.reset(token)
