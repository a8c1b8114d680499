"""The public OpenAPI document (`/api/v1/openapi.json`) and the API console at `/docs`:
Swagger UI on that document, working offline.

Swagger UI's files come from a Python package (`swagger-ui-bundle-v2`, pinned), never from
a CDN; the page has no inline script (its settings travel as a JSON data block read by
`static/console.js`), so its Content-Security-Policy allows scripts, styles and images
from the gateway's own origin only, and connections to it and to the identity provider
(discovery and token endpoint: "Authorize" runs the authorization code + PKCE flow).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse
from swagger_ui_bundle import swagger_ui_path

from gateway.proxy.openapi import OpenApiMerger
from gateway.settings import GatewaySettings
from kernel.errors import NotFound

OPENAPI_PATH = "/api/v1/openapi.json"
CONSOLE_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ASSETS_PATH = "/docs/assets"
# Scopes ticked in the Authorize dialog (the identity provider adds `aud` = the API).
CONSOLE_SCOPES = ("openid", "profile", "email")

_STATIC = Path(__file__).parent / "static"
# Only what the page loads: the package also holds a demo page pointing at a public
# server, source maps and other bundles, none of which is served.
_ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (Path(str(swagger_ui_path)), "text/javascript; charset=utf-8"),
    "swagger-ui.css": (Path(str(swagger_ui_path)), "text/css; charset=utf-8"),
    "oauth2-redirect.js": (Path(str(swagger_ui_path)), "text/javascript; charset=utf-8"),
    "favicon-32x32.png": (Path(str(swagger_ui_path)), "image/png"),
    "console.js": (_STATIC, "text/javascript; charset=utf-8"),
}

router = APIRouter()


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def console_csp(settings: GatewaySettings) -> str:
    """Exactly what the page needs: its files from the gateway, `data:` images (Swagger
    UI's stylesheet draws its icons with them), calls to the API and to the identity
    provider (discovery, token). No inline script or style, no frame, no form."""
    provider = origin_of(settings.public_discovery_url)
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {provider}; form-action 'none'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )


def _page(title: str, body: str, head: str = "") -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>{head}</head><body>{body}</body></html>",
        headers={"cache-control": "no-cache"},
    )


@router.get(OPENAPI_PATH, include_in_schema=False)
async def public_openapi(request: Request) -> JSONResponse:
    merger: OpenApiMerger = request.app.state.openapi_merger
    return JSONResponse(await merger.document())


@router.get(CONSOLE_PATH, include_in_schema=False)
async def console(request: Request) -> HTMLResponse:
    settings: GatewaySettings = request.app.state.settings
    config = {
        "openapi_url": OPENAPI_PATH,
        "oauth2_redirect_path": OAUTH2_REDIRECT_PATH,
        "client_id": settings.console_client_id,
        "scopes": list(CONSOLE_SCOPES),
    }
    # A data block is not run (CSP does not apply to it); `<` escaped so that no value
    # can close the element.
    data = json.dumps(config).replace("<", "\\u003c")
    return _page(
        "Coopération — console de l'API",
        '<div id="swagger-ui"></div>'
        f'<script type="application/json" id="console-config">{data}</script>'
        f'<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>'
        f'<script src="{ASSETS_PATH}/console.js"></script>',
        f'<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">'
        f'<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">',
    )


@router.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
async def oauth2_redirect() -> HTMLResponse:
    """Where the identity provider sends the sign-in popup back: Swagger UI's own script
    hands the code to the console that opened it, which redeems it with its verifier."""
    return _page(
        "Connexion en cours…",
        f'<p>Connexion en cours…</p><script src="{ASSETS_PATH}/oauth2-redirect.js"></script>',
    )


@router.get(ASSETS_PATH + "/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    found = _ASSETS.get(name)
    if found is None:
        raise NotFound("Fichier inconnu.")
    directory, media_type = found
    # Revalidated by ETag/Last-Modified (FileResponse): a new package version is seen.
    return FileResponse(
        directory / name, media_type=media_type, headers={"cache-control": "no-cache"}
    )
