"""HTTP details of a download: Range (RFC 9110); Content-Disposition is the kernel's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from kernel.errors import DomainError

PATHSEND = "http.response.pathsend"


class RangeNotSatisfiable(DomainError):
    status = 416
    slug = "range-not-satisfiable"
    title = "Plage demandée hors du contenu"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The single byte range asked for (inclusive bounds), or None for the whole content.

    A header we do not understand, or several ranges, is ignored (whole content, as the
    RFC allows); a range entirely past the end is 416.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, sep, last = spec.strip().partition("-")
    if not sep:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix < 0:
                return None
            if suffix == 0 or size == 0:
                raise _unsatisfiable(size)
            return max(0, size - suffix), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start < 0:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    if end < start:
        return None
    return start, min(end, size - 1)


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"Le contenu fait {size} octets.", headers={"Content-Range": f"bytes */{size}"}
    )


class ContentResponse(StreamingResponse):
    """A whole content. When it lies on this machine's disk (`path`) and the server can
    send a file itself (the ASGI `http.response.pathsend` extension: granian), the
    server does, and none of its bytes go through Python; otherwise `content` streams."""

    def __init__(self, content: AsyncIterator[bytes], path: Path | None, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.path is None or PATHSEND not in scope.get("extensions", {}):
            await super().__call__(scope, receive, send)
            return
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        await send({"type": PATHSEND, "path": str(self.path)})
