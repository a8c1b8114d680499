"""`coop run`: every registered app as its own process on loopback, until Ctrl-C."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from rich.console import Console

from coop.apps import APPS, AppSpec
from coop.mailbox import DEFAULT_MAILDIR as MAILDIR
from coop.mailbox import smtp_server
from coop.supervisor import (
    Child,
    Keeper,
    StartupError,
    answers,
    clamd_binary,
    clamd_ping,
    port_in_use,
    prepare_clamd,
    spawn,
    stop_all,
    wait_ready,
)
from services.notifications.settings import DEV_SMTP_PORT

BASE = Path(".coop")


def app_port(spec: AppSpec) -> int:
    return int(spec.settings_class()().port)


def coop_command() -> str:
    """How to call `coop` from here (the venv's script, relative when possible)."""
    script = Path(sys.executable).parent / "coop"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script) if script.exists() else "coop"


def start_clamd(env: dict[str, str], console: Console) -> Child | None:
    """A clamd of our own for the documents service, or scanning visibly disabled."""
    if "COOP_DOCUMENTS_CLAMD_ADDRESS" in env or "COOP_DOCUMENTS_ANTIVIRUS" in env:
        return None  # the operator chose: their clamd, or scanning off
    binary = clamd_binary()
    if binary is None:
        env["COOP_DOCUMENTS_ANTIVIRUS"] = "false"
        console.print(
            "[yellow]![/] clamd absent : analyse antivirus [bold]désactivée[/] "
            "(les documents l'indiquent : « antivirus : désactivé »). "
            "Installez le paquet clamav-daemon pour l'activer."
        )
        return None
    max_bytes = int(APPS["documents"].settings_class()().max_file_bytes)
    setup = prepare_clamd(BASE, max_bytes)
    if setup.socket.exists() and not clamd_ping(setup.socket):
        setup.socket.unlink()  # left by a clamd that did not stop cleanly
    child = spawn("clamd", [binary, "-c", str(setup.config)], env, BASE / "logs" / "clamd.log")
    with console.status("Démarrage de clamd (chargement des signatures)…"):
        wait_ready(child, str(setup.socket), timeout=300, check=lambda: clamd_ping(setup.socket))
    env["COOP_DOCUMENTS_CLAMD_ADDRESS"] = str(setup.socket)
    env["COOP_DOCUMENTS_ANTIVIRUS"] = "true"
    if setup.full_database:
        console.print(f"[green]✓[/] clamd : {setup.socket} (signatures de {setup.database})")
    else:
        console.print(
            f"[green]✓[/] clamd : {setup.socket} — [yellow]signature de test EICAR seulement[/] "
            "(installez les bases ClamAV avec freshclam pour une vraie analyse)"
        )
    return child


def start_mailbox(env: dict[str, str], console: Console) -> AbstractContextManager[object]:
    """The local SMTP server keeping what the notifications send (`coop mails` reads it),
    unless the operator named an SMTP server of their own."""
    if env.get("COOP_NOTIFICATIONS_SMTP_HOST"):
        return contextlib.nullcontext()
    port = int(env.get("COOP_NOTIFICATIONS_SMTP_PORT", DEV_SMTP_PORT))
    env["COOP_NOTIFICATIONS_SMTP_HOST"] = "127.0.0.1"
    env["COOP_NOTIFICATIONS_SMTP_PORT"] = str(port)
    console.print(
        f"[green]✓[/] SMTP local : 127.0.0.1:{port}, courriels gardés dans {MAILDIR}/ "
        "(`coop mails` pour les lire)"
    )
    return smtp_server(MAILDIR, port=port)


def worker_argv() -> list[str]:
    """`coop worker` with this interpreter: how `coop run` and tests start it."""
    return [sys.executable, "-m", "coop.cli", "worker"]


def _worker_heartbeat(env: Mapping[str, str]) -> tuple[Path, Callable[[], bool]]:
    """The worker's heartbeat file, and whether it beats."""
    from coop.worker import WorkerSettings, healthy

    settings = WorkerSettings()
    path = env.get("COOP_WORKER_HEARTBEAT_FILE", settings.heartbeat_file)
    settings = settings.model_copy(update={"heartbeat_file": path})
    return Path(path), lambda: healthy(settings) is None


def start_worker(env: dict[str, str], log: Path, timeout: float) -> Child:
    """A `coop worker`, once its heartbeat says it reaches the database."""
    path, beats = _worker_heartbeat(env)
    path.unlink(missing_ok=True)  # a killed worker's: wait for this one's
    child = spawn("worker", worker_argv(), env, log)
    wait_ready(child, str(path), timeout=timeout, check=beats)
    return child


class _Stop(Exception):
    pass


def _on_sigterm(signum: int, frame: FrameType | None) -> Any:
    raise _Stop


