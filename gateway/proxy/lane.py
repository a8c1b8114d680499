"""The proxied requests' own short path through the gateway.

A path of the routing table needs the gateway's middleware (CORS, security headers,
request id with access log and metrics, IP rate limit, body size limit), then
authentication, the internal token and the stream to the service. It needs nothing
of the framework's own layers (server-error and exception middleware, dependency
exit stacks, the router's scan), which cost the gateway as much CPU per proxied
request as everything it must do (profiled under load: the gateway's CPU per request
fell from 0.28 ms to 0.17 ms without them, see docs/architecture.md).

`GatewayApp` therefore builds two stacks from the app's one middleware list: the
framework's, for the gateway's own routes, and the proxy lane's, the same middleware
around `ProxyEndpoint`. A middleware added to the app applies to both. The lane is
chosen at the app's own entry, before FastAPI's and Starlette's (root path, telemetry
hook, app in scope). Of those the lane needs the app in scope, which it sets itself;
nothing on it reads a root path (the request goes to the service as received).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth.gatekeeper import Gatekeeper, InternalTokens
from gateway.proxy.forward import Proxy, relay
from gateway.proxy.routing import RoutingTable, Target, is_transfer
from kernel.errors import exception_response

TARGET_SCOPE_KEY = "coop.target"


class ProxyEndpoint:
    """Authenticates the caller and forwards; a refusal or a failure before the response
    started is answered as problem+json, like the app's exception handlers answer. Once
    the service's response has started, a failure cuts the connection (the server's
    doing): a truncated answer, never a falsely complete one."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        gatekeeper: Gatekeeper = state.gatekeeper
        tokens: InternalTokens = state.internal_tokens
        proxy: Proxy = state.proxy
        target: Target = scope[TARGET_SCOPE_KEY]
        try:
            principal = await gatekeeper.principal(scope)
            upstream = await proxy.open(
                scope,
                receive,
                service=target.service,
                internal_token=tokens.token_for(principal, target.service),
                request_id=str(scope.get("state", {}).get("request_id", "")),
                transfer=is_transfer(target.service, scope["method"], scope["path"]),
            )
        except Exception as exc:
            await exception_response(exc, scope["path"])(scope, receive, send)
            return
        if upstream is not None:
            await relay(send, upstream, target.service)


class GatewayApp(FastAPI):
    """FastAPI, with the routing table's paths on the proxy lane, dispatched at the app's
    own entry: a proxied request skips FastAPI's and Starlette's entry too."""

    def __init__(self, *, routing_table: RoutingTable, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.routing_table = routing_table
        # Built with the framework's stack, on the first request of either kind.
        self.lane: ASGIApp = self._build_then_proxy

    def build_middleware_stack(self) -> ASGIApp:
        lane: ASGIApp = ProxyEndpoint()
        for cls, args, kwargs in reversed(self.user_middleware):
            lane = cls(lane, *args, **kwargs)
        self.lane = lane
        return super().build_middleware_stack()

    async def _build_then_proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.middleware_stack = self.build_middleware_stack()
        await self.lane(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            target = self.routing_table.match(scope["path"])
            if target is not None:
                scope["app"] = self
                # "route" gives the access log and metrics the template, never the raw path.
                scope["route"] = target
                scope[TARGET_SCOPE_KEY] = target
                await self.lane(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
