"""The `coop` CLI's own words in French: typer's help pages and its usage errors.

Two sources of English, two public ways out:
- what typer marks for gettext (its help panels' titles, `[required]`, `[default: …]`,
  the "for help" hint: `typer.rich_utils`'s constants, evaluated when it is imported):
  `install()` compiles our catalog (`coop/locale/fr/LC_MESSAGES/coop.po`, with Babel,
  in a private temporary directory: no generated binary in git) and imports typer under
  it. French is forced for that import only: the process's gettext domain and
  `LANGUAGE` are put back after, so nothing else in the process, nor any program it
  starts, changes language.
- what typer's click writes without gettext (the usage line's prefix, the help option's
  help, the usage errors' messages): `CoopTyper`, the CLI's `typer.Typer`, builds its
  groups and commands with `CoopGroup` / `CoopCommand` (typer's documented `cls=`
  extension), which say them in French; the root group renders usage errors itself,
  their message translated (`french_error`; a bad value's pydantic error through
  `kernel.validation_messages`, as the API does).
"""

from __future__ import annotations

import gettext
import importlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

CATALOG = Path(__file__).resolve().parent / "locale" / "fr" / "LC_MESSAGES" / "coop.po"
DOMAIN = "coop"


def _compile(localedir: Path) -> None:
    """Our catalog, compiled where gettext looks for it (`fr/LC_MESSAGES/coop.mo`)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    target = localedir / "fr" / "LC_MESSAGES" / f"{DOMAIN}.mo"
    target.parent.mkdir(parents=True)
    with CATALOG.open("rb") as po, target.open("wb") as mo:
        write_mo(mo, read_po(po))


def install() -> None:
    """Import typer's help texts in French (before anything imports `typer.rich_utils`:
    its strings are read once, at import; later, nothing to do). The compiled catalog
    lives in a private temporary directory for that import only (nobody else can
    write it; nothing left behind)."""
    if "typer.rich_utils" in sys.modules:
        return
    previous_domain = gettext.textdomain()
    previous_language = os.environ.get("LANGUAGE")
    try:
        with tempfile.TemporaryDirectory(prefix="coop-locale-") as localedir:
            _compile(Path(localedir))
            gettext.bindtextdomain(DOMAIN, localedir)
            gettext.textdomain(DOMAIN)
            os.environ["LANGUAGE"] = "fr"
            importlib.import_module("typer.rich_utils")
    except OSError:
        pass  # no temporary directory: typer's own words stay English
    finally:
        gettext.textdomain(previous_domain)
        if previous_language is None:
            os.environ.pop("LANGUAGE", None)
        else:
            os.environ["LANGUAGE"] = previous_language


install()

import typer  # noqa: E402 (after install(): typer's help texts are read at import)
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.panel import Panel  # noqa: E402
from typer.core import TyperCommand, TyperGroup  # noqa: E402
from typer.models import CommandFunctionType  # noqa: E402

USAGE = "Utilisation : "
HELP_OPTION = "Affiche cette aide et quitte."
SUBCOMMAND_METAVAR = "COMMANDE [ARGUMENTS]..."


def _french_pydantic(error: BaseException | None) -> str | None:
    """A bad value's message from the pydantic error typer raised it from."""
    from pydantic import ValidationError

    from kernel.validation_messages import french_message

    if isinstance(error, ValidationError):
        return " ".join(french_message(e) for e in error.errors())
    return None


def _missing(match: re.Match[str]) -> str:
    kind, hint = match["kind"], match["hint"]
    if kind == "option":
        said = f"Option manquante : {hint}."
    elif kind == "argument":
        said = f"Argument manquant : {hint}."
    else:
        said = f"Paramètre manquant : {hint}."
    return f"{said} {match['rest']}" if match["rest"] else said


