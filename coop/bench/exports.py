"""`coop bench exports`: the national export (issue 26, "Scale") on the data set.

"A national export (all suivis of a year, about 400 000 rows) under 60 s in each format
with process RSS growth under 256 MiB". Each format is asked for as a national reader
would, `POST /api/v1/exports` to the actions service (a real process, `coop serve`),
then written by the job `coop worker` runs (`service_export_jobs.run_pending`, in this
process: its time, CPU and RSS growth are the figures) into the export's storage; the
file is downloaded and its rows counted against the SQL's. What bounds a figure: the
kind's rows alone (SQL stream and row building, no writer) are timed once, the rest is
the writer and the storage; the process's CPU time and the machine's load beside.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
import time
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import psutil  # type: ignore[import-untyped]
from rich.console import Console
from sqlalchemy import func, select

from coop.apps import APPS
from coop.bench import stack
from coop.bench.dataset import personas, plan
from coop.bench.memory import PeakRss, count_in_zip_entry, count_lines
from coop.bench.runner import ensure_data
from coop.bench.scenarios import InternalTokens, bench_personas
from coop.supervisor import wait_ready
from kernel.convention_ref import ReadScope
from kernel.database import asyncpg_dsn, create_engine, create_sessionmaker
from kernel.principal import Principal
from services.actions import repository_exports_national as nrepo
from services.actions import service_export_jobs as jobs
from services.actions.export_genres import TypeExport
from services.actions.service_exports_national import NATIONAL, DemandeNational, quarters_of
from services.actions.settings import ActionsSettings

FORMATS = ("csv", "xlsx", "ods")
TARGET_SECONDS = 60.0
TARGET_RSS_MIB = 256.0
EXPORTS = "/api/v1/exports"


def run(scale: str, seed: int, console: Console) -> dict[str, Any]:
    return stack.on_database(scale, lambda url: _run(url, scale, seed, console))


async def _reset(url: str, subject: str) -> None:
    """The bench's exports of an earlier run, gone with their files."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("DELETE FROM actions.exports WHERE demandeur_id = $1", subject)
    finally:
        await conn.close()


def _rows_in(path: Path, fmt: str) -> int:
    """Rows of the « Suivis » sheet of the file, its header left out."""
    if fmt == "csv":
        return count_lines(path) - 1
    if fmt == "xlsx":
        return count_in_zip_entry(path, "xl/worksheets/sheet1.xml", b"<row ") - 1
    # « Suivis » is the first table of content.xml.
    return count_in_zip_entry(path, "content.xml", b"<table:table-row>", b"</table:table>") - 1


class Bench:
    def __init__(
        self, url: str, client: httpx.AsyncClient, principal: Principal, annee: int
    ) -> None:
        self.settings = ActionsSettings(database_url=url)
        self.engine = create_engine(url, pool_size=2, max_overflow=0)
        self.sessionmaker = create_sessionmaker(self.engine)
        self.client = client
        self.principal = principal
        self.annee = annee

    async def expected_rows(self, today: dt.date) -> int:
        """What the SQL gives: every action × quarter of the year in force."""
        scope = ReadScope.of(self.principal)
        stmt = nrepo.suivis_statement(scope.kind, quarters_of(self.annee, today))
        count = select(func.count()).select_from(stmt.order_by(None).subquery())
        async with self.sessionmaker() as session:
            return int((await session.execute(count, scope.params)).scalar_one())

    async def rows_alone(self, today: dt.date) -> dict[str, float]:
        """The kind's rows, every sheet, without a writer: SQL stream and row building."""
        demande = DemandeNational(type=TypeExport.national, annee=self.annee)
        started, cpu = time.perf_counter(), _cpu()
        async with self.sessionmaker() as session:
            n = 0
            for sheet in await NATIONAL.feuilles(session, self.principal, demande, today):
                assert isinstance(sheet.rows, AsyncIterable)
                async for _ in sheet.rows:
                    n += 1
        return {"seconds": time.perf_counter() - started, "cpu_s": _cpu() - cpu, "rows": n}

    async def one(self, fmt: str, workdir: Path) -> dict[str, Any]:
        """One format asked for, written by the job (timed), downloaded and counted."""
        body = {"type": "national", "format": fmt, "annee": self.annee}
        r = await self.client.post(EXPORTS, json=body)
        if r.status_code != 202:
            return {"error": f"demande : {r.status_code} {r.text[:300]}"}
        export_id = r.json()["id"]
        load = round(os.getloadavg()[0], 2)
        started, cpu = time.perf_counter(), _cpu()
        with PeakRss() as rss:
            ran = await jobs.run_pending(self.sessionmaker, self.settings)
        seconds, cpu_s = time.perf_counter() - started, _cpu() - cpu
        status = (await self.client.get(f"{EXPORTS}/{export_id}")).json()
        if ran != 1 or status.get("etat") != "prêt":
            return {"error": f"export : {status.get('etat')} {status.get('message')}"}
        path = workdir / f"national.{fmt}"
        async with self.client.stream("GET", f"{EXPORTS}/{export_id}/fichier") as download:
            with path.open("wb") as out:
                async for chunk in download.aiter_bytes(1 << 20):
                    out.write(chunk)
        rows = _rows_in(path, fmt)
        path.unlink()
        return {
            "seconds": round(seconds, 1),
            "cpu_s": round(cpu_s, 1),
            "rss_growth_mib": round(rss.growth / 2**20, 1),
            "rows": rows,
            "bytes": status["taille"],
            "load_before": load,
        }


