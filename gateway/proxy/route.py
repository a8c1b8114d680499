"""The proxy as a Starlette route: matched by the routing table, no per-request framework work.

It sits first in the gateway's router; paths it does not know fall through to the
gateway's own routes, then to the 404 problem.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from gateway.auth.gatekeeper import Gatekeeper, InternalTokens
from gateway.proxy.forward import Proxy
from gateway.proxy.routing import RoutingTable, Target

TARGET_SCOPE_KEY = "coop.target"


class ProxyRoute(BaseRoute):
    def __init__(self, table: RoutingTable) -> None:
        self.table = table

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        target = self.table.match(scope["path"])
        if target is None:
            return Match.NONE, {}
        # "route" gives the access log and metrics the template, never the raw path.
        return Match.FULL, {"route": target, TARGET_SCOPE_KEY: target}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        gatekeeper: Gatekeeper = state.gatekeeper
        tokens: InternalTokens = state.internal_tokens
        proxy: Proxy = state.proxy
        target: Target = scope[TARGET_SCOPE_KEY]
        principal = await gatekeeper.principal(scope)
        await proxy.forward(
            scope,
            receive,
            send,
            service=target.service,
            internal_token=tokens.token_for(principal, target.service),
            request_id=str(scope.get("state", {}).get("request_id", "")),
        )
