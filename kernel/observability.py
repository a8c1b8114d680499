"""Request ids, one structured JSON log line per request, Prometheus metrics.

A pure ASGI middleware (no BaseHTTPMiddleware) so streamed bodies pass untouched.
Logging is the standard library's, configured once per process by `logging_config()`
(the server applies it in every worker); metrics are prometheus-client's, in its
multiprocess mode when served (kernel.server exports them on the internal port).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
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
            # Which of an app's worker processes wrote it.
            "pid": record.process,
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


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """The `logging.config.dictConfig` of every served process: JSON lines on stderr,
    the server's own loggers included."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # granian's own (start-up, workers); its access log stays off: ours is richer.
            "_granian": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "granian.access": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        },
    }


class Metrics:
    """Per-app metrics (several apps can live in one test process: each its registry)."""

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

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(self.app_name, method, route, str(status)).inc()
        self.latency.labels(self.app_name, method, route).observe(seconds)


_access_log = logging.getLogger("coop.access")
_SERVER = (b"server", b"coop")


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


# Told of every answered request once it is over (scope, status, seconds it took); it
# must only take note, never wait (the gateway's access journal buffers a row).
ResponseHook = Callable[[Scope, int, float], None]


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, metrics: Metrics, on_response: ResponseHook | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.on_response = on_response

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
            # A correlation id, not a secret.
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
                # The server adds its own banner unless the app names one: ours names
                # no software (nothing for an attacker to aim at).
                message["headers"] = [*message.get("headers", []), rid_header, _SERVER]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.observe(method, route, status, elapsed)
            _access_log.info(
                "request",
                extra={
                    "fields": {
                        "app": self.metrics.app_name,
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "principal": state.get("principal_id"),
                    }
                },
            )
            if self.on_response is not None:
                try:
                    self.on_response(scope, status, elapsed)
                except Exception:  # taking note of a request never fails it
                    _access_log.exception("response hook failed")
            request_id_var.reset(token)
