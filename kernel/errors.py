"""Domain errors and their single RFC 9457 ``application/problem+json`` rendering.

Services raise a `DomainError` subclass (each carries its HTTP status); the handlers
installed by `install_problem_handlers` turn it, FastAPI's validation errors and
Starlette's HTTP errors into problem documents. 422 is reserved for malformed payloads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from kernel.validation_messages import french_message

PROBLEM_CONTENT_TYPE = "application/problem+json"
_log = logging.getLogger("coop.errors")


def problem_type(slug: str) -> str:
    return f"urn:coop:problem:{slug}"


class DomainError(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Requête invalide"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class BadRequest(DomainError):
    pass


class Unauthorized(DomainError):
    status = 401
    slug = "unauthorized"
    title = "Authentification requise"


class Forbidden(DomainError):
    status = 403
    slug = "forbidden"
    title = "Action non autorisée"


class NotFound(DomainError):
    status = 404
    slug = "not-found"
    title = "Ressource introuvable"


class Conflict(DomainError):
    status = 409
    slug = "conflict"
    title = "Conflit avec l'état de la ressource"


class Gone(DomainError):
    """The resource existed and was deleted for good (a purged document): only its
    record is kept."""

    status = 410
    slug = "gone"
    title = "Ressource supprimée définitivement"


class PreconditionFailed(DomainError):
    status = 412
    slug = "precondition-failed"
    title = "Version périmée"


class RequestTimeout(DomainError):
    status = 408
    slug = "request-timeout"
    title = "Requête trop lente"


class PayloadTooLarge(DomainError):
    status = 413
    slug = "payload-too-large"
    title = "Contenu trop volumineux"


class UnsupportedMediaType(DomainError):
    status = 415
    slug = "unsupported-media-type"
    title = "Type de contenu non accepté"


class InvalidPayload(DomainError):
    """A payload that is well-formed JSON but breaks a field rule checked outside pydantic."""

    status = 422
    slug = "validation"
    title = "Données invalides"


class PreconditionRequired(DomainError):
    status = 428
    slug = "precondition-required"
    title = "En-tête If-Match requis"


class TooManyRequests(DomainError):
    status = 429
    slug = "too-many-requests"
    title = "Trop de requêtes"


class ServiceUnavailable(DomainError):
    status = 503
    slug = "service-unavailable"
    title = "Service indisponible"


# Retry-After of a 503, in seconds: a saturated pool frees a connection within moments; a
# dependency that stopped answering (or is down) is given a little longer.
RETRY_SOON = "1"
RETRY_LATER = "5"


def database_saturated() -> ServiceUnavailable:
    """No pooled database connection came free in time: a 503 the client may retry."""
    return ServiceUnavailable(
        "Base de données saturée : réessayez dans un instant.",
        headers={"Retry-After": RETRY_SOON},
    )


def database_unresponsive() -> ServiceUnavailable:
    """PostgreSQL did not answer in time (a connection or a statement past its timeout:
    a server that stalls, not one that is down): a 503 the client may retry."""
    return ServiceUnavailable(
        "La base de données ne répond pas à temps : réessayez dans quelques secondes.",
        headers={"Retry-After": RETRY_LATER},
    )


def field_error(entry: Mapping[str, Any], detail: str) -> dict[str, Any]:
    """One entry of a problem's `errors`, in the one shape clients read whoever raised
    it: `field` (dotted path), `location` (body, query, path, header), `pointer` (JSON
    pointer into the body), `message` (the problem's detail when none was given), `code`
    (machine-readable); null when unknown. Other keys are kept."""
    return {
        **entry,
        "pointer": entry.get("pointer"),
        "location": entry.get("location"),
        "field": entry.get("field"),
        "message": entry.get("message") or detail,
        "code": entry.get("code"),
    }


# PostgreSQL refusing one more connection: too many (for the server or the role), or
# starting up / shutting down. The request did nothing; it may be retried.
_REFUSED_CONNECTION_SQLSTATES = frozenset({"53300", "57P03"})


# PostgreSQL cancelling a statement that ran past its statement_timeout.
_QUERY_CANCELED = "57014"


def _sqlstate(exc: BaseException) -> str | None:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def refused_by_database(exc: BaseException) -> bool:
    """The database would not open a connection (raised by asyncpg, or by SQLAlchemy
    around asyncpg's error)."""
    return _sqlstate(exc) in _REFUSED_CONNECTION_SQLSTATES


def database_timed_out(exc: BaseException) -> bool:
    """The database did not answer in time: a statement PostgreSQL cancelled at its
    statement_timeout, or a TimeoutError (asyncpg's connect timeout, raised through
    SQLAlchemy's pool as is; every other client the apps use raises its own timeout
    type, handled where it is called)."""
    return isinstance(exc, TimeoutError) or _sqlstate(exc) == _QUERY_CANCELED


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    instance: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = [field_error(entry, detail) for entry in errors]
    if extra:
        body.update(extra)
    return Response(
        content=orjson.dumps(body),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=dict(headers or {}),
    )


def domain_error_response(exc: DomainError, path: str) -> Response:
    """The problem+json answer to a domain error raised at `path`: the app's handler, and
    middleware that refuses before the router, render it the same way."""
    return problem_response(
        exc.status,
        exc.title,
        exc.detail,
        slug=exc.slug,
        instance=path,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


def exception_response(exc: Exception, path: str) -> Response:
    """The answer to an exception raised while serving `path`, wherever it is caught (the
    app's handlers, the gateway's proxy lane): a domain error's problem; 503 with
    Retry-After when no pooled database connection came free in time, PostgreSQL
    refused a new one or did not answer in time; otherwise a bug's 500, logged with its
    traceback, that tells nothing of it."""
    if isinstance(exc, DomainError):
        return domain_error_response(exc, path)
    if isinstance(exc, PoolTimeoutError) or refused_by_database(exc):
        # No connection to be had: the pool's all lent out, or PostgreSQL takes no more.
        _log.warning("database saturated", extra={"fields": {"path": path, "error": str(exc)}})
        return domain_error_response(database_saturated(), path)
    if database_timed_out(exc):
        _log.warning("database unresponsive", extra={"fields": {"path": path, "error": repr(exc)}})
        return domain_error_response(database_unresponsive(), path)
    _log.exception("unhandled error", exc_info=exc)
    return problem_response(
        500,
        "Erreur interne",
        "Une erreur inattendue est survenue ; elle a été journalisée.",
        slug="internal",
        instance=path,
    )


def validation_entries(
    errors: Sequence[Mapping[str, Any]], location: str | None = None, body: object = None
) -> list[dict[str, Any]]:
    """Problem `errors` entries from pydantic's errors. Their `loc` starts with the
    location (``body``, ``query``...) unless `location` is given (a model validated
    on its own, as a multipart form's fields).

    A body that is one of several models told apart by its `type` (a discriminated
    union: the kinds of export) has pydantic name the branch in `loc` (``national``
    before ``annee``): not a field of the body, so it is left out of the field and the
    pointer."""
    tag = body.get("type") if isinstance(body, dict) else None
    out = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        if location is not None:
            loc = [location, *loc]
        if tag is not None and loc[:2] == ["body", str(tag)]:
            del loc[1]
        code = err.get("type", "")
        if code == "json_invalid":
            # FastAPI locates a body that is not JSON at a character offset, not a field.
            loc = loc[:1]
        out.append(
            {
                "pointer": "/" + "/".join(loc[1:]) if loc and loc[0] == "body" else None,
                "location": loc[0] if loc else None,
                "field": ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None),
                "message": french_message(err),
                "code": code,
            }
        )
    return out


BODY_UNREADABLE = (
    "Le corps de la requête est illisible : encodage (UTF-8 attendu) ou format "
    "(JSON, formulaire multipart) invalide."
)

_HTTP_TITLES = {
    400: "Requête invalide",
    401: "Authentification requise",
    403: "Action non autorisée",
    404: "Ressource introuvable",
    405: "Méthode non autorisée",
    406: "Format non acceptable",
    413: "Contenu trop volumineux",
    415: "Type de contenu non accepté",
    429: "Trop de requêtes",
}


_HTTP_DETAILS = {
    404: "Aucune ressource à cette adresse.",
    405: "Cette méthode n'est pas acceptée sur cette ressource.",
}


def _standard_phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


def install_problem_handlers(app: FastAPI) -> None:
    async def on_exception(request: Request, exc: Exception) -> Response:
        return exception_response(exc, request.url.path)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(
            422,
            "Données invalides",
            "La requête contient des champs invalides ou manquants.",
            slug="validation",
            instance=request.url.path,
            errors=validation_entries(exc.errors(), body=exc.body),
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if detail == _standard_phrase(exc.status_code):
            # Starlette's default detail is the status's English phrase.
            detail = _HTTP_DETAILS.get(exc.status_code) or (
                _HTTP_TITLES.get(exc.status_code, "Erreur") + "."
            )
        if exc.status_code == 400:
            # Only FastAPI and Starlette raise their HTTPException with a 400 (our code
            # raises DomainError): a body they could not parse ("There was an error
            # parsing the body", a multipart error), said in English.
            detail = BODY_UNREADABLE
        return problem_response(
            exc.status_code,
            _HTTP_TITLES.get(exc.status_code, "Erreur"),
            detail,
            slug=f"http-{exc.status_code}",
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    app.add_exception_handler(DomainError, on_exception)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(PoolTimeoutError, on_exception)
    # Database errors answered here, not re-raised to the server by the catch-all's
    # middleware: a refused or timed-out connection is a 503 (exception_response), the
    # others a 500.
    app.add_exception_handler(DBAPIError, on_exception)
    app.add_exception_handler(asyncpg.PostgresError, on_exception)
    app.add_exception_handler(TimeoutError, on_exception)
    app.add_exception_handler(Exception, on_exception)
