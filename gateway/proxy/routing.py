"""The explicit routing table of the public API: path template -> service.

Templates are literal segments, `{param}` (one segment) and a trailing `**` (one or
more further segments). The most specific template wins: a literal segment beats a
parameter, which beats `**`. Paths the table does not name are not proxied (404),
so a service's internal routes are never reachable from outside. A template given to
`GATEWAY` is one the gateway answers itself inside a service's prefix (a convention's
history feed, merged across the services): not proxied, left to the gateway's router.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONVENTIONS = "conventions"
ACTIONS = "actions"
DOCUMENTS = "documents"
NOTIFICATIONS = "notifications"
GATEWAY = "gateway"

# (template, service). Nested paths go to the service that owns the sub-resource.
PUBLIC_ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/v1/organisations", CONVENTIONS),
    ("/api/v1/organisations/**", CONVENTIONS),
    ("/api/v1/conventions", CONVENTIONS),
    ("/api/v1/conventions/{id}", CONVENTIONS),
    ("/api/v1/conventions/{id}/**", CONVENTIONS),
    ("/api/v1/conventions/{id}/axes", ACTIONS),
    ("/api/v1/conventions/{id}/axes/**", ACTIONS),
    ("/api/v1/conventions/{id}/actions", ACTIONS),
    ("/api/v1/conventions/{id}/actions/**", ACTIONS),
    ("/api/v1/conventions/{id}/campagnes", ACTIONS),
    ("/api/v1/conventions/{id}/campagnes/**", ACTIONS),
    ("/api/v1/conventions/{id}/bilans", ACTIONS),
    ("/api/v1/conventions/{id}/bilans/**", ACTIONS),
    ("/api/v1/conventions/{id}/indicateurs", ACTIONS),
    ("/api/v1/conventions/{id}/indicateurs/**", ACTIONS),
    ("/api/v1/conventions/{id}/tableau-de-suivi", ACTIONS),
    ("/api/v1/conventions/{id}/imports", ACTIONS),
    ("/api/v1/conventions/{id}/imports/**", ACTIONS),
    ("/api/v1/actions", ACTIONS),
    ("/api/v1/actions/**", ACTIONS),
    ("/api/v1/axes", ACTIONS),
    ("/api/v1/axes/**", ACTIONS),
    ("/api/v1/indicateurs", ACTIONS),
    ("/api/v1/indicateurs/**", ACTIONS),
    ("/api/v1/campagnes", ACTIONS),
    ("/api/v1/campagnes/**", ACTIONS),
    ("/api/v1/bilans", ACTIONS),
    ("/api/v1/bilans/**", ACTIONS),
    ("/api/v1/moi/actions-a-renseigner", ACTIONS),
    ("/api/v1/commentaires/**", ACTIONS),
    ("/api/v1/exports", ACTIONS),
    ("/api/v1/exports/**", ACTIONS),
    ("/api/v1/moi/notifications", NOTIFICATIONS),
    ("/api/v1/moi/notifications/**", NOTIFICATIONS),
    ("/api/v1/moi/preferences", NOTIFICATIONS),
    ("/api/v1/envois", NOTIFICATIONS),
    ("/api/v1/documents", DOCUMENTS),
    ("/api/v1/documents/**", DOCUMENTS),
    ("/api/v1/conventions/{id}/documents", DOCUMENTS),
    ("/api/v1/conventions/{id}/documents/**", DOCUMENTS),
    # Every service's part of the convention's history, merged (gateway/historique.py).
    ("/api/v1/conventions/{id}/historique", GATEWAY),
)


# Uploads (a new document, a new version) and downloads (a version's content): a file's
# bytes, not a JSON exchange. The proxy gives them a longer idle timeout.
_UPLOADS = frozenset({"documents", "versions"})
_DOWNLOAD = "contenu"


def is_transfer(service: str, method: str, path: str) -> bool:
    if service != DOCUMENTS:
        return False
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if method == "POST":
        return last in _UPLOADS
    return method in ("GET", "HEAD") and last == _DOWNLOAD


@dataclass(frozen=True)
class Target:
    """A matched entry; `path` is the template (used as the route label in logs/metrics)."""

    path: str
    service: str


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    target: Target | None = None
    rest: Target | None = None


class RoutingTable:
    def __init__(self, routes: tuple[tuple[str, str], ...] = PUBLIC_ROUTES) -> None:
        self._root = _Node()
        self.routes = routes
        self.services = frozenset(service for _, service in routes if service != GATEWAY)
        for template, service in routes:
            self._add(template, service)
        self._memo: dict[str, Target | None] = {}

    def _add(self, template: str, service: str) -> None:
        node = self._root
        segments = template.strip("/").split("/")
        target = Target(template, service)
        for i, segment in enumerate(segments):
            if segment == "**":
                assert i == len(segments) - 1, "'**' only at the end of a template"
                node.rest = target
                return
            if segment.startswith("{") and segment.endswith("}"):
                node.param = node.param or _Node()
                node = node.param
            else:
                node = node.literals.setdefault(segment, _Node())
        node.target = target

    def match(self, path: str) -> Target | None:
        found = self._memo.get(path, False)
        if found is not False:
            return found  # type: ignore[return-value]
        if not path.startswith("/") or "//" in path:
            result = None
        else:
            segments = path[1:].split("/")
            if segments and segments[-1] == "":
                segments.pop()  # a trailing slash names the same resource
            bad = any(s in (".", "..") for s in segments)
            result = None if bad else self._walk(self._root, segments, 0)
        if result is not None and result.service == GATEWAY:
            result = None  # the gateway's own: its router answers
        if len(self._memo) < 50_000 and "{" not in path:
            self._memo[path] = result
        return result

    def _walk(self, node: _Node, segments: list[str], i: int) -> Target | None:
        if i == len(segments):
            return node.target
        segment = segments[i]
        child = node.literals.get(segment)
        if child is not None:
            found = self._walk(child, segments, i + 1)
            if found is not None:
                return found
        if node.param is not None and segment:
            found = self._walk(node.param, segments, i + 1)
            if found is not None:
                return found
        return node.rest

    def service_for(self, path: str) -> str | None:
        target = self.match(path)
        return None if target is None else target.service
