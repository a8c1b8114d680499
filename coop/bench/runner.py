"""`coop bench run`: database, data set, real processes, the load, the report."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import platform
import time
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import orjson
import psutil  # type: ignore[import-untyped]
from rich.console import Console

from coop import connections
from coop.apps import APPS
from coop.bench import imports as bench_imports
from coop.bench import report, stack
from coop.bench.bounds import Bounds
from coop.bench.capture import CaptureResult, capture_app
from coop.bench.dataset import Plan, last_quarters, personas, plan
from coop.bench.driver import Endpoint, RequestSpec, Variant, latency_run, throughput_run
from coop.bench.generate import GENERATOR_VERSION, dataset_info, generate
from coop.bench.http import Connection
from coop.bench.pgproxy import RoundTripCounter, proxied_url, upstream_address
from coop.bench.scenarios import (
    CAPTURE_OFFSET,
    InternalTokens,
    Op,
    Persona,
    bench_personas,
    operations,
    spec_for,
)
from kernel.database import asyncpg_dsn
from kernel.server import default_workers

BLOB_SIZE = 5 * 1024 * 1024
# The services measured (each also run in-process for the round trips and the SQL).
SERVICES = ("conventions", "documents", "actions")


def run(
    scale: str,
    bounds: Bounds,
    seed: int,
    out_dir: Path,
    console: Console,
    only: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The whole mix, or the endpoints named in `only` (their keys in `scenarios`)."""
    # Alembic runs its own event loop: migrate before entering ours.
    url, embedded = stack.ensure_database(scale)
    try:
        trees = stack.migrate(url)
    except BaseException:
        if embedded:
            stack.stop_database()
        raise
    console.print(f"[green]✓[/] base prête, migrations : {', '.join(trees)}")
    # A server refusing connections would fill the run with 503s: refused before.
    needed = stack.connections_needed(dict(os.environ), list(SERVICES))
    limit = asyncio.run(connections.server_limit(url))
    trouble = connections.problem(needed, limit)
    if trouble:
        if embedded:
            stack.stop_database()
        console.print(f"[red]{trouble}.[/]")
        raise SystemExit(2)
    console.print(f"[green]✓[/] {connections.summary(needed, limit)}")
    return asyncio.run(_run(url, embedded, scale, bounds, seed, out_dir, console, only))


async def ensure_data(url: str, scale: str, seed: int, console: Console) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    info = await dataset_info(url)
    if (
        info is None
        or info.get("scale") != scale
        or info.get("seed") != seed
        or info.get("generator") != GENERATOR_VERSION
        or last_quarters(dt.date.fromisoformat(info["today"])) != last_quarters(today)
    ):
        console.print(f"Génération du jeu de données « {scale} »…")
        info = await generate(url, scale, seed, console, today)
        console.print(f"[green]✓[/] jeu de données généré en {info['seconds']} s")
    return info


async def _reset_writes(url: str, p: Plan, caf_id: Any) -> None:
    """The bench Caf's suivis of this quarter back to brouillon (a run submits them)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if await conn.fetchval("SELECT to_regclass('actions.suivis')"):
            await conn.execute(
                "UPDATE actions.suivis s SET etat = 'brouillon' FROM actions.convention_ref r "
                "WHERE r.id = s.convention_id AND r.caf_id = $1 AND s.periode = $2 "
                "AND s.etat <> 'brouillon'",
                caf_id,
                p.current_periode,
            )
        await bench_imports.reset(conn)
    finally:
        await conn.close()


async def _bench_issuer(url: str, issuer: str) -> None:
    """The bench persons are known to the gateway under this run's identity provider."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if await conn.fetchval("SELECT to_regclass('gateway.persons')"):
            await conn.execute("UPDATE gateway.persons SET issuer = $1", issuer)
    finally:
        await conn.close()


