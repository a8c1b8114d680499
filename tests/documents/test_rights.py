"""Who may read, upload, delete and restore: scope per persona."""

from __future__ import annotations

import httpx

from services.documents.schemas import DocumentPage
from tests.documents.conftest import Convs
from tests.documents.helpers import h, new_version, ok, upload
from tests.documents.samples import pdf
from tests.support.contract import assert_reads_back
from tests.support.conventions import resilier
from tests.support.personas import (
    CAF_A_ADMIN,
    CAF_A_AGENT,
    CAF_A_LECTEUR,
    CAF_B_AGENT,
    NATIONAL,
    NOBODY,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    X_PARTNER_CLIENT,
    X_REFERENT,
    Y_CONTRIBUTEUR,
)


async def test_upload_rights_per_persona(convs: Convs, client: httpx.AsyncClient) -> None:
    allowed = [CAF_A_AGENT, CAF_A_ADMIN, X_CONTRIBUTEUR, X_REFERENT, X_PARTNER_CLIENT]
    for principal in allowed:
        resp = await upload(client, principal, convs.a, "ok.pdf", pdf(principal.subject))
        assert resp.status_code == 201, (principal.subject, resp.text)
    # Readers of the convention: readable, not writable.
    for principal in (X_LECTEUR, CAF_A_LECTEUR, NATIONAL):
        resp = await upload(client, principal, convs.a, "no.pdf", pdf())
        assert resp.status_code == 403, principal.subject
    # Outside the scope: the convention does not exist for them.
    for principal in (CAF_B_AGENT, Y_CONTRIBUTEUR, NOBODY):
        resp = await upload(client, principal, convs.a, "no.pdf", pdf())
        assert resp.status_code == 404, principal.subject
        assert resp.headers["content-type"] == "application/problem+json"


async def test_read_scope_per_persona(convs: Convs, client: httpx.AsyncClient) -> None:
    doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "a.pdf", pdf()), 201)
    other = ok(await upload(client, Y_CONTRIBUTEUR, convs.b, "b.pdf", pdf("b")), 201)
    paths = [
        f"/api/v1/documents/{doc['id']}",
        f"/api/v1/documents/{doc['id']}/contenu",
        f"/api/v1/documents/{doc['id']}/versions",
        f"/api/v1/documents/{doc['id']}/versions/1/contenu",
    ]
    for principal in (X_LECTEUR, CAF_A_LECTEUR, CAF_A_AGENT, NATIONAL, X_PARTNER_CLIENT):
        for path in paths:
            assert (await client.get(path, headers=h(principal))).status_code == 200, path
    for principal in (CAF_B_AGENT, Y_CONTRIBUTEUR, NOBODY):
        for path in paths:
            assert (await client.get(path, headers=h(principal))).status_code == 404, path

    def ids(resp: httpx.Response) -> set[str]:
        return {d["id"] for d in ok(resp)["items"]}

    assert ids(await client.get("/api/v1/documents", headers=h(X_LECTEUR))) == {doc["id"]}
    assert ids(await client.get("/api/v1/documents", headers=h(CAF_B_AGENT))) == {other["id"]}
    assert ids(await client.get("/api/v1/documents", headers=h(NATIONAL))) == {
        doc["id"],
        other["id"],
    }
    assert ids(await client.get("/api/v1/documents", headers=h(NOBODY))) == set()
    hidden = await client.get(f"/api/v1/conventions/{convs.b}/documents", headers=h(X_LECTEUR))
    assert hidden.status_code == 404
    # No identity, no access.
    assert (await client.get(f"/api/v1/documents/{doc['id']}")).status_code == 401


async def test_a_new_version_needs_upload_rights(convs: Convs, client: httpx.AsyncClient) -> None:
    doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "a.pdf", pdf()), 201)
    assert (await new_version(client, X_LECTEUR, doc["id"], "a.pdf", pdf("2"))).status_code == 403
    assert (await new_version(client, CAF_B_AGENT, doc["id"], "a.pdf", pdf("2"))).status_code == 404
    assert (await new_version(client, CAF_A_AGENT, doc["id"], "a.pdf", pdf("2"))).status_code == 201