def _probes(env: Mapping[str, str]) -> dict[str, Callable[[], bool]]:
    """How to tell that each child (restarted) answers again."""
    probes: dict[str, Callable[[], bool]] = {
        spec.name: functools.partial(answers, f"http://127.0.0.1:{app_port(spec)}{spec.probe_path}")
        for spec in APPS.values()
    }
    clamd_socket = env.get("COOP_DOCUMENTS_CLAMD_ADDRESS")
    if clamd_socket:
        probes["clamd"] = functools.partial(clamd_ping, Path(clamd_socket))
    probes["worker"] = _worker_heartbeat(env)[1]
    return probes


def check_connections(env: Mapping[str, str], console: Console) -> None:
    """Say how many PostgreSQL connections the suite may hold against what the server
    accepts; a warning (not a refusal) when they do not fit: a light use never opens
    them all, and the operator's server is the operator's to size."""
    import asyncio

    from coop import connections

    needed = connections.suite_connections(env)
    limit = asyncio.run(connections.server_limit(env["DATABASE_URL"]))
    trouble = connections.problem(needed, limit)
    if trouble:
        console.print(f"[yellow]![/] {trouble}.")
    else:
        console.print(f"[green]✓[/] {connections.summary(needed, limit)}")


def run_suite(console: Console, *, ready_timeout: float = 120.0) -> None:
    """Start clamd (if any) and every app, print how to use them, keep them running (a
    child that dies is started again after a back-off), stop all on Ctrl-C."""
    env = os.environ.copy()
    busy = [f"{s.name} ({app_port(s)})" for s in APPS.values() if port_in_use(app_port(s))]
    smtp_port = int(env.get("COOP_NOTIFICATIONS_SMTP_PORT", DEV_SMTP_PORT))
    if not env.get("COOP_NOTIFICATIONS_SMTP_HOST") and port_in_use(smtp_port):
        busy.append(f"SMTP ({smtp_port})")
    if busy:
        console.print(
            f"[red]Ports déjà utilisés : {', '.join(busy)}.[/] Un autre `coop run` tourne-t-il ?"
        )
        raise typer.Exit(1)
    check_connections(env, console)
    children: list[Child] = []
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    # Started in the background by a non-interactive shell (`coop run &`), SIGINT comes
    # in ignored: `coop run` is stopped by Ctrl-C/SIGINT however it was started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    exit_code = 0
    mailbox = contextlib.ExitStack()
    try:
        mailbox.enter_context(start_mailbox(env, console))
        clamd = start_clamd(env, console)
        if clamd is not None:
            children.append(clamd)
        for spec in APPS.values():
            log = BASE / "logs" / f"{spec.name}.log"
            children.append(spawn(spec.name, spec.serve_argv(), env, log))
        apps = [c for c in children if c.name in APPS]
        with console.status("Démarrage des applications…") as status:
            for child in apps:
                spec = APPS[child.name]
                status.update(f"Attente de {spec.name}…")
                url = f"http://127.0.0.1:{app_port(spec)}{spec.probe_path}"
                wait_ready(child, url, timeout=ready_timeout)
                console.print(f"[green]✓[/] {spec.name} : http://127.0.0.1:{app_port(spec)}")
            status.update("Attente du travailleur (tâches de fond)…")
            children.append(start_worker(env, BASE / "logs" / "worker.log", ready_timeout))
            console.print("[green]✓[/] worker : tâches de fond (journal : .coop/logs/worker.log)")
        _print_ready()
        heartbeat = _worker_heartbeat(env)[0]
        keeper = Keeper(
            children,
            functools.partial(_say, console),
            ready=_probes(env),
            # A dead worker's last beat must not pass for its successor's.
            before_restart={"worker": functools.partial(heartbeat.unlink, missing_ok=True)},
        )
        while True:
            keeper.check()
            time.sleep(0.2)
    except StartupError as exc:
        console.print(f"[red]{exc}[/]")
        exit_code = 1
    except (KeyboardInterrupt, _Stop):
        console.print("Arrêt…")
    finally:
        signal.signal(signal.SIGTERM, previous)
        # Ctrl-C again while stopping must not leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            stop_all(children)
            mailbox.close()
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if exit_code:
        raise typer.Exit(exit_code)


def _say(console: Console, message: str, level: str) -> None:
    console.print(f"[yellow]![/] {message}" if level == "warning" else f"[green]✓[/] {message}")


def _print_ready() -> None:
    base = f"http://127.0.0.1:{app_port(APPS['gateway'])}"
    coop = coop_command()
    lines = [
        "",
        "Coopération est prête.",
        f"  API (passerelle)   : {base}/api/v1/",
        f"  Documentation      : {base}/docs",
        f"  Jeton d'accès      : {coop} token --as caf-agent",
        "  Essai              : "
        f"TOKEN=$({coop} token --as caf-agent) && "
        f'curl -H "Authorization: Bearer $TOKEN" {base}/api/v1/conventions',
        f"  Journaux           : {BASE / 'logs'}/",
        f"  Courriels envoyés  : {coop} mails",
        "Ctrl-C pour tout arrêter (les données restent dans .coop/ pour le prochain `make run`).",
        "",
    ]
    typer.echo("\n".join(lines))
