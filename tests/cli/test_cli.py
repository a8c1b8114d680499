"""`coop --help`: every command is listed with its help, and works without a database."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.main import get_command
from typer.testing import CliRunner

from coop.apps import APPS
from coop.cli import app
from coop.ports import free_port
from coop.run_suite import run_suite
from coop.supervisor import spawn, stop_all, wait_ready


def _commands() -> dict[str, str]:
    group = get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    ctx = typer.Context(group)
    return {
        name: (group.get_command(ctx, name).get_short_help_str(limit=200) or "")  # type: ignore[union-attr]
        for name in group.list_commands(ctx)
    }


def test_every_command_has_help_text() -> None:
    commands = _commands()
    for expected in ("run", "migrate", "serve", "demo-data", "token", "healthcheck", "keys"):
        assert expected in commands
    missing = sorted(name for name, text in commands.items() if len(text.strip()) < 10)
    assert missing == [], f"commands without help text: {missing}"


def test_help_lists_every_command_with_its_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coop.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "TERM": "dumb"},
    )
    lines = result.stdout.splitlines()
    for name, text in _commands().items():
        # Rich wraps long help: the command's line starts with its name and its help.
        line = next((ln for ln in lines if ln.strip("│ ").startswith(name + " ")), None)
        assert line is not None, f"`coop --help` does not list {name}"
        assert text.split()[0] in line, f"`coop --help` shows no help for {name}"


def test_sub_commands_have_help_text() -> None:
    group = get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    ctx = typer.Context(group)
    bare: list[str] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, typer.core.TyperGroup):
            sub_ctx = typer.Context(command, parent=ctx)
            for sub in command.list_commands(sub_ctx):
                found = command.get_command(sub_ctx, sub)
                if found is None or len((found.get_short_help_str(200) or "").strip()) < 10:
                    bare.append(f"{name} {sub}")
    assert bare == [], f"sub-commands without help text: {bare}"


def test_healthcheck_says_whether_the_app_answers(tmp_path: Path) -> None:
    """The container health probe: 0 while the app serves, 1 once it is gone."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "COOP_IDP_PORT": str(port),
        "COOP_IDP_KEY_DIR": str(tmp_path / "idp"),
        # Never used by the identity provider; set so no embedded database is started.
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    }
    probe = [sys.executable, "-m", "coop.cli", "healthcheck", "idp"]
    child = spawn("idp", APPS["idp"].serve_argv(), env, tmp_path / "log")
    try:
        wait_ready(child, f"http://127.0.0.1:{port}/healthz", timeout=60)
        up = subprocess.run(probe, env=env, capture_output=True, text=True, check=False)
        assert up.returncode == 0, up.stderr
    finally:
        stop_all([child])
    down = subprocess.run(probe, env=env, capture_output=True, text=True, check=False)
    assert down.returncode == 1
    assert "injoignable" in down.stderr


def test_healthcheck_refuses_an_unknown_app() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coop.cli", "healthcheck", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "application inconnue" in result.stderr


def test_serve_refuses_an_unknown_app() -> None:
    result = CliRunner().invoke(app, ["serve", "nope"])
    assert result.exit_code == 2
    assert "application inconnue : nope" in result.output


# Each app's own code; the gateway's is its package less the identity provider's.
_APP_CODE = {
    "idp": ("gateway.devidp",),
    "conventions": ("services.conventions",),
    "actions": ("services.actions",),
    "documents": ("services.documents", "aiobotocore"),  # its S3 client too
    "notifications": ("services.notifications", "aiosmtplib", "jinja2"),  # its mailer too
    "gateway": ("gateway",),
}
# Loaded by `coop` itself: package markers, and the demo personas the help text names
# (plain data).
_CLI_DATA = {"gateway", "services", "gateway.devidp", "gateway.devidp.personas"}
# What `coop serve <app>` imports before the server takes over: the CLI, the app's
# settings and its factory's module.
_SERVE_IMPORTS = """
import importlib, json, sys
import coop.cli
from coop.apps import APPS
spec = APPS[sys.argv[1]]
spec.settings_class()
importlib.import_module(spec.factory.partition(":")[0])
print(json.dumps(sorted(sys.modules)))
"""


