"""Small helpers of the conventions tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.principal import Principal
from tests.support.conventions import SOCLE
from tests.support.personas import CAF_A, CAF_A_AGENT, COLLECTIVITE_X, auth_headers


def h(principal: Principal = CAF_A_AGENT, **extra: str) -> dict[str, str]:
    return {**auth_headers(principal, "conventions"), **extra}


def payload(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "caf_id": str(CAF_A),
        "echelon": "commune",
        "titre": "CTG de X 2025-2029",
        "date_debut": "2025-01-01",
        "date_fin": "2029-12-31",
        "thematiques": SOCLE,
        "objectifs_partages": ["Répondre aux besoins d'accueil des jeunes enfants"],
        "copil": {"presidence": "alternée", "secretariat": "Caf", "reunions_par_an": 2},
        "signataires": [
            {"organisation_id": str(CAF_A), "representant": "Directrice", "date_signature": None},
            {
                "organisation_id": str(COLLECTIVITE_X),
                "representant": "Maire",
                "deliberation_reference": "DEL-2024-12",
                "deliberation_date": "2024-12-10",
            },
        ],
    }
    body.update(overrides)
    return body


async def create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/conventions", json=payload(**overrides), headers=h())
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def history(
    client: httpx.AsyncClient, cid: str, principal: Principal = CAF_A_AGENT
) -> list[dict[str, Any]]:
    """The service's part of the convention's history feed (what the gateway merges),
    newest first."""
    resp = await client.get(f"/internal/v1/conventions/{cid}/historique", headers=h(principal))
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


async def sign_all(client: httpx.AsyncClient, cid: str, orgs: list[uuid.UUID], day: str) -> None:
    for org in orgs:
        resp = await client.patch(
            f"/api/v1/conventions/{cid}/signataires/{org}",
            json={"date_signature": day},
            headers=h(),
        )
        assert resp.status_code == 200, resp.text


async def table_counts(engine: AsyncEngine) -> dict[str, int]:
    """Rows of every table of the conventions schema (to prove bad input wrote nothing)."""
    tables = (
        "organisation",
        "convention",
        "signataire",
        "equipement",
        "avenant",
        "convention_version",
        "historique",
        "mise_en_demeure",
    )
    async with engine.connect() as conn:
        return {
            t: int((await conn.execute(text(f"SELECT count(*) FROM conventions.{t}"))).scalar_one())  # noqa: S608 (fixed names)
            for t in tables
        }


async def feed_seq(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(text("SELECT coalesce(max(seq), 0) FROM conventions.convention"))
            ).scalar_one()
        )
