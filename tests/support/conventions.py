"""The real conventions service for other apps' tests (keep these signatures stable).

- `seed_organisations(database_url)`: the persona organisations of personas.py, with
  those ids, idempotently.
- `conventions_app(database_url, **settings)`: the conventions app on the test database.
- `make_convention(client, ...)`: a convention created (and by default signed) through
  the public API, as a Caf agent of `caf_id`.
- `resilier(client, convention_id, ...)`: a résiliation (immediate mode by default).
- `with_actions(database_url, today)`: the conventions app and the real actions app,
  the latter served over HTTP (the conventions service asks it for bilans).
- `make_bilan(actions, convention_id, ...)`: a bilan (final, adopted by default)
  through the actions API.
- `sections_completes(type_)`: every section of a bilan of that kind written, as its
  adoption requires.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from coop.ports import free_port
from kernel.database import create_engine, create_sessionmaker
from kernel.principal import Role
from services.actions.app import create_app as create_actions
from services.actions.rules import SECTIONS_BILAN, TypeBilan
from services.actions.settings import ActionsSettings
from services.conventions import repository
from services.conventions.app import create_app
from services.conventions.settings import ConventionsSettings
from tests.support.apps import running
from tests.support.personas import (
    CAF,
    CAF_A,
    CAF_B,
    CNAF,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    auth_headers,
    person,
)
from tests.support.served import served

AUDIENCE = "conventions"
SOCLE = ["petite enfance", "enfance", "jeunesse", "parentalité"]

PERSONA_ORGANISATIONS: tuple[dict[str, Any], ...] = (
    {"id": CAF_A, "type": "Caf", "nom": "Caf A (test)", "departement": "38", "code_caf": "9901"},
    {"id": CAF_B, "type": "Caf", "nom": "Caf B (test)", "departement": "26", "code_caf": "9902"},
    {
        "id": COLLECTIVITE_X,
        "type": "Commune",
        "nom": "Collectivité X (test)",
        "departement": "38",
        "code_insee": "38999",
        "population": 12000,
        "ao_recenser": "commune",
        "ao_informer": "commune",
        "ao_planifier": "commune",
        "ao_qualite": "commune",
    },
    {
        "id": COLLECTIVITE_Y,
        "type": "Commune",
        "nom": "Collectivité Y (test)",
        "departement": "26",
        "code_insee": "26999",
        "population": 8000,
        "ao_recenser": "commune",
        "ao_informer": "commune",
        "ao_planifier": "commune",
        "ao_qualite": "commune",
    },
    {"id": CNAF, "type": "National", "nom": "Cnaf (test)"},
)


async def seed_organisations(database_url: str, extra: Iterable[dict[str, Any]] = ()) -> None:
    """Insert the persona organisations (and `extra` rows) unless already there."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = [*PERSONA_ORGANISATIONS, *extra]
            await repository.insert_organisations(session, rows, skip_existing=True)
            await session.commit()
    finally:
        await engine.dispose()


def conventions_app(database_url: str, **settings: Any) -> FastAPI:
    """The conventions app on the test database (`today=` fixes the date of the rules).
    Unless `actions_url` is given, the actions service it asks before a renewal is a
    port nobody listens on: never whatever runs on the default one."""
    settings.setdefault("actions_url", f"http://127.0.0.1:{free_port()}")
    return create_app(ConventionsSettings(database_url=database_url, **settings))


@dataclass
class WithActions:
    conventions: httpx.AsyncClient
    actions: httpx.AsyncClient


@asynccontextmanager
async def with_actions(database_url: str, today: dt.date) -> AsyncIterator[WithActions]:
    """The conventions app (in process) and the real actions app, served over HTTP on a
    port the conventions app is told; the actions app reads conventions in process."""
    await seed_organisations(database_url)
    port = free_port()
    conv_app = conventions_app(database_url, today=today, actions_url=f"http://127.0.0.1:{port}")
    act_app = create_actions(
        # A long interval: what the actions app knows comes from on-demand fetches.
        ActionsSettings(database_url=database_url, conventions_sync_seconds=3600),
        conventions_transport=httpx.ASGITransport(app=conv_app),
        today=lambda: today,
    )
    async with (
        running(conv_app) as conventions,
        running(act_app) as actions,
        served(act_app, port),
    ):
        yield WithActions(conventions, actions)


