"""The suite as `coop run` starts it, every app with its worker processes: under load
each app holds no more PostgreSQL connections than its budget and the whole suite fits
the server's max_connections; a grant changed anywhere reaches every gateway worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx

from coop import connections
from coop.apps import APPS
from coop.config_doc import build_settings
from coop.stack import Stack
from gateway.devidp.keys import KeyStore, access_token, person_subject
from gateway.habilitations import repository as repo
from gateway.habilitations import service
from kernel.database import asyncpg_dsn, create_engine, create_sessionmaker
from kernel.principal import OrganisationKind, Role
from tests.support.personas import NATIONAL, auth_headers

TODAY = dt.datetime.now(dt.UTC).date()
QUARTER = f"{TODAY.year}-T{(TODAY.month - 1) // 3 + 1}"
# Per app: what its requests read. /readyz takes a connection of the engine's pool; the
# lists are typed reads, on the other pool.
LOAD: dict[str, list[str]] = {
    "conventions": ["/readyz", "/api/v1/conventions?limit=50"],
    "actions": ["/readyz", f"/api/v1/campagnes/{QUARTER}?limit=50"],
    "documents": ["/readyz", "/api/v1/documents?limit=50"],
    "gateway": ["/readyz"],
}
CONCURRENCY = 48  # per app: more than a worker's connections, on every worker
LOAD_SECONDS = 2.0


def test_the_suite_as_coop_run_starts_it_fits_the_servers_connections(
    stack: Stack, database_url: str
) -> None:
    needed = connections.suite_connections(os.environ)
    limit = asyncio.run(connections.server_limit(database_url))
    assert connections.problem(needed, limit) is None, needed


async def _hammer(stack: Stack, app: str, deadline: float) -> Counter[int]:
    statuses: Counter[int] = Counter()
    service = "conventions" if app == "gateway" else app
    headers = auth_headers(NATIONAL, service)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=stack.url(app), headers=headers, limits=limits, timeout=30, trust_env=False
    ) as client:

        async def one(n: int) -> None:
            paths = LOAD[app]
            i = n
            while time.monotonic() < deadline:
                statuses[(await client.get(paths[i % len(paths)])).status_code] += 1
                i += 1

        await asyncio.gather(*(one(n) for n in range(CONCURRENCY)))
    return statuses


async def test_under_load_each_app_holds_at_most_its_connection_budget(
    stack: Stack, database_url: str
) -> None:
    """PostgreSQL's default 100 connections were fewer than four apps of 2 workers ×
    (10 + 10) opened under load: "too many clients already", then 503s. Each app's
    COOP_DB_CONNECTIONS is now shared out among its workers, whatever their count."""
    peaks: Counter[str] = Counter()
    peak_total = 0
    sampler = await asyncpg.connect(asyncpg_dsn(database_url))
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak_total
        while not stop.is_set():
            # This suite's database only: the other pytest worker's stacks share the server.
            rows = await sampler.fetch(
                "SELECT application_name, count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND datname = current_database() "
                "GROUP BY 1"
            )
            for name, count in rows:
                peaks[name] = max(peaks[name], count)
            peak_total = max(peak_total, sum(count for _, count in rows))
            await asyncio.sleep(0.02)

    sampling = asyncio.create_task(sample())
    try:
        deadline = time.monotonic() + LOAD_SECONDS
        answers = await asyncio.gather(*(_hammer(stack, app, deadline) for app in LOAD))
    finally:
        stop.set()
        await sampling
        await sampler.close()
    for app, statuses in zip(LOAD, answers, strict=True):
        assert set(statuses) == {200}, f"{app}: {statuses}"
    limit = await connections.server_limit(database_url)
    assert peak_total <= limit.available
    budgets = {app: build_settings(APPS[app], os.environ).db_budget() for app in LOAD}
    for app, budget in budgets.items():
        assert peaks[f"coop-{app}"] <= budget.most, (app, peaks)
    # Not an idle suite: an app's connections came from more than one worker's pools.
    assert any(
        peaks[f"coop-{app}"] > budget.engine + budget.reads for app, budget in budgets.items()
    ), peaks


def _served_by(log: Path, request_ids: set[str]) -> set[int]:
    """The worker processes whose access lines carry these request ids."""
    pids = set()
    for line in log.read_text().splitlines():
        if line.startswith("{") and '"request_id"' in line:
            entry = json.loads(line)
            if entry.get("request_id") in request_ids:
                pids.add(entry["pid"])
    return pids


async def test_a_grant_revoked_anywhere_is_seen_at_once_by_every_gateway_worker(
    stack: Stack, database_url: str
) -> None:
    """Each gateway worker caches the grants it resolved (15 s) and listens for grant
    changes (NOTIFY): a revocation written by anyone (here the operator, in SQL) is seen
    by the very next request whichever worker answers it."""
    subject = f"sub-{uuid.uuid4().hex}"
    caf = uuid.uuid4()
    engine = create_engine(database_url, pool_size=1)
    try:  # as `coop habilitations accorder` does
        async with create_sessionmaker(engine)() as session:
            person = await repo.get_or_add_person(session, stack.url("idp"), subject)
            await service.create_grant(
                session,
                organisation_id=caf,
                kind=OrganisationKind.caf,
                role=Role.administrateur,
                actor=service.Actor(None, service.CLI_ACTOR),
                person_id=person.id,
            )
            await session.commit()
    finally:
        await engine.dispose()
    token = access_token(
        KeyStore(stack.work_dir / "idp"),
        issuer=stack.url("idp"),
        audience=build_settings(APPS["gateway"], os.environ).oidc_audience,
        ttl_seconds=600,
        subject=person_subject(subject, f"{subject}@test.invalid", "Admin", subject),
    )

    async def what_may_i_grant(request_id: str) -> list[str]:
        # A connection of its own: the kernel gives it to any of the workers.
        async with httpx.AsyncClient(base_url=stack.url("gateway"), trust_env=False) as client:
            response = await client.get(
                "/api/v1/moi",
                headers={"authorization": f"Bearer {token}", "x-request-id": request_id},
            )
        assert response.status_code == 200, response.text
        return [str(a["organisation_id"]) for a in response.json()["peut_attribuer"]]

    log = stack.work_dir / "logs" / "gateway.log"
    workers = build_settings(APPS["gateway"], os.environ).db_budget().workers
    # The stack is ready once a worker answers; on a loaded machine the other may still
    # be starting (granian logs "Started worker-N" as each one accepts connections).
    deadline = time.monotonic() + 60
    while log.read_text().count("Started worker-") < workers:
        assert time.monotonic() < deadline, "not every gateway worker serves"
        await asyncio.sleep(0.1)
    before = {f"before-{subject}-{n}" for n in range(24)}
    for request_id in sorted(before):  # every worker has the grant in its cache
        assert await what_may_i_grant(request_id) == [str(caf)]
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "UPDATE gateway.grants SET status = 'révoquée' WHERE organisation_id = $1", caf
        )
    finally:
        await conn.close()
    await asyncio.sleep(0.5)  # the notification's way to each worker
    after = {f"after-{subject}-{n}" for n in range(24)}
    for request_id in sorted(after):
        assert await what_may_i_grant(request_id) == [], request_id
    await asyncio.sleep(0.5)  # the access lines are written after the answers
    assert len(_served_by(log, before)) == len(_served_by(log, after)) == workers
