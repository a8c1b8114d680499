"""The whole suite as real processes (`coop.stack.Stack`), and what an operator or a
persona does to it from outside: the real CLI on the test database, tokens from the
development identity provider."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import text

from coop.stack import Stack
from gateway.devidp.personas import PERSONAS
from kernel.database import create_engine
from tests.conftest import truncate_written_tables

ORGANISATIONS_CSV = (
    "type,nom,departement,code_caf,code_insee,siren,population,epci_siren,"
    "ao_recenser,ao_informer,ao_planifier,ao_qualite\n"
    """Caf,Caf de l'Isère,38,381,,,,,,,,
Caf,Caf de la Drôme,26,261,,,,,,,,
National,Cnaf,,,,,,,,,,
Commune,Voiron,38,,38563,213805633,20000,,commune,commune,commune,commune
Commune,Valence,26,,26362,212603625,64000,,commune,commune,commune,commune
"""
)


@contextmanager
def running_stack(database_url: str, work_dir: Path, **env: str) -> Iterator[Stack]:
    """Every app on free loopback ports, on `database_url`, rate limits off; `env`: more
    settings for every process."""
    suite = Stack(database_url=database_url, work_dir=work_dir, rate_limit=False)
    try:
        suite.start({**os.environ, **env})
        yield suite
    finally:
        suite.stop()
        # What the apps wrote while stopping (the gateway's last access journal lines),
        # after the last test's own emptying: gone before the next test.
        asyncio.run(truncate_written_tables(database_url))


def coop(*args: str) -> str:
    """The operator's CLI, as a real process on the test database."""
    result = subprocess.run(
        [sys.executable, "-m", "coop.cli", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"coop {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def import_organisations(work_dir: Path) -> dict[str, str]:
    """The registry of ORGANISATIONS_CSV loaded by the operator: name -> id."""
    csv_path = work_dir / "organisations.csv"
    csv_path.write_text(ORGANISATIONS_CSV, encoding="utf-8")
    assert "5 organisations importées" in coop("import-organisations", str(csv_path))
    return registry_ids(os.environ["DATABASE_URL"])


def registry_ids(database_url: str) -> dict[str, str]:
    """What the operator reads in the registry, as they would with psql: name -> id."""

    async def read() -> dict[str, str]:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(text("SELECT nom, id FROM conventions.organisation"))
                return {nom: str(i) for nom, i in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def persona_token(stack: Stack, persona: str) -> str:
    resp = httpx.post(f"{stack.url('idp')}/dev/token", params={"persona": persona}, timeout=10)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def client_token(stack: Stack, client_id: str, secret: str) -> str:
    resp = httpx.post(
        f"{stack.url('idp')}/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def grant(stack: Stack, persona: str, organisation: str, kind: str, role: str) -> None:
    coop(
        "habilitations",
        "accorder",
        "--issuer",
        stack.url("idp"),
        "--sub",
        PERSONAS[persona].subject,
        "--email",
        PERSONAS[persona].email,
        "--organisation",
        organisation,
        "--kind",
        kind,
        "--role",
        role,
    )
