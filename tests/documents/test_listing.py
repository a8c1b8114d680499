"""The documents list: each filter narrows the caller's own scope, pages resume."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx

from kernel.pagination import encode_cursor
from kernel.principal import Principal
from services.documents.schemas import DocumentPage
from tests.documents.conftest import Convs
from tests.documents.helpers import h, new_version, ok, upload
from tests.documents.samples import pdf
from tests.support.contract import assert_reads_back
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_B_AGENT,
    NATIONAL,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    Y_CONTRIBUTEUR,
)


async def titles(client: httpx.AsyncClient, principal: Principal, **params: str) -> list[str]:
    """Every title the caller gets, walking the pages two by two."""
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2", **params, **({"cursor": cursor} if cursor else {})}
        resp = await client.get("/api/v1/documents", params=query, headers=h(principal))
        page = ok(resp)
        assert_reads_back(resp.content, DocumentPage)
        seen += [d["titre"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def test_filters_combine_with_the_scope(convs: Convs, client: httpx.AsyncClient) -> None:
    uploads = [
        (CAF_A_AGENT, convs.a, "Compte rendu de COPIL", "COPIL de juin"),
        (CAF_A_AGENT, convs.a, "Délibération", "Délibération 100%_validée"),
        (CAF_A_AGENT, convs.a, "Compte rendu de COPIL", "COPIL de décembre"),
        (CAF_B_AGENT, convs.b, "Compte rendu de COPIL", "COPIL de Y"),
    ]
    for principal, convention, type_, titre in uploads:
        resp = await upload(
            client, principal, convention, "f.pdf", pdf(titre), type=type_, titre=titre
        )
        assert resp.status_code == 201, resp.text

    newest_first = ["COPIL de décembre", "Délibération 100%_validée", "COPIL de juin"]
    assert await titles(client, CAF_A_AGENT) == newest_first
    assert await titles(client, X_LECTEUR) == newest_first
    assert await titles(client, Y_CONTRIBUTEUR) == ["COPIL de Y"]
    assert await titles(client, NATIONAL) == ["COPIL de Y", *newest_first]
    assert await titles(client, NATIONAL, convention_id=str(convs.a)) == newest_first
    assert await titles(client, CAF_B_AGENT, convention_id=str(convs.a)) == []
    assert await titles(client, CAF_A_AGENT, type="Délibération") == ["Délibération 100%_validée"]
    # Text in the title, matched literally (% and _ are not wildcards), any case.
    assert await titles(client, CAF_A_AGENT, q="copil de") == [
        "COPIL de décembre",
        "COPIL de juin",
    ]
    assert await titles(client, NATIONAL, q="100%_") == ["Délibération 100%_validée"]
    assert await titles(client, NATIONAL, q="0%v") == []
    assert await titles(client, NATIONAL, action_id=str(uuid.uuid4())) == []
    assert await titles(client, CAF_A_AGENT, corbeille="true") == []


async def test_a_forged_cursor_is_a_400_problem(convs: Convs, client: httpx.AsyncClient) -> None:
    ok(await upload(client, CAF_A_AGENT, convs.a, "f.pdf", pdf()), 201)
    forged = [
        "pas-un-curseur",
        encode_cursor(["hier", "un"]),
        encode_cursor([dt.datetime.now(dt.UTC)]),
        encode_cursor([1, uuid.uuid4()]),
        encode_cursor([dt.datetime.now(dt.UTC), "pas-un-uuid"]),
    ]
    for url in ("/api/v1/documents", f"/api/v1/conventions/{convs.a}/documents"):
        for cursor in forged:
            resp = await client.get(url, params={"cursor": cursor}, headers=h(CAF_A_AGENT))
            assert resp.status_code == 400, (url, cursor, resp.text)
            assert resp.headers["content-type"] == "application/problem+json"
            assert resp.json()["detail"] == "Curseur de pagination invalide."


async def test_the_depositing_organisation_is_named_beside_its_id(
    convs: Convs, client: httpx.AsyncClient
) -> None:
    """Issue 23: a document and each version name the organisation that deposited them
    (from the replica's names of the convention, in the page's own statement)."""
    created = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "f.pdf", pdf("a")), 201)
    x = "Collectivité X (test)"
    assert (created["organisation_nom"], created["derniere_version"]["organisation_nom"]) == (
        x,
        x,
    )
    doc = f"/api/v1/documents/{created['id']}"
    second = ok(await new_version(client, CAF_A_AGENT, created["id"], "g.pdf", pdf("b")), 201)
    assert second["organisation_nom"] == "Caf A (test)"
    detail = ok(await client.get(doc, headers=h(CAF_A_AGENT)))
    assert (detail["organisation_nom"], detail["derniere_version"]["organisation_nom"]) == (
        x,
        "Caf A (test)",
    )
    (listed,) = ok(await client.get("/api/v1/documents", headers=h(X_LECTEUR)))["items"]
    assert (listed["organisation_nom"], listed["derniere_version"]["organisation_nom"]) == (
        x,
        "Caf A (test)",
    )
    versions = ok(await client.get(f"{doc}/versions", headers=h(X_LECTEUR)))["items"]
    assert [v["organisation_nom"] for v in versions] == ["Caf A (test)", x]
    one = ok(await client.get(f"{doc}/versions/1", headers=h(X_LECTEUR)))
    assert one["organisation_nom"] == x
    # Who deposited, named as they were when they did (issue 23): the list's statement,
    # the detail's and the versions'.
    assert (listed["depose_par_nom"], listed["derniere_version"]["depose_par_nom"]) == (
        "X Contributeur",
        "Caf A Agent",
    )
    assert (detail["depose_par"], detail["depose_par_nom"]) == (
        X_CONTRIBUTEUR.subject,
        "X Contributeur",
    )
    assert [v["depose_par_nom"] for v in versions] == ["Caf A Agent", "X Contributeur"]
    assert one["depose_par_nom"] == "X Contributeur"
