"""JSON written straight from typed rows with orjson, for the hottest reads.

FastAPI validates what a route returns against its response model, then dumps it: for
a page of 200 rows that took longer than running the SQL. Routes on the typed read path
(`kernel.reads`) return `json_response` of what `ResponseFields` takes of their rows.
The response model stays the contract twice over: it is the route's ``response_model``
(the documented schema), and `ResponseFields` writes exactly its fields (those the row
has, taken as they are, and those the service derives, named); a test per route checks
that the body reads back through that model unchanged (same keys, same values, same
formats as pydantic writes them).
"""

from __future__ import annotations

import decimal
import uuid
from collections.abc import Iterable, Mapping
from typing import Generic, NamedTuple, TypeVar

import orjson
from fastapi import Response
from pydantic import BaseModel

R = TypeVar("R", bound=NamedTuple)
# A JSON object as orjson writes it.
JsonObject = dict[str, object]


def _default(value: object) -> str:
    # As pydantic writes them: UUIDs (asyncpg's subclass too) and decimals as strings.
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(content: object) -> bytes:
    # OPT_UTC_Z: UTC datetimes end in "Z", as pydantic writes them.
    return orjson.dumps(content, default=_default, option=orjson.OPT_UTC_Z)


def json_response(
    content: object, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        dumps(content), status_code=status_code, headers=headers, media_type="application/json"
    )


class ResponseFields(Generic[R]):
    """What a response model shows of a typed row: each of the model's fields is the
    row's field of that name (written under its serialization alias), or one the
    service derives and gives by name (`derived`); checked when declared. Adding a
    stored field to a list is then one field in the row type and one in the model."""

    def __init__(self, model: type[BaseModel], row: type[R], derived: Iterable[str] = ()) -> None:
        fields = row._fields
        self.derived = frozenset(derived)
        names = list(model.model_fields)
        missing = [n for n in names if n not in fields and n not in self.derived]
        extra = self.derived.difference(names)
        if missing or extra:
            raise TypeError(f"{model.__name__} / {row.__name__}: {missing or sorted(extra)}")
        # Written under its serialization alias, as FastAPI writes a response model.
        self._taken = tuple(
            (info.serialization_alias or name, fields.index(name))
            for name, info in model.model_fields.items()
            if name not in self.derived
        )

    def __call__(self, row: R, **derived: object) -> JsonObject:
        out: JsonObject = {name: row[i] for name, i in self._taken}
        out.update(derived)
        return out