# Each message typer's click writes (format_message()), in French; in order.
_MESSAGES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(
            r"Missing (?P<kind>argument|option|parameter) (?P<hint>.+?)\.(?: (?P<rest>.*))?"
        ),
        _missing,
    ),
    (re.compile(r"Missing parameter: (?P<name>.+)"), lambda m: f"Paramètre manquant : {m['name']}"),
    (
        re.compile(r"No such option: (?P<name>\S+)(?: \(Possible options: (?P<near>.+)\))?"),
        lambda m: (
            f"Option inconnue : {m['name']}"
            + (f" (options possibles : {m['near']})" if m["near"] else "")
        ),
    ),
    (re.compile(r"No such command (?P<name>.+)\."), lambda m: f"Commande inconnue : {m['name']}."),
    (re.compile(r"Missing command\."), lambda m: "Commande manquante."),
    (
        re.compile(r"Got unexpected extra arguments? \((?P<args>.*)\)"),
        lambda m: f"Argument(s) en trop : {m['args']}.",
    ),
    (
        re.compile(r"Option (?P<name>.+) requires an argument\."),
        lambda m: f"L'option {m['name']} attend une valeur.",
    ),
    (
        re.compile(r"Option (?P<name>.+) requires (?P<n>\d+) arguments\."),
        lambda m: f"L'option {m['name']} attend {m['n']} valeurs.",
    ),
    (
        re.compile(r"Option (?P<name>.+) does not take a value\."),
        lambda m: f"L'option {m['name']} ne prend pas de valeur.",
    ),
    (
        re.compile(r"Argument (?P<name>.+) takes (?P<n>\d+) values\."),
        lambda m: f"L'argument {m['name']} prend {m['n']} valeurs.",
    ),
    (
        re.compile(r"Value (?P<value>.+) is not a valid (?P<type>.+)\."),
        lambda m: f"Valeur invalide : {m['value']} ({m['type']} attendu).",
    ),
]


def french_error(error: typer.TyperException) -> str:
    """What a usage error says, in French (a message we do not know: as it is)."""
    message = error.format_message()
    value = re.fullmatch(r"Invalid value(?: for (?P<hint>.+?))?: (?P<said>.*)", message, re.S)
    if value is not None:
        said = _french_pydantic(error.__cause__) or value["said"]
        where = f" pour {value['hint']}" if value["hint"] else ""
        return f"Valeur invalide{where} : {said}"
    for pattern, french in _MESSAGES:
        if (match := pattern.fullmatch(message)) is not None:
            return french(match)
    return message


def show_error(error: typer.TyperException) -> None:
    """A usage error as typer shows it (usage line, help hint, framed message), in French."""
    console = Console(stderr=True)
    ctx: Any = getattr(error, "ctx", None)
    if ctx is not None:
        console.print(escape(ctx.get_usage()), style="yellow")
        if ctx.command.get_help_option(ctx) is not None:
            hint = f"{ctx.command_path} {ctx.help_option_names[0]}"
            console.print(f"Aide : [blue]'{escape(hint)}'[/].", style="dim")
    console.print(
        Panel(escape(french_error(error)), border_style="red", title="Erreur", title_align="left")
    )


def _usage(command: TyperCommand | TyperGroup, ctx: Any, formatter: Any) -> None:
    pieces = command.collect_usage_pieces(ctx)
    formatter.write_usage(ctx.command_path, " ".join(pieces), prefix=USAGE)


def _help_option(option: Any) -> Any:
    if option is not None:
        option.help = HELP_OPTION
    return option


class CoopCommand(TyperCommand):
    """A `coop` command: its usage line and help option in French."""

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        _usage(self, ctx, formatter)

    def get_help_option(self, ctx: Any) -> Any:
        return _help_option(super().get_help_option(ctx))


class CoopGroup(TyperGroup):
    """A `coop` group: as `CoopCommand`; the root one also renders usage errors in
    French (typer's own rendering would say them in English)."""

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        _usage(self, ctx, formatter)

    def get_help_option(self, ctx: Any) -> Any:
        return _help_option(super().get_help_option(ctx))

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        def run() -> Any:
            return super(CoopGroup, self).main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )

        if not standalone_mode:
            return run()
        try:
            result = run()
        except typer.Abort:
            Console(stderr=True).print("Abandon.", style="red")
            sys.exit(1)
        except typer.TyperException as error:
            # typer's no_args_is_help: the help is printed already (typer does the same).
            if type(error).__name__ != "NoArgsIsHelpError":
                show_error(error)
            sys.exit(error.exit_code)
        sys.exit(result if isinstance(result, int) else 0)


class CoopTyper(typer.Typer):
    """The CLI's `typer.Typer`: its groups and commands say typer's own words in French."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("cls", CoopGroup)
        kwargs.setdefault("subcommand_metavar", SUBCOMMAND_METAVAR)
        super().__init__(*args, **kwargs)

    def command(
        self, *args: Any, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", CoopCommand)
        return super().command(*args, **kwargs)
