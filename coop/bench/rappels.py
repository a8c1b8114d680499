"""`coop bench rappels`: a campaign's opening and its J-15 reminders on the data set.

The identity provider, the gateway and the actions service run as real processes
(`coop serve`, as `coop run` starts them; no worker: nothing else computes reminders
meanwhile); the notifications
job's work (`rappels.run`) runs in this process, its clock set to the campaign's
opening day, then to its J-15. Measured: the time of each run, the messages made and
the persons they went to (one each), the reminders recorded, and this process's RSS
growth (the job's memory: bounded by its pages, not by the data set). Each day is run
twice: the second run must make nothing (the unique keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import psutil  # type: ignore[import-untyped]
from rich.console import Console

from coop.apps import APPS
from coop.bench import stack
from coop.bench.runner import ensure_data
from coop.supervisor import wait_ready
from kernel.app import internal_signer
from kernel.database import asyncpg_dsn, create_engine, create_sessionmaker
from kernel.people_ref import PersonnesClient
from kernel.rappels_ref import RappelsClient
from services.actions.rules import Trimestre, ouverture_campagne
from services.notifications import rappels
from services.notifications.settings import NotificationsSettings

TARGET_SECONDS = 60.0
# The actions service's default (COOP_ACTIONS_CAMPAGNE_DELAI_JOURS).
DELAI_JOURS = 15


def campaign_days(today: dt.date) -> tuple[Trimestre, dt.date, dt.date]:
    """The campaign measured (next quarter's: no suivi of it exists in the data set), its
    opening day and its J-15."""
    t = Trimestre.of(today).suivant()
    return (
        t,
        ouverture_campagne(t, DELAI_JOURS),
        t.echeance_par_defaut(DELAI_JOURS) - dt.timedelta(days=15),
    )


def run(scale: str, seed: int, console: Console) -> dict[str, Any]:
    return stack.on_database(scale, lambda url: _run(url, scale, seed, console))


async def _reset(url: str) -> None:
    """This bench's writes of an earlier run, gone (the bench's own database)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(
            "TRUNCATE notifications.rappels, notifications.notifications, "
            "notifications.elements_recapitulatif, notifications.envois"
        )
    finally:
        await conn.close()


class OwnRss:
    """Peak RSS of this process alone (not its children: the served apps)."""

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self.start = self.peak = int(self._proc.memory_info().rss)
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            self.peak = max(self.peak, int(self._proc.memory_info().rss))
            await asyncio.sleep(0.01)

    def __enter__(self) -> OwnRss:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()


async def _counts(url: str, since: dt.datetime) -> dict[str, int]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS messages, count(DISTINCT personne_id) AS persons, "
            "max(n) AS most_per_person FROM (SELECT personne_id, count(*) OVER "
            "(PARTITION BY personne_id) AS n FROM notifications.notifications "
            "WHERE source = $1 AND cree_le >= $2) m",
            rappels.SOURCE,
            since,
        )
        envois = await conn.fetchval(
            "SELECT count(*) FROM notifications.envois WHERE source = $1 AND cree_le >= $2",
            rappels.SOURCE,
            since,
        )
        keys = await conn.fetchval("SELECT count(*) FROM notifications.rappels")
        return {
            "messages": int(row["messages"]),
            "persons": int(row["persons"]),
            "most_per_person": int(row["most_per_person"] or 0),
            "emails": int(envois),
            "reminders_recorded": int(keys),
        }
    finally:
        await conn.close()


async def _run(url: str, scale: str, seed: int, console: Console) -> dict[str, Any]:
    info = await ensure_data(url, scale, seed, console)
    await _reset(url)
    t, opening, j15 = campaign_days(dt.date.fromisoformat(info["today"]))
    st = stack.BenchStack(url)
    # Other work on the machine as the run starts (1-minute load average).
    load_before = round(os.getloadavg()[0], 2)
    try:
        for name in ("idp", "gateway", "actions"):
            st.spawn(name, st.command(APPS[name]), {**os.environ, **st.env_for(APPS[name])})
        for child in st.children:
            wait_ready(child, st.url(child.name) + APPS[child.name].probe_path, timeout=90.0)
        settings = NotificationsSettings(
            database_url=url,
            gateway_url=st.url("gateway"),
            actions_url=st.url("actions"),
            http_timeout_seconds=30,
        )
        engine = create_engine(url, pool_size=2, max_overflow=0)
        steps: dict[str, Any] = {}
        try:
            async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
                signer = internal_signer(settings)
                source = RappelsClient(http, signer, settings.actions_url)
                people = PersonnesClient(http, signer, settings.gateway_url)
                sessionmaker = create_sessionmaker(engine)
                with OwnRss() as rss:
                    for step, day in (("ouverture", opening), ("j15", j15)):
                        settings.clock = dt.datetime.combine(day, dt.time(6, 0), tzinfo=dt.UTC)
                        started = time.perf_counter()
                        made = await rappels.run(sessionmaker, source, people, settings)
                        seconds = time.perf_counter() - started
                        again = await rappels.run(sessionmaker, source, people, settings)
                        steps[step] = {
                            "day": day.isoformat(),
                            "seconds": round(seconds, 1),
                            "made": made,
                            "made_again": again,
                            **await _counts(url, settings.clock),
                        }
                        console.print(
                            f"[green]✓[/] {step} ({day}) : {seconds:.1f} s, {made} messages"
                        )
        finally:
            await engine.dispose()
        total = sum(s["seconds"] for s in steps.values())
        return {
            "scale": scale,
            "campagne": str(t),
            "steps": steps,
            "seconds": round(total, 1),
            "target_seconds": TARGET_SECONDS,
            "rss_growth_mb": round((rss.peak - rss.start) / 2**20, 1),
            "load_before": load_before,
            "cpus": os.cpu_count(),
            "met": total < TARGET_SECONDS,
            "one_per_person": all(
                s["messages"] == s["persons"] and s["most_per_person"] <= 1 and s["made_again"] == 0
                for s in steps.values()
            ),
        }
    finally:
        with contextlib.suppress(Exception):
            st.stop()


def markdown(r: dict[str, Any]) -> str:
    def yes(ok: bool) -> str:
        return "atteint" if ok else "**NON ATTEINT**"

    lines = [
        f"## Rappels de campagne ({r['scale']}, campagne {r['campagne']})",
        "",
        "| étape | jour | durée | messages | personnes | e-mails | rappels enregistrés "
        "| relance du même jour |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for step, s in r["steps"].items():
        lines.append(
            f"| {step} | {s['day']} | {s['seconds']} s | {s['messages']} | {s['persons']} "
            f"| {s['emails']} | {s['reminders_recorded']} | {s['made_again']} message |"
        )
    lines += [
        "",
        f"- Ouverture + J-15 : **{r['seconds']} s** (cible < {r['target_seconds']:.0f} s : "
        f"{yes(r['met'])})",
        f"- Un message par personne, aucun en double : {yes(r['one_per_person'])}",
        f"- Croissance de la mémoire (RSS) du processus du job : {r['rss_growth_mb']} Mio",
        f"- Machine : {r['cpus']} cœurs, charge avant la mesure {r['load_before']} (1 min)",
    ]
    return "\n".join(lines)