async def test_a_convention_that_ended_takes_the_caf_s_documents_and_the_bilans(
    convs: Convs, client: httpx.AsyncClient
) -> None:
    """Once it has ended, a convention still receives its papers from the Caf (the signed
    text of a CTG recorded after the fact, avenants, the COPIL's minutes, the bilan final:
    002 "L'évaluation est un préalable à tout renouvellement"), and the bilans of the
    signatory collectivités, who conduct the evaluation (003 art. 9: "les personnes
    désignées pour suivre la CTG au sein de la collectivité, conduisent l'évaluation").
    Their other documents stop with their engagements (art. 12). Before, every upload
    was refused, the Caf's included."""
    for type_document in ("Convention signée", "Compte rendu de COPIL", "Bilan"):
        resp = await upload(client, CAF_A_AGENT, convs.resiliee, "a.pdf", pdf(), type=type_document)
        assert resp.status_code == 201, resp.text
    caf_doc = resp.json()["id"]
    bilan = ok(
        await upload(client, X_CONTRIBUTEUR, convs.resiliee, "b.pdf", pdf("b"), type="Bilan"),
        201,
    )
    assert (
        await new_version(client, X_CONTRIBUTEUR, bilan["id"], "b.pdf", pdf("b2"))
    ).status_code == 201
    assert (await new_version(client, CAF_A_AGENT, caf_doc, "a.pdf", pdf("a2"))).status_code == 201
    refused = await upload(client, X_CONTRIBUTEUR, convs.resiliee, "c.pdf", pdf("c"))
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["etat_convention"]) == (
        "convention-close",
        "résiliée",
    )
    # Nor may it slip in as a new version of a document of another type.
    cr = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "d.pdf", pdf("d")), 201)
    await resilier(convs.service, convs.a)
    assert (
        await new_version(client, X_CONTRIBUTEUR, cr["id"], "d.pdf", pdf("d2"))
    ).status_code == 409
    # Readers still read, never write.
    assert (await upload(client, X_LECTEUR, convs.resiliee, "e.pdf", pdf("e"))).status_code == 403


async def test_upload_sees_a_resiliation_made_seconds_ago(
    convs: Convs, client: httpx.AsyncClient
) -> None:
    """The replica still says signée; the upload refreshes it from the conventions service."""
    ok(await upload(client, X_CONTRIBUTEUR, convs.a, "a.pdf", pdf()), 201)
    await resilier(convs.service, convs.a)
    resp = await upload(client, X_CONTRIBUTEUR, convs.a, "b.pdf", pdf("b"))
    assert resp.status_code == 409
    listed = ok(await client.get("/api/v1/documents", headers=h(X_CONTRIBUTEUR)))
    assert len(listed["items"]) == 1


async def test_bin_and_restore_rights(convs: Convs, client: httpx.AsyncClient) -> None:
    doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "a.pdf", pdf()), 201)
    url = f"/api/v1/documents/{doc['id']}"
    assert (await client.delete(url, headers=h(X_LECTEUR))).status_code == 403
    assert (await client.delete(url, headers=h(CAF_A_LECTEUR))).status_code == 403
    assert (await client.delete(url, headers=h(CAF_B_AGENT))).status_code == 404
    # Another member of the uploader's organisation may delete it.
    assert (await client.delete(url, headers=h(X_REFERENT))).status_code == 204

    assert (await client.get(f"{url}/contenu", headers=h(X_LECTEUR))).status_code == 404
    live = ok(await client.get("/api/v1/documents", headers=h(X_LECTEUR)))
    assert live["items"] == []
    binned_resp = await client.get("/api/v1/documents?corbeille=true", headers=h(X_LECTEUR))
    assert_reads_back(binned_resp.content, DocumentPage)
    binned = ok(binned_resp)
    assert [d["id"] for d in binned["items"]] == [doc["id"]]
    assert binned["items"][0]["restaurable_jusqu_au"] is not None

    restore = f"{url}/restauration"
    assert (await client.post(restore, headers=h(X_LECTEUR))).status_code == 403
    assert (await client.post(restore, headers=h(Y_CONTRIBUTEUR))).status_code == 404
    restored = await client.post(restore, headers=h(CAF_A_AGENT))
    assert restored.status_code == 200, restored.text
    assert restored.json()["supprime_le"] is None
    assert (await client.get(f"{url}/contenu", headers=h(X_LECTEUR))).status_code == 200
    # Not in the bin any more: nothing to restore.
    assert (await client.post(restore, headers=h(CAF_A_AGENT))).status_code == 404
