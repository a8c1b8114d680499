"""E-mails: French text and HTML from Jinja2 templates, sent over SMTP with aiosmtplib.

Every message to a person carries a one-click unsubscribe for its family, a digest's
for the families it groups (`List-Unsubscribe` + `List-Unsubscribe-Post:
List-Unsubscribe=One-Click`, RFC 8058): a signed link that works without logging in
(`unsubscribe_token`). An invitation goes to an address that has no account yet: it
has none. The Message-ID is derived from the delivery log's line, so a message sent
again after a crash is recognisably the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from kernel.errors import NotFound
from services.notifications.models import Famille
from services.notifications.settings import NotificationsSettings, SmtpSecurity

TEMPLATES = Path(__file__).parent / "templates"
_UNSUBSCRIBE_TYP = "coop-desabonnement"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def unsubscribe_token(
    secret: str, personne_id: uuid.UUID, familles: Famille | Sequence[Famille]
) -> str:
    """A link switching off one family (an event's e-mail) or several (a digest's)."""
    key = OctKey.import_key(secret.encode())
    fam: str | list[str] = (
        familles.value if isinstance(familles, Famille) else [f.value for f in familles]
    )
    claims = {"sub": str(personne_id), "fam": fam}
    return jwt.encode({"alg": "HS256", "typ": _UNSUBSCRIBE_TYP}, claims, key, algorithms=["HS256"])


def read_unsubscribe_token(secret: str, token: str) -> tuple[uuid.UUID, list[Famille]]:
    """The person and families a link names; NotFound for anything not signed by us."""
    key = OctKey.import_key(secret.encode())
    try:
        decoded = jwt.decode(token, key, algorithms=["HS256"])
        if decoded.header.get("typ") != _UNSUBSCRIBE_TYP:
            raise ValueError("typ")
        fam = decoded.claims["fam"]
        familles = [Famille(f) for f in fam] if isinstance(fam, list) else [Famille(fam)]
        if not familles:
            raise ValueError("fam")
        return uuid.UUID(str(decoded.claims["sub"])), familles
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise NotFound("Lien de désabonnement inconnu.") from exc


def render(modele: str, contexte: dict[str, object]) -> tuple[str, str]:
    """(text, HTML) of a message from its template pair."""
    text = _env.get_template(f"{modele}.txt.j2").render(contexte)
    html = _env.get_template(f"{modele}.html.j2").render(contexte)
    return text, html


def build(
    settings: NotificationsSettings,
    envoi_id: uuid.UUID,
    adresse: str,
    sujet: str,
    modele: str,
    contexte: dict[str, object],
    unsubscribe_url: str | None,
) -> EmailMessage:
    text, html = render(modele, {**contexte, "desabonnement": unsubscribe_url})
    msg = EmailMessage()
    msg["From"] = settings.smtp_sender
    msg["To"] = adresse
    msg["Subject"] = sujet
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=envoi_id.hex, domain="cooperation")
    # Automatic mail: no out-of-office replies (RFC 3834).
    msg["Auto-Submitted"] = "auto-generated"
    if unsubscribe_url is not None:
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    # After the body: setting the content replaces the Content-* headers.
    msg["Content-Language"] = "fr"
    return msg


async def send(settings: NotificationsSettings, msg: EmailMessage) -> None:
    """One message over SMTP (raises aiosmtplib.SMTPException or OSError on failure)."""
    password = settings.smtp_password
    await aiosmtplib.send(
        msg,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=None if password is None else password.get_secret_value(),
        use_tls=settings.smtp_security is SmtpSecurity.tls,
        start_tls=settings.smtp_security is SmtpSecurity.starttls,
        timeout=settings.smtp_timeout_seconds,
    )
