"""`coop clients add` and `coop habilitations accorder`: habilitations the API cannot give.

Machine clients are usually registered by a Caf administrator through the API; the CLI
registers them for operators. `lecteur_national` is only ever granted here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from coop.cli_database import database_url
from coop.cli_french import CoopTyper

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

from kernel.principal import OrganisationKind, Role

clients_app = CoopTyper(help="Clients machine (client_credentials).", no_args_is_help=True)
grants_app = CoopTyper(help="Habilitations (opérateurs).", no_args_is_help=True)
console = Console(stderr=True)


def _run(coro_factory: Callable[[AsyncSession], Awaitable[str]]) -> None:
    from kernel.database import create_engine, create_sessionmaker

    async def main() -> None:
        engine = create_engine(database_url(), pool_size=1)
        try:
            async with create_sessionmaker(engine)() as session:
                message = await coro_factory(session)
                await session.commit()
            console.print(f"[green]✓[/] {message}")
        finally:
            await engine.dispose()

    asyncio.run(main())


@clients_app.command("add")
def add_client(
    client_id: Annotated[str, typer.Argument(help="client_id chez le fournisseur d'identité")],
    organisation: Annotated[uuid.UUID, typer.Option(help="Id de l'organisation")],
    kind: Annotated[OrganisationKind, typer.Option(help="Type d'organisation")],
    role: Annotated[Role, typer.Option(help="Rôle du client")],
    nom: Annotated[str, typer.Option(help="Nom lisible")] = "",
) -> None:
    """Enregistre un client machine rattaché à une organisation, avec son rôle."""
    from gateway.habilitations import service, service_clients

    async def do(session: AsyncSession) -> str:
        client, grant = await service_clients.register_client(
            session,
            client_id=client_id,
            nom=nom or client_id,
            organisation_id=organisation,
            kind=kind,
            role=role,
            actor=service.Actor(None, service.CLI_ACTOR),
            default_days=365,
        )
        return f"client {client.client_id} enregistré (habilitation {grant.id})"

    _run(do)


@grants_app.command("accorder")
def grant_person(
    issuer: Annotated[str, typer.Option(help="Émetteur OIDC de la personne")],
    sub: Annotated[str, typer.Option(help="`sub` OIDC de la personne")],
    organisation: Annotated[uuid.UUID, typer.Option(help="Id de l'organisation")],
    kind: Annotated[OrganisationKind, typer.Option(help="Type d'organisation")],
    role: Annotated[Role, typer.Option(help="Rôle")],
    email: Annotated[str | None, typer.Option(help="E-mail (affichage)")] = None,
) -> None:
    """Accorde un rôle à une personne (seul moyen d'accorder lecteur_national)."""
    from gateway.habilitations import repository as repo
    from gateway.habilitations import service

    async def do(session: AsyncSession) -> str:
        person = await repo.get_or_add_person(session, issuer, sub, email=email)
        grant = await service.create_grant(
            session,
            organisation_id=organisation,
            kind=kind,
            role=role,
            actor=service.Actor(None, service.CLI_ACTOR),
            person_id=person.id,
        )
        return f"habilitation {grant.id} accordée ({role.value})"

    _run(do)
