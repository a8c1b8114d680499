"""The `coop` CLI speaks French (issue 23: "CLI output"): every command and sub-command,
hidden ones included, and every argument and option has its own help, with no English
in it. Commands and option names stay as they are (identifiers)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command

from coop.cli import app
from tests.support.french import ENGLISH


def _commands(command: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, command
    if isinstance(command, typer.core.TyperGroup):
        ctx = typer.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            yield from _commands(sub, f"{path} {name}")


def test_every_command_and_option_has_a_french_help() -> None:
    commands = list(_commands(get_command(app), "coop"))
    assert len(commands) > 25  # the root, its groups and their commands
    failures = []
    for path, command in commands:
        texts = [(path, command.help or "")]
        texts += [
            (f"{path} {param.name}", getattr(param, "help", None) or "")
            for param in command.params
            if param.name != "help"
        ]
        for where, text in texts:
            if len(text.strip()) < 3:
                failures.append(f"{where}: no help")
            elif ENGLISH.search(text):
                failures.append(f"{where}: {text[:80]!r}")
    assert not failures, "\n".join(failures)


# What typer and its click write themselves, in English, around our texts.
CHROME = re.compile(
    r"Usage:|Options:|Show this message|\[required\]|\[default:|Error|Missing|Try |"
    r"for help|No such|Invalid value|Got unexpected|Aborted|─ Commands ─"
    r"|\bCOMMAND\b|\bARGS\b|Input should"
)


def _coop(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `coop` program in a fresh process (typer reads its help texts once, at
    import: this test process has imported it already)."""
    env = {**os.environ, "COLUMNS": "100", "LANGUAGE": "en", "LANG": "C.UTF-8"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("coop")), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "code", "french"),
    [
        (["--help"], 0, ["Utilisation : ", "─ Commandes ─", "Affiche cette aide et quitte."]),
        (["serve", "--help"], 0, ["─ Arguments ─", "─ Options ─", "[obligatoire]"]),
        (["serve"], 2, ["Utilisation : ", "Aide : ", "─ Erreur ─", "Argument manquant : 'name'."]),
        (["serve", "x", "--port", "abc"], 2, ["'--port' : Un nombre entier est attendu."]),
        (["serve", "--bogus"], 2, ["Option inconnue : --bogus"]),
        (["inconnue"], 2, ["Commande inconnue : 'inconnue'."]),
        (["habilitations", "accorder"], 2, ["Option manquante : '--issuer'."]),
    ],
)
def test_typer_s_own_words_are_french_too(args: list[str], code: int, french: list[str]) -> None:
    """Issue 23: typer's help pages and usage errors (its usage line, panels' titles,
    `[required]`, the help option, the error and its hint) are French, whatever the
    language of the environment (English here)."""
    result = _coop(*args)
    out = result.stdout + result.stderr
    assert result.returncode == code, out
    assert CHROME.search(out) is None, out
    for said in french:
        assert said in out, out
