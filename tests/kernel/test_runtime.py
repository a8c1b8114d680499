"""Request ids, access logs, metrics, probes and commit-before-response on real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.errors import refused_by_database
from kernel.observability import JsonFormatter
from tests.kernel.toy_app import create_toy_app
from tests.support.apps import metrics_text, running
from tests.support.personas import CAF_A_AGENT, internal_token
from tests.support.problems import assert_problem


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_toy_app(database_url=database_url)) as c:  # type: ignore[arg-type]
        yield c


async def test_request_id_is_kept_or_generated(client: httpx.AsyncClient) -> None:
    kept = await client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz", headers={"x-request-id": "bad id\twith tab"})
    assert generated.headers["x-request-id"] not in ("", "bad id\twith tab")
    assert len(generated.headers["x-request-id"]) == 32


async def test_one_json_access_line_with_template_and_no_token(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = internal_token(CAF_A_AGENT, "conventions")
    handler_records: list[logging.LogRecord] = []
    with caplog.at_level(logging.INFO, logger="coop.access"):
        await client.get("/me", headers={"authorization": f"Bearer {token}", "x-request-id": "r-1"})
        handler_records = [r for r in caplog.records if r.name == "coop.access"]
    assert len(handler_records) == 1

    line = json.loads(JsonFormatter().format(handler_records[0]))
    assert line["route"] == "/me"
    assert line["status"] == 200
    assert line["principal"] == CAF_A_AGENT.subject
    assert line["method"] == "GET"
    assert line["pid"] == os.getpid()  # which worker process answered
    assert "duration_ms" in line
    assert token not in json.dumps(line)


async def test_the_access_line_obeys_its_loggers_level_and_filters(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Built without Logger.info, the access record still goes through the logger: a
    deployment can filter it out or raise its level like any other log."""
    access = logging.getLogger("coop.access")

    def lines() -> int:
        return len([r for r in caplog.records if r.name == "coop.access"])

    with caplog.at_level(logging.INFO, logger="coop.access"):
        dropped = logging.Filter("nothing.matches")  # a filter no record passes
        access.addFilter(dropped)
        try:
            await client.get("/healthz")
        finally:
            access.removeFilter(dropped)
        assert lines() == 0
        await client.get("/healthz")
        assert lines() == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="coop.access"):
        await client.get("/healthz")
        assert lines() == 0


async def test_metrics_by_route_template(database_url: str) -> None:
    app = create_toy_app(database_url=database_url)
    async with running(app) as client:  # type: ignore[arg-type]
        for _ in range(3):
            await client.get("/numbers", params={"limit": 3})
        await client.get("/numbers", params={"limit": "many"})
        await client.get("/nowhere/at/all")
        # Not on the app's own port: the server exports them on its internal one.
        assert (await client.get("/metrics")).status_code == 404
    body = metrics_text(app)  # type: ignore[arg-type]
    by_route = 'app="conventions",method="GET",route="/numbers"'
    # Every request counted under its status, each one timed.
    assert f'coop_http_requests_total{{{by_route},status="200"}} 3.0' in body
    assert f'coop_http_requests_total{{{by_route},status="422"}} 1.0' in body
    assert f"coop_http_request_duration_seconds_count{{{by_route}}} 4.0" in body
    assert 'route="<unmatched>"' in body
    assert "/nowhere/at/all" not in body


async def test_readiness_reflects_the_database(database_url: str) -> None:
    async with running(create_toy_app(database_url=database_url)) as ok:  # type: ignore[arg-type]
        assert (await ok.get("/readyz")).status_code == 200
    broken = database_url.rsplit("/", 1)[0] + "/no_such_database"
    async with running(create_toy_app(database_url=broken)) as down:  # type: ignore[arg-type]
        resp = await down.get("/readyz")
        assert resp.status_code == 503
        assert (await down.get("/healthz")).status_code == 200


@pytest.fixture
async def probe_table(db_engine: AsyncEngine) -> AsyncIterator[None]:
    async with db_engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS public.kernel_probe (value text)"))
        await conn.execute(text("TRUNCATE public.kernel_probe"))
    yield
    async with db_engine.begin() as conn:
        await conn.execute(text("DROP TABLE public.kernel_probe"))


