"""`coop mails` lists and prints what the local SMTP server kept (French output)."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from typer.testing import CliRunner

from coop.cli import app
from coop.mailbox import smtp_server
from coop.ports import free_port


async def test_coop_mails_lists_then_prints_a_message(tmp_path: Path) -> None:
    maildir = tmp_path / "mails"
    empty = CliRunner().invoke(app, ["mails", "--dossier", str(maildir)])
    assert empty.exit_code == 0
    assert "Aucun courriel reçu" in empty.output
    port = free_port()
    with smtp_server(maildir, port=port):
        msg = EmailMessage()
        msg["From"] = "coop@test.invalid"
        msg["To"] = "agent@test.invalid"
        msg["Subject"] = "Suivi 2026-T1 soumis : Créer un RPE"
        msg.set_content("Bonjour,\n\nUn suivi attend votre validation.\n")
        await aiosmtplib.send(msg, hostname="127.0.0.1", port=port, timeout=5)
    listed = CliRunner().invoke(app, ["mails", "--dossier", str(maildir)])
    assert listed.exit_code == 0, listed.output
    assert "agent@test.invalid  Suivi 2026-T1 soumis : Créer un RPE" in listed.output
    assert "1 courriel(s)." in listed.output
    shown = CliRunner().invoke(app, ["mails", "1", "--dossier", str(maildir)])
    assert "Un suivi attend votre validation." in shown.output
    assert "Subject: Suivi 2026-T1 soumis" in shown.output
    missing = CliRunner().invoke(app, ["mails", "2", "--dossier", str(maildir)])
    assert missing.exit_code == 2
