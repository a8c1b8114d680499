"""A raw ASGI HTTP scope, for tests that drive an app message by message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def http_scope(method: str, path: str, headers: Mapping[str, str], **extra: Any) -> dict[str, Any]:
    """The scope a server would build for `method path` with `headers` (names lowered)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
        **extra,
    }
