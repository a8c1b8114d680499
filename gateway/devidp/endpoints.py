"""OIDC endpoints of the development identity provider.

- discovery and JWKS (current + previous key);
- `POST /token`: `authorization_code` with PKCE for the public clients (the code comes
  from `/authorize`, gateway.devidp.authorize), `client_credentials` for the demo
  machine clients (secret in the form or HTTP Basic) and `password` for the demo
  personas (development only);
- `POST /dev/token?persona=...`, `POST /dev/rotate[?retire=true]`, `GET /dev/personas`.
Errors carry the OAuth 2 `error` code (RFC 6749 §5.2) inside the problem document.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response

from gateway.devidp.authorize import AuthorizationCodes, InvalidGrant, IssuedCode
from gateway.devidp.keys import (
    ALGORITHM,
    MOBILE_APP,
    KeyStore,
    TokenSubject,
    access_token,
    access_token_claims,
    person_subject,
    service_account_subject,
)
from gateway.devidp.personas import PERSONAS, Persona
from gateway.devidp.settings import DevIdpSettings
from kernel.errors import BadRequest, Unauthorized

router = APIRouter()


def _oauth_error(code: str, detail: str, status: int = 400) -> BadRequest | Unauthorized:
    if status == 401:
        return Unauthorized(
            detail, extra={"error": code}, headers={"www-authenticate": 'Basic realm="coop-idp"'}
        )
    return BadRequest(detail, extra={"error": code})


def _settings(request: Request) -> DevIdpSettings:
    settings: DevIdpSettings = request.app.state.settings
    return settings


def _store(request: Request) -> KeyStore:
    store: KeyStore = request.app.state.key_store
    return store


def _token_response(settings: DevIdpSettings, store: KeyStore, subject: TokenSubject) -> Any:
    token = access_token(
        store,
        issuer=settings.issuer_url,
        audience=settings.audience,
        ttl_seconds=settings.access_token_ttl_seconds,
        subject=subject,
    )
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl_seconds,
        "scope": subject.claims.get("scope", ""),
    }


def persona_subject(persona: Persona, client_id: str = MOBILE_APP) -> TokenSubject:
    return person_subject(
        persona.subject, persona.email, persona.display_name, persona.name, client_id=client_id
    )


def _id_token(settings: DevIdpSettings, store: KeyStore, issued: IssuedCode) -> str:
    """OIDC Core §2: for the app itself (`aud` = the client), never for the API."""
    persona = PERSONAS[issued.persona]
    claims = access_token_claims(
        issuer=settings.issuer_url,
        audience=issued.request.client_id,
        ttl_seconds=settings.access_token_ttl_seconds,
        subject_claims={
            "sub": persona.subject,
            "azp": issued.request.client_id,
            "auth_time": issued.auth_time,
            "email": persona.email,
            "email_verified": True,
            "name": persona.display_name,
            "preferred_username": persona.name,
        },
    )
    if issued.request.nonce is not None:
        claims["nonce"] = issued.request.nonce
    return store.sign(claims)


@router.get("/.well-known/openid-configuration")
async def discovery(request: Request) -> dict[str, Any]:
    issuer = _settings(request).issuer_url
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/jwks",
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "grant_types_supported": ["authorization_code", "client_credentials", "password"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_post",
            "client_secret_basic",
        ],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "scopes_supported": ["openid", "profile", "email"],
    }


@router.get("/jwks")
async def jwks(request: Request, response: Response) -> dict[str, Any]:
    response.headers["cache-control"] = f"public, max-age={_settings(request).jwks_max_age_seconds}"
    return _store(request).public_jwks()


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        client_id, _, secret = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _oauth_error("invalid_client", "Identifiants client illisibles.", 401) from exc
    return client_id, secret


@router.post("/token")
async def token(
    request: Request,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    username: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
    code: Annotated[str | None, Form()] = None,
    redirect_uri: Annotated[str | None, Form()] = None,
    code_verifier: Annotated[str | None, Form()] = None,
) -> Any:
    settings, store = _settings(request), _store(request)
    if grant_type == "authorization_code":
        if not client_id or client_id not in settings.public_clients:
            raise _oauth_error("invalid_client", "Client public inconnu.", 401)
        if not code or not redirect_uri or not code_verifier:
            raise _oauth_error(
                "invalid_request", "code, redirect_uri et code_verifier sont obligatoires."
            )
        codes: AuthorizationCodes = request.app.state.authorization_codes
        try:
            issued = codes.redeem(
                code, client_id=client_id, redirect_uri=redirect_uri, code_verifier=code_verifier
            )
        except InvalidGrant as exc:
            raise _oauth_error("invalid_grant", str(exc)) from exc
        subject = persona_subject(PERSONAS[issued.persona], client_id)
        answer = _token_response(settings, store, subject)
        if "openid" in issued.request.scope.split():
            answer["id_token"] = _id_token(settings, store, issued)
        return answer
    if grant_type == "client_credentials":
        basic = _basic_credentials(request)
        if basic is not None:
            client_id, client_secret = basic
        expected = settings.client_secrets.get(client_id or "")
        if (
            expected is None
            or client_secret is None
            or not hmac.compare_digest(expected.encode(), client_secret.encode())
        ):
            raise _oauth_error("invalid_client", "Client inconnu ou secret invalide.", 401)
        assert client_id is not None
        return _token_response(settings, store, service_account_subject(client_id))
    if grant_type == "password":
        persona = PERSONAS.get(username or "")
        if persona is None or not hmac.compare_digest(
            settings.persona_password.encode(), (password or "").encode()
        ):
            raise _oauth_error("invalid_grant", "Persona inconnu ou mot de passe invalide.")
        app = client_id if client_id in settings.public_clients else MOBILE_APP
        return _token_response(settings, store, persona_subject(persona, app))
    raise _oauth_error(
        "unsupported_grant_type", f"Type d'autorisation non pris en charge : {grant_type}."
    )


@router.post("/dev/token")
async def dev_token(request: Request, persona: Annotated[str, Query()]) -> Any:
    found = PERSONAS.get(persona)
    if found is None:
        raise _oauth_error("invalid_grant", f"Persona inconnu : {persona}.")
    return _token_response(_settings(request), _store(request), persona_subject(found))


@router.post("/dev/rotate")
async def rotate(
    request: Request,
    retire: Annotated[
        bool,
        Query(
            description="Retire aussi la clé précédente (clé compromise) : ses jetons ne "
            "sont plus acceptés dès que la passerelle relit les clés publiées."
        ),
    ] = False,
) -> dict[str, str]:
    """Nouvelle clé de signature ; la précédente reste publiée, sauf avec `retire`."""
    return {"kid": _store(request).rotate(retire=retire)}


@router.get("/dev/personas")
async def personas() -> list[dict[str, str]]:
    return [
        {"persona": p.name, "sub": p.subject, "email": p.email, "name": p.display_name}
        for p in PERSONAS.values()
    ]
