"""Every limit and refusal of the write path; a refused upload leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.documents.models import Contenu, Document, Version
from tests.documents.conftest import AppFactory, Convs
from tests.documents.helpers import files_under, h, ok, upload
from tests.documents.samples import multipart, odf, pdf, plain_zip, png, streamed_multipart
from tests.support.asgi import http_scope
from tests.support.personas import X_CONTRIBUTEUR


async def assert_nothing_stored(db_engine: AsyncEngine, storage_root: Path) -> None:
    async with db_engine.connect() as conn:
        for table in (Document, Version, Contenu):
            count = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            assert count == 0, table.__tablename__
    leftovers = files_under(storage_root)
    assert leftovers == []


async def test_too_large_while_streaming_is_413_and_stores_nothing(
    convs: Convs, documents_app: AppFactory, db_engine: AsyncEngine, storage_root: Path
) -> None:
    async with documents_app(max_file_bytes=100_000) as client:
        # No Content-Length: the limit is enforced on the bytes as they arrive.
        body, _total, content_type = streamed_multipart(
            [("convention_id", str(convs.a)), ("type", "Autre"), ("titre", "Gros")],
            "gros.pdf",
            pdf(),
            300_000,
            chunk=16 * 1024,
        )
        resp = await client.post(
            "/api/v1/documents",
            content=body,
            headers=h(X_CONTRIBUTEUR, **{"content-type": content_type}),
        )
        assert resp.status_code == 413
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["type"] == "urn:coop:problem:payload-too-large"
        # A declared length over the limit is refused before reading anything.
        declared = await upload(client, X_CONTRIBUTEUR, convs.a, "g.pdf", pdf(padding=200_000))
        assert declared.status_code == 413
        # At the limit exactly is fine.
        exact = pdf(padding=100_000 - len(pdf()))
        assert len(exact) == 100_000
        ok(await upload(client, X_CONTRIBUTEUR, convs.a, "ok.pdf", exact), 201)
    async with db_engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Version))).scalar_one() == 1


SPOOFED = [
    ("rapport.pdf", b"MZ\x90\x00" + b"\x00" * 200, "executable named .pdf"),
    ("rapport.pdf", png(), "PNG named .pdf"),
    ("tableau.csv", pdf(), "PDF named .csv"),
    ("archive.odt", plain_zip(), "plain ZIP named .odt"),
    ("texte.odt", odf("spreadsheet"), "ODS named .odt"),
    ("page.txt", b"caf\xe9 en latin-1 \xff\xfe", "not UTF-8"),
    ("script.txt", b"echo \x1b[31m", "control characters"),
    ("rapport.exe", pdf(), "PDF named .exe"),
    ("page.html", b"<html><script>alert(1)</script></html>", "HTML is not accepted"),
]


async def test_spoofed_or_unknown_types_are_415(
    convs: Convs, client: httpx.AsyncClient, db_engine: AsyncEngine, storage_root: Path
) -> None:
    for filename, data, why in SPOOFED:
        resp = await upload(client, X_CONTRIBUTEUR, convs.a, filename, data)
        assert resp.status_code == 415, why
        assert resp.json()["type"] == "urn:coop:problem:unsupported-media-type"
    await assert_nothing_stored(db_engine, storage_root)


async def test_declared_type_is_ignored(convs: Convs, client: httpx.AsyncClient) -> None:
    body, content_type = multipart(
        [("convention_id", str(convs.a)), ("type", "Autre"), ("titre", "T")],
        ("vrai.pdf", pdf()),
        file_content_type="text/html",
    )
    resp = await client.post(
        "/api/v1/documents",
        content=body,
        headers=h(X_CONTRIBUTEUR, **{"content-type": content_type}),
    )
    assert ok(resp, 201)["derniere_version"]["type_contenu"] == "application/pdf"


NAMES = [
    ("../../etc/rapport.pdf", "rapport.pdf"),
    ("C:\\Users\\agent\\bilan final.pdf", "bilan final.pdf"),
    ("facture\u202efdp.exe.pdf", "facturefdp.exe.pdf"),
    ("compte\x00rendu\x07.pdf", "compterendu.pdf"),
    ("délibération n°12 — été.pdf", "délibération n°12 — été.pdf"),
]


async def test_file_names_are_sanitised(convs: Convs, client: httpx.AsyncClient) -> None:
    for raw, kept in NAMES:
        doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, raw, pdf(raw)), 201)
        assert doc["derniere_version"]["nom_fichier"] == kept, raw
        got = await client.get(f"/api/v1/documents/{doc['id']}/contenu", headers=h(X_CONTRIBUTEUR))
        disposition = got.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="')
        assert "/" not in disposition.split("filename*=")[0]


async def test_unicode_name_in_content_disposition(convs: Convs, client: httpx.AsyncClient) -> None:
    doc = ok(await upload(client, X_CONTRIBUTEUR, convs.a, "délibération été.pdf", pdf()), 201)
    got = await client.get(f"/api/v1/documents/{doc['id']}/contenu", headers=h(X_CONTRIBUTEUR))
    assert got.headers["content-disposition"] == (
        'attachment; filename="deliberation ete.pdf"; '
        "filename*=UTF-8''d%C3%A9lib%C3%A9ration%20%C3%A9t%C3%A9.pdf"
    )


async def test_names_with_nothing_left_are_refused(
    convs: Convs, client: httpx.AsyncClient, db_engine: AsyncEngine, storage_root: Path
) -> None:
    for raw in ("..", "\u202e\u202d", "dossier/"):
        resp = await upload(client, X_CONTRIBUTEUR, convs.a, raw, pdf())
        assert resp.status_code == 422, raw
    await assert_nothing_stored(db_engine, storage_root)


async def test_multipart_limits(
    convs: Convs, documents_app: AppFactory, db_engine: AsyncEngine, storage_root: Path
) -> None:
    async with documents_app() as client:
        base = [("convention_id", str(convs.a)), ("type", "Autre"), ("titre", "T")]

        async def post(fields: list[tuple[str, str]], file: tuple[str, bytes] | None) -> int:
            body, ct = multipart(fields, file)
            resp = await client.post(
                "/api/v1/documents", content=body, headers=h(X_CONTRIBUTEUR, **{"content-type": ct})
            )
            return resp.status_code

        too_many = base + [(f"x{i}", "1") for i in range(10)]
        assert await post(too_many, ("a.pdf", pdf())) == 400
        assert await post([*base, ("description", "x" * 10_000)], ("a.pdf", pdf())) == 413
        assert await post([*base, ("titre", "deux fois")], ("a.pdf", pdf())) == 400
        assert await post([*base, ("inconnu", "1")], ("a.pdf", pdf())) == 422
        assert await post(base, None) == 422
        assert await post([("type", "Autre"), ("titre", "T")], ("a.pdf", pdf())) == 422
        assert await post([*base[:2], ("titre", "T")], ("vide.pdf", b"")) == 400
        assert (
            await post(
                [("convention_id", str(convs.a)), ("type", "Inconnu"), ("titre", "T")],
                ("a.pdf", pdf()),
            )
            == 422
        )
        # The file must come last: fields after it are refused.
        body, ct = multipart(base, ("a.pdf", pdf()))
        body = body.replace(
            b"--coop-test-boundary-7d91--",
            b'--coop-test-boundary-7d91\r\nContent-Disposition: form-data; name="libelle"'
            b"\r\n\r\napres\r\n--coop-test-boundary-7d91--",
        )
        resp = await client.post(
            "/api/v1/documents", content=body, headers=h(X_CONTRIBUTEUR, **{"content-type": ct})
        )
        assert resp.status_code == 400
        # Not multipart at all.
        resp = await client.post(
            "/api/v1/documents", json={"titre": "T"}, headers=h(X_CONTRIBUTEUR)
        )
        assert resp.status_code == 415
        # Truncated body.
        body, ct = multipart(base, ("a.pdf", pdf()))
        resp = await client.post(
            "/api/v1/documents",
            content=body[:-30],
            headers=h(X_CONTRIBUTEUR, **{"content-type": ct}),
        )
        assert resp.status_code == 400
    await assert_nothing_stored(db_engine, storage_root)


async def test_client_gone_mid_upload_leaves_nothing(
    convs: Convs, client: httpx.AsyncClient, db_engine: AsyncEngine, storage_root: Path
) -> None:
    """Half the body arrives, then the server is told the client disconnected (ASGI
    ``http.disconnect``): no row, no temporary file, no published content."""
    body, total, content_type = streamed_multipart(
        [("convention_id", str(convs.a)), ("type", "Autre"), ("titre", "Coupé")],
        "coupe.pdf",
        pdf(),
        2_000_000,
        chunk=64 * 1024,
    )
    pieces = [piece async for piece in body]
    messages: list[dict[str, object]] = [
        {"type": "http.request", "body": piece, "more_body": True} for piece in pieces[:10]
    ]
    messages.append({"type": "http.disconnect"})
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    headers = h(X_CONTRIBUTEUR, **{"content-type": content_type, "content-length": str(total)})
    scope = http_scope("POST", "/api/v1/documents", headers)
    app = client.app  # type: ignore[attr-defined]
    await app(scope, receive, send)
    await assert_nothing_stored(db_engine, storage_root)


async def test_malformed_parts_are_400_problems_and_store_nothing(
    convs: Convs, client: httpx.AsyncClient, db_engine: AsyncEngine, storage_root: Path
) -> None:
    """Part headers are bounded (2 KiB by default), the file part must carry a file name,
    fields must be UTF-8."""
    boundary = "coop-test-boundary-7d91"

    def part(name: str, value: bytes, more: str = "") -> bytes:
        disposition = f'Content-Disposition: form-data; name="{name}"{more}'
        return f"--{boundary}\r\n{disposition}\r\n\r\n".encode() + value + b"\r\n"

    fields = part("convention_id", str(convs.a).encode()) + part("type", b"Autre")
    file = part("fichier", pdf(), '; filename="a.pdf"')
    end = f"--{boundary}--\r\n".encode()
    cases = [
        (
            fields + part("titre", b"T", "\r\nX-Bourrage: " + "x" * 3000) + file + end,
            "En-têtes de partie trop longs.",
        ),
        (
            fields + part("titre", b"T") + part("fichier", pdf()) + end,
            "La partie « fichier » doit porter un nom de fichier.",
        ),
        (
            fields + part("titre", b"caf\xe9") + file + end,
            "Le champ « titre » n'est pas en UTF-8.",
        ),
    ]
    for body, detail in cases:
        resp = await client.post(
            "/api/v1/documents",
            content=body,
            headers=h(
                X_CONTRIBUTEUR, **{"content-type": f"multipart/form-data; boundary={boundary}"}
            ),
        )
        assert resp.status_code == 400, (detail, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["detail"] == detail
    no_boundary = await client.post(
        "/api/v1/documents",
        content=fields,
        headers=h(X_CONTRIBUTEUR, **{"content-type": "multipart/form-data"}),
    )
    assert no_boundary.status_code == 400
    assert no_boundary.json()["detail"] == "Corps multipart sans délimiteur (boundary) valide."
    await assert_nothing_stored(db_engine, storage_root)
