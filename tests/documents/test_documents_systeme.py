"""An adopted bilan's report kept as documents of its convention: the actions service's
job sends both files through the documents service's internal route (service token),
scanned by the real clamd, once per key; users read them, nobody edits or deletes them.
Adoption never waits for the documents service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coop.ports import free_port
from kernel import dev_keys
from kernel.database import create_engine, create_sessionmaker
from kernel.documents_systeme import document_systeme_path
from kernel.internal_token import InternalTokenSigner
from services.actions.app import create_app as actions_app
from services.actions.archive_rapports import ArchiveFailed, archive_pending
from services.actions.settings import ActionsSettings
from services.documents.app import create_app as documents_create_app
from services.documents.settings import DocumentsSettings
from tests.documents.conftest import AppFactory, Convs
from tests.documents.helpers import h, new_version, ok
from tests.documents.samples import EICAR, pdf
from tests.support.apps import running
from tests.support.conventions import sections_completes
from tests.support.personas import CAF_A, CAF_A_AGENT, X_LECTEUR, X_REFERENT, auth_headers

ACTIONS = InternalTokenSigner("actions", dev_keys.private_jwk("actions"))


def service_headers(content_type: str = "application/pdf") -> dict[str, str]:
    return {
        "authorization": f"Bearer {ACTIONS.mint_service('documents')}",
        "content-type": content_type,
    }


PARAMS = {"type": "Bilan intermédiaire", "titre": "Bilan intermédiaire — CTG de X"}


async def test_a_system_document_is_kept_once_scanned_and_read_only(
    documents_app: AppFactory, clamd_socket: str, convs: Convs
) -> None:
    async with documents_app(antivirus=True, clamd_address=clamd_socket) as client:
        path = document_systeme_path(convs.a, "bilan-test.pdf")
        params = {**PARAMS, "nom_fichier": "Bilan intermédiaire — CTG de X.pdf"}
        # A person's token, even a Caf agent's, never reaches an internal route.
        r = await client.put(path, params=params, content=pdf(), headers=h(CAF_A_AGENT))
        assert r.status_code == 403, r.text
        first = ok(
            await client.put(path, params=params, content=pdf(), headers=service_headers()), 201
        )
        assert first["type"] == "Bilan intermédiaire"
        assert first["organisation_id"] == str(CAF_A)
        assert first["depose_par_nom"] == "Coopération"
        assert first["systeme"] is True
        assert first["derniere_version"]["statut"] == "disponible"  # clamd's verdict
        # Sent again (an answer lost): the same document, no second one.
        again = ok(
            await client.put(path, params=params, content=pdf("autre"), headers=service_headers())
        )
        assert again["id"] == first["id"]
        listing = ok(
            await client.get(f"/api/v1/conventions/{convs.a}/documents", headers=h(X_LECTEUR))
        )
        assert [d["id"] for d in listing["items"]] == [first["id"]]
        # Read and downloaded by the convention's readers.
        doc = f"/api/v1/documents/{first['id']}"
        assert (await client.get(doc, headers=h(X_LECTEUR))).status_code == 200
        r = await client.get(f"{doc}/contenu", headers=h(X_LECTEUR))
        assert r.status_code == 200
        assert r.content == pdf()
        # Changed by nobody, not even the Caf that owns it: 403 in French.
        etag = (await client.get(doc, headers=h(CAF_A_AGENT))).headers["etag"]
        for r in (
            await client.patch(
                doc, json={"titre": "Autre"}, headers=h(CAF_A_AGENT, **{"if-match": etag})
            ),
            await client.delete(doc, headers=h(CAF_A_AGENT, **{"if-match": etag})),
            await new_version(client, CAF_A_AGENT, first["id"], "b.pdf", pdf("v2")),
        ):
            assert r.status_code == 403, r.text
            assert "produit par Coopération" in r.json()["detail"]
        assert ok(await client.get(doc, headers=h(X_LECTEUR)))["titre"] == PARAMS["titre"]
        # Scanned like any file: an infected one is rejected, its content not kept.
        infected = document_systeme_path(convs.a, "bilan-infecte.pdf")
        r = await client.put(
            infected,
            params={**params, "nom_fichier": "x.txt"},
            content=EICAR,
            headers=service_headers("text/plain"),
        )
        assert r.status_code == 201, r.text
        assert r.json()["derniere_version"]["statut"] == "rejeté"


@asynccontextmanager
async def _actions(
    convs: Convs, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]]]:
    """The actions service (its public API) and what its worker's job runs with."""
    settings = ActionsSettings(database_url=database_url, conventions_sync_seconds=3600)
    app = actions_app(settings, conventions_transport=httpx.ASGITransport(app=convs.app))
    engine = create_engine(database_url)
    try:
        async with running(app) as actions:
            yield actions, create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _adopted_bilan(actions: httpx.AsyncClient, convention: uuid.UUID) -> str:
    headers = auth_headers(CAF_A_AGENT, "actions")
    r = await actions.post(
        f"/api/v1/conventions/{convention}/bilans",
        json={
            "type": "bilan intermédiaire",
            "periode_debut": "2025-01-01",
            "periode_fin": "2025-12-31",
            "sections": sections_completes("bilan intermédiaire"),
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    r = await actions.post(
        f"/api/v1/bilans/{r.json()['id']}/adoption",
        json={"date_adoption": "2026-01-15"},
        headers={**headers, "if-match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def test_adopted_reports_are_archived_by_the_job_exactly_once(
    documents_app: AppFactory, clamd_socket: str, convs: Convs, database_url: str
) -> None:
    async with _actions(convs, database_url) as (actions, sessionmaker):
        # Adoption answers whatever the documents service does: it sends nothing.
        bilan = await _adopted_bilan(actions, convs.a)
        # Documents unreachable: the job fails (retried by the queue), nothing is lost.
        async with httpx.AsyncClient(timeout=2) as http:
            down = f"http://127.0.0.1:{free_port()}"
            try:
                await archive_pending(sessionmaker, http, ACTIONS, down)
                raise AssertionError("the job must fail while documents is down")
            except ArchiveFailed:
                pass
        async with documents_app(antivirus=True, clamd_address=clamd_socket) as documents:
            transport = httpx.ASGITransport(app=documents.app)  # type: ignore[attr-defined]
            async with httpx.AsyncClient(transport=transport) as http:
                assert await archive_pending(sessionmaker, http, ACTIONS, "http://documents") == 1
                assert await archive_pending(sessionmaker, http, ACTIONS, "http://documents") == 0
                # Sent again after a lost answer: still one document per file.
                async with sessionmaker() as session:
                    await session.execute(
                        text("UPDATE actions.bilans SET rapport_archive_le = NULL WHERE id = :id"),
                        {"id": bilan},
                    )
                    await session.commit()
                assert await archive_pending(sessionmaker, http, ACTIONS, "http://documents") == 1
            listing = ok(
                await documents.get(
                    f"/api/v1/conventions/{convs.a}/documents", headers=h(X_REFERENT)
                )
            )
            docs: list[dict[str, Any]] = [d for d in listing["items"] if d["bilan_id"] == bilan]
            assert sorted(d["derniere_version"]["type_contenu"] for d in docs) == [
                "application/pdf",
                "application/vnd.oasis.opendocument.text",
            ]
            assert {d["type"] for d in docs} == {"Bilan intermédiaire"}
            assert all(
                d["systeme"] and d["derniere_version"]["statut"] == "disponible" for d in docs
            )


async def _archivage(actions: httpx.AsyncClient, bilan: str) -> Any:
    r = await actions.get(f"/api/v1/bilans/{bilan}", headers=auth_headers(CAF_A_AGENT, "actions"))
    assert r.status_code == 200, r.text
    return r.json()["archivage_rapport"]


async def test_a_refusal_for_good_stops_the_retries_a_transient_one_does_not(
    documents_app: AppFactory,
    convs: Convs,
    database_url: str,
    storage_root: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The documents service answering 503 (it cannot reach the conventions service)
    leaves the report waiting, retried; a 413 (the file above its limit) is no reason
    to try again every run: the bilan says « échec » with the service's French reason,
    and the job sends it no more."""
    async with _actions(convs, database_url) as (actions, sessionmaker):
        bilan = await _adopted_bilan(actions, convs.a)
        assert await _archivage(actions, bilan) == {
            "etat": "en attente",
            "le": None,
            "motif": None,
        }
        lost = DocumentsSettings(
            database_url=database_url,
            storage_root=str(storage_root),
            antivirus=False,
            conventions_url=f"http://127.0.0.1:{free_port()}",
        )
        async with running(documents_create_app(lost)) as documents:
            with pytest.raises(ArchiveFailed, match="bilan report"):
                await archive_pending(sessionmaker, documents, ACTIONS, "http://documents")
            assert "documents service answered 503" in caplog.text
        assert (await _archivage(actions, bilan))["etat"] == "en attente"

        async with documents_app(max_file_bytes=1000) as documents:
            kept = await archive_pending(sessionmaker, documents, ACTIONS, "http://documents")
            assert kept == 0
            archivage = await _archivage(actions, bilan)
            assert archivage["etat"] == "échec"
            assert archivage["le"] is not None
            assert archivage["motif"] == (
                "Le service des documents a refusé le rapport ODT (413) : Le fichier dépasse "
                "la taille maximale (0 Mio)."
            )
            caplog.clear()
            # Not sent again: nothing to do, no warning at every run.
            kept = await archive_pending(sessionmaker, documents, ACTIONS, "http://documents")
            assert kept == 0
            assert not [r for r in caplog.records if r.name == "coop.actions.rapports"]
            listing = ok(
                await documents.get(
                    f"/api/v1/conventions/{convs.a}/documents", headers=h(X_REFERENT)
                )
            )
            assert listing["items"] == []

        # The cause fixed (the limit back), those who adopt the bilan relaunch it: the
        # failure cleared, recorded in the bilan's history, the next run keeps both files.
        relance = f"/api/v1/bilans/{bilan}/rapport/archivage"
        headers = auth_headers(CAF_A_AGENT, "actions")
        r = await actions.post(relance, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["archivage_rapport"] == {"etat": "en attente", "le": None, "motif": None}
        async with sessionmaker() as session:
            entry = (
                await session.execute(
                    text(
                        "SELECT evenement, details, auteur_id FROM actions.historique "
                        "WHERE objet_id = :id ORDER BY le DESC, id DESC LIMIT 1"
                    ),
                    {"id": bilan},
                )
            ).one()
        assert entry.evenement == "relance de l'archivage du rapport"
        assert entry.details == {"motif_refus": archivage["motif"]}
        # Relaunched again while it waits: nothing to relaunch, 409 in French.
        r = await actions.post(relance, headers=headers)
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "archivage-pas-en-echec"
        assert "en attente" in r.json()["detail"]
        async with documents_app() as documents:
            kept = await archive_pending(sessionmaker, documents, ACTIONS, "http://documents")
            assert kept == 1
            listing = ok(
                await documents.get(
                    f"/api/v1/conventions/{convs.a}/documents", headers=h(X_REFERENT)
                )
            )
            assert sorted(d["derniere_version"]["type_contenu"] for d in listing["items"]) == [
                "application/pdf",
                "application/vnd.oasis.opendocument.text",
            ]
        archivage = await _archivage(actions, bilan)
        assert archivage["etat"] == "conservé"
        # Already kept: 409 too, and the bilan stays « conservé ».
        r = await actions.post(relance, headers=headers)
        assert r.status_code == 409, r.text
        assert "déjà conservé" in r.json()["detail"]
        assert (await _archivage(actions, bilan))["etat"] == "conservé"
