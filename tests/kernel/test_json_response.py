"""kernel.json_response writes what pydantic would have written for the same values."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import asyncpg.pgproto.pgproto as pgproto  # type: ignore[import-untyped]
import orjson
import pytest
from pydantic import BaseModel

from kernel.json_response import dumps, json_response


class Sample(BaseModel):
    id: uuid.UUID
    from_driver: uuid.UUID
    amount: decimal.Decimal
    at: dt.datetime
    local: dt.datetime
    day: dt.date
    tags: list[str]
    none: None


def test_same_text_as_pydantic_for_the_types_rows_carry() -> None:
    raw = uuid.uuid4()
    values = {
        "id": raw,
        # asyncpg's own UUID class (a subclass) is what typed reads hand back.
        "from_driver": pgproto.UUID(str(raw)),
        "amount": decimal.Decimal("12.50"),
        "at": dt.datetime(2026, 3, 31, 17, 5, 1, 250, tzinfo=dt.UTC),
        "local": dt.datetime(2026, 3, 31, 17, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "day": dt.date(2026, 3, 31),
        "tags": ["é", "x"],
        "none": None,
    }
    assert orjson.loads(dumps(values)) == orjson.loads(Sample(**values).model_dump_json())
    response = json_response(values, status_code=201, headers={"ETag": '"x.1"'})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["etag"] == '"x.1"'


def test_a_type_it_cannot_write_is_an_error_not_a_guess() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})
