"""`coop mails`: the e-mails `coop run`'s local SMTP server received (development)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coop.mailbox import DEFAULT_MAILDIR, messages, text_of


def mails(
    numero: Annotated[
        int | None, typer.Argument(help="Numéro du courriel à afficher en entier")
    ] = None,
    dossier: Annotated[
        Path, typer.Option(help="Dossier Maildir du serveur SMTP local")
    ] = DEFAULT_MAILDIR,
) -> None:
    """List the messages received (oldest first), or print one."""
    found = messages(dossier)
    if not found:
        typer.echo(f"Aucun courriel reçu dans {dossier}/ (le serveur SMTP de `coop run`).")
        return
    if numero is None:
        for i, msg in enumerate(found, start=1):
            typer.echo(f"{i:>3}  {msg['Date']}  {msg['To']}  {msg['Subject']}")
        typer.echo(f"{len(found)} courriel(s). `coop mails N` affiche le n-ième.")
        return
    if not 1 <= numero <= len(found):
        typer.echo(f"Pas de courriel n° {numero} ({len(found)} reçus).", err=True)
        raise typer.Exit(2)
    msg = found[numero - 1]
    for header in ("Date", "From", "To", "Subject", "List-Unsubscribe"):
        if msg[header] is not None:
            typer.echo(f"{header}: {msg[header]}")
    typer.echo("")
    typer.echo(text_of(msg))
