"""A request body that stops arriving: 408 and the connection closed.

The server (granian) times out a request's headers, not its body: a client that
sends a Content-Length and then a byte now and then would hold a request for ever.
Each wait for the next piece of the body is bounded here. Past it the app is told the
client left (`http.disconnect`: it stops reading and gives up its work, as when a
client hangs up mid-upload) and the client gets a 408 problem with
`Connection: close`: the rest of its body will never be read.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.errors import RequestTimeout, domain_error_response


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return bool(value != b"0")
        if name == b"transfer-encoding":
            return True
    return False


class BodyIdleTimeoutMiddleware:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        seconds = self.seconds
        timed_out = False
        started = False

        async def receive_in_time() -> Message:
            nonlocal timed_out
            if not timed_out:
                try:
                    async with asyncio.timeout(seconds):
                        return await receive()
                except TimeoutError:
                    timed_out = True
            return {"type": "http.disconnect"}

        async def send_unless_timed_out(message: Message) -> None:
            nonlocal started
            if timed_out and not started:
                return  # the app's answer to a client it thinks gone: the 408 is ours
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_in_time, send_unless_timed_out)
        except Exception:
            if not timed_out or started:
                raise
        if timed_out and not started:
            refusal = RequestTimeout(
                f"Le corps de la requête n'a pas progressé pendant {seconds:g} s.",
                headers={"connection": "close"},
            )
            await domain_error_response(refusal, scope["path"])(scope, receive, send)
