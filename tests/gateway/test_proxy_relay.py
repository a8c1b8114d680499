"""How a service's answer leaves the gateway, message by message (real transport, real
socket): whole, in order, and ended exactly once, by its last bytes when they are known
to be the last."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from tests.gateway.upstream import answering, gateway_over
from tests.support.asgi import http_scope


async def messages_of(app: FastAPI, token: dict[str, str]) -> list[dict[str, Any]]:
    """The ASGI messages the gateway sends for GET /api/v1/conventions."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(http_scope("GET", "/api/v1/conventions", token, app=app), receive, send)
    return sent


def body_messages(sent: list[dict[str, Any]]) -> list[tuple[bytes, bool]]:
    assert sent[0]["type"] == "http.response.start"
    assert all(m["type"] == "http.response.body" for m in sent[1:])
    return [(m.get("body", b""), m.get("more_body", False)) for m in sent[1:]]


async def test_an_answer_received_whole_ends_with_its_only_chunk(tmp_path: Path) -> None:
    whole = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world")
    async with gateway_over(tmp_path, whole) as (app, token):
        sent = await messages_of(app, token)
    assert sent[0]["status"] == 200
    # No empty closing message after the body: one message fewer through every layer.
    assert body_messages(sent) == [(b"hello world", False)]


async def test_an_answer_arriving_in_parts_is_ended_only_by_its_last_bytes(
    tmp_path: Path,
) -> None:
    in_parts = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nfirst", b"-last")
    async with gateway_over(tmp_path, in_parts) as (app, token):
        sent = await messages_of(app, token)
    assert body_messages(sent) == [(b"first", True), (b"-last", False)]


async def test_a_chunked_answer_whose_end_comes_later_is_ended_by_an_empty_message(
    tmp_path: Path,
) -> None:
    # The service says it is done only after a pause.
    chunked = answering(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n5\r\n-last\r\n",
        b"0\r\n\r\n",
    )
    async with gateway_over(tmp_path, chunked) as (app, token):
        sent = await messages_of(app, token)
    messages = body_messages(sent)
    assert b"".join(body for body, _ in messages) == b"first-last"
    assert [more for _, more in messages[:-1]] == [True] * (len(messages) - 1)
    assert messages[-1] == (b"", False)


async def test_the_client_never_gets_the_services_own_connection_cookies_or_ids(
    tmp_path: Path,
) -> None:
    service = answering(
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: 2\r\n"
        b'ETag: "v1"\r\n'
        b"Server: service-interne/1.0\r\n"
        b"Date: Tue, 24 Nov 2026 10:00:00 GMT\r\n"
        b"Set-Cookie: session=du-service\r\n"
        b"X-Request-ID: id-du-service\r\n"
        b"Connection: keep-alive, X-Hop-Secret\r\n"
        b"Keep-Alive: timeout=5\r\n"
        b"X-Hop-Secret: 1\r\n"
        b"\r\n{}"
    )
    async with gateway_over(tmp_path, service) as (app, token):
        sent = await messages_of(app, token)
    headers = sent[0]["headers"]
    names = [name for name, _ in headers]
    # What describes the answer passes, names lowercased.
    assert (b"etag", b'"v1"') in headers
    assert (b"content-type", b"application/json") in headers
    # Neither the service's connection (nor what its Connection header names), nor its
    # cookies, banner or clock, nor its request id: the gateway states its own.
    for name in (b"date", b"set-cookie", b"connection", b"keep-alive", b"x-hop-secret"):
        assert name not in names, name
    assert (b"server", b"service-interne/1.0") not in headers
    assert names.count(b"server") == 1  # the gateway's own, naming no software
    assert names.count(b"x-request-id") == 1
    assert (b"x-request-id", b"id-du-service") not in headers
    assert body_messages(sent) == [(b"{}", False)]