def _access_tokens(st: stack.BenchStack, people: dict[str, Persona]) -> dict[str, str]:
    """Access tokens signed with the key store of the stack's identity provider."""
    from gateway.devidp.keys import KeyStore, access_token, person_subject

    store = KeyStore(st.work_dir / "idp")
    out = {}
    for key, persona in people.items():
        token = access_token(
            store,
            issuer=st.url("idp"),
            audience="coop-api",
            ttl_seconds=4 * 3600,
            subject=person_subject(
                persona.principal.subject, f"{key}@bench.invalid", key, f"bench-{key}"
            ),
        )
        out[key] = f"Bearer {token}"
    return out


async def _client_overhead(base_url: str, seconds: float) -> dict[str, Any]:
    """httpx vs the raw client against the baseline's trivial endpoint, c=32."""
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(
        base_url=base_url, limits=httpx.Limits(max_connections=32), trust_env=False
    ) as client:
        n, deadline = 0, time.monotonic() + seconds
        start = time.perf_counter()

        async def hx() -> None:
            nonlocal n
            while time.monotonic() < deadline:
                await client.get("/ping")
                n += 1

        await asyncio.gather(*(hx() for _ in range(32)))
        out["httpx_rps"] = round(n / (time.perf_counter() - start), 1)
    conns = [Connection(base_url) for _ in range(32)]
    n, deadline = 0, time.monotonic() + seconds
    start = time.perf_counter()

    async def raw(c: Connection) -> None:
        nonlocal n
        while time.monotonic() < deadline:
            await c.request("GET", "/ping")
            n += 1

    await asyncio.gather(*(raw(c) for c in conns))
    out["raw_rps"] = round(n / (time.perf_counter() - start), 1)
    for c in conns:
        await c.close()
    return out


async def _walk_deepest(base: str, auth: str, path: str) -> tuple[str | None, int]:
    """The cursor of the last page of a list (walked with the largest pages; a list
    shorter than one such page, as in the tiny data set, is walked with small ones)."""
    for limit in ("200", "10"):
        cursor, pages = await _walk(base, auth, path, limit)
        if cursor:
            return cursor, pages
    return None, 0


async def _walk(base: str, auth: str, path: str, limit: str) -> tuple[str | None, int]:
    cursor, last, pages = None, None, 0
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=30) as client:
        while True:
            params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            resp = await client.get(path, params=params, headers={"authorization": auth})
            if resp.status_code != 200:
                return last, pages
            pages += 1
            nxt = resp.json().get("next_cursor")
            if not nxt:
                return last, pages
            last = cursor = nxt


async def _upload_one(base: str, op: Op, auth: str) -> str | None:
    spec = spec_for(op, 0, auth)
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=60) as client:
        resp = await client.post(spec.path, content=spec.body, headers=spec.headers)
    if resp.status_code != 201:
        return None
    return str(resp.json()["id"])


