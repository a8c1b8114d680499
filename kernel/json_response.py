"""JSON written straight from plain rows with orjson, for the hottest reads.

FastAPI validates what a route returns against its response model, then dumps it: for
a page of 200 rows that took longer than running the SQL. Routes on the compiled read
path (`kernel.database.CompiledQuery`) build plain dicts and return `json_response`;
they keep their ``response_model`` (the documented contract) and a test per route checks
that the body reads back through that model unchanged (same keys, same values, same
formats as pydantic writes them).
"""

from __future__ import annotations

import decimal
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Response


def _default(value: Any) -> Any:
    # As pydantic writes them: UUIDs (asyncpg's subclass too) and decimals as strings.
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(content: Any) -> bytes:
    # OPT_UTC_Z: UTC datetimes end in "Z", as pydantic writes them.
    return orjson.dumps(content, default=_default, option=orjson.OPT_UTC_Z)


def json_response(
    content: Any, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        dumps(content), status_code=status_code, headers=headers, media_type="application/json"
    )
