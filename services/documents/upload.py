"""The streamed write path: multipart parsed as it arrives, content hashed, sniffed,
size-checked, written to a temporary upload and fed to clamd, chunk by chunk.

Nothing here holds more than one received chunk (plus the head used to sniff the
type, and the S3 part buffer) whatever the file size.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from kernel.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from kernel.sniffing import (
    HEAD_BYTES,
    TEXT_CANDIDATE,
    TextChecker,
    UnsupportedType,
    final_type,
    sniff_head,
)
from services.documents.antivirus import (
    ClamdClient,
    InstreamSession,
    ScanError,
    ScanUnavailable,
    Verdict,
)
from services.documents.storage import Storage, TempUpload

# --- multipart, as a stream of events ----------------------------------------------------


@dataclass
class PartStart:
    name: str
    filename: str | None


@dataclass
class PartData:
    data: bytes


@dataclass
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd


@dataclass
class _Headers:
    name: bytearray = field(default_factory=bytearray)
    value: bytearray = field(default_factory=bytearray)
    items: dict[bytes, bytes] = field(default_factory=dict)
    size: int = 0


class MultipartStream:
    """python-multipart's push parser turned into an async stream of part events."""

    def __init__(self, content_type: str | None, *, max_parts: int, max_header_bytes: int) -> None:
        mime, params = parse_options_header(content_type)
        if mime != b"multipart/form-data":
            raise UnsupportedMediaType("Le dépôt attend un corps multipart/form-data.")
        boundary = params.get(b"boundary")
        if not boundary or len(boundary) > 200:
            raise BadRequest("Corps multipart sans délimiteur (boundary) valide.")
        self._max_parts = max_parts
        self._max_header_bytes = max_header_bytes
        self._parts = 0
        self._events: list[Event] = []
        self._headers = _Headers()
        self._done = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > self._max_parts:
            raise BadRequest(f"Trop de parties dans le formulaire (au plus {self._max_parts}).")
        self._headers = _Headers()

    def _grow(self, n: int) -> None:
        self._headers.size += n
        if self._headers.size > self._max_header_bytes:
            raise BadRequest("En-têtes de partie trop longs.")

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._grow(end - start)
        self._headers.name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._grow(end - start)
        self._headers.value += data[start:end]

    def _on_header_end(self) -> None:
        h = self._headers
        h.items[bytes(h.name).lower()] = bytes(h.value)
        h.name.clear()
        h.value.clear()

    def _on_headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.items.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in params:
            raise BadRequest("Partie sans Content-Disposition: form-data; name=...")
        filename = params.get(b"filename")
        self._events.append(
            PartStart(
                name=params[b"name"].decode("utf-8", "replace"),
                filename=None if filename is None else filename.decode("utf-8", "replace"),
            )
        )

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(PartData(bytes(data[start:end])))

    def _on_part_end(self) -> None:
        self._events.append(PartEnd())

    def _on_end(self) -> None:
        self._done = True

    async def events(self, body: AsyncIterator[bytes]) -> AsyncIterator[Event]:
        try:
            async for chunk in body:
                self._parser.write(chunk)
                events, self._events = self._events, []
                for event in events:
                    yield event
            self._parser.finalize()
        except MultipartParseError as exc:
            raise BadRequest(f"Corps multipart mal formé : {exc}") from exc
        events, self._events = self._events, []
        for event in events:
            yield event
        if not self._done:
            raise BadRequest("Corps multipart incomplet.")


# --- one file's content ------------------------------------------------------------------


@dataclass(frozen=True)
class Ingested:
    upload: TempUpload
    sha256: str
    size: int
    content_type: str
    # None: no verdict (clamd unreachable or in error, or antivirus disabled).
    verdict: Verdict | None
    # clamd's error reply when it answered but could not analyse the content.
    scan_error: str | None = None


class Ingest:
    """Receives one file's bytes: limit, hash, sniff, temporary write, antivirus stream."""

    def __init__(self, storage: Storage, scanner: ClamdClient | None, max_bytes: int) -> None:
        self._storage = storage
        self._scanner = scanner
        self._max = max_bytes
        self._hash = hashlib.sha256()
        self._size = 0
        self._head = bytearray()
        self._sniffed: str | None = None
        self._text = TextChecker()
        self._upload: TempUpload | None = None
        self._scan: InstreamSession | None = None
        self._scan_error: str | None = None

    async def start(self) -> None:
        self._upload = await self._storage.start_upload()
        if self._scanner is not None:
            try:
                self._scan = await self._scanner.open()
            except ScanUnavailable:
                self._scan = None  # fail closed: the version will stay en_analyse

    def _sniff(self) -> None:
        try:
            self._sniffed = sniff_head(bytes(self._head))
        except UnsupportedType as exc:
            raise UnsupportedMediaType(str(exc)) from exc
        self._head = bytearray()

    async def write(self, data: bytes) -> None:
        assert self._upload is not None
        self._size += len(data)
        if self._size > self._max:
            raise PayloadTooLarge(
                f"Le fichier dépasse la taille maximale ({self._max // (1024 * 1024)} Mio)."
            )
        if self._sniffed is None:
            self._head += data
            if len(self._head) >= HEAD_BYTES:
                self._sniff()
        if self._sniffed in (None, TEXT_CANDIDATE):
            self._text.feed(data)
        self._hash.update(data)
        await self._upload.write(data)
        if self._scan is not None:
            try:
                await self._scan.send(data)
            except ScanUnavailable:
                self._scan = None
            except ScanError as exc:  # e.g. the file is above clamd's StreamMaxLength
                self._scan_error = exc.message
                self._scan = None

    async def finish(self, filename: str) -> Ingested:
        assert self._upload is not None
        if self._size == 0:
            raise BadRequest("Le fichier est vide.")
        if self._sniffed is None:
            self._sniff()
        assert self._sniffed is not None
        self._text.feed(b"", final=True)
        try:
            content_type = final_type(self._sniffed, filename, self._text.ok)
        except UnsupportedType as exc:
            raise UnsupportedMediaType(str(exc)) from exc
        await self._upload.commit()
        verdict: Verdict | None = None
        if self._scan is not None:
            try:
                verdict = await self._scan.finish()
            except ScanUnavailable:
                verdict = None
            except ScanError as exc:
                self._scan_error = exc.message
            self._scan = None
        return Ingested(
            self._upload,
            self._hash.hexdigest(),
            self._size,
            content_type,
            verdict,
            self._scan_error,
        )

    async def abort(self) -> None:
        if self._scan is not None:
            self._scan.close()
            self._scan = None
        if self._upload is not None:
            await self._upload.abort()
