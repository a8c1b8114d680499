"""The one-click unsubscribe of the notifications' e-mails (RFC 8058), without login.

Each e-mail to a person carries `List-Unsubscribe: <.../desabonnement/{jeton}>` and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`: the mail provider POSTs there, or
the person opens the link (GET: a page whose button POSTs; a GET never changes
anything, as RFC 8058 asks). The signed token names the person and the family; the
notifications service checks it (`/internal/v1/desabonnements/{jeton}`), the gateway
only relays with its service token. Outside `/api/v1`: no caller, no grant, no
Idempotency-Key (unsubscribing twice is unsubscribing).
"""

from __future__ import annotations

import html
from typing import Annotated

import httpx
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from gateway.settings import GatewaySettings
from kernel.errors import NotFound, ServiceUnavailable
from kernel.internal_token import InternalTokenSigner

router = APIRouter(include_in_schema=False)
UNSUBSCRIBE_PATH = "/desabonnement/{jeton}"
NOTIFICATIONS = "notifications"

Jeton = Annotated[str, Path(min_length=20, max_length=2000, pattern=r"^[A-Za-z0-9_.\-]+$")]


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>",
        status_code=status,
        headers={"cache-control": "no-store"},
    )


@router.get(UNSUBSCRIBE_PATH)
async def confirm(jeton: Jeton) -> HTMLResponse:
    return _page(
        "Ne plus recevoir ces e-mails",
        '<form method="post"><p>Vous ne recevrez plus les e-mails de cette famille '
        "d'événements ; les notifications restent visibles dans l'application.</p>"
        '<button type="submit">Me désabonner</button></form>',
    )


@router.post(UNSUBSCRIBE_PATH)
async def unsubscribe(jeton: Jeton, request: Request) -> HTMLResponse:
    settings: GatewaySettings = request.app.state.settings
    signer: InternalTokenSigner = request.app.state.internal_signer
    http: httpx.AsyncClient = request.app.state.service_http
    base = settings.service_urls.get(NOTIFICATIONS, "http://127.0.0.1:8004").rstrip("/")
    try:
        resp = await http.post(
            f"{base}/internal/v1/desabonnements/{jeton}",
            headers={"authorization": f"Bearer {signer.mint_service(NOTIFICATIONS)}"},
        )
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(
            "Service des notifications injoignable : réessayez plus tard.",
            headers={"Retry-After": "30"},
        ) from exc
    if resp.status_code == 404:
        raise NotFound("Lien de désabonnement inconnu.")
    if resp.status_code != 200:
        raise ServiceUnavailable(
            f"Service des notifications : réponse {resp.status_code}.",
            headers={"Retry-After": "30"},
        )
    message = str(resp.json().get("message", "Désabonnement enregistré."))
    return _page("Désabonnement enregistré", f"<p>{html.escape(message)}</p>")
