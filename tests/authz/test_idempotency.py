"""A retried POST stores nothing twice, in every app, through the gateway: the same
Idempotency-Key and body give the first answer again (Idempotent-Replayed: true),
another body a 409. Before, a retried convention, document, invitation or grant was a
second one. The mechanism itself: tests/kernel/test_idempotency.py."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.principal import OrganisationKind, Role
from tests.authz.world import PDF, World
from tests.support.conventions import SOCLE
from tests.support.personas import CAF_A, COLLECTIVITE_X


def _key() -> str:
    return f"essai-{uuid.uuid4().hex}"


async def _twice(
    world: World, who: str, method: str, path: str, **kwargs: Any
) -> tuple[httpx.Response, httpx.Response]:
    headers = {**world.headers(who), "idempotency-key": _key()}
    first = await world.gateway.request(method, path, headers=headers, **kwargs)
    assert first.status_code < 300, first.text
    again = await world.gateway.request(method, path, headers=headers, **kwargs)
    assert again.status_code == first.status_code, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    return first, again


async def _count(db_engine: AsyncEngine, sql: str, **params: Any) -> int:
    async with db_engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def test_a_retried_convention_is_created_once(world: World, db_engine: AsyncEngine) -> None:
    side = world.sides["A"]
    titre = f"CTG rejouée {uuid.uuid4().hex[:6]}"
    body = {
        "caf_id": str(side.caf),
        "echelon": "commune",
        "titre": titre,
        "date_debut": "2025-01-01",
        "date_fin": "2029-12-31",
        "thematiques": SOCLE,
    }
    first, again = await _twice(world, "caf_a_agent", "POST", "/api/v1/conventions", json=body)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    sql = "SELECT count(*) FROM conventions.convention WHERE titre = :t"
    assert await _count(db_engine, sql, t=titre) == 1
    # The same key for another convention: refused, nothing stored.
    key = {**world.headers("caf_a_agent"), "idempotency-key": "ctg-1"}
    await world.gateway.post("/api/v1/conventions", json=body, headers=key)
    other = await world.gateway.post(
        "/api/v1/conventions", json={**body, "titre": titre + " bis"}, headers=key
    )
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency-key-reused"
    assert await _count(db_engine, sql, t=titre + " bis") == 0


async def test_a_retried_avenant_is_recorded_once(world: World, db_engine: AsyncEngine) -> None:
    side = world.sides["A"]
    convention = await world.new_convention(side)
    path = f"/api/v1/conventions/{convention}/avenants"
    body = {
        "date_avenant": "2026-03-01",
        "objet": "Ajout d'une action",
        "articles_modifies": ["A3"],
    }
    first, again = await _twice(world, "caf_a_agent", "POST", path, json=body)
    assert again.json() == first.json()
    sql = "SELECT count(*) FROM conventions.avenant WHERE convention_id = :c"
    assert await _count(db_engine, sql, c=convention) == 1


async def test_a_retried_upload_stores_one_document(world: World, db_engine: AsyncEngine) -> None:
    side = world.sides["A"]
    titre = f"Compte rendu {uuid.uuid4().hex[:6]}"
    form = {"convention_id": str(side.convention), "type": "Autre", "titre": titre}
    files = {"fichier": ("cr.pdf", PDF, "application/pdf")}
    first, again = await _twice(
        world, "x_contributeur", "POST", "/api/v1/documents", data=form, files=files
    )
    assert again.json()["id"] == first.json()["id"]
    sql = "SELECT count(*) FROM documents.document WHERE titre = :t"
    assert await _count(db_engine, sql, t=titre) == 1
    # The same key with another file is another request: refused.
    key = {**world.headers("x_contributeur"), "idempotency-key": "cr-1"}
    await world.gateway.post("/api/v1/documents", data=form, files=files, headers=key)
    other = await world.gateway.post(
        "/api/v1/documents",
        data=form,
        files={"fichier": ("cr.pdf", PDF + b"\n% autre", "application/pdf")},
        headers=key,
    )
    assert other.status_code == 409
    assert await _count(db_engine, sql, t=titre) == 2


async def test_a_retried_axe_is_created_once(world: World, db_engine: AsyncEngine) -> None:
    side = world.sides["A"]
    titre = f"Agir {uuid.uuid4().hex[:6]}"
    path = f"/api/v1/conventions/{side.convention}/axes"
    await _twice(world, "caf_a_agent", "POST", path, json={"titre": titre})
    sql = "SELECT count(*) FROM actions.axes WHERE titre = :t"
    assert await _count(db_engine, sql, t=titre) == 1


async def test_a_retried_invitation_is_one_and_its_token_is_given_once(
    world: World, db_engine: AsyncEngine
) -> None:
    email = f"rejoue-{uuid.uuid4().hex[:6]}@test.invalid"
    body = {"email": email, "organisation_id": str(COLLECTIVITE_X), "role": "lecteur"}
    first, again = await _twice(world, "x_referent", "POST", "/api/v1/invitations", json=body)
    token = first.json()["jeton"]
    assert token
    # The same invitation, without its token (never stored for a replay), and said so.
    assert again.json() == {**first.json(), "jeton": None}
    assert again.headers["x-coop-secret-omis"] == "jeton"
    sql = "SELECT count(*) FROM gateway.invitations WHERE email = :e"
    assert await _count(db_engine, sql, e=email) == 1
    stored = "SELECT count(*) FROM gateway.idempotency_keys WHERE body::text LIKE :t"
    assert await _count(db_engine, stored, t=f"%{token}%") == 0
    # The token handed out the first time is the one that works.
    accepted = await world.gateway.post(
        "/api/v1/invitations/acceptation",
        json={"jeton": token},
        headers=world.hab.headers("rejoue", email=email),
    )
    assert accepted.status_code == 201, accepted.text


async def test_retried_grants_requests_and_clients_are_stored_once(
    world: World, db_engine: AsyncEngine
) -> None:
    person = await world.hab.person_id(f"nouveau-{uuid.uuid4().hex[:6]}")
    grant = {"personne_id": str(person), "organisation_id": str(COLLECTIVITE_X), "role": "lecteur"}
    # (A Caf agent's request also catches the gateway's convention replica up.)
    first, again = await _twice(world, "caf_a_agent", "POST", "/api/v1/habilitations", json=grant)
    assert again.json() == first.json()
    sql = "SELECT count(*) FROM gateway.grants WHERE person_id = :p"
    assert await _count(db_engine, sql, p=person) == 1

    asker = f"demandeur-{uuid.uuid4().hex[:6]}"
    headers = {**world.hab.headers(asker), "idempotency-key": _key()}
    body = {"organisation_id": str(COLLECTIVITE_X), "role": "lecteur"}
    a = await world.gateway.post("/api/v1/demandes-acces", json=body, headers=headers)
    b = await world.gateway.post("/api/v1/demandes-acces", json=body, headers=headers)
    assert (a.status_code, b.status_code) == (201, 201)
    assert b.json()["id"] == a.json()["id"]
    assert b.headers["idempotent-replayed"] == "true"

    client_id = f"systeme-{uuid.uuid4().hex[:8]}"
    body = {
        "client_id": client_id,
        "nom": "Système",
        "organisation_id": str(COLLECTIVITE_X),
        "role": "contributeur",
    }
    admin = f"admin-{uuid.uuid4().hex[:6]}"
    await world.hab.grant(admin, CAF_A, OrganisationKind.caf, Role.administrateur)
    headers = {**world.hab.headers(admin), "idempotency-key": _key()}
    first = await world.gateway.post("/api/v1/clients", json=body, headers=headers)
    again = await world.gateway.post("/api/v1/clients", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    sql = "SELECT count(*) FROM gateway.clients WHERE client_id = :c"
    assert await _count(db_engine, sql, c=client_id) == 1
