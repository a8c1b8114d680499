"""One OpenAPI document for the whole public API.

Each service's /openapi.json is fetched (lazily, then cached), only the paths the
routing table sends to that service are kept, and the gateway's own routes are added.
Component names that two services define differently are prefixed with the service
name (and every `$ref` of that service rewritten accordingly). What only the dropped
paths used (the services' internal routes: their tags, their schemas) is dropped too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from gateway.proxy.routing import RoutingTable
from kernel.openapi import add_problem, sort_responses

_log = logging.getLogger("coop.gateway.openapi")
_REF_PREFIX = "#/components/"


def _rewrite_refs(node: Any, renames: Mapping[str, str]) -> Any:
    """A copy of `node` (new dicts and lists all the way down) with `$ref`s renamed."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value in renames:
                out[key] = renames[value]
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


def security_schemes(discovery_url: str) -> dict[str, Any]:
    return {
        "oidc": {
            "type": "openIdConnect",
            "openIdConnectUrl": discovery_url,
            "description": "Connexion auprès du fournisseur d'identité (OpenID Connect) : "
            "code d'autorisation + PKCE pour une personne, `client_credentials` pour un "
            "client machine.",
        },
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Un jeton d'accès déjà obtenu (par exemple `coop token --as "
            "caf-agent` en développement), collé tel quel.",
        },
    }


_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# What the gateway itself may answer on any operation: over the client's budget (per IP,
# per principal), request line and headers too large (the server).
_EVERY_OPERATION = (429, 431)
# On an operation taking a body: too large, or too slow to arrive.
_WITH_BODY = (408, 413)
# On an operation it forwards: no valid token, the service unreachable (503), too slow
# to answer (504), or answering what is not HTTP (502).
_PROXIED = (401, 502, 503, 504)


def add_gateway_answers(item: dict[str, Any], *, proxied: bool) -> None:
    """The answers the gateway adds to those of a path's operations."""
    for method in _METHODS:
        operation = item.get(method)
        if not isinstance(operation, dict):
            continue
        responses = operation.setdefault("responses", {})
        statuses = [*_EVERY_OPERATION]
        if "requestBody" in operation:
            statuses += _WITH_BODY
        if proxied:
            statuses += _PROXIED
        for status in statuses:
            add_problem(responses, status)
        sort_responses(operation)


def merge_documents(
    own: dict[str, Any],
    services: Mapping[str, dict[str, Any]],
    table: RoutingTable,
    *,
    title: str,
    version: str,
    discovery_url: str,
) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "openapi": own.get("openapi", "3.1.0"),
        "info": {
            "title": title,
            "version": version,
            "description": "L'API publique de Coopération : une seule porte, la passerelle.",
        },
        "paths": {},
        "components": {"securitySchemes": security_schemes(discovery_url)},
        # Either scheme: the same access token, obtained by the console or pasted.
        "security": [{"oidc": []}, {"bearer": []}],
        "tags": [],
    }
    sources = [("gateway", own), *sorted(services.items())]
    seen_tags: set[str] = set()
    for source, document in sources:
        components: dict[str, dict[str, Any]] = document.get("components", {}) or {}
        renames: dict[str, str] = {}
        for section, entries in components.items():
            if section == "securitySchemes" or not isinstance(entries, dict):
                continue
            target = merged["components"].setdefault(section, {})
            for name, definition in entries.items():
                if name in target and target[name] != definition:
                    renames[f"{_REF_PREFIX}{section}/{name}"] = (
                        f"{_REF_PREFIX}{section}/{source}_{name}"
                    )
        for section, entries in components.items():
            if section == "securitySchemes" or not isinstance(entries, dict):
                continue
            target = merged["components"][section]
            for name, definition in entries.items():
                new_ref = renames.get(f"{_REF_PREFIX}{section}/{name}")
                new_name = new_ref.rsplit("/", 1)[1] if new_ref else name
                target[new_name] = _rewrite_refs(definition, renames)
        for path, item in (document.get("paths", {}) or {}).items():
            if source == "gateway":
                if not path.startswith("/api/") or table.match(path) is not None:
                    continue
            elif table.service_for(path) != source:
                continue
            merged["paths"][path] = _rewrite_refs(item, renames)
            add_gateway_answers(merged["paths"][path], proxied=source != "gateway")
        for tag in document.get("tags", []) or []:
            if isinstance(tag, dict) and tag.get("name") not in seen_tags:
                seen_tags.add(str(tag.get("name")))
                merged["tags"].append(tag)
    merged["paths"] = dict(sorted(merged["paths"].items()))
    _drop_unused(merged)
    return merged


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out.add(value)
            else:
                _refs(value, out)
    elif isinstance(node, list):
        for item in node:
            _refs(item, out)


def _drop_unused(merged: dict[str, Any]) -> None:
    """Drop the tags no kept operation names and the components no kept path reaches
    (the services' internal routes are not part of the public API)."""
    used_tags = {
        tag
        for item in merged["paths"].values()
        for method in _METHODS
        if isinstance(item.get(method), dict)
        for tag in item[method].get("tags", [])
    }
    merged["tags"] = [tag for tag in merged["tags"] if tag.get("name") in used_tags]
    reached: set[str] = set()
    pending: set[str] = set()
    _refs(merged["paths"], pending)
    components = merged["components"]
    while pending:
        ref = pending.pop()
        if ref in reached or not ref.startswith(_REF_PREFIX):
            continue
        reached.add(ref)
        section, _, name = ref.removeprefix(_REF_PREFIX).partition("/")
        _refs(components.get(section, {}).get(name), pending)
    for section, entries in components.items():
        if section == "securitySchemes":
            continue
        for name in [n for n in entries if f"{_REF_PREFIX}{section}/{n}" not in reached]:
            del entries[name]


class OpenApiMerger:
    def __init__(
        self,
        clients: Mapping[str, httpx.AsyncClient],
        base_urls: Mapping[str, str],
        table: RoutingTable,
        own: Callable[[], dict[str, Any]],
        *,
        discovery_url: str,
        cache_seconds: float,
        version: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self._bases = {name: url.rstrip("/") for name, url in base_urls.items()}
        self._table = table
        self._own = own
        self._discovery_url = discovery_url
        self._cache_seconds = cache_seconds
        self._version = version
        self._clock = clock
        self._cached: tuple[dict[str, Any], float] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        async with self._lock:
            now = self._clock()
            if self._cached is not None and now < self._cached[1]:
                return self._cached[0]
            names = sorted(s for s in self._table.services if s in self._clients)
            fetched = await asyncio.gather(*(self._fetch(name) for name in names))
            documents = {name: doc for name, doc in zip(names, fetched, strict=True) if doc}
            merged = merge_documents(
                self._own(),
                documents,
                self._table,
                title="Coopération",
                version=self._version,
                discovery_url=self._discovery_url,
            )
            missing = sorted(set(names) - set(documents))
            if missing:
                merged["info"]["x-coop-services-indisponibles"] = missing
            # A partial document is kept briefly only: the missing service may be starting.
            lifetime = self._cache_seconds if not missing else min(self._cache_seconds, 5.0)
            self._cached = (merged, now + lifetime)
            return merged

    async def _fetch(self, service: str) -> dict[str, Any] | None:
        try:
            response = await self._clients[service].get(self._bases[service] + "/openapi.json")
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            _log.warning(
                "OpenAPI of a service unavailable",
                extra={"fields": {"service": service, "error": repr(exc)}},
            )
            return None
        return document if isinstance(document, dict) else None
