"""`coop token --as PERSONA` and `coop idp rotate-keys` (development identity provider).

`coop token` signs the access token locally with the development identity provider's
key store (`COOP_IDP_KEY_DIR`, default .coop/idp): no need for the provider to be
running, and the running provider publishes the same keys (it re-reads the store).
"""

from __future__ import annotations

from typing import Annotated

import typer

from coop.cli_french import CoopTyper

# Names only, for the help text (plain data); the provider's code is imported by the
# commands, so that no app's process loads it for a command it never runs.
from gateway.devidp.personas import CLIENTS, PERSONAS

token_app = CoopTyper(
    name="token",
    help="Affiche un jeton d'accès de développement (persona ou client de démonstration).",
    add_completion=False,
)
idp_app = CoopTyper(
    name="idp", help="Fournisseur d'identité de développement.", no_args_is_help=True
)


@token_app.callback(invoke_without_command=True)
def token(
    persona: Annotated[
        str | None, typer.Option("--as", help=f"Persona : {', '.join(PERSONAS)}")
    ] = None,
    client: Annotated[
        str | None, typer.Option("--client", help=f"Client machine : {', '.join(CLIENTS)}")
    ] = None,
) -> None:
    """Print an access token for a demo persona (--as) or a demo machine client (--client)."""
    from gateway.devidp.endpoints import persona_subject
    from gateway.devidp.keys import KeyStore, access_token, service_account_subject
    from gateway.devidp.settings import DevIdpSettings

    if (persona is None) == (client is None):
        raise typer.BadParameter("donnez --as PERSONA ou --client CLIENT")
    settings = DevIdpSettings()
    if persona is not None:
        found = PERSONAS.get(persona)
        if found is None:
            raise typer.BadParameter(
                f"persona inconnu : {persona} (connus : {', '.join(PERSONAS)})"
            )
        subject = persona_subject(found)
    else:
        assert client is not None
        if client not in settings.client_secrets:
            raise typer.BadParameter(f"client inconnu : {client}")
        subject = service_account_subject(client)
    token = access_token(
        KeyStore(settings.key_dir),
        issuer=settings.issuer_url,
        audience=settings.audience,
        ttl_seconds=settings.access_token_ttl_seconds,
        subject=subject,
    )
    typer.echo(token)


@idp_app.command("rotate-keys")
def rotate_keys(
    retire: Annotated[
        bool,
        typer.Option(
            "--retire",
            help="Retirer aussi la clé précédente (clé compromise) : ses jetons sont refusés "
            "dès que la passerelle relit les clés publiées.",
        ),
    ] = False,
) -> None:
    """Nouvelle clé de signature ; la précédente reste publiée jusqu'à la rotation suivante."""
    from gateway.devidp.keys import KeyStore
    from gateway.devidp.settings import DevIdpSettings

    kid = KeyStore(DevIdpSettings().key_dir).rotate(retire=retire)
    typer.echo(f"nouvelle clé : {kid}" + (" (précédente retirée)" if retire else ""))