def sections_completes(type_: str) -> dict[str, Any]:
    """Every section of a bilan of kind `type_` written: what its adoption requires."""
    return {
        nom: False if nom == "avenant_necessaire" else f"{libelle} : voir le compte rendu."
        for nom, libelle in SECTIONS_BILAN[TypeBilan(type_)].items()
    }


async def make_bilan(
    actions: httpx.AsyncClient,
    convention_id: uuid.UUID,
    *,
    type_: str = "bilan final",
    caf_id: uuid.UUID = CAF_A,
    adopte: bool = True,
    periode: tuple[dt.date, dt.date] = (dt.date(2025, 1, 1), dt.date(2029, 12, 31)),
    date_adoption: dt.date = dt.date(2026, 10, 15),
) -> dict[str, Any]:
    """A bilan (final unless told) through the actions API, adopted by default."""
    headers = auth_headers(caf_agent(caf_id), "actions")
    bilan = _check(
        await actions.post(
            f"/api/v1/conventions/{convention_id}/bilans",
            json={
                "type": type_,
                "periode_debut": periode[0].isoformat(),
                "periode_fin": periode[1].isoformat(),
                "sections": sections_completes(type_),
            },
            headers=headers,
        )
    )
    if adopte:
        path = f"/api/v1/bilans/{bilan['id']}"
        etag = (await actions.get(path, headers=headers)).headers["etag"]
        bilan = _check(
            await actions.post(
                f"{path}/adoption",
                json={"date_adoption": date_adoption.isoformat()},
                headers={**headers, "if-match": etag},
            )
        )
    return bilan


def caf_agent(caf_id: uuid.UUID) -> Any:
    return person(f"agent-{caf_id}", (caf_id, CAF, Role.agent))


def _check(resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code >= 400:
        raise AssertionError(
            f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
        )
    body: dict[str, Any] = resp.json()
    return body


async def make_convention(
    client: httpx.AsyncClient,
    *,
    caf_id: uuid.UUID = CAF_A,
    signataire_ids: Iterable[uuid.UUID] = (COLLECTIVITE_X,),
    date_debut: dt.date = dt.date(2025, 1, 1),
    date_fin: dt.date = dt.date(2029, 12, 31),
    signee: bool = True,
    titre: str = "CTG de test",
    thematiques: Iterable[str] = SOCLE,
    echelon: str = "commune",
) -> uuid.UUID:
    """Create a convention through the public API; if `signee`, every signatory signs
    (on its start date, or the day before the 'today' of the app if earlier) and it is signed."""
    headers = auth_headers(caf_agent(caf_id), AUDIENCE)
    signature = min(date_debut, dt.date(2025, 1, 1)) if signee else None
    body = {
        "caf_id": str(caf_id),
        "echelon": echelon,
        "titre": titre,
        "date_debut": date_debut.isoformat(),
        "date_fin": date_fin.isoformat(),
        "thematiques": list(thematiques),
        "signataires": [
            {
                "organisation_id": str(org),
                "representant": "Représentant",
                "date_signature": signature.isoformat() if signature else None,
            }
            for org in (caf_id, *signataire_ids)
        ],
    }
    created = _check(await client.post("/api/v1/conventions", json=body, headers=headers))
    convention_id = uuid.UUID(created["id"])
    if signee:
        _check(await client.post(f"/api/v1/conventions/{convention_id}/signature", headers=headers))
    return convention_id


async def resilier(
    client: httpx.AsyncClient,
    convention_id: uuid.UUID,
    *,
    caf_id: uuid.UUID = CAF_A,
    mode: str = "sans mise en demeure",
    date_notification: dt.date | None = None,
    motif: str = "Résiliation de test",
) -> dict[str, Any]:
    """Record a résiliation (immediate by default: effective on the notification date)."""
    body: dict[str, Any] = {"mode": mode, "motif": motif}
    if date_notification is not None:
        body["date_notification"] = date_notification.isoformat()
    return _check(
        await client.post(
            f"/api/v1/conventions/{convention_id}/resiliation",
            json=body,
            headers=auth_headers(caf_agent(caf_id), AUDIENCE),
        )
    )
