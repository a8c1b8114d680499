"""`coop documents ...`: the bin, the antivirus backlog and orphan content.

The documents service's code is imported by the commands themselves: every app's
process is `coop serve <app>`, and none of them should load this service (nor its S3
client) for a command it never runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from coop.cli_database import database_url
from coop.cli_french import CoopTyper

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from services.documents.settings import DocumentsSettings
    from services.documents.storage import Storage

app = CoopTyper(
    name="documents",
    help="Documents : purge de la corbeille, nouvelle analyse antivirus, nettoyage.",
    no_args_is_help=True,
)
console = Console(stderr=True)
T = TypeVar("T")


def _database_url(settings: DocumentsSettings) -> str:
    if settings.database_url:
        return settings.database_url
    return database_url()  # the embedded database of `make run`


def _run(
    settings: DocumentsSettings,
    work: Callable[[async_sessionmaker[AsyncSession], Storage], Awaitable[T]],
) -> T:
    from kernel.database import create_engine, create_sessionmaker
    from services.documents.app import open_storage

    url = _database_url(settings)

    async def main() -> T:
        engine = create_engine(url, pool_size=2, application_name="coop-documents-cli")
        storage = await open_storage(settings)
        try:
            return await work(create_sessionmaker(engine), storage)
        finally:
            await storage.close()
            await engine.dispose()

    return asyncio.run(main())


@app.command()
def purge(
    retention_days: Annotated[
        int | None, typer.Option(help="Durée en corbeille avant purge (défaut : réglage)")
    ] = None,
) -> None:
    """Vide la corbeille au-delà de la rétention, puis le contenu que plus rien ne référence."""
    from services.documents import service
    from services.documents.settings import DocumentsSettings

    settings = DocumentsSettings()
    days = settings.bin_retention_days if retention_days is None else retention_days
    report = _run(settings, lambda sm, st: service.purge(sm, st, days))
    console.print(
        f"[green]✓[/] {report.documents} document(s) purgé(s), "
        f"{report.contenus} contenu(s) supprimé(s)"
    )


@app.command()
def rescan(
    retry_unanalysable: Annotated[
        bool,
        typer.Option(
            "--retry-unanalysable",
            help=(
                "Remet d'abord en analyse les versions rejetées pour « Analyse impossible » "
                "(par exemple après avoir relevé StreamMaxLength de clamd)"
            ),
        ),
    ] = False,
) -> None:
    """Analyse à nouveau les versions `en_analyse` (clamd injoignable ou en erreur)."""
    from services.documents import service
    from services.documents.app import make_scanner
    from services.documents.settings import DocumentsSettings

    settings = DocumentsSettings()
    scanner = make_scanner(settings)
    if scanner is None:
        console.print("[red]L'antivirus est désactivé : rien à analyser.[/]")
        raise typer.Exit(code=1)

    async def work(sm: async_sessionmaker[AsyncSession], st: Storage) -> dict[str, int]:
        if retry_unanalysable:
            requeued = await service.requeue_unanalysable(sm)
            console.print(f"{requeued} version(s) remise(s) en analyse")
        return await service.rescan(sm, st, scanner, max_errors=settings.scan_max_errors)

    total = _run(settings, work)
    console.print(
        f"[green]✓[/] disponibles : {total['disponible']}, rejetées : {total['rejeté']}, "
        f"toujours en analyse : {total['en_analyse']}"
    )
    if total["en_analyse"]:
        raise typer.Exit(code=2)


@app.command()
def cleanup(
    older_than: Annotated[
        int | None,
        typer.Option(help="Âge minimal en secondes des orphelins (défaut : réglage)"),
    ] = None,
) -> None:
    """Supprime les envois temporaires et le contenu orphelin (plantage, déconnexion)."""
    from services.documents import service
    from services.documents.settings import DocumentsSettings

    settings = DocumentsSettings()
    grace = settings.orphan_grace_seconds if older_than is None else older_than
    counts = _run(settings, lambda sm, st: service.cleanup_orphans(sm, st, grace))
    console.print(
        f"[green]✓[/] {counts['temporaires']} temporaire(s), "
        f"{counts['contenus_orphelins']} contenu(s) orphelin(s) supprimé(s)"
    )
