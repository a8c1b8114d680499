"""The suite's PostgreSQL connections: what each app and the job worker may hold, added
up, against what the server accepts.

Each app's budget (`COOP_<APP>_DB_CONNECTIONS`, else `COOP_DB_CONNECTIONS`) is shared
out among its worker processes (`CommonSettings.db_budget`), so the suite's total does
not depend on how many workers each app runs: the apps' budgets plus each `coop worker`
process's (`coop.worker.connection_budget`). PostgreSQL keeps
`superuser_reserved_connections` and `reserved_connections` of its `max_connections`
for administrators; what is left must hold the total and `TOOLS` more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]

from coop.apps import APPS
from coop.config_doc import WORKER, build_settings
from kernel.database import asyncpg_dsn

# Left for what runs beside the suite: `coop migrate`, demo data, an operator's psql or
# CLI command, an app restarted while its predecessor's connections close.
TOOLS = 20


def app_connections(env: Mapping[str, str]) -> dict[str, int]:
    """Each app with a database: the most its workers hold together under `env`."""
    return {
        spec.name: build_settings(spec, env).db_budget().most
        for spec in APPS.values()
        if spec.migrations is not None
    }


def worker_connections(env: Mapping[str, str]) -> int:
    """One `coop worker` process under `env`."""
    from coop.worker import connection_budget

    return int(connection_budget(build_settings(WORKER, env)))


def suite_connections(env: Mapping[str, str], worker_processes: int = 1) -> dict[str, int]:
    """Every app's connections and the job workers', as `coop run` (one job worker) or a
    deployment with `worker_processes` of them starts the suite."""
    return {**app_connections(env), "worker": worker_processes * worker_connections(env)}


@dataclass(frozen=True)
class ServerLimit:
    max_connections: int
    reserved: int  # superuser_reserved_connections + reserved_connections

    @property
    def available(self) -> int:
        """Connections an ordinary role may open."""
        return self.max_connections - self.reserved


async def server_limit(database_url: str) -> ServerLimit:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT name, setting::int FROM pg_settings WHERE name IN "
            "('max_connections', 'superuser_reserved_connections', 'reserved_connections')"
        )
    finally:
        await conn.close()
    values = {row[0]: row[1] for row in rows}
    reserved = values.get("superuser_reserved_connections", 0) + values.get(
        "reserved_connections", 0
    )
    return ServerLimit(values["max_connections"], reserved)


def problem(needed: Mapping[str, int], limit: ServerLimit) -> str | None:
    """None when `needed` and `TOOLS` fit the server, else why not (French)."""
    total = sum(needed.values())
    if total + TOOLS <= limit.available:
        return None
    detail = ", ".join(f"{name} {count}" for name, count in needed.items())
    return (
        f"{total} connexions PostgreSQL au plus ({detail}) et {TOOLS} pour les outils, "
        f"mais le serveur n'en accepte que {limit.available} (max_connections "
        f"{limit.max_connections}, dont {limit.reserved} réservées) : augmentez "
        "max_connections ou réduisez COOP_DB_CONNECTIONS"
    )


def summary(needed: Mapping[str, int], limit: ServerLimit) -> str:
    detail = ", ".join(f"{name} {count}" for name, count in needed.items())
    return (
        f"Connexions PostgreSQL : {sum(needed.values())} au plus ({detail}) "
        f"sur {limit.available} acceptées (max_connections {limit.max_connections})"
    )
