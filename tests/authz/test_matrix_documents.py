"""Authorization matrix of the documents service's public routes, through the gateway.

The side's document is uploaded by a contributeur of the side's collectivité: its
organisation and the Caf's agents may change it; every reader of the convention reads it.
"""

from __future__ import annotations

import pytest

from tests.authz.world import PDF, Call, Row, Side, World, both, everyone, run_rows

D = "/api/v1/documents"


def get(template: str) -> Call:
    async def call(w: World, who: str, side: Side, ok: bool) -> int:
        return await w.call(who, "GET", template.format(d=side.document, c=side.convention))

    return call


async def _list(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "GET", D)


def upload(convention: str = "convention", type_document: str = "Autre") -> Call:
    """An upload of a `type_document` to the side's `convention` (or `echue`)."""

    async def call(w: World, who: str, side: Side, ok: bool) -> int:
        cid = getattr(side, convention)
        return await w.call(
            who,
            "POST",
            D,
            data={"convention_id": str(cid), "type": type_document, "titre": "Note"},
            files={"fichier": ("note.pdf", PDF, "application/pdf")},
        )

    return call


async def _patch(w: World, who: str, side: Side, ok: bool) -> int:
    path = f"{D}/{side.document}"
    etag = await w.etag("documents", path)
    return await w.call(who, "PATCH", path, json={"titre": "Compte rendu"}, if_match=etag)


async def _delete(w: World, who: str, side: Side, ok: bool) -> int:
    doc = await w.new_document(side) if ok else side.document
    path = f"{D}/{doc}"
    return await w.call(who, "DELETE", path, if_match=await w.etag("documents", path))


async def _restore(w: World, who: str, side: Side, ok: bool) -> int:
    doc = await w.new_document(side)
    path = f"{D}/{doc}"
    etag = await w.etag("documents", path)
    await w.direct("documents", side.contributeur, "DELETE", path, if_match=etag)
    return await w.call(who, "POST", f"{path}/restauration")


async def _new_version(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(
        who,
        "POST",
        f"{D}/{side.document}/versions",
        data={"libelle": "v2"},
        files={"fichier": ("cr.pdf", PDF + b"%v2\n", "application/pdf")},
    )


ROWS: dict[tuple[str, str], list[Row]] = {
    ("GET", "/api/v1/documents"): [("my scope", "A", _list, everyone())],
    ("POST", "/api/v1/documents"): [
        *both("upload", upload(), "porteur_writes", 201),
        # Once ended, the convention still gets the Caf's papers and the bilans of those
        # who conduct the evaluation (art. 9), nothing else from the collectivités.
        *both("upload, ended", upload("echue", "Convention signée"), "caf_after_the_end", 201),
        *both("upload a bilan, ended", upload("echue", "Bilan"), "porteur_writes", 201),
    ],
    ("GET", "/api/v1/conventions/{convention_id}/documents"): both(
        "convention's", get("/api/v1/conventions/{c}/documents"), "reads"
    ),
    ("GET", "/api/v1/documents/{document_id}"): both("document", get(f"{D}/{{d}}"), "reads"),
    ("PATCH", "/api/v1/documents/{document_id}"): both("titre", _patch, "porteur_writes"),
    ("DELETE", "/api/v1/documents/{document_id}"): both(
        "to the bin", _delete, "porteur_writes", 204
    ),
    ("POST", "/api/v1/documents/{document_id}/restauration"): both(
        "from the bin", _restore, "porteur_writes"
    ),
    ("GET", "/api/v1/documents/{document_id}/historique"): both(
        "historique", get(f"{D}/{{d}}/historique"), "reads"
    ),
    ("GET", "/api/v1/documents/{document_id}/versions"): both(
        "versions", get(f"{D}/{{d}}/versions"), "reads"
    ),
    ("POST", "/api/v1/documents/{document_id}/versions"): both(
        "new version", _new_version, "porteur_writes", 201
    ),
    ("GET", "/api/v1/documents/{document_id}/versions/{numero}"): both(
        "version 1", get(f"{D}/{{d}}/versions/1"), "reads"
    ),
    ("GET", "/api/v1/documents/{document_id}/contenu"): both(
        "download", get(f"{D}/{{d}}/contenu"), "reads"
    ),
    ("GET", "/api/v1/documents/{document_id}/versions/{numero}/contenu"): both(
        "download v1", get(f"{D}/{{d}}/versions/1/contenu"), "reads"
    ),
}


@pytest.mark.parametrize("route", sorted(ROWS), ids=lambda r: f"{r[0]} {r[1]}")
async def test_matrix(world: World, route: tuple[str, str]) -> None:
    failures = await run_rows(world, ROWS[route])
    assert not failures, "\n".join(failures)
