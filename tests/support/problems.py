"""What every refusal answers: an RFC 9457 problem document."""

from __future__ import annotations

from typing import Any

import httpx


def assert_problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    """`resp` is a problem+json answer with `status`; its body."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = resp.json()
    assert body["status"] == status
    assert str(body["type"]).startswith("urn:coop:problem:")
    assert body["title"]
    assert body["detail"]
    return body
