"""OpenDocument packages written as a stream, and the XML helpers ODS and ODT share.

A package is a ZIP whose first entry, ``mimetype``, is stored uncompressed with its
size in the local header (ODF 1.3 part 2, 3.3: readers, our own sniffing included,
find the type at a fixed offset). The other entries are deflated; an entry given as an
async iterable of bytes (a spreadsheet's ``content.xml`` produced row by row) is
compressed as it comes, so a package of any size needs memory for one chunk only.
stream-zip writes the ZIP: the standard library's writer can only stream with data
descriptors on every entry, ``mimetype`` included.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from stream_zip import (
    NO_COMPRESSION_32,
    ZIP_32,
    AsyncMemberFile,
    MemberFile,
    Method,
    async_stream_zip,
    stream_zip,
)

ODS_MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
ODT_MIMETYPE = "application/vnd.oasis.opendocument.text"
ODF_VERSION = "1.3"

NAMESPACES = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "fo": "urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0",
    "xlink": "http://www.w3.org/1999/xlink",
    "dc": "http://purl.org/dc/elements/1.1/",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
    "number": "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0",
    "svg": "urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0",
    "loext": "urn:org:documentfoundation:names:experimental:office:xmlns:loext:1.0",
}
XMLNS = " ".join(f"xmlns:{prefix}={quoteattr(uri)}" for prefix, uri in NAMESPACES.items())
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

# Characters XML 1.0 cannot carry at all (C0 controls but tab, LF, CR; surrogates; FFFE/FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SPACES = re.compile(" {2,}")
# Deflate level 6: level 9 costs twice the time on XML for a size within 2 %.
_COMPRESSION_LEVEL = 6
# ODF stores dates without a zone; a fixed time keeps packages byte-identical.
# No extended timestamps either: ODF wants no extra field on "mimetype".
_ZIP_TIME = dt.datetime(2000, 1, 1)  # noqa: DTZ001
_MODE = 0o100644


def xml_text(value: str) -> str:
    """`value` escaped for XML character data, characters XML cannot hold removed."""
    return escape(_NOT_XML.sub("", value))


def xml_attr(value: str) -> str:
    """`value` as a quoted XML attribute value (quotes included)."""
    return quoteattr(_NOT_XML.sub("", value))


def _spaced(line: str) -> str:
    """One line of ODF text: a reader collapses runs of spaces and drops leading ones,
    so every space past the first of a run (and a leading one) becomes ``text:s``."""
    out = xml_text(line).replace("\t", "<text:tab/>")
    out = _SPACES.sub(lambda m: f' <text:s text:c="{len(m.group()) - 1}"/>', out)
    if out.startswith(" "):
        out = "<text:s/>" + out[1:]
    return out


_PLAIN = re.compile(r"^(?! )(?!.*  )[^\t\n\r]*$", re.DOTALL)


def text_paragraphs(value: str, style: str | None = None) -> str:
    """`value` as ``text:p`` elements, one per line, keeping spaces and tabs as typed."""
    attr = f" text:style-name={xml_attr(style)}" if style else ""
    if _PLAIN.match(value):  # the common case: one line, no tab, no run of spaces
        return f"<text:p{attr}>{xml_text(value)}</text:p>"
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "".join(f"<text:p{attr}>{_spaced(line)}</text:p>" for line in lines)


def manifest(mimetype: str, entries: Sequence[tuple[str, str]]) -> bytes:
    """``META-INF/manifest.xml`` listing the package's (path, media type) entries."""
    files = "".join(
        f"<manifest:file-entry manifest:full-path={xml_attr(path)}"
        f" manifest:media-type={xml_attr(media)}/>"
        for path, media in entries
    )
    return (
        XML_DECLARATION + '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:'
        f'xmlns:manifest:1.0" manifest:version="{ODF_VERSION}">'
        f'<manifest:file-entry manifest:full-path="/" manifest:version="{ODF_VERSION}"'
        f" manifest:media-type={xml_attr(mimetype)}/>{files}</manifest:manifest>"
    ).encode()


def meta(title: str, language: str = "fr-FR", generated: dt.datetime | None = None) -> bytes:
    """``meta.xml``: title, language and creation time (what a reader's properties show)."""
    created = (
        f"<meta:creation-date>{generated.replace(microsecond=0).isoformat()}</meta:creation-date>"
        if generated
        else ""
    )
    return (
        XML_DECLARATION + f'<office:document-meta {XMLNS} office:version="{ODF_VERSION}">'
        f"<office:meta><meta:generator>Coopération</meta:generator>"
        f"<dc:title>{xml_text(title)}</dc:title><dc:language>{xml_text(language)}</dc:language>"
        f"{created}</office:meta></office:document-meta>"
    ).encode()


@dataclass(frozen=True)
class Member:
    """One entry of a package: its path, media type (for the manifest) and content."""

    path: str
    media_type: str
    content: bytes | AsyncIterable[bytes]


def _entries(members: Sequence[Member]) -> list[tuple[str, str]]:
    return [(m.path, m.media_type) for m in members]


_compressobj = functools.partial(zlib.compressobj, level=_COMPRESSION_LEVEL, wbits=-zlib.MAX_WBITS)


def _head(mimetype: str, members: Sequence[Member]) -> list[tuple[str, Method, bytes]]:
    """``mimetype`` (stored, sizes known up front) then the manifest, before the members."""
    data = mimetype.encode("ascii")
    return [
        ("mimetype", NO_COMPRESSION_32(len(data), zlib.crc32(data)), data),
        ("META-INF/manifest.xml", ZIP_32, manifest(mimetype, _entries(members))),
    ]


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def package_chunks(mimetype: str, members: Sequence[Member]) -> AsyncIterator[bytes]:
    """The package as a stream of chunks; async members are read as the ZIP is written
    (stream-zip compresses in the default executor's threads, off the event loop)."""

    async def files() -> AsyncIterator[AsyncMemberFile]:
        for path, method, data in _head(mimetype, members):
            yield path, _ZIP_TIME, _MODE, method, _once(data)
        for member in members:
            content = member.content
            stream = _once(content) if isinstance(content, bytes) else content
            yield member.path, _ZIP_TIME, _MODE, ZIP_32, stream

    async for chunk in async_stream_zip(
        files(), get_compressobj=_compressobj, extended_timestamps=False
    ):
        yield chunk


def package_bytes(mimetype: str, members: Sequence[Member]) -> bytes:
    """A small package (a report) in one piece; every member's content must be bytes."""

    def files() -> Iterable[MemberFile]:
        for path, method, data in _head(mimetype, members):
            yield path, _ZIP_TIME, _MODE, method, (data,)
        for member in members:
            if not isinstance(member.content, bytes):
                raise TypeError(f"{member.path}: content must be bytes here")
            yield member.path, _ZIP_TIME, _MODE, ZIP_32, (member.content,)

    return b"".join(stream_zip(files(), get_compressobj=_compressobj, extended_timestamps=False))
