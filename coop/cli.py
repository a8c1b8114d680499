"""`coop`: the command line for operators and developers."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

from coop import (
    cli_bench,
    cli_conventions,
    cli_documents,
    cli_gateway,
    cli_gateway_habilitations,
    cli_mails,
    cli_ops,
    cli_rappels,
)
from coop.apps import APPS, migration_trees
from coop.cli_database import database_url, embedded_data_dir
from coop.cli_french import CoopTyper

app = CoopTyper(
    name="coop",
    help="Coopération : suivi des Conventions Territoriales Globales (outil d'exploitation).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)
app.add_typer(cli_documents.app, name="documents")
app.add_typer(cli_gateway.token_app, name="token")
app.add_typer(cli_gateway.idp_app, name="idp")
app.add_typer(cli_gateway_habilitations.clients_app, name="clients")
app.add_typer(cli_gateway_habilitations.grants_app, name="habilitations")
app.add_typer(cli_bench.app, name="bench")
app.command("import-organisations", help=cli_conventions.IMPORT_HELP)(
    cli_conventions.import_organisations
)
app.command("mails", help="Les courriels reçus par le serveur SMTP local de `coop run`.")(
    cli_mails.mails
)
app.command(
    "rappels",
    help="Calcule maintenant les rappels de campagne dus (ou un autre jour : --date, --etape) "
    "et envoie leurs courriels.",
)(cli_rappels.rappels)
cli_ops.register(app)


@app.command(help="Applique les migrations de chaque service (chacun son schéma).")
def migrate() -> None:
    """Apply every service's migrations (each service owns its schema)."""
    from kernel.migrations import upgrade

    url = database_url()
    for tree in migration_trees():
        upgrade(tree, url)
        console.print(f"[green]✓[/] migrations {tree} à jour")


@app.command(help="Sert une application (granian, N processus ; base : DATABASE_URL ou embarquée).")
def serve(
    name: Annotated[str, typer.Argument(help=f"Application : {', '.join(APPS)}")],
    port: Annotated[int | None, typer.Option(help="Port (défaut : celui de l'application)")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Processus de l'application (défaut : COOP_<APP>_WORKERS, sinon un par "
            "cœur, 4 au plus)",
        ),
    ] = None,
) -> None:
    """Serve one app with its worker processes (database: DATABASE_URL or embedded)."""
    from kernel.server import serve as serve_app
    from kernel.settings import DbBudgetError

    spec = APPS.get(name)
    if spec is None:
        raise typer.BadParameter(f"application inconnue : {name} (connues : {', '.join(APPS)})")
    os.environ.setdefault("DATABASE_URL", database_url())
    settings = spec.settings_class()()
    try:
        serve_app(
            spec.factory,
            settings,
            env_prefix=spec.env_prefix,
            port=port,
            workers=workers,
            database=spec.migrations is not None,
        )
    except DbBudgetError as exc:
        console.print(f"[red]{exc}.[/]")
        raise typer.Exit(2) from exc


@app.command(
    help="Exécute les tâches de fond de la suite (réplicas des conventions, analyses "
    "antivirus, expiration des habilitations), une fois par intervalle quel que soit le "
    "nombre de travailleurs. Ctrl-C l'arrête."
)
def worker() -> None:
    """Run the suite's jobs (kernel.job_queue) until SIGINT/SIGTERM."""
    from coop.worker import main

    os.environ.setdefault("DATABASE_URL", database_url())
    main(console)


@app.command(
    "demo-data", help="Charge les données de démonstration (idempotent : rejouer ne change rien)."
)
def demo_data() -> None:
    """Load the demo data set (idempotent: a second run changes nothing)."""
    from coop.demo import load_demo

    load_demo(database_url(), console)


@app.command(
    help="Toute la suite en local : PostgreSQL embarqué, migrations, démo, chaque "
    "application dans son processus, clamd s'il est installé. Ctrl-C arrête tout."
)
def run(
    demo: Annotated[bool, typer.Option(help="Charger les données de démonstration")] = True,
) -> None:
    """The whole suite on embedded defaults: database, migrations, demo data, every app."""
    from coop.run_suite import run_suite

    embedded = not os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = database_url()
    try:
        migrate()
        if demo:
            demo_data()
        run_suite(console)
    finally:
        if embedded:
            from kernel.embedded_db import stop_embedded

            with console.status("Arrêt de PostgreSQL embarqué…"):
                stop_embedded(embedded_data_dir())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
