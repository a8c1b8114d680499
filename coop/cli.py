"""`coop`: the command line for operators and developers."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer
from rich.console import Console

from coop.apps import APPS, migration_trees
from kernel.embedded_db import start_embedded

app = typer.Typer(
    name="coop",
    help="Coopération : suivi des Conventions Territoriales Globales (outil d'exploitation).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)
app.add_typer(importlib.import_module("coop.cli_documents").app, name="documents")
app.add_typer(importlib.import_module("coop.cli_gateway").token_app, name="token")
app.add_typer(importlib.import_module("coop.cli_gateway").idp_app, name="idp")

DATA_DIR_DEFAULT = ".coop/pgdata"


def database_url() -> str:
    """DATABASE_URL when set, else the embedded PostgreSQL (development)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    data_dir = os.environ.get("COOP_EMBEDDED_DATA_DIR", DATA_DIR_DEFAULT)
    with console.status("Démarrage de PostgreSQL embarqué…"):
        return start_embedded(data_dir)


@app.command()
def migrate() -> None:
    """Apply every service's migrations (each service owns its schema)."""
    from kernel.migrations import upgrade

    url = database_url()
    for tree in migration_trees():
        upgrade(tree, url)
        console.print(f"[green]✓[/] migrations {tree} à jour")


@app.command()
def serve(
    name: Annotated[str, typer.Argument(help=f"Application : {', '.join(APPS)}")],
    port: Annotated[int | None, typer.Option(help="Port (défaut : celui de l'application)")] = None,
) -> None:
    """Serve one app with uvicorn (database: DATABASE_URL or embedded)."""
    import uvicorn

    spec = APPS.get(name)
    if spec is None:
        raise typer.BadParameter(f"application inconnue : {name} (connues : {', '.join(APPS)})")
    os.environ.setdefault("DATABASE_URL", database_url())
    settings = spec.settings_class()()
    uvicorn.run(
        spec.factory,
        factory=True,
        host=settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )


@app.command("demo-data")
def demo_data() -> None:
    """Load the demo data set (idempotent: a second run changes nothing)."""
    from coop.demo import load_demo

    load_demo(database_url(), console)


@app.command()
def run() -> None:
    """The whole suite on embedded defaults: database, migrations, demo data, every app."""
    url = database_url()
    os.environ["DATABASE_URL"] = url
    migrate()
    demo_data()
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    for spec in APPS.values():
        cmd = [sys.executable, "-m", "coop.cli", "serve", spec.name]
        procs.append((spec.name, subprocess.Popen(cmd, env=os.environ.copy())))  # noqa: S603
        console.print(f"[green]▶[/] {spec.name} : http://127.0.0.1:{_port(spec.name)}")
    console.print("Ctrl-C pour tout arrêter.")
    try:
        while all(p.poll() is None for _, p in procs):
            time.sleep(0.5)
        for name, p in procs:
            if p.poll() is not None:
                console.print(f"[red]{name} s'est arrêté (code {p.returncode}).[/]")
    except KeyboardInterrupt:
        console.print("Arrêt…")
    finally:
        for _, p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for _, p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def _port(name: str) -> int:
    return int(APPS[name].settings_class()().port)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
