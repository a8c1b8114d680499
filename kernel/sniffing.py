"""What a file really is (magic bytes) and a display-safe file name.

The type is decided from the content, never from the declared type: the first bytes
name the format (PDF, PNG, JPEG, ZIP); a ZIP is only accepted as ODF (its first entry
``mimetype``, stored uncompressed) or OOXML (its ``[Content_Types].xml`` names the
main part). Anything else must be text (UTF-8, no control characters) to pass as CSV
or plain text. The file name's extension must agree with the content. Used by the
documents upload and by the spreadsheet import (`kernel.tabular.reader`); the names of
files sent back (`content_disposition`, RFC 6266): documents, exports.
"""

from __future__ import annotations

import codecs
import os
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from urllib.parse import quote

# Bytes of the head kept to decide the type (a ZIP's first entries fit easily).
HEAD_BYTES = 64 * 1024

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
CSV = "text/csv"
TEXT = "text/plain"
# Not a final type: decided at the end of the stream (text must hold throughout).
TEXT_CANDIDATE = "text/*"

EXTENSIONS: dict[str, frozenset[str]] = {
    PDF: frozenset({".pdf"}),
    PNG: frozenset({".png"}),
    JPEG: frozenset({".jpg", ".jpeg"}),
    ODT: frozenset({".odt"}),
    ODS: frozenset({".ods"}),
    ODP: frozenset({".odp"}),
    DOCX: frozenset({".docx"}),
    XLSX: frozenset({".xlsx"}),
    PPTX: frozenset({".pptx"}),
    CSV: frozenset({".csv"}),
    TEXT: frozenset({".txt", ".text", ".md", ""}),
}

_OOXML_MAIN = {
    b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
    b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": PPTX,
}
_ODF = {
    b"application/vnd.oasis.opendocument.text": ODT,
    b"application/vnd.oasis.opendocument.spreadsheet": ODS,
    b"application/vnd.oasis.opendocument.presentation": ODP,
}


class UnsupportedType(Exception):
    """The content is not one of the accepted types, or disagrees with its name."""


def extension(filename: str) -> str:
    return os.path.splitext(filename)[1].lower()


def _zip_entries(head: bytes) -> list[tuple[str, int, bytes]]:
    """(name, compression method, data available in `head`) of the leading local entries."""
    entries: list[tuple[str, int, bytes]] = []
    pos = 0
    while pos + 30 <= len(head) and head[pos : pos + 4] == b"PK\x03\x04":
        flags, method = struct.unpack_from("<HH", head, pos + 6)
        csize = struct.unpack_from("<I", head, pos + 18)[0]
        name_len, extra_len = struct.unpack_from("<HH", head, pos + 26)
        name = head[pos + 30 : pos + 30 + name_len].decode("utf-8", "replace")
        start = pos + 30 + name_len + extra_len
        if flags & 0x08:  # sizes follow the data: only this entry's data can be read
            entries.append((name, method, head[start:]))
            break
        entries.append((name, method, head[start : start + csize]))
        pos = start + csize
    return entries


def _ooxml_type(content_types: bytes, method: int) -> str | None:
    if method == 8:
        try:
            content_types = zlib.decompressobj(-15).decompress(content_types, 256 * 1024)
        except zlib.error:
            return None
    elif method != 0:
        return None
    for marker, mime in _OOXML_MAIN.items():
        if marker in content_types:
            return mime
    return None


def sniff_head(head: bytes) -> str:
    """The content type from the first bytes, or TEXT_CANDIDATE; raises UnsupportedType."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"PK\x03\x04"):
        entries = _zip_entries(head)
        if entries and entries[0][0] == "mimetype" and entries[0][1] == 0:
            mime = _ODF.get(entries[0][2].strip())
            if mime:
                return mime
        for name, method, data in entries:
            if name == "[Content_Types].xml":
                mime = _ooxml_type(data, method)
                if mime:
                    return mime
        raise UnsupportedType("Archive ZIP qui n'est ni un document ODF ni un document OOXML.")
    if head.startswith((b"\xfe\xff", b"\xff\xfe")) or b"\x00" in head:
        raise UnsupportedType("Contenu binaire d'un type non accepté.")
    return TEXT_CANDIDATE


_ALLOWED_CONTROLS = frozenset("\t\n\r\f")


class TextChecker:
    """Checks, chunk by chunk, that a stream is UTF-8 text without control characters."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self.ok = True

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if not self.ok:
            return
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError:
            self.ok = False
            return
        if any(unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS for c in text):
            self.ok = False


def final_type(sniffed: str, filename: str, text_ok: bool) -> str:
    """The stored content type; refuses when the name's extension disagrees with it."""
    ext = extension(filename)
    if sniffed == TEXT_CANDIDATE:
        if not text_ok:
            raise UnsupportedType("Contenu d'un type non accepté.")
        sniffed = CSV if ext == ".csv" else TEXT
    if ext not in EXTENSIONS[sniffed]:
        raise UnsupportedType(
            f"L'extension « {ext or '(aucune)'} » ne correspond pas au contenu ({sniffed})."
        )
    return sniffed


# Bidirectional controls (RLO/LRO/isolates...) that disguise an extension.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class CleanName:
    name: str
    changed: bool


def sanitize_filename(raw: str) -> CleanName:
    """Keep the last path segment, drop control/format/bidi characters; '' when nothing is left."""
    name = unicodedata.normalize("NFC", raw)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        c
        for c in name
        if c not in _BIDI and unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}
    )
    name = " ".join(name.split())  # collapse odd spaces
    name = name.strip(" .")
    if len(name) > MAX_NAME_CHARS:
        stem, ext = os.path.splitext(name)
        name = stem[: MAX_NAME_CHARS - len(ext)] + ext
    return CleanName(name=name, changed=name != raw)


def name_from_title(title: str) -> str:
    """A file name the suite writes from a title it holds (a convention's title may hold
    a "/"): one clean file name, the slashes kept as dashes."""
    return sanitize_filename(title.replace("/", "-").replace("\\", "-")).name


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """ASCII fallback plus the exact UTF-8 name (``filename*``), for every browser."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    fallback = "".join(c if c.isprintable() and c not in '"\\;' else "_" for c in fallback)
    fallback = fallback.strip() or "document"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