@pytest.mark.usefixtures("probe_table")
async def test_commit_happens_before_the_response_and_errors_write_nothing(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    ok = await client.post("/probe", json={"value": "kept"})
    assert ok.status_code == 200
    refused = await client.post("/probe", params={"fail": "true"}, json={"value": "dropped"})
    assert refused.status_code == 409
    async with db_engine.connect() as conn:
        values = (await conn.execute(text("SELECT value FROM public.kernel_probe"))).scalars().all()
    assert values == ["kept"]


async def test_reads_run_without_a_wrapping_transaction_writes_in_one(
    client: httpx.AsyncClient,
) -> None:
    # A GET is one round trip per query: no BEGIN/COMMIT around it, so each statement
    # is its own transaction. A POST keeps every statement in one transaction.
    read = (await client.get("/transactions")).json()
    assert read[0] != read[1]
    write = (await client.post("/transactions")).json()
    assert write[0] == write[1]


@pytest.mark.usefixtures("probe_table")
async def test_every_request_gives_its_connections_back_whatever_its_path(
    database_url: str, db_engine: AsyncEngine
) -> None:
    # One connection in each pool and a short wait for it: a connection that any kind
    # of request kept (read or write, answered or refused) makes the next one a 503.
    app = create_toy_app(
        database_url=database_url, db_connections=2, workers=1, db_pool_timeout_seconds=0.2
    )
    async with running(app) as c:  # type: ignore[arg-type]
        for _ in range(3):
            assert (await c.get("/compiled")).json() == [1]
            assert (await c.get("/compiled", params={"fail": "true"})).status_code == 409
            assert (await c.get("/transactions")).status_code == 200
            assert (await c.post("/transactions")).status_code == 200
            refused = await c.post("/probe", params={"fail": "true"}, json={"value": "no"})
            assert refused.status_code == 409
            assert (await c.post("/probe", json={"value": "yes"})).status_code == 200
    async with db_engine.connect() as conn:
        values = (await conn.execute(text("SELECT value FROM public.kernel_probe"))).scalars().all()
    assert values == ["yes"] * 3


async def test_no_free_connection_in_time_is_a_503_the_client_may_retry(
    database_url: str,
) -> None:
    # One worker's share of 2: one engine connection, one for typed reads.
    app = create_toy_app(
        database_url=database_url, db_connections=2, workers=1, db_pool_timeout_seconds=0.1
    )
    async with running(app) as c:  # type: ignore[arg-type]
        holder = asyncio.create_task(c.post("/slow"))  # keeps the only connection 0.5 s
        await asyncio.sleep(0.15)
        waiting = await c.post("/probe", json={"value": "never-written"})
        assert (await holder).status_code == 200
        written = await c.get("/transactions")  # the pool serves again once it is free
    assert "saturée" in assert_problem(waiting, 503)["detail"]
    assert waiting.headers["retry-after"] == "1"
    assert written.status_code == 200


async def test_a_database_refusing_connections_is_a_503_the_client_may_retry(
    database_url: str, db_engine: AsyncEngine
) -> None:
    """PostgreSQL at its connection limit (here the role's: SQLSTATE 53300, as for "too
    many clients already") is a retryable 503, not an internal error."""
    role = f"coop_full_{secrets.token_hex(3)}"
    async with db_engine.connect() as conn:
        await conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'x' CONNECTION LIMIT 0"))
        await conn.commit()
    try:
        url = make_url(database_url).set(username=role, password="x")
        app = create_toy_app(database_url=url.render_as_string(hide_password=False))
        async with running(app) as c:  # type: ignore[arg-type]
            refused = await c.post("/probe", json={"value": "never-written"})
    finally:
        async with db_engine.connect() as conn:
            await conn.execute(text(f"DROP ROLE {role}"))
            await conn.commit()
    assert_problem(refused, 503)
    assert refused.headers["retry-after"] == "1"
    # The typed reads' pool meets asyncpg's own exception: the same answer.
    assert refused_by_database(asyncpg.TooManyConnectionsError("too many clients already"))
    assert not refused_by_database(asyncpg.UniqueViolationError("duplicate key"))