class RssSampler:
    """Peak RSS of a server (its process and its workers, added up), sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.start_rss = self._rss()
        self.peak = self.start_rss
        self._task: asyncio.Task[None] | None = None

    def _rss(self) -> int:
        total = 0
        for process in [self._proc, *self._proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self._rss())
            await asyncio.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()


async def _run(
    url: str,
    embedded: bool,
    scale: str,
    bounds: Bounds,
    seed: int,
    out_dir: Path,
    console: Console,
    only: frozenset[str],
) -> dict[str, Any]:
    started = time.perf_counter()
    info = await ensure_data(url, scale, seed, console)
    p = plan(scale, seed, dt.date.fromisoformat(info["today"]))
    ps = personas(p)
    people = bench_personas(ps)
    await _reset_writes(url, p, ps.caf_id)
    st = stack.BenchStack(url)
    results: dict[str, Any] = {
        "scale": scale,
        "seed": seed,
        "dataset": {k: v for k, v in info.items() if k != "personas"},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # Other work on the machine as the run starts (1-minute load average): the
            # figures of a run on a busy machine are read with that in mind.
            "load_before": round(os.getloadavg()[0], 2),
            # Worker processes of each app (`coop serve`'s default).
            "workers": default_workers(),
        },
        "bounds": dataclasses.asdict(bounds),
        "endpoints": {},
    }
    # Seconds since the start at the end of each phase (where a run spends its time).
    phases: dict[str, float] = {}
    results["phases"] = phases
    try:
        await _bench_issuer(url, st.url("idp"))
        st.start(dict(os.environ), timeout=60.0)
        phases["processes"] = round(time.perf_counter() - started, 1)
        console.print(
            "[green]✓[/] processus prêts : " + ", ".join(f"{n} :{p}" for n, p in st.ports.items())
        )
        tokens = InternalTokens()
        # A PDF as the documents service sniffs it (magic bytes), 5 MiB in all.
        filler = b"0 0 obj << /Length 0 >> stream\n" * (BLOB_SIZE // 32 + 1)
        blob = (b"%PDF-1.4\n" + filler)[: BLOB_SIZE - 6] + b"\n%%EOF"
        blob_path = st.work_dir / "blob.bin"
        blob_path.write_bytes(blob)

        def direct_auth(op: Op) -> str:
            return tokens.header(people[op.persona], op.service)

        # Targets that need a first request: the deepest cursor, a document to download.
        upload = next(
            op for op in operations(p, ps, blob, None, None) if op.key == "document_upload"
        )
        doc_url = st.url("documents")
        deep_cursor, pages = await _walk_deepest(
            doc_url, tokens.header(people["national"], "documents"), "/api/v1/documents"
        )
        results["deep_pagination_pages_walked"] = pages
        uploaded = await _upload_one(doc_url, upload, direct_auth(upload))
        ops = operations(p, ps, blob, deep_cursor, uploaded)
        if only:
            ops = [op for op in ops if op.key in only]

        phases["first_requests"] = round(time.perf_counter() - started, 1)
        # Round trips and captured SQL, in-process through the counting relay.
        counter = RoundTripCounter(upstream_address(url))
        await counter.start()
        captured: dict[str, Any] = {}
        round_trips: dict[str, Any] = {}
        capture_errors: dict[str, str] = {}
        try:
            for name in SERVICES:
                mine = [op for op in ops if op.service == name and op.kind != "transfer"]
                specs: dict[str, list[RequestSpec]] = {}
                for op in mine:
                    count = 20 if op.fresh_targets else 12
                    specs[op.key] = [
                        spec_for(op, CAPTURE_OFFSET + k if op.fresh_targets else k, direct_auth(op))
                        for k in range(count)
                    ]
                res: CaptureResult = await capture_app(
                    APPS[name].factory,
                    name,
                    st.env_for(APPS[name]),
                    counter,
                    proxied_url(url, counter.port),
                    specs,
                )
                captured.update(res.statements)
                round_trips.update(res.round_trips)
                capture_errors.update(res.errors)
        finally:
            await counter.stop()
        phases["capture"] = round(time.perf_counter() - started, 1)
        results["round_trips"] = round_trips
        if capture_errors:
            results["capture_errors"] = capture_errors
        queries_path = st.work_dir / "baseline-queries.json"
        queries_path.write_bytes(orjson.dumps(captured))
        baseline_url = st.start_baseline(
            {
                "COOP_BENCH_BASELINE_QUERIES": str(queries_path),
                "COOP_BENCH_RAW_FILE": str(blob_path),
            }
        )
        st.start_relay(sorted({op.service for op in ops if op.kind != "transfer"}))
        st.start_single_worker(sorted({op.service for op in ops if op.kind == "read"}))
        results["client"] = await _client_overhead(baseline_url, min(2.0, bounds.seconds / 4))
        console.print(f"Client HTTP (c=32, /ping) : {results['client']}")

        phases["baseline"] = round(time.perf_counter() - started, 1)
        access = _access_tokens(st, people)
        for op in ops:
            endpoint = _endpoint(op, st, access, tokens, people, captured)
            console.print(f"▶ {op.label}")
            entry: dict[str, Any] = {
                "op": op.key,
                "label": op.label,
                "service": op.service,
                "kind": op.kind,
            }
            n = bounds.requests
            if op.max_calls is not None:
                # A call consumes a target (at most one per variant), 3 warm-up rounds.
                n = max(1, min(n, op.max_calls // len(endpoint.variants) - 3))
            lat = await latency_run(endpoint, n, bounds.seconds)
            entry["c1"] = {k: s.summary() for k, s in lat.items()}
            for c in op.concurrency:
                if c == 1:
                    continue
                if op.kind == "transfer":
                    sampler = RssSampler(st.pid("gateway"))
                    with sampler:
                        thr = await throughput_run(endpoint, c, bounds.requests, bounds.seconds)
                    entry["gateway_rss"] = {
                        "start_mib": round(sampler.start_rss / 2**20, 1),
                        "peak_mib": round(sampler.peak / 2**20, 1),
                        "growth_mib": round((sampler.peak - sampler.start_rss) / 2**20, 1),
                    }
                else:
                    thr = await throughput_run(
                        endpoint,
                        c,
                        bounds.load_requests,
                        bounds.load_seconds,
                        bounds.rounds,
                        min_slices=bounds.min_rounds,
                    )
                entry[f"c{c}"] = {k: s.summary() for k, s in thr.items()}
            results["endpoints"][op.key] = entry
            phases[op.key] = round(time.perf_counter() - started, 1)
        if not only or bench_imports.KEY in only:
            console.print("▶ Import d'un plan de 200 actions (essai + validation)")
            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                cid, porteur = await bench_imports.target(conn, ps.caf_id)
            finally:
                await conn.close()
            auth = tokens.header(people["caf_agent"], "actions")
            results[bench_imports.KEY] = await bench_imports.run(
                st.url("actions"), auth, cid, porteur
            )
            phases[bench_imports.KEY] = round(time.perf_counter() - started, 1)
    finally:
        st.stop()
        if embedded:
            stack.stop_database()
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = report.targets(results)
    results["hop_floor"] = report.hop_floor(results)
    results["workers"] = report.workers(results)
    report.write(results, out_dir)
    return results


def _endpoint(
    op: Op,
    st: stack.BenchStack,
    access: dict[str, str],
    tokens: InternalTokens,
    people: dict[str, Persona],
    captured: dict[str, Any],
) -> Endpoint:
    # The variants that write: gateway, direct, relay (the baseline's writes are its own).
    n_variants = 3

    # Writes: each variant gets its own targets (i*3 + k), never the same suivi twice.
    def index(i: int, k: int) -> int:
        return i * n_variants + k if op.fresh_targets else i

    variants = [
        Variant(
            "gateway",
            st.url("gateway"),
            lambda i: spec_for(op, index(i, 0), access[op.persona]),
            st.pid("gateway"),
        ),
        Variant(
            "direct",
            st.url(op.service),
            lambda i: spec_for(op, index(i, 1), tokens.header(people[op.persona], op.service)),
            st.pid(op.service),
        ),
    ]
    if op.kind == "read":
        # The same service with one worker: throughput at 1 and N workers side by side.
        variants.append(
            Variant(
                "direct-1",
                st.url(f"{op.service}-1"),
                lambda i: spec_for(op, i, tokens.header(people[op.persona], op.service)),
                st.pid(f"{op.service}-1"),
            )
        )
    if op.kind != "transfer":
        # The hop alone (coop.bench.relay): the caller's internal token, relayed as is.
        variants.append(
            Variant(
                "relay",
                st.url(f"relay-{op.service}"),
                lambda i: spec_for(op, index(i, 2), tokens.header(people[op.persona], op.service)),
                st.pid("relay"),
            )
        )
    base, base_pid = st.url("baseline"), st.pid("baseline")
    if op.kind == "transfer":
        if op.method == "POST":
            variants.append(
                Variant(
                    "raw",
                    base,
                    lambda i: RequestSpec(
                        "POST", "/raw/upload", {}, spec_for(op, i, "").body, frozenset({201})
                    ),
                    base_pid,
                )
            )
        else:
            variants.append(
                Variant("raw", base, lambda i: RequestSpec("GET", "/raw/blob", {}), base_pid)
            )
    elif captured.get(op.key):
        variants.append(
            Variant(
                "baseline",
                base,
                lambda i: RequestSpec(op.method, f"/q/{op.key}?t={i}", {}, b"", frozenset({200})),
                base_pid,
            )
        )
    return Endpoint(op.key, op.label, op.kind, variants)
