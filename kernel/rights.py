"""The right a route requires, declared at the route.

Every public route takes its caller through exactly one right dependency (a guard test
checks it), in the manner of ``principal: ConventionWrite``: the name says what the
route does, the `Right` says who may ever do it (the roles of DOMAIN.md, any of which
the caller must hold on some organisation). A caller holding none of them is refused
before the handler runs (403), unless the route's object lies outside the caller's
scope: then it is 404, as the service would answer, so a refusal never tells what
exists (the matrix of `tests/authz/`). The services still enforce the object-level
rules: the scope (404) and the rights on this very object (403).

The refusal waits for FastAPI to validate the request: a malformed request is a 422
whoever sends it (`tests/authz/test_hostile_input.py`). The dependency notes what to
refuse; `RightRoute`, the class of every public route (the kernel's idempotent routes
derive from it), refuses it as the handler is entered.

Where the object is named by the body rather than the path (an upload, a grant on an
organisation), the service finds it and refuses; the route still declares its right.

Each check carries the statuses it may answer (`statuses`), for a route's
documentation to be derived from its dependencies.
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.database import DbSession
from kernel.errors import Forbidden
from kernel.internal_token import CurrentPrincipal
from kernel.principal import Principal, Role

# The roles of DOMAIN.md, as the authorization matrix groups them.
CAF_WRITERS = frozenset({Role.agent, Role.administrateur})
COLLECTIVITE_WRITERS = frozenset({Role.contributeur, Role.referent})
WRITERS = CAF_WRITERS | COLLECTIVITE_WRITERS
# The Caf's agents, and a collectivité's referent acting for it (art. 12's acts, the
# COPIL's decisions, habilitations).
CAF_WRITERS_AND_REFERENTS = CAF_WRITERS | {Role.referent}


@dataclass(frozen=True, slots=True)
class Right:
    """Who may ever do something: any of `roles` (None: any authenticated caller, the
    scope alone decides what it sees). `refusal` is the 403's French detail."""

    name: str
    roles: frozenset[Role] | None = None
    refusal: str = ""

    def held_by(self, principal: Principal) -> bool:
        roles = self.roles
        return roles is None or any(grant.role in roles for grant in principal.grants)


Caller = TypeVar("Caller")
# Finds the route's object (its id in the path) in the caller's scope: NotFound outside.
Scope = Callable[[Request, AsyncSession, Caller, uuid.UUID], Awaitable[object]]


def scope_of(load: Callable[[AsyncSession, Caller, uuid.UUID], Awaitable[object]]) -> Scope[Caller]:
    """The service's own lookup of an object in the caller's scope, as a right's scope."""

    async def scope(
        request: Request, session: AsyncSession, caller: Caller, object_id: uuid.UUID
    ) -> object:
        return await load(session, caller, object_id)

    return scope


class RightCheck(Generic[Caller]):
    """A route's right (the dependency's callable; each app gives it its signature)."""

    def __init__(
        self,
        right: Right,
        *,
        on: tuple[str, Scope[Caller]] | None = None,
        object_in_body: bool = False,
    ) -> None:
        if right.roles is not None and not right.refusal:
            raise ValueError(f"{right.name}: a right that refuses says why")
        self.right = right
        # The path parameter naming the route's object, and how to find it in the scope.
        self.path_param: str | None = on[0] if on is not None else None
        self._scope: Scope[Caller] | None = on[1] if on is not None else None
        self.object_in_body = object_in_body

    @property
    def statuses(self) -> tuple[int, ...]:
        """What a request may be answered because of this right: 401 without a valid
        token, 403 without the roles, 404 when its object is outside the scope."""
        out = [401]
        if self.right.roles is not None or self.object_in_body:
            out.append(403)
        if self.path_param is not None or self.object_in_body:
            out.append(404)
        return tuple(out)

    def require(
        self, request: Request, session: AsyncSession, caller: Caller, principal: Principal
    ) -> None:
        """Note what the handler's entry must refuse (nothing when the caller holds the
        right, or when the service finds the object in the body)."""
        refusal = None
        if not (self.right.held_by(principal) or self.object_in_body):
            refusal = partial(self._refuse, request, session, caller)
        _REFUSAL.set(refusal)

    async def _refuse(self, request: Request, session: AsyncSession, caller: Caller) -> None:
        if self._scope is not None and self.path_param is not None:
            # Validated by now: the route declares it (a UUID, tests/authz/test_guard.py).
            object_id = uuid.UUID(request.path_params[self.path_param])
            await self._scope(request, session, caller, object_id)  # NotFound outside
        raise Forbidden(self.right.refusal)


# What the current request's right refuses, noted by its dependency. Each public route
# has exactly one right dependency, which sets it on every request.
_REFUSAL: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "coop_right_refusal", default=None
)


def _refusing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    if not inspect.iscoroutinefunction(endpoint):
        raise TypeError(f"{endpoint.__name__}: public routes are coroutines")

    @functools.wraps(endpoint)  # FastAPI reads the endpoint's own signature
    async def handler(*args: Any, **kwargs: Any) -> Any:
        refusal = _REFUSAL.get()
        if refusal is not None:
            _REFUSAL.set(None)
            await refusal()
        return await endpoint(*args, **kwargs)

    return handler


class RightRoute(APIRoute):
    """A public route: the right its dependency found missing is refused once the
    request is valid, before the handler runs."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _refusing(endpoint), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def fresh(request: Request) -> Response:
            # Nothing noted by an earlier request handled in the same context survives.
            _REFUSAL.set(None)
            return await handler(request)

        return fresh


class ServiceRight(RightCheck[Principal]):
    """A right of a service's route: the caller is the internal token's principal."""

    async def __call__(
        self, request: Request, principal: CurrentPrincipal, session: DbSession
    ) -> Principal:
        self.require(request, session, principal, principal)
        return principal


# Any authenticated caller of a service: a directory, or a view filtered to its scope.
Everyone = Annotated[Principal, Depends(ServiceRight(Right("Everyone")))]
