"""The baseline: a minimal Starlette + asyncpg + orjson app, in its own process.

It runs, for each benchmarked endpoint, the very statements the service ran for the
same request (captured with their parameters while calling the service once, see
`coop.bench.capture`), on a pool as large as the service's, and returns the rows as
JSON. No authentication, no ORM, no validation: what Python, asyncpg and PostgreSQL
allow on this machine. It also serves the raw streaming endpoints the documents
figures are compared with (the same bytes, no database).

Environment: ``COOP_BENCH_BASELINE_DSN``, ``COOP_BENCH_BASELINE_QUERIES`` (the JSON
file of captured statements), ``COOP_BENCH_RAW_FILE`` (the bytes served by /raw/blob).
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from kernel.database import asyncpg_dsn
from kernel.settings import CommonSettings

CHUNK = 64 * 1024
# The baseline's settings prefix, as `coop bench baseline` serves it.
ENV_PREFIX = "COOP_BENCH_BASELINE_"


def tag(value: Any) -> Any:
    """JSON-safe form of a captured parameter (revived by `revive`)."""
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"n": str(value)}
    if isinstance(value, list | tuple):
        return {"l": [tag(v) for v in value]}
    if isinstance(value, bytes):
        return {"b": value.hex()}
    return value


def revive(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((kind, raw),) = value.items()
        if kind == "u":
            return uuid.UUID(raw)
        if kind == "t":
            return dt.datetime.fromisoformat(raw)
        if kind == "d":
            return dt.date.fromisoformat(raw)
        if kind == "n":
            return decimal.Decimal(raw)
        if kind == "l":
            return [revive(v) for v in raw]
        if kind == "b":
            return bytes.fromhex(raw)
    return value


Statement = tuple[str, list[Any]]


def load_queries(path: str) -> dict[str, list[list[Statement]]]:
    raw = orjson.loads(Path(path).read_bytes())
    return {
        key: [[(s["sql"], [revive(p) for p in s["params"]]) for s in target] for target in targets]
        for key, targets in raw.items()
    }


def create_app() -> Starlette:
    dsn = os.environ["COOP_BENCH_BASELINE_DSN"]
    queries = load_queries(os.environ["COOP_BENCH_BASELINE_QUERIES"])
    raw_file = os.environ.get("COOP_BENCH_RAW_FILE", "")
    state: dict[str, Any] = {}
    raw_size = os.path.getsize(raw_file) if raw_file else 0

    # As large as the pool a service worker's typed reads run on (kernel.database.
    # ReadPool), with as many workers (kernel.server passes the count).
    size = CommonSettings(workers=int(os.environ[f"{ENV_PREFIX}WORKERS"])).db_budget().reads

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(asyncpg_dsn(dsn), min_size=size, max_size=size)
        state["pool"] = pool
        try:
            yield
        finally:
            await pool.close()

    async def run(request: Request) -> Response:
        targets = queries.get(request.path_params["key"])
        if not targets:
            return Response(b'{"detail":"unknown"}', status_code=404)
        statements = targets[int(request.query_params.get("t", "0")) % len(targets)]
        if request.method != "GET":
            await request.body()
        pool: asyncpg.Pool = state["pool"]
        rows: list[Any] = []
        async with pool.acquire() as conn:
            if all(sql.lstrip().upper().startswith("SELECT") for sql, _ in statements):
                # Reads: one round trip per statement, no transaction around them.
                for sql, params in statements:
                    rows = await conn.fetch(sql, *params)
            else:
                async with conn.transaction():
                    for sql, params in statements:
                        rows = await conn.fetch(sql, *params)
        body = orjson.dumps({"items": [dict(r) for r in rows]}, default=str)
        return Response(body, media_type="application/json")

    async def ping(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def blob(request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            with open(raw_file, "rb") as handle:  # noqa: ASYNC230 (local file, like the service's storage)
                while data := handle.read(CHUNK):
                    yield data

        size = str(raw_size)
        return StreamingResponse(
            chunks(), media_type="application/octet-stream", headers={"content-length": size}
        )

    async def upload(request: Request) -> Response:
        size = 0
        with tempfile.NamedTemporaryFile(prefix="coop-bench-raw-") as out:
            async for data in request.stream():
                out.write(data)
                size += len(data)
        return Response(
            orjson.dumps({"size": size}), status_code=201, media_type="application/json"
        )

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/ping", ping),
            Route("/q/{key}", run, methods=["GET", "POST", "PUT", "PATCH"]),
            Route("/raw/blob", blob),
            Route("/raw/upload", upload, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
