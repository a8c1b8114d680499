"""Capture the SQL an endpoint runs, and count its database round trips.

The app runs in the driver's process (same code as the served processes), with its
engine pointed at the counting relay (`coop.bench.pgproxy`). For each request:

- a SQLAlchemy ``before_cursor_execute`` hook, and the read pool's listeners for the
  typed reads (`kernel.reads`), record every statement with its bound parameters (what
  the baseline replays);
- the relay counts ReadyForQuery messages of the app's connections (``coop-<app>``):
  the exact number of round trips, BEGIN/COMMIT included.

Both are taken after warm-up requests (connections open, statements prepared).
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import event

from coop.bench.baseline import tag
from coop.bench.driver import RequestSpec
from coop.bench.pgproxy import RoundTripCounter
from kernel.database import ReadPool


@dataclass
class CaptureResult:
    # key -> one list of statements per target: [(sql, [tagged params]), ...]
    statements: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    # key -> {"round_trips": per request, "statements": per request, "requests": n}
    round_trips: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def patched_env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def capture_app(
    factory: str,
    app_name: str,
    env: dict[str, str],
    counter: RoundTripCounter,
    proxied_database_url: str,
    requests: dict[str, list[RequestSpec]],
    repeat: int = 10,
) -> CaptureResult:
    """`requests[key]`: the targets to capture (first ones) and to count round trips on."""
    module_name, _, attr = factory.partition(":")
    result = CaptureResult()
    with patched_env(
        {
            **env,
            "DATABASE_URL": proxied_database_url,
            # One background sync at start-up, none while counting.
            f"COOP_{app_name.upper()}_CONVENTIONS_SYNC_SECONDS": "86400",
            "COOP_LOG_LEVEL": "WARNING",
        }
    ):
        app = getattr(importlib.import_module(module_name), attr)()
        async with app.router.lifespan_context(app):
            recorded: list[tuple[str, Any]] = []

            def hook(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
                recorded.append((statement, params))

            def typed_read(sql: str, arguments: Sequence[object]) -> None:
                recorded.append((sql, list(arguments)))

            engine = app.state.engine.sync_engine
            event.listen(engine, "before_cursor_execute", hook)
            read_pool: ReadPool = app.state.read_pool
            read_pool.listeners.append(typed_read)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            label = f"coop-{app_name}"
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
                    for key, specs in requests.items():
                        await _one_endpoint(c, key, specs, recorded, counter, label, repeat, result)
            finally:
                event.remove(engine, "before_cursor_execute", hook)
                read_pool.listeners.remove(typed_read)
    return result


async def _send(client: httpx.AsyncClient, spec: RequestSpec) -> httpx.Response:
    return await client.request(spec.method, spec.path, headers=spec.headers, content=spec.body)


async def _one_endpoint(
    client: httpx.AsyncClient,
    key: str,
    specs: list[RequestSpec],
    recorded: list[tuple[str, Any]],
    counter: RoundTripCounter,
    label: str,
    repeat: int,
    result: CaptureResult,
) -> None:
    if not specs:
        return
    n = len(specs)
    # Warm-up: pooled connections opened, statements prepared.
    for i in range(2):
        await _send(client, specs[i % n])
    # The statements of a few targets (the baseline rotates over them like the driver).
    per_target: list[list[dict[str, Any]]] = []
    captured = min(8, n)
    for i in range(2, 2 + captured):
        spec = specs[i % n]
        recorded.clear()
        resp = await _send(client, spec)
        if resp.status_code not in spec.expect:
            result.errors[key] = (
                f"{spec.method} {spec.path} -> {resp.status_code} {resp.text[:300]}"
            )
            return
        per_target.append(
            [
                {"sql": sql, "params": [tag(p) for p in _positional(params)]}
                for sql, params in recorded
            ]
        )
    result.statements[key] = per_target
    # Writes get fresh targets here (the caller gives enough of them); reads cycle.
    counted = [specs[i % n] for i in range(2 + captured, 2 + captured + repeat)]
    before = counter.round_trips[label]
    recorded.clear()
    ok = 0
    for spec in counted:
        resp = await _send(client, spec)
        ok += resp.status_code in spec.expect
    trips = counter.round_trips[label] - before
    result.round_trips[key] = {
        "requests": len(counted),
        "ok": ok,
        "round_trips": round(trips / len(counted), 2),
        "statements": round(len(recorded) / len(counted), 2),
    }


def _positional(params: Any) -> list[Any]:
    if params is None:
        return []
    if isinstance(params, dict):
        return list(params.values())
    return list(params)
