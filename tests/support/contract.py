"""The JSON a route writes without FastAPI's response validation (kernel.json_response)
must read back through the route's response model unchanged."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import TypeAdapter


def assert_reads_back(body: bytes, model: Any) -> None:
    adapter = TypeAdapter(model)
    # Same keys (nothing extra, nothing missing), same values, same formats.
    assert orjson.loads(adapter.dump_json(adapter.validate_json(body))) == orjson.loads(body)
