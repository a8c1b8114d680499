"""Upload, versions, deduplication, download with Range, metadata with ETag."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.pagination import encode_cursor
from services.documents.models import Contenu, Document, Version
from tests.documents.conftest import Convs
from tests.documents.helpers import files_under, h, new_version, ok, upload
from tests.documents.samples import csv, jpeg, odf, ooxml, pdf, png
from tests.support.personas import CAF_A, CAF_A_AGENT, COLLECTIVITE_X, X_CONTRIBUTEUR, X_LECTEUR


async def test_upload_then_download_gives_back_the_same_bytes(
    convs: Convs, client: httpx.AsyncClient
) -> None:
    data = pdf("Convention signée", padding=5000)
    created = ok(
        await upload(
            client, X_CONTRIBUTEUR, convs.a, "convention.pdf", data, type="Convention signée"
        ),
        201,
    )
    version = created["derniere_version"]
    assert version["numero"] == 1
    assert version["statut"] == "disponible"
    assert version["taille"] == len(data)
    assert version["sha256"] == hashlib.sha256(data).hexdigest()
    assert version["type_contenu"] == "application/pdf"
    assert created["organisation_id"] == str(COLLECTIVITE_X)
    assert created["antivirus"] == "désactivé"

    resp = await client.get(f"/api/v1/documents/{created['id']}/contenu", headers=h(X_LECTEUR))
    assert resp.status_code == 200
    assert resp.content == data
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["x-coop-antivirus"] == "désactivé"
    assert resp.headers["etag"] == f'"{version["sha256"]}"'
    assert resp.headers["content-disposition"] == (
        "attachment; filename=\"convention.pdf\"; filename*=UTF-8''convention.pdf"
    )


async def test_every_accepted_type_is_recognised_by_its_content(
    convs: Convs,
    client: httpx.AsyncClient,
) -> None:
    cases = [
        ("a.pdf", pdf(), "application/pdf"),
        ("b.png", png(), "image/png"),
        ("c.jpg", jpeg(), "image/jpeg"),
        ("d.odt", odf("text"), "application/vnd.oasis.opendocument.text"),
        ("e.ods", odf("spreadsheet"), "application/vnd.oasis.opendocument.spreadsheet"),
        ("f.odp", odf("presentation"), "application/vnd.oasis.opendocument.presentation"),
        (
            "g.docx",
            ooxml("docx"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "h.xlsx",
            ooxml("xlsx"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (
            "i.pptx",
            ooxml("pptx"),
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        ("j.csv", csv(), "text/csv"),
        ("k.txt", "Ordre du jour du COPIL : bilan à mi-parcours.\n".encode(), "text/plain"),
    ]
    for filename, data, expected in cases:
        created = ok(await upload(client, CAF_A_AGENT, convs.a, filename, data), 201)
        assert created["derniere_version"]["type_contenu"] == expected, filename
        resp = await client.get(
            f"/api/v1/documents/{created['id']}/contenu", headers=h(CAF_A_AGENT)
        )
        assert resp.content == data
        assert resp.headers["content-type"].split(";")[0] == expected


async def test_versions_keep_previous_content_downloadable(
    convs: Convs, client: httpx.AsyncClient
) -> None:
    v1, v2 = pdf("version 1"), pdf("version 2")
    doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "diag.pdf", v1), 201)
    version = ok(
        await new_version(client, CAF_A_AGENT, doc["id"], "diag-v2.pdf", v2, libelle="Après COPIL"),
        201,
    )
    assert version["numero"] == 2
    assert version["libelle"] == "Après COPIL"
    assert version["organisation_id"] == str(CAF_A)

    listed = ok(await client.get(f"/api/v1/documents/{doc['id']}/versions", headers=h(X_LECTEUR)))
    assert [v["numero"] for v in listed["items"]] == [2, 1]  # newest first
    assert listed["next_cursor"] is None
    latest = await client.get(f"/api/v1/documents/{doc['id']}/contenu", headers=h(X_LECTEUR))
    assert latest.content == v2
    first = await client.get(
        f"/api/v1/documents/{doc['id']}/versions/1/contenu", headers=h(X_LECTEUR)
    )
    assert first.content == v1
    assert first.headers["content-disposition"].endswith("filename*=UTF-8''diag.pdf")
    missing = await client.get(
        f"/api/v1/documents/{doc['id']}/versions/3/contenu", headers=h(X_LECTEUR)
    )
    assert missing.status_code == 404


async def test_versions_are_listed_newest_first_in_keyset_pages(
    convs: Convs, client: httpx.AsyncClient
) -> None:
    doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "cr.pdf", pdf("v1")), 201)
    for n in range(2, 6):
        ok(await new_version(client, X_CONTRIBUTEUR, doc["id"], "cr.pdf", pdf(f"v{n}")), 201)
    url = f"/api/v1/documents/{doc['id']}/versions"
    seen: list[list[int]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = ok(await client.get(url, params=params, headers=h(X_LECTEUR)))
        assert page["antivirus"] == "désactivé"
        seen.append([v["numero"] for v in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [[5, 4], [3, 2], [1]]
    # Default page: everything, same order; the limit is capped like every list.
    whole = ok(await client.get(url, headers=h(X_LECTEUR)))
    assert [v["numero"] for v in whole["items"]] == [5, 4, 3, 2, 1]
    too_many = await client.get(url, params={"limit": "201"}, headers=h(X_LECTEUR))
    assert too_many.status_code == 422
    for bad in ("pas-un-curseur", encode_cursor(["trois"]), encode_cursor([1, 2])):
        refused = await client.get(url, params={"cursor": bad}, headers=h(X_LECTEUR))
        assert refused.status_code == 400, bad
        assert refused.headers["content-type"] == "application/problem+json"


async def test_identical_content_is_stored_once(
    convs: Convs, client: httpx.AsyncClient, db_engine: AsyncEngine, storage_root: Path
) -> None:
    data = pdf("même contenu")
    a = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "a.pdf", data, titre="A"), 201)
    b = ok(await upload(client, CAF_A_AGENT, convs.a, "b.pdf", data, titre="B"), 201)
    assert a["id"] != b["id"]
    # Users see two documents with their own names...
    for doc, name in ((a, "a.pdf"), (b, "b.pdf")):
        got = await client.get(f"/api/v1/documents/{doc['id']}/contenu", headers=h(X_LECTEUR))
        assert got.content == data
        assert f"filename*=UTF-8''{name}" in got.headers["content-disposition"]
    # ...stored once.
    async with db_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Contenu))).scalar_one() == 1
        assert (await conn.execute(select(func.count()).select_from(Version))).scalar_one() == 2
    blobs = files_under(storage_root / "blobs")
    assert len(blobs) == 1
    assert blobs[0].read_bytes() == data


async def test_range_requests(convs: Convs, client: httpx.AsyncClient) -> None:
    data = bytes(pdf("plages", padding=1000))
    doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "r.pdf", data), 201)
    url = f"/api/v1/documents/{doc['id']}/contenu"

    part = await client.get(url, headers=h(X_LECTEUR, range="bytes=10-19"))
    assert part.status_code == 206
    assert part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert part.headers["content-length"] == "10"

    tail = await client.get(url, headers=h(X_LECTEUR, range="bytes=-5"))
    assert tail.status_code == 206
    assert tail.content == data[-5:]

    open_ended = await client.get(url, headers=h(X_LECTEUR, range=f"bytes={len(data) - 3}-"))
    assert open_ended.content == data[-3:]

    beyond = await client.get(url, headers=h(X_LECTEUR, range=f"bytes={len(data)}-"))
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"
    assert beyond.headers["content-type"] == "application/problem+json"

    stale = await client.get(
        url, headers=h(X_LECTEUR, range="bytes=0-3", **{"if-range": '"autre"'})
    )
    assert stale.status_code == 200
    assert stale.content == data

    multi = await client.get(url, headers=h(X_LECTEUR, range="bytes=0-1,5-6"))
    assert multi.status_code == 200
    assert multi.content == data

    cached = await client.get(url, headers=h(X_LECTEUR, **{"if-none-match": part.headers["etag"]}))
    assert cached.status_code == 304
    assert cached.content == b""
    # If-None-Match compares weakly and may list tags or say "*" (RFC 9110).
    for listed in (f'"autre", W/{part.headers["etag"]}', "*"):
        also_cached = await client.get(url, headers=h(X_LECTEUR, **{"if-none-match": listed}))
        assert also_cached.status_code == 304, listed
    changed = await client.get(url, headers=h(X_LECTEUR, **{"if-none-match": '"autre"'}))
    assert changed.status_code == 200


async def test_metadata_update_requires_current_etag(
    convs: Convs, client: httpx.AsyncClient
) -> None:
    doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "m.pdf", pdf()), 201)
    url = f"/api/v1/documents/{doc['id']}"
    got = await client.get(url, headers=h(X_CONTRIBUTEUR))
    assert got.status_code == 200, got.text
    etag = got.headers["etag"]

    missing = await client.patch(url, json={"titre": "Nouveau"}, headers=h(X_CONTRIBUTEUR))
    assert missing.status_code == 428
    changed = await client.patch(
        url,
        json={"titre": "Nouveau titre", "type": "Diagnostic partagé"},
        headers=h(X_CONTRIBUTEUR, **{"if-match": etag}),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["titre"] == "Nouveau titre"
    assert changed.json()["type"] == "Diagnostic partagé"
    assert changed.headers["etag"] != etag
    stale = await client.patch(
        url, json={"titre": "Encore"}, headers=h(X_CONTRIBUTEUR, **{"if-match": etag})
    )
    assert stale.status_code == 412
    reader = await client.patch(
        url,
        json={"titre": "Lecteur"},
        headers=h(X_LECTEUR, **{"if-match": changed.headers["etag"]}),
    )
    assert reader.status_code == 403


async def test_list_filters_and_keyset_pagination(
    convs: Convs, client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    action = "6b0a39a4-3f53-4c1e-9a53-0e2d1f0b7a11"
    ok(
        await upload(
            client,
            X_CONTRIBUTEUR,
            convs.a,
            "1.pdf",
            pdf("1"),
            titre="Bilan 2025",
            type="Bilan",
            action_id=action,
        ),
        201,
    )
    ok(
        await upload(client, X_CONTRIBUTEUR, convs.a, "2.pdf", pdf("2"), titre="COPIL juin"),
        201,
    )
    ok(
        await upload(client, X_CONTRIBUTEUR, convs.a, "3.pdf", pdf("3"), titre="COPIL décembre"),
        201,
    )

    by_text = ok(await client.get("/api/v1/documents", params={"q": "copil"}, headers=h(X_LECTEUR)))
    assert sorted(d["titre"] for d in by_text["items"]) == ["COPIL décembre", "COPIL juin"]
    by_type = ok(
        await client.get("/api/v1/documents", params={"type": "Bilan"}, headers=h(X_LECTEUR))
    )
    assert [d["titre"] for d in by_type["items"]] == ["Bilan 2025"]
    by_action = ok(
        await client.get("/api/v1/documents", params={"action_id": action}, headers=h(X_LECTEUR))
    )
    assert [d["action_id"] for d in by_action["items"]] == [action]
    like_chars = ok(await client.get("/api/v1/documents", params={"q": "%"}, headers=h(X_LECTEUR)))
    assert like_chars["items"] == []

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = ok(await client.get("/api/v1/documents", params=params, headers=h(X_LECTEUR)))
        seen += [d["titre"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["COPIL décembre", "COPIL juin", "Bilan 2025"]  # newest first

    conv = ok(await client.get(f"/api/v1/conventions/{convs.a}/documents", headers=h(X_LECTEUR)))
    assert len(conv["items"]) == 3
    async with db_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Document))).scalar_one() == 3


async def test_openapi_documents_the_multipart_upload(client: httpx.AsyncClient) -> None:
    spec = ok(await client.get("/openapi.json"))
    body = spec["paths"]["/api/v1/documents"]["post"]["requestBody"]["content"]
    schema = body["multipart/form-data"]["schema"]
    assert schema["properties"]["fichier"]["format"] == "binary"
    assert "Convention signée" in schema["properties"]["type"]["enum"]


async def test_missing_content_is_a_503_problem_not_a_truncated_file(
    convs: Convs, client: httpx.AsyncClient, storage_root: Path
) -> None:
    doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "a.pdf", pdf()), 201)
    for blob in files_under(storage_root / "blobs"):
        blob.unlink()
    resp = await client.get(f"/api/v1/documents/{doc['id']}/contenu", headers=h(X_LECTEUR))
    assert resp.status_code == 503
    assert resp.headers["content-type"] == "application/problem+json"
