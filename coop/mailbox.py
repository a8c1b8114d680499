"""The development SMTP server: aiosmtpd keeping every message it receives in a Maildir
(`.coop/mails` for `coop run`), and what `coop mails` reads back. Tests use it too: a
real SMTP server whose messages are read as a person's mail client would."""

from __future__ import annotations

import email
import email.policy
import mailbox
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiosmtpd.controller import Controller

DEFAULT_MAILDIR = Path(".coop/mails")


@contextmanager
def smtp_server(maildir: Path, host: str = "127.0.0.1", port: int = 8025) -> Iterator[Controller]:
    """An SMTP server on (host, port) keeping what it receives in `maildir`, while the
    block runs (its own thread: whatever loop the caller runs)."""
    # Imported here: every `coop` command imports this module (`coop mails`).
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox

    maildir.parent.mkdir(parents=True, exist_ok=True)
    mailbox.Maildir(maildir, create=True)  # tmp/, new/, cur/ before the first message
    controller = Controller(Mailbox(maildir), hostname=host, port=port)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def messages(maildir: Path) -> list[EmailMessage]:
    """The messages received, oldest first (by delivery order in the Maildir)."""
    if not maildir.exists():
        return []
    box = mailbox.Maildir(maildir, create=False)
    found: list[tuple[float, str, EmailMessage]] = []
    for key in box.iterkeys():
        parsed = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append((box.get_message(key).get_date(), key, parsed))
    found.sort(key=lambda entry: (entry[0], entry[1]))
    return [m for _, _, m in found]


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a message."""
    part = message.get_body(preferencelist=("plain",))
    return "" if part is None else str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    return "" if part is None else str(part.get_content())
