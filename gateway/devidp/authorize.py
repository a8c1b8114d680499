"""Authorization code + PKCE (RFC 6749 §4.1, RFC 7636 with S256 only) for the personas.

`GET /authorize` checks the client and its redirect URI, then shows a small French page
listing the demo personas (no password: the whole provider refuses production);
`POST /authorize` issues a code and sends the browser back to the redirect URI. The
token endpoint redeems the code (`AuthorizationCodes.redeem`): once, within its short
lifetime, for the same client and redirect URI, with the verifier of the challenge.
Codes live in memory: one provider process, restarted codes are simply gone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Form, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.devidp.personas import PERSONAS
from gateway.devidp.settings import DevIdpSettings

router = APIRouter()

# RFC 7636 §4.1 and §4.2: 43 to 128 unreserved characters (a S256 challenge is 43).
_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_S256_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_LOOPBACK = {"127.0.0.1", "[::1]"}
_MAX_PENDING = 10_000
# The page needs no script, image or frame; inline style only.
_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"


class InvalidGrant(Exception):
    """The code cannot be redeemed (RFC 6749 §5.2 `invalid_grant`); French message."""


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def redirect_uri_allowed(redirect_uri: str, registered: Sequence[str]) -> bool:
    """Exact match, except that a loopback http redirect may use any port (RFC 8252 §7.3)."""
    if redirect_uri in registered:
        return True
    asked = urlsplit(redirect_uri)
    if asked.scheme != "http" or asked.netloc.rsplit(":", 1)[0] not in _LOOPBACK:
        return False
    for uri in registered:
        known = urlsplit(uri)
        if (known.scheme, known.hostname, known.path, known.query) == (
            asked.scheme,
            asked.hostname,
            asked.path,
            asked.query,
        ) and known.port is None:
            return True
    return False


@dataclass(frozen=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    code_challenge: str
    scope: str
    state: str | None
    nonce: str | None


@dataclass(frozen=True)
class IssuedCode:
    request: AuthorizationRequest
    persona: str
    expires_at: float
    auth_time: int


class AuthorizationCodes:
    """Pending codes, each redeemable once before it expires."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._pending: dict[str, IssuedCode] = {}

    def issue(self, request: AuthorizationRequest, persona: str) -> str:
        now = self._clock()
        if len(self._pending) >= _MAX_PENDING:
            self._pending = {c: i for c, i in self._pending.items() if i.expires_at > now}
            while len(self._pending) >= _MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
        code = secrets.token_urlsafe(32)
        self._pending[code] = IssuedCode(request, persona, now + self._ttl, int(time.time()))
        return code

    def redeem(
        self, code: str, *, client_id: str, redirect_uri: str, code_verifier: str
    ) -> IssuedCode:
        # Popped before any check: a code is spent by its first attempt (RFC 6749 §4.1.2).
        issued = self._pending.pop(code, None)
        if issued is None or issued.expires_at <= self._clock():
            raise InvalidGrant("Code d'autorisation inconnu, expiré ou déjà utilisé.")
        if issued.request.client_id != client_id:
            raise InvalidGrant("Ce code a été émis pour un autre client.")
        if issued.request.redirect_uri != redirect_uri:
            raise InvalidGrant("redirect_uri différent de celui de la demande d'autorisation.")
        if not _VERIFIER_RE.match(code_verifier) or not hmac.compare_digest(
            s256(code_verifier), issued.request.code_challenge
        ):
            raise InvalidGrant("code_verifier ne correspond pas au code_challenge.")
        return issued


def _settings(request: Request) -> DevIdpSettings:
    settings: DevIdpSettings = request.app.state.settings
    return settings


def _with_query(uri: str, params: Mapping[str, str | None]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _back_to_client(
    settings: DevIdpSettings, redirect_uri: str, state: str | None, **params: str
) -> RedirectResponse:
    # `iss` (RFC 9207) lets the app check which provider answered.
    location = _with_query(redirect_uri, {**params, "state": state, "iss": settings.issuer_url})
    # 303: the browser follows a POST's answer with a GET.
    return RedirectResponse(location, status_code=303)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem}"
        "ul{list-style:none;padding:0}li{margin:.4rem 0}"
        "button{width:100%;padding:.6rem;text-align:left;font-size:1rem;cursor:pointer}"
        "small{color:#555}"
        f"</style></head><body><main>{body}</main></body></html>"
    )
    return HTMLResponse(
        document,
        status_code=status,
        headers={"content-security-policy": _PAGE_CSP, "cache-control": "no-store"},
    )


def _error_page(message: str) -> HTMLResponse:
    body = (
        "<h1>Demande d'autorisation refusée</h1>"
        f"<p>{html.escape(message)}</p>"
        "<p><small>Le fournisseur d'identité de développement ne renvoie pas vers une "
        "adresse qu'il ne connaît pas.</small></p>"
    )
    return _page("Demande refusée", body, status=400)


