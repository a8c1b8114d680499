"""What each operation of an app's OpenAPI document says it may answer, derived from code.

A route's answers come from what it is made of, never from a list kept beside it:

- its dependencies: each one that can refuse a request says which statuses
  (`statuses` on the dependency's callable, or `declare` for a function: the rights of
  `kernel.rights`, the conditional headers of `kernel.etag`, the Idempotency-Key guard,
  the database session, the pagination cursor, the gateway's authentication);
- the conditional headers it honours (its `Preconditions` dependency): `If-Match`
  (required where a 428 is possible), `If-None-Match`, and `ETag` on its answers;
- the domain errors its service raises, named with the route (`raises(Conflict, ...)`
  as the route's `responses`): each error class carries its status and French title;
- FastAPI's own: the success status, 422 for a route that takes input.

Every 4xx/5xx is an RFC 9457 problem (`application/problem+json`, the `Probleme`
schema with its `errors` entries), as `kernel.errors` renders it. The gateway adds
its own answers to the merged document (`gateway.proxy.openapi`).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic_core import to_jsonable_python

from kernel.database import DbSession
from kernel.deprecation import Deprecation, operation_deprecation, route_deprecation
from kernel.errors import PROBLEM_CONTENT_TYPE, DomainError
from kernel.etag import ConditionalHeaders
from kernel.fields import examples_of, models_in
from kernel.pagination import Pagination
from kernel.raised import raised_by

PROBLEM_REF = "#/components/schemas/Probleme"

# French descriptions of the statuses an error class does not name (FastAPI's own,
# the servers' and the gateway's).
STATUS_DESCRIPTIONS: dict[int, str] = {
    200: "Succès",
    201: "Créé",
    202: "Accepté : traitement en cours",
    204: "Fait, sans contenu",
    206: "Partie du contenu demandée (Range)",
    304: "Inchangé depuis l'ETag envoyé dans If-None-Match",
    400: "Requête invalide",
    401: "Authentification requise : jeton absent, invalide ou expiré",
    403: "Action non autorisée",
    404: "Ressource introuvable (ou hors de votre périmètre)",
    408: "Requête trop lente : le corps n'arrive plus",
    409: "Conflit avec l'état de la ressource",
    412: "Version périmée : l'ETag envoyé dans If-Match n'est plus celui de la ressource",
    413: "Contenu trop volumineux",
    415: "Type de contenu non accepté",
    416: "Plage demandée hors du contenu",
    422: "Données invalides",
    428: "En-tête If-Match requis",
    429: "Trop de requêtes : réessayez après le délai de Retry-After",
    431: "En-têtes de la requête trop volumineux",
    500: "Erreur interne",
    502: "Réponse invalide d'un service",
    503: "Service indisponible : réessayez après le délai de Retry-After",
    504: "Service trop lent",
}

# FastAPI's own (English) descriptions, said in French instead.
_FASTAPI_DESCRIPTIONS = frozenset(
    {"Successful Response", "Validation Error", "Additional Response"}
)

# Statuses whose answer carries Retry-After.
RETRY_AFTER_STATUSES = frozenset({429, 503})

_DECLARED: dict[Callable[..., Any], tuple[int, ...]] = {}
_SUCCESS_HEADERS: dict[Callable[..., Any], dict[str, Any]] = {}


def declare(dependency: Any, *statuses: int, success_headers: dict[str, Any] | None = None) -> None:
    """Note what a dependency may answer: a dependency function, or an `Annotated`
    alias holding one (``DbSession``); `success_headers`: response headers it may add
    to a 2xx answer (OpenAPI header objects by name)."""
    call = _callable_of(dependency)
    _DECLARED[call] = statuses
    if success_headers:
        _SUCCESS_HEADERS[call] = success_headers


def _callable_of(dependency: Any) -> Callable[..., Any]:
    if typing.get_origin(dependency) is typing.Annotated:
        for meta in typing.get_args(dependency)[1:]:
            call = getattr(meta, "dependency", None)
            if call is not None:
                return typing.cast(Callable[..., Any], call)
    return typing.cast(Callable[..., Any], dependency)


def raises(*errors: type[DomainError]) -> dict[int | str, dict[str, Any]]:
    """The domain errors a route's service may raise, as the route's `responses`."""
    out: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = out.setdefault(error.status, {"description": error.title})
        if error.title not in entry["description"].split(" ; "):
            entry["description"] += f" ; {error.title}"
    return out


def _dependencies(dependant: Dependant) -> Iterable[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def _statuses(call: Any) -> tuple[int, ...]:
    declared = _DECLARED.get(call)
    if declared is not None:
        return declared
    statuses = getattr(call, "statuses", ())
    return tuple(statuses) if isinstance(statuses, tuple) else ()


def _in_kernel(call: Any) -> bool:
    module = getattr(call, "__module__", None) or type(call).__module__
    return module.split(".", 1)[0] == "kernel"


_ETAG = {
    "description": "Version de la ressource, à renvoyer dans If-Match ou If-None-Match.",
    "schema": {"type": "string"},
}
_LOCATION = {"description": "Adresse de la ressource créée.", "schema": {"type": "string"}}
_WWW_AUTHENTICATE = {
    "description": 'Le défi Bearer (RFC 6750) : error="invalid_token" pour un jeton refusé.',
    "schema": {"type": "string"},
}
_CONTENT_RANGE = {
    "description": "bytes */taille : la taille du contenu.",
    "schema": {"type": "string"},
}
# The gateway's refusal states the budget (IETF httpapi draft's fields, gateway.limits).
_RATE_LIMIT = {
    "RateLimit-Policy": {
        "description": 'Le budget entier : "nom";q=requêtes;w=secondes.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'Ce qui reste : "nom";r=0;t=secondes avant la prochaine requête.',
        "schema": {"type": "string"},
    },
}
_RETRY_AFTER = {
    "description": "Secondes à attendre avant de réessayer.",
    "schema": {"type": "string"},
}
_DEPRECATION = {
    "description": "Obsolète depuis cette date (RFC 9745, @secondes depuis le 1er janvier "
    "1970) : l'opération, ou un champ qu'elle accepte ou renvoie (marqué deprecated).",
    "schema": {"type": "string"},
}
_SUNSET = {
    "description": "Date à laquelle ce qui est obsolète ne sera plus servi (RFC 8594).",
    "schema": {"type": "string"},
}
_DEPRECATION_LINK = {
    "description": 'La page qui dit ce qui le remplace (rel="deprecation").',
    "schema": {"type": "string"},
}


class RouteAnswers:
    """What one route may answer and the conditional headers it reads."""

    def __init__(self, route: RouteContext) -> None:
        self.statuses: set[int] = set()
        self.conditional: list[ConditionalHeaders] = []
        self.errors: set[type[DomainError]] = set()
        self.success_headers: dict[str, Any] = {}
        if route.endpoint is not None:
            self.errors |= raised_by(route.endpoint)
        for dependant in _dependencies(route.dependant):
            call = dependant.call
            if call is None:
                continue
            self.statuses.update(_statuses(call))
            self.success_headers.update(_SUCCESS_HEADERS.get(call, {}))
            if isinstance(call, ConditionalHeaders):
                self.conditional.append(call)
            elif not _in_kernel(call):
                # An app's own dependency: its code says what it raises.
                self.errors |= raised_by(call if inspect.isfunction(call) else type(call).__call__)
        self.statuses.update(error.status for error in self.errors)

    def parameters(self) -> list[dict[str, Any]]:
        """The header parameters its conditional headers document (required if any
        of them requires it)."""
        out: dict[str, dict[str, Any]] = {}
        for conditional in self.conditional:
            for parameter in conditional.parameters():
                known = out.setdefault(parameter["name"], parameter)
                known["required"] = known["required"] or parameter["required"]
        return list(out.values())


def problem_response(description: str, status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
    }
    if status in RETRY_AFTER_STATUSES:
        response["headers"] = {"Retry-After": _RETRY_AFTER}
    if status == 429:
        response["headers"].update(_RATE_LIMIT)
    if status == 401:
        response["headers"] = {"WWW-Authenticate": _WWW_AUTHENTICATE}
    if status == 416:
        response["headers"] = {"Content-Range": _CONTENT_RANGE}
    return response


def add_problem(responses: dict[str, Any], status: int, description: str | None = None) -> None:
    """Declare `status` as a problem answer of an operation's `responses` (kept when the
    operation declares it already, turned into a problem if it was not one)."""
    existing = responses.get(str(status))
    text = description or STATUS_DESCRIPTIONS.get(status, "Erreur")
    if existing is None:
        responses[str(status)] = problem_response(text, status)
        return
    described = existing.get("description")
    problem = problem_response(
        described if described and described not in _FASTAPI_DESCRIPTIONS else text, status
    )
    problem["headers"] = {**problem.get("headers", {}), **existing.get("headers", {})}
    if not problem["headers"]:
        del problem["headers"]
    responses[str(status)] = problem


def _document_deprecation(
    operation: dict[str, Any], deprecation: Deprecation, *, whole: bool
) -> None:
    """`deprecated: true` on a deprecated operation; the headers every answer carries
    (the operation's, or that of an operation taking or giving a deprecated field)."""
    if whole:
        operation["deprecated"] = True
    headers = {"Deprecation": _DEPRECATION}
    if deprecation.sunset is not None:
        headers["Sunset"] = _SUNSET
    if deprecation.link is not None:
        headers["Link"] = _DEPRECATION_LINK
    for response in operation.get("responses", {}).values():
        response.setdefault("headers", {}).update(headers)


def _document_operation(
    operation: dict[str, Any], answers: RouteAnswers, *, versioned: bool
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, response in responses.items():
        if response.get("description") in _FASTAPI_DESCRIPTIONS and code.isdigit():
            response["description"] = STATUS_DESCRIPTIONS.get(int(code), "Succès")
    for status in answers.statuses:
        if status >= 400:
            add_problem(responses, status)
        elif str(status) not in responses:
            responses[str(status)] = {"description": STATUS_DESCRIPTIONS.get(status, "Succès")}
    for code in list(responses):
        if code.isdigit() and int(code) >= 400:
            add_problem(responses, int(code))
    if versioned:
        for code, response in responses.items():
            if code.startswith("2") or code in ("304", "412"):
                response.setdefault("headers", {})["ETag"] = _ETAG
    for code, response in responses.items():
        if code.startswith("2") and answers.success_headers:
            response.setdefault("headers", {}).update(answers.success_headers)
    created = responses.get("201")
    if created is not None:
        created.setdefault("headers", {}).setdefault("Location", _LOCATION)
    if "304" in responses:
        responses["304"].pop("content", None)
    sort_responses(operation)
    parameters = operation.setdefault("parameters", [])
    names = {p.get("name", "").lower() for p in parameters if p.get("in") == "header"}
    parameters.extend(p for p in answers.parameters() if p["name"].lower() not in names)
    if not parameters:
        del operation["parameters"]


def sort_responses(operation: dict[str, Any]) -> None:
    """An operation's responses in the order of their statuses."""
    responses = operation.get("responses", {})
    operation["responses"] = dict(sorted(responses.items()))


PROBLEM_SCHEMAS: dict[str, Any] = {
    "ErreurDeChamp": {
        "title": "ErreurDeChamp",
        "description": "Un champ en cause dans un problème.",
        "type": "object",
        "properties": {
            "field": {
                "type": ["string", "null"],
                "description": "Chemin du champ (a.b.0).",
            },
            "location": {
                "type": ["string", "null"],
                "description": "Où : body, query, path, header.",
            },
            "pointer": {
                "type": ["string", "null"],
                "description": "Pointeur JSON dans le corps (RFC 6901).",
            },
            "message": {"type": ["string", "null"], "description": "Ce qui ne va pas."},
            "code": {"type": ["string", "null"], "description": "Code pour les programmes."},
        },
        "required": ["field", "location", "pointer", "message", "code"],
    },
    "Probleme": {
        "title": "Probleme",
        "description": (
            "Une réponse d'erreur au format RFC 9457 (application/problem+json). D'autres "
            "membres peuvent s'y ajouter selon le problème (`code`, `manquants`...)."
        ),
        "type": "object",
        "properties": {
            "type": {
                "type": "string",
                "description": "Identifiant du problème : urn:coop:problem:<code>.",
            },
            "title": {"type": "string", "description": "Intitulé du problème."},
            "status": {"type": "integer", "description": "Le statut HTTP de la réponse."},
            "detail": {"type": "string", "description": "Explication pour cette requête."},
            "instance": {"type": "string", "description": "Chemin de la requête."},
            "errors": {
                "type": "array",
                "description": "Les champs en cause.",
                "items": {"$ref": "#/components/schemas/ErreurDeChamp"},
            },
        },
        "required": ["type", "title", "status", "detail"],
    },
}

# FastAPI's own validation error schemas: replaced by the problem documents.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def document_answers(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (FastAPI's document of `app`) with each operation's answers derived."""
    paths: Mapping[str, Any] = schema.get("paths", {})
    routes = [
        (route, RouteAnswers(route))
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute) and route.include_in_schema
    ]
    # A representation some route answers under conditional headers has a version: its
    # ETag comes with it from every route answering it (a creation, a transition).
    versioned = {
        route.response_model
        for route, answers in routes
        if answers.conditional and route.response_model is not None
    }
    for route, answers in routes:
        item = paths.get(route.path_format or "")
        if item is None:
            continue
        etag = bool(answers.conditional) or route.response_model in versioned
        deprecation = route_deprecation(route.original_route)
        whole = operation_deprecation(route.endpoint) is not None
        for method in route.methods or ():
            operation = item.get(method.lower())
            if operation is not None:
                _document_operation(operation, answers, versioned=etag)
                if deprecation is not None:
                    _document_deprecation(operation, deprecation, whole=whole)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    schemas.update(PROBLEM_SCHEMAS)
    return schema


def restore_examples(app: FastAPI, schema: dict[str, Any]) -> None:
    """The schemas' examples as their models give them: FastAPI drops every null from
    the document it builds, an example's nulls too (a required nullable field then
    missing from it)."""
    schemas = schema.get("components", {}).get("schemas", {})
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        body_field = route.original_route.body_field
        body = body_field.field_info.annotation if body_field else None
        for model in (*models_in(route.response_model), *models_in(body)):
            found = examples_of(model)
            if found and model.__name__ in schemas:
                schemas[model.__name__]["examples"] = to_jsonable_python(found)


def install_documented_openapi(app: FastAPI) -> None:
    """The app's `/openapi.json` with every operation's answers derived (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            restore_examples(app, schema)
            app.openapi_schema = document_answers(app, schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# The kernel's own dependencies: a database that cannot serve (kernel.errors), a
# pagination cursor that does not decode.
declare(DbSession, 503)
declare(Pagination, 400)
