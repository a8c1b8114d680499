"""The documents' history (issue 24): upload, new version, rename, the bin,
restoration and purge, each naming who (as they were then called) and the client used;
read like the document, still after its purge (its metadata, never its content)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.database import create_sessionmaker
from kernel.migrations import upgrade
from services.documents import service
from services.documents.storage import FilesystemStorage
from tests.documents.conftest import AppFactory, Convs
from tests.documents.helpers import h, new_version, ok, upload
from tests.documents.samples import pdf
from tests.support.fresh_database import fresh_database, sql
from tests.support.history import assert_append_only
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_B_AGENT,
    MOBILE_APP,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    X_PARTNER_CLIENT,
    Y_CONTRIBUTEUR,
)

D = "/api/v1/documents"
__all__ = ["fresh_database"]


async def _history(client: httpx.AsyncClient, document_id: str, who: Any = X_LECTEUR) -> Any:
    return ok(await client.get(f"{D}/{document_id}/historique", headers=h(who)))["items"]


def _changes(entry: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {c["champ"]: (c["avant"], c["apres"]) for c in entry["changements"]}


async def test_a_documents_life_is_recorded_and_outlives_its_purge(
    convs: Convs,
    client: httpx.AsyncClient,
    db_engine: AsyncEngine,
    storage_root: Path,
    database_url: str,
) -> None:
    doc = ok(
        await upload(client, X_CONTRIBUTEUR, convs.a, "cr.pdf", pdf("v1"), titre="CR juin"), 201
    )
    path = f"{D}/{doc['id']}"
    ok(await new_version(client, X_PARTNER_CLIENT, doc["id"], "cr-v2.pdf", pdf("v2")), 201)
    etag = (await client.get(path, headers=h(X_LECTEUR))).headers["etag"]
    renamed = await client.patch(
        path,
        json={"titre": "CR du COPIL de juin", "description": "Relu par la Caf"},
        headers=h(CAF_A_AGENT, **{"if-match": etag}),
    )
    assert renamed.status_code == 200, renamed.text
    assert (await client.delete(path, headers=h(X_CONTRIBUTEUR))).status_code == 204
    ok(await client.post(f"{path}/restauration", headers=h(CAF_A_AGENT)))
    assert (await client.delete(path, headers=h(CAF_A_AGENT))).status_code == 204

    entries = await _history(client, doc["id"])
    assert [(e["objet_type"], e["evenement"], e["auteur_nom"]) for e in entries] == [
        ("document", "mise à la corbeille", "Caf A Agent"),
        ("document", "restauration", "Caf A Agent"),
        ("document", "mise à la corbeille", "X Contributeur"),
        ("document", "modification", "Caf A Agent"),
        ("version", "nouvelle version", "SI de la collectivité X"),
        ("version", "dépôt", "X Contributeur"),
        ("document", "dépôt", "X Contributeur"),
    ]
    assert {e["client"] for e in entries} == {MOBILE_APP, "partenaire-x"}
    # The description is free text a purge erases: that it changed, never what it says.
    assert _changes(entries[3]) == {
        "titre": ("CR juin", "CR du COPIL de juin"),
        "description": (None, None),
    }
    assert _changes(entries[4])["nom_fichier"] == (None, "cr-v2.pdf")
    assert _changes(entries[4])["numero"] == (None, 2)

    # Purged by the scheduled work: the system is named, the metadata stay.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    report = await service.purge(
        create_sessionmaker(db_engine), FilesystemStorage(storage_root), 30, at=later
    )
    assert report.documents == 1
    assert (await client.get(path, headers=h(X_LECTEUR))).status_code == 410
    purge, *older = await _history(client, doc["id"])
    assert (purge["evenement"], purge["auteur_nom"], purge["client"]) == (
        "purge",
        "Coopération (traitement automatique)",
        None,
    )
    assert purge["objet_libelle"] == "CR du COPIL de juin"
    assert list(_changes(purge)) == ["purge_le"]
    assert len(older) == 7
    # Outside the convention's readers, or never there: the same 404.
    for who, document_id in ((Y_CONTRIBUTEUR, doc["id"]), (CAF_B_AGENT, doc["id"])):
        missing = await client.get(f"{D}/{document_id}/historique", headers=h(who))
        assert missing.status_code == 404, missing.text
    unknown = await client.get(f"{D}/{uuid.uuid4()}/historique", headers=h(X_LECTEUR))
    assert unknown.status_code == 404
    await assert_append_only(database_url, "documents.historique")


async def test_what_only_its_uploader_sees_yet_stays_out_of_others_history(
    convs: Convs, documents_app: AppFactory, tmp_path: Path
) -> None:
    """A document not scanned yet (the antivirus unreachable) is its uploader's alone:
    so are its history rows, in its history and in the convention's feed."""
    async with documents_app(antivirus=True, clamd_address=str(tmp_path / "absent.sock")) as c:
        doc = ok(await upload(c, X_CONTRIBUTEUR, convs.a, "p.pdf", pdf("p"), titre="Secret"), 201)
        assert doc["derniere_version"]["statut"] == "en_analyse"
        mine = await _history(c, doc["id"], X_CONTRIBUTEUR)
        assert [e["evenement"] for e in mine] == ["dépôt", "dépôt"]
        hidden = await c.get(f"{D}/{doc['id']}/historique", headers=h(CAF_A_AGENT))
        assert hidden.status_code == 404
        feed = f"/internal/v1/conventions/{convs.a}/historique"
        theirs = ok(await c.get(feed, headers=h(CAF_A_AGENT)))["items"]
        assert doc["id"] not in {e["objet_id"] for e in theirs}
        assert {
            e["objet_id"] for e in ok(await c.get(feed, headers=h(X_CONTRIBUTEUR)))["items"]
        } >= {doc["id"]}
        assert (await c.get(feed, headers=h(Y_CONTRIBUTEUR))).status_code == 404