def _other_apps_code(name: str, modules: list[str]) -> list[str]:
    own = _APP_CODE[name]
    others = [root for app_name, roots in _APP_CODE.items() if app_name != name for root in roots]

    def under(module: str, roots: tuple[str, ...] | list[str]) -> bool:
        return any(module == root or module.startswith(root + ".") for root in roots)

    return [m for m in modules if m not in _CLI_DATA and under(m, others) and not under(m, own)]


@pytest.mark.slow
def test_serving_an_app_loads_no_other_apps_code() -> None:
    """`coop serve X` is every app's process: the CLI's other commands import their
    service's code when they run, so no app carries another's (nor its libraries)."""
    assert set(_APP_CODE) == set(APPS)
    children = {
        name: subprocess.Popen(
            [sys.executable, "-c", _SERVE_IMPORTS, name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in APPS
    }
    for name, child in children.items():
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        modules: list[str] = json.loads(out)
        assert any(m.startswith(_APP_CODE[name][0] + ".") for m in modules)
        assert _other_apps_code(name, modules) == [], name


@pytest.mark.parametrize("command", ["run", "generate"])
def test_bench_refuses_an_unknown_scale_before_touching_a_database(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unreachable on purpose: the scale is checked before any connection.
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(app, ["bench", command, "--scale", "galactique"])
    assert result.exit_code == 2
    assert "échelle inconnue : galactique" in result.output


def test_bench_refuses_zero_rounds_before_touching_a_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A c=32 point with no round would measure nothing and still print a verdict.
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(app, ["bench", "run", "--scale", "tiny", "--rounds", "0"])
    assert result.exit_code == 2
    assert "--rounds" in result.output


def test_bench_refuses_an_unknown_endpoint_before_touching_a_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `--only` runs part of the mix: a misspelt key would run nothing and say nothing.
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(
        app, ["bench", "run", "--only", "agregats_nationaux", "--only", "agregats"]
    )
    assert result.exit_code == 2
    assert "points d'accès inconnus : agregats " in result.output


@pytest.mark.parametrize("route", ["8080", "8080=", "relais=8001", "8080=8001x"])
def test_bench_relay_refuses_a_route_that_is_not_two_ports(route: str) -> None:
    # Refused before anything listens: the command would otherwise serve for ever.
    result = CliRunner().invoke(app, ["bench", "relay", "--route", route])
    assert result.exit_code == 2
    assert f"route attendue PORT=PORT_DU_SERVICE, reçu : {route}" in result.output


def test_coop_run_refuses_to_start_beside_a_busy_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another `coop run` (or anything) on an app's port: nothing is started, the port is named."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("COOP_IDP_PORT", str(port))
        out = io.StringIO()
        with pytest.raises(typer.Exit) as raised:
            run_suite(Console(file=out, width=200))
    assert raised.value.exit_code == 1
    assert f"idp ({port})" in out.getvalue()


def test_stop_databases_stops_a_running_embedded_server_and_starts_none(
    cluster_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make clean-data` runs it first, so no server is left on a deleted directory."""
    from kernel.embedded_db import start_embedded, stop_embedded

    monkeypatch.chdir(cluster_dir)  # by default: every .coop/*pgdata under the directory
    running, stopped = Path(".coop/running-pgdata"), Path(".coop/stopped-pgdata")
    stopped.mkdir(parents=True)
    start_embedded(str(running))
    assert (running / "postmaster.pid").exists(), "the embedded server is running"
    try:
        first = CliRunner().invoke(app, ["stop-databases"])
        assert first.exit_code == 0, first.output
        assert not (running / "postmaster.pid").exists(), "the server is still running"
    finally:
        stop_embedded(str(running))  # no server left behind should the command fail
    assert first.stdout.splitlines() == [f"{running} : PostgreSQL arrêté"]

    again = CliRunner().invoke(app, ["stop-databases", str(running), str(stopped)])
    assert again.exit_code == 0, again.output
    assert again.stdout == ""
    assert not (running / "postmaster.pid").exists(), "a stopped server was started again"
    assert not (stopped / "PG_VERSION").exists(), "a server was made in an empty directory"
