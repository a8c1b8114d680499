"""`coop rappels`: one pass of the campaigns' reminders now (what the worker's job
`notifications.rappels` does each hour), optionally on another day, then the e-mails
due on that day sent (on a day ahead, the worker's sender would wait for it): the tour
shows a reminder arriving without waiting for the campaign's calendar."""

from __future__ import annotations

import asyncio
import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from coop.cli_database import database_url

if TYPE_CHECKING:
    from services.notifications.settings import NotificationsSettings


class Etape(StrEnum):
    ouverture = "ouverture"
    j15 = "j15"
    j7 = "j7"
    retard = "retard"


def day_of(etape: Etape, today: dt.date, delai_jours: int) -> dt.date:
    """The day the current campaign reaches `etape` (its default due date)."""
    from services.actions.rules import campagne_courante, ouverture_campagne

    t = campagne_courante(today, delai_jours)
    due = t.echeance_par_defaut(delai_jours)
    return {
        Etape.ouverture: ouverture_campagne(t, delai_jours),
        Etape.j15: due - dt.timedelta(days=15),
        Etape.j7: due - dt.timedelta(days=7),
        Etape.retard: due + dt.timedelta(days=1),
    }[etape]


def rappels(
    date: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"], help="Jour des rappels (AAAA-MM-JJ) ; défaut : aujourd'hui"
        ),
    ] = None,
    etape: Annotated[
        Etape | None,
        typer.Option(help="Le jour où la campagne en cours atteint cette étape"),
    ] = None,
) -> None:
    """Compute and record the reminders due on a day, one message per person, and send
    the e-mails due then."""
    from services.actions.settings import ActionsSettings
    from services.notifications.rappels import PARIS
    from services.notifications.settings import NotificationsSettings

    settings = NotificationsSettings()
    settings.database_url = settings.database_url or database_url()
    day = date.date() if date else None
    if etape is not None:
        today = dt.datetime.now(PARIS).date()
        day = day_of(etape, today, ActionsSettings().campagne_delai_jours)
    if day is not None:
        settings.clock = dt.datetime.combine(day, dt.time(8, 0), tzinfo=PARIS)
    made, sent = asyncio.run(_run(settings))
    typer.echo(
        f"Rappels du {settings.now().astimezone(PARIS):%d/%m/%Y} : {made} message(s), "
        f"{sent} courriel(s) envoyé(s)."
    )


async def _run(settings: NotificationsSettings) -> tuple[int, int]:
    import httpx

    from kernel.app import internal_signer
    from kernel.database import create_engine, create_sessionmaker
    from kernel.people_ref import PersonnesClient
    from kernel.rappels_ref import RappelsClient
    from services.notifications import rappels, service

    assert settings.database_url is not None
    engine = create_engine(settings.database_url, pool_size=2, application_name="coop-rappels")
    try:
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            signer = internal_signer(settings)
            sessionmaker = create_sessionmaker(engine)
            made = await rappels.run(
                sessionmaker,
                RappelsClient(http, signer, settings.actions_url),
                PersonnesClient(http, signer, settings.gateway_url),
                settings,
            )
            return made, await service.send_due(sessionmaker, settings)
    finally:
        await engine.dispose()
