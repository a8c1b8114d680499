"""`coop import-organisations FILE.csv`: bulk load of the organisations registry.

Every row is validated first; any bad row is reported with its line number and
nothing is loaded (all or nothing, one transaction).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from coop.cli_database import database_url

if TYPE_CHECKING:
    # Imported by the commands: no app's process loads the conventions service for them.
    from services.conventions.service_organisations import ImportReport

console = Console(stderr=True)


async def import_file(database_url: str, text: str, console: Console) -> ImportReport:
    """Validate then (if every row is good) load; returns the report."""
    from kernel.database import create_engine, create_sessionmaker
    from services.conventions.service_organisations import (
        ImportReport,
        load_import,
        parse_csv,
        validate_import,
    )

    rows, header_errors = parse_csv(text)
    if header_errors:
        return ImportReport(errors=header_errors)
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("Vérification des lignes", total=len(rows))
                report = await validate_import(session, rows)
                progress.update(task, completed=len(rows))
                if not report.ok:
                    return report
                task = progress.add_task("Chargement", total=len(report.rows))
                loaded = await load_import(session, report)
                await session.commit()
                progress.update(task, completed=loaded)
            return report
    finally:
        await engine.dispose()


IMPORT_HELP = (
    "Importe des organisations depuis un fichier CSV (UTF-8, séparateur ',' ou ';'). "
    "Colonnes : type, nom, puis selon le cas departement, code_caf, code_insee, siren, "
    "population, epci_siren (l'EPCI d'une commune), ao_recenser, ao_informer, ao_planifier, "
    "ao_qualite (commune ou EPCI)."
)


def import_organisations(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Fichier CSV")
    ],
) -> None:
    """Import organisations from a CSV file (`IMPORT_HELP` says the columns)."""
    from services.conventions.service_organisations import CSV_COLUMNS

    url = database_url()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        console.print("[red]Le fichier doit être encodé en UTF-8.[/]")
        raise typer.Exit(1) from exc
    report = asyncio.run(import_file(url, text, console))
    if not report.ok:
        table = Table("ligne", "erreur", title="Lignes refusées : rien n'a été chargé")
        for line, message in report.errors:
            table.add_row(str(line), message)
        console.print(table)
        console.print(f"Colonnes acceptées : {', '.join(CSV_COLUMNS)}")
        raise typer.Exit(1)
    console.print(f"[green]✓[/] {len(report.rows)} organisations importées")