def test_existing_documents_get_the_history_their_columns_tell(fresh_database: str) -> None:
    """Documents uploaded before issue 24 get their uploads, their move to the bin and
    their purge in the history, at the times and by the people their rows name."""
    url = fresh_database
    upgrade("gateway", url)
    upgrade("documents", url, "0004")
    cid, doc, binned, v1, v2, v3 = (uuid.uuid4() for _ in range(6))
    person = uuid.uuid4()
    sql(
        url,
        "INSERT INTO gateway.persons (id, issuer, subject, name) VALUES ($1, 'idp', 's', $2)",
        person,
        "Agnès Martin",
    )
    sql(
        url,
        "INSERT INTO documents.convention_ref (id, caf_id, titre, echelon, statut, date_debut,"
        " date_fin, signataire_ids, seq) VALUES ($1, $1, 'CTG', 'commune', 'signée',"
        " '2025-01-01', '2029-12-31', '{}', 1)",
        cid,
    )
    for document, supprime in ((doc, None), (binned, "2026-03-02T10:00:00+00:00")):
        sql(
            url,
            "INSERT INTO documents.document (id, convention_id, type, titre, depose_par,"
            " organisation_id, depose_le, modifie_le, revision, supprime_le, supprime_par)"
            " VALUES ($1, $2, 'Autre', 'Titre', $3, $2, '2026-01-05T09:00:00+00:00',"
            " '2026-01-05T09:00:00+00:00', 1, $4::text::timestamptz, $5)",
            document,
            cid,
            str(person),
            supprime,
            None if supprime is None else str(person),
        )
    for version, document, numero in ((v1, doc, 1), (v2, doc, 2), (v3, binned, 1)):
        sql(
            url,
            "INSERT INTO documents.version (id, document_id, numero, nom_fichier, taille,"
            " type_contenu, sha256, statut, depose_par, organisation_id, depose_le)"
            " VALUES ($1, $2, $3, 'f.pdf', 10, 'application/pdf', 'x', 'disponible', $4, $5,"
            " '2026-01-05T09:00:01+00:00')",
            version,
            document,
            numero,
            str(person),
            cid,
        )
    upgrade("documents", url)
    rows = sql(
        url,
        "SELECT objet_type, objet_id, parent_id, evenement, auteur_nom FROM"
        " documents.historique ORDER BY le, id",
    )
    got = {(r["objet_type"], r["objet_id"], r["evenement"], r["auteur_nom"]) for r in rows}
    assert got == {
        ("document", doc, "dépôt", "Agnès Martin"),
        ("document", binned, "dépôt", "Agnès Martin"),
        ("version", v1, "dépôt", "Agnès Martin"),
        ("version", v2, "nouvelle version", "Agnès Martin"),
        ("version", v3, "dépôt", "Agnès Martin"),
        ("document", binned, "mise à la corbeille", "Agnès Martin"),
    }
    assert {r["parent_id"] for r in rows if r["objet_type"] == "version"} == {doc, binned}
    asyncio.run(assert_append_only(url, "documents.historique"))
