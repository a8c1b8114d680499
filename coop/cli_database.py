"""The database every `coop` command works on: shared by `coop.cli` and its
sub-command modules, which import it rather than the CLI itself (no import circle)."""

from __future__ import annotations

import os

import typer
from rich.console import Console

from kernel.embedded_db import EmbeddedDatabaseError, start_embedded

DATA_DIR_DEFAULT = ".coop/pgdata"


def embedded_data_dir() -> str:
    """The embedded PostgreSQL's data directory of `make run`."""
    return os.environ.get("COOP_EMBEDDED_DATA_DIR", DATA_DIR_DEFAULT)


def database_url() -> str:
    """DATABASE_URL when set, else the embedded PostgreSQL (development)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    console = Console(stderr=True)
    try:
        with console.status("Démarrage de PostgreSQL embarqué…"):
            return start_embedded(embedded_data_dir())
    except EmbeddedDatabaseError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
