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
import types
import typing
import uuid
from collections.abc import Iterable, Mapping
from typing import Generic, NamedTuple, TypeVar

import orjson
from fastapi import Response
from pydantic import BaseModel

from kernel.reads import group_type, row_hints

R = TypeVar("R", bound=NamedTuple)
_UNIONS = (typing.Union, types.UnionType)
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
    row's field of that name (written under its serialization alias; a group of the row,
    a NamedTuple, as the nested model it is), or one the service derives and gives by
    name (`derived`); checked when declared. Adding a stored field to a list is then one
    field in the row type and one in the model."""

    def __init__(self, model: type[BaseModel], row: type[R], derived: Iterable[str] = ()) -> None:
        fields = row._fields
        self.derived = frozenset(derived)
        names = list(model.model_fields)
        missing = [n for n in names if n not in fields and n not in self.derived]
        extra = self.derived.difference(names)
        if missing or extra:
            raise TypeError(f"{model.__name__} / {row.__name__}: {missing or sorted(extra)}")
        hints = row_hints(row)
        # Written under its serialization alias, as FastAPI writes a response model.
        self._taken = tuple(
            (
                info.serialization_alias or name,
                fields.index(name),
                _nested(model, name, info.annotation, hints[name]),
            )
            for name, info in model.model_fields.items()
            if name not in self.derived
        )
        self._flat = all(nested is None for _, _, nested in self._taken)

    def __call__(self, row: R, **derived: object) -> JsonObject:
        out: JsonObject
        if self._flat:
            out = {name: row[i] for name, i, _ in self._taken}
        else:
            out = {}
            for name, i, nested in self._taken:
                value = row[i]
                out[name] = value if nested is None or value is None else nested(value)
        out.update(derived)
        return out


def _nested(
    model: type[BaseModel], name: str, field: object, annotation: object
) -> ResponseFields[NamedTuple] | None:
    """The fields of the nested model a group of the row is shown as (None: a column)."""
    group = group_type(annotation)
    if group is None:
        return None
    members = typing.get_args(field) if typing.get_origin(field) in _UNIONS else (field,)
    nested = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(nested) != 1:
        raise TypeError(f"{model.__name__}.{name}: un groupe se montre en modèle imbriqué")
    return ResponseFields(nested[0], group[0])
