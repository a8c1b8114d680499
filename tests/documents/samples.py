"""Small genuine files of every accepted type, built on the fly, and multipart bodies."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator, Iterable

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def pdf(text: str = "Bilan", padding: int = 0) -> bytes:
    body = (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        + b"% "
        + text.encode()
        + b"\n"
        + b"%" * padding
        + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    return body


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def odf(kind: str = "text", content: str = "Compte rendu") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(
            zipfile.ZipInfo("mimetype"),
            f"application/vnd.oasis.opendocument.{kind}",
            compress_type=zipfile.ZIP_STORED,
        )
        z.writestr("content.xml", f"<office:document-content>{content}</office:document-content>")
        z.writestr("META-INF/manifest.xml", "<manifest/>", compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


_OOXML_MAIN = {
    "docx": ("word/document.xml", "wordprocessingml.document.main+xml"),
    "xlsx": ("xl/workbook.xml", "spreadsheetml.sheet.main+xml"),
    "pptx": ("ppt/presentation.xml", "presentationml.presentation.main+xml"),
}


def ooxml_types(kind: str) -> str:
    part, mime = _OOXML_MAIN[kind]
    return (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Override PartName="/'
        + part
        + '" ContentType="application/vnd.openxmlformats-officedocument.'
        + mime
        + '"/></Types>'
    )


def ooxml(kind: str = "docx") -> bytes:
    part, _ = _OOXML_MAIN[kind]
    types = ooxml_types(kind)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", types)
        z.writestr(part, "<document/>")
    return buf.getvalue()


def plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("payload.exe", b"MZ" + b"\x00" * 100)
    return buf.getvalue()


def csv() -> bytes:
    return b"commune;places EAJE\nVoiron;120\nCrolles;45\n"


def multipart(
    fields: Iterable[tuple[str, str]],
    file: tuple[str, bytes] | None,
    *,
    boundary: str = "coop-test-boundary-7d91",
    file_content_type: str = "application/octet-stream",
) -> tuple[bytes, str]:
    """A multipart/form-data body: the fields in order, then the file part."""
    out = bytearray()
    for name, value in fields:
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    if file is not None:
        filename, data = file
        out += f"--{boundary}\r\n".encode()
        out += (
            f'Content-Disposition: form-data; name="fichier"; filename="{filename}"\r\n'
            f"Content-Type: {file_content_type}\r\n\r\n"
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def streamed_multipart(
    fields: Iterable[tuple[str, str]],
    filename: str,
    head: bytes,
    size: int,
    *,
    boundary: str = "coop-big-boundary-1f2e",
    chunk: int = 1024 * 1024,
) -> tuple[AsyncIterator[bytes], int, str]:
    """A multipart body whose file (`head` then filler bytes, `size` in all) is generated
    as it is sent: (body iterator, total length, content type)."""
    prefix = bytearray()
    for name, value in fields:
        prefix += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    prefix += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="fichier"; '
        f'filename="{filename}"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    suffix = f"\r\n--{boundary}--\r\n".encode()
    total = len(prefix) + size + len(suffix)

    async def body() -> AsyncIterator[bytes]:
        yield bytes(prefix)
        for piece in filler_stream(head, size, chunk):
            yield piece
        yield suffix

    return body(), total, f"multipart/form-data; boundary={boundary}"


def filler_stream(head: bytes, size: int, chunk: int = 1024 * 1024) -> Iterable[bytes]:
    """`head` then filler bytes, `size` in all: the file of `streamed_multipart`, also
    used to hash the expected content."""
    yield head
    remaining = size - len(head)
    block = bytes(range(256)) * (chunk // 256)
    while remaining > 0:
        piece = block[: min(chunk, remaining)]
        remaining -= len(piece)
        yield piece