def _cpu() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


async def _run(url: str, scale: str, seed: int, console: Console) -> dict[str, Any]:
    info = await ensure_data(url, scale, seed, console)
    today = dt.date.fromisoformat(info["today"])
    ps = personas(plan(scale, seed, today))
    national = bench_personas(ps)["national"]
    await _reset(url, national.principal.subject)
    st = stack.BenchStack(url)
    load_before = round(os.getloadavg()[0], 2)
    try:
        spec = APPS["actions"]
        child = st.spawn("actions", st.command(spec), {**os.environ, **st.env_for(spec)})
        wait_ready(child, st.url("actions") + spec.probe_path, timeout=90.0)
        tokens = InternalTokens()

        async def authorize(request: httpx.Request) -> None:
            # A token lives a minute: one per request, as the gateway mints them.
            request.headers["Authorization"] = tokens.header(national, "actions")

        async with httpx.AsyncClient(
            base_url=st.url("actions"),
            timeout=120,
            trust_env=False,
            event_hooks={"request": [authorize]},
        ) as client:
            bench = Bench(url, client, national.principal, today.year)
            try:
                # The job's day (its clock: the real one), as the export's rows use it.
                day = jobs.job_today(bench.settings)
                expected = await bench.expected_rows(day)
                alone = await bench.rows_alone(day)
                console.print(
                    f"[green]✓[/] lignes seules (SQL + construction) : {alone['seconds']:.1f} s"
                )
                formats: dict[str, Any] = {}
                with tempfile.TemporaryDirectory(prefix="coop-bench-exports-") as tmp:
                    for fmt in FORMATS:
                        formats[fmt] = await bench.one(fmt, Path(tmp))
                        console.print(f"[green]✓[/] {fmt} : {formats[fmt]}")
            finally:
                await bench.engine.dispose()
    finally:
        with contextlib.suppress(Exception):
            st.stop()
    for f in formats.values():
        if "error" not in f:
            f["met"] = f["seconds"] < TARGET_SECONDS and f["rss_growth_mib"] < TARGET_RSS_MIB
            f["complete"] = f["rows"] == expected
    return {
        "scale": scale,
        "annee": bench.annee,
        "expected_rows": expected,
        "rows_alone": {k: round(v, 1) for k, v in alone.items()},
        "formats": formats,
        "target_seconds": TARGET_SECONDS,
        "target_rss_mib": TARGET_RSS_MIB,
        "load_before": load_before,
        "cpus": os.cpu_count(),
    }


def _bounds(r: dict[str, Any], f: dict[str, Any]) -> str:
    """What a format's time is made of: the rows alone, the rest (writer and storage),
    and the CPU this process had (on a shared machine, the load takes the rest)."""
    alone = r["rows_alone"]["seconds"]
    return (
        f"lignes seules (SQL + construction) {alone} s, écriture et stockage "
        f"{round(f['seconds'] - alone, 1)} s ; CPU du processus {f['cpu_s']} s, charge "
        f"{f['load_before']} sur {r['cpus']} cœurs"
    )


def markdown(r: dict[str, Any]) -> str:
    def yes(ok: bool) -> str:
        return "atteint" if ok else "**NON ATTEINT**"

    lines = [
        f"## Export national ({r['scale']}, année {r['annee']} : {r['expected_rows']} lignes "
        "attendues)",
        "",
        f"| format | durée (cible < {r['target_seconds']:.0f} s) | croissance RSS (cible < "
        f"{r['target_rss_mib']:.0f} Mio) | lignes | taille | CPU | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    missed = []
    for fmt, f in r["formats"].items():
        if "error" in f:
            lines.append(f"| {fmt} | — | — | — | — | — | **ÉCHEC** : {f['error']} |")
            continue
        verdict = yes(f["met"]) + ("" if f["complete"] else " ; **lignes manquantes**")
        lines.append(
            f"| {fmt} | {f['seconds']} s | {f['rss_growth_mib']} Mio | {f['rows']} "
            f"| {f['bytes'] / 1e6:.1f} Mo | {f['cpu_s']} s | {verdict} |"
        )
        if not f["met"]:
            missed.append(f"- {fmt} : {_bounds(r, f)}")
    alone = r["rows_alone"]
    lines += [
        "",
        f"- Lignes seules, sans écriture (flux SQL et construction des lignes, les deux "
        f"feuilles) : {alone['seconds']} s ({alone['cpu_s']} s de CPU)",
        f"- Machine : {r['cpus']} cœurs, charge avant la mesure {r['load_before']} (1 min)",
    ]
    if missed:
        lines += ["", "Ce qui borne les cibles manquées :", *missed]
    return "\n".join(lines)


def failed(r: dict[str, Any]) -> bool:
    """An export that failed or a file missing rows: the run is invalid."""
    return any("error" in f or not f["complete"] for f in r["formats"].values())
