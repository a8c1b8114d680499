"""The `coop` CLI speaks French (issue 23: "CLI output"): every command and sub-command,
hidden ones included, and every argument and option has its own help, with no English
in it. Commands and option names stay as they are (identifiers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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