def _login_page(settings: DevIdpSettings, auth: AuthorizationRequest) -> HTMLResponse:
    hidden = {
        "response_type": "code",
        "client_id": auth.client_id,
        "redirect_uri": auth.redirect_uri,
        "code_challenge": auth.code_challenge,
        "code_challenge_method": "S256",
        "scope": auth.scope,
        "state": auth.state,
        "nonce": auth.nonce,
    }
    fields = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
        for name, value in hidden.items()
        if value is not None
    )
    choices = "".join(
        f'<li><button type="submit" name="persona" value="{html.escape(p.name)}">'
        f"{html.escape(p.display_name)}<br><small>{html.escape(p.name)}</small></button></li>"
        for p in PERSONAS.values()
    )
    body = (
        "<h1>Connexion (développement)</h1>"
        f"<p>L'application « {html.escape(auth.client_id)} » demande à vous connecter. "
        "Choisissez un persona de démonstration : aucun mot de passe en développement.</p>"
        f'<form method="post" action="{html.escape(settings.issuer_url)}/authorize">{fields}'
        f"<ul>{choices}</ul>"
        '<p><button type="submit" name="refus" value="1">Annuler</button></p></form>'
        "<p><small>Ce fournisseur d'identité n'existe qu'en développement : il refuse de "
        "démarrer en production.</small></p>"
    )
    return _page("Connexion — Coopération (développement)", body)


class AuthorizationParams(BaseModel):
    """An authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3), as asked."""

    response_type: str | None = None
    client_id: str | None = None
    redirect_uri: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    scope: str | None = None
    state: str | None = None
    nonce: str | None = None


class LoginChoice(AuthorizationParams):
    """The login form: the request again (hidden fields), and the persona chosen."""

    persona: str | None = Field(default=None, description="Persona de démonstration choisi.")
    refus: str | None = Field(default=None, description="Présent : la connexion est annulée.")


def _checked(
    settings: DevIdpSettings, asked: AuthorizationParams
) -> AuthorizationRequest | Response:
    """The checked request; or an error page when the redirect URI cannot be trusted,
    else the error sent back to the client's redirect URI (RFC 6749 §4.1.2.1)."""
    client_id, redirect_uri = asked.client_id, asked.redirect_uri
    if not client_id or not redirect_uri:
        return _error_page("client_id et redirect_uri sont obligatoires.")
    registered = settings.public_clients.get(client_id)
    if registered is None:
        return _error_page(f"Client inconnu : « {client_id} ».")
    if not redirect_uri_allowed(redirect_uri, registered):
        return _error_page(f"redirect_uri non enregistrée pour « {client_id} » : {redirect_uri}")
    if asked.response_type != "code":
        return _back_to_client(
            settings,
            redirect_uri,
            asked.state,
            error="unsupported_response_type",
            error_description="Seul response_type=code est pris en charge.",
        )
    challenge = asked.code_challenge or ""
    if asked.code_challenge_method != "S256" or not _S256_CHALLENGE_RE.match(challenge):
        return _back_to_client(
            settings,
            redirect_uri,
            asked.state,
            error="invalid_request",
            error_description="PKCE obligatoire : code_challenge avec la méthode S256.",
        )
    return AuthorizationRequest(
        client_id, redirect_uri, challenge, asked.scope or "openid", asked.state, asked.nonce
    )


@router.get("/authorize", response_class=HTMLResponse)
async def authorize_page(
    request: Request, asked: Annotated[AuthorizationParams, Query()]
) -> Response:
    """Page de connexion : le persona de démonstration à utiliser."""
    settings = _settings(request)
    auth = _checked(settings, asked)
    if isinstance(auth, Response):
        return auth
    return _login_page(settings, auth)


@router.post("/authorize")
async def authorize(request: Request, choice: Annotated[LoginChoice, Form()]) -> Response:
    """Connexion avec le persona choisi : retour vers l'application avec un code."""
    settings = _settings(request)
    # The form's hidden fields come from the browser: checked again, never trusted.
    auth = _checked(settings, choice)
    if isinstance(auth, Response):
        return auth
    if choice.refus:
        return _back_to_client(
            settings,
            auth.redirect_uri,
            auth.state,
            error="access_denied",
            error_description="Connexion annulée.",
        )
    if choice.persona not in PERSONAS:
        return _error_page(f"Persona inconnu : « {choice.persona or ''} ».")
    codes: AuthorizationCodes = request.app.state.authorization_codes
    code = codes.issue(auth, choice.persona)
    return _back_to_client(settings, auth.redirect_uri, auth.state, code=code)
