"""Operator commands: `coop healthcheck`, `coop keys`, `coop config-doc`, `coop stop-databases`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from coop.apps import APPS


def _served_app() -> str | None:
    """The app PID 1 serves in a container (`coop serve <app>`)."""
    try:
        argv = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    words = [a.decode(errors="replace") for a in argv if a]
    if "worker" in words:
        return "worker"
    if "serve" in words:
        index = words.index("serve")
        if index + 1 < len(words):
            return words[index + 1]
    return None


def healthcheck(
    name: Annotated[
        str | None,
        typer.Argument(
            help="Application, ou worker (défaut : ce que lance le conteneur, `coop serve` "
            "ou `coop worker`)"
        ),
    ] = None,
    ready: Annotated[
        bool, typer.Option("--ready", help="Interroger /readyz (base joignable) et non /healthz")
    ] = False,
) -> None:
    """Probe a local app's /healthz (or /readyz): exit 0 when it answers 200 (containers)."""
    import httpx

    app_name = name or _served_app()
    if app_name == "worker":
        _worker_health()
        return
    spec = APPS.get(app_name or "")
    if spec is None:
        typer.echo(f"application inconnue : {app_name} (connues : {', '.join(APPS)})", err=True)
        raise typer.Exit(2)
    port = spec.settings_class()().port
    url = f"http://127.0.0.1:{port}{'/readyz' if ready else '/healthz'}"
    try:
        status = httpx.get(url, timeout=3.0, trust_env=False).status_code
    except httpx.HTTPError as exc:
        typer.echo(f"{spec.name} : {url} injoignable ({exc.__class__.__name__})", err=True)
        raise typer.Exit(1) from exc
    if status != 200:
        typer.echo(f"{spec.name} : {url} a répondu {status}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{spec.name} : ok")


def _worker_health() -> None:
    """The worker serves no HTTP: its heartbeat file tells it reaches the database."""
    from coop.worker import WorkerSettings, healthy

    problem = healthy(WorkerSettings())
    if problem is not None:
        typer.echo(f"worker : {problem}", err=True)
        raise typer.Exit(1)
    typer.echo("worker : ok")


def keys() -> None:
    """Print fresh internal signing keys (one per app) and the trusted keys, as .env lines."""
    from joserfc.jwk import ECKey

    trusted: dict[str, str] = {}
    lines: list[str] = []
    for spec in APPS.values():
        if spec.name == "idp":  # development only: never in production
            continue
        key = ECKey.generate_key("P-256", private=True)
        private = json.dumps(key.as_dict(private=True), sort_keys=True)
        trusted[spec.name] = json.dumps(key.as_dict(private=False), sort_keys=True)
        lines.append(f"{spec.env_prefix}INTERNAL_SIGNING_KEY='{private}'")
    lines.append(f"COOP_INTERNAL_TRUSTED_KEYS='{json.dumps(trusted, sort_keys=True)}'")
    typer.echo("\n".join(lines))


def config_doc(
    write: Annotated[
        bool, typer.Option("--write", help="Remplacer la table dans README.md")
    ] = False,
) -> None:
    """Print the configuration table (every setting of every app) or write it into README.md."""
    from coop.config_doc import README, config_doc, replace_block

    block = config_doc()
    if not write:
        typer.echo(block)
        return
    README.write_text(replace_block(README.read_text(encoding="utf-8"), block), encoding="utf-8")
    print(f"{README.name} : table de configuration à jour", file=sys.stderr)


def stop_databases(
    data_dirs: Annotated[
        list[Path] | None,
        typer.Argument(help="Répertoires de données (défaut : chaque .coop/*pgdata)"),
    ] = None,
) -> None:
    """Stop the embedded PostgreSQL servers still running (the tests' stays up between runs)."""
    from kernel.embedded_db import stop_embedded

    for data_dir in data_dirs or sorted(Path(".coop").glob("*pgdata")):
        if stop_embedded(str(data_dir)):
            typer.echo(f"{data_dir} : PostgreSQL arrêté")


def register(app: typer.Typer) -> None:
    app.command(
        help="Sonde /healthz (ou /readyz) d'une application locale ; code 0 si elle répond."
    )(healthcheck)
    app.command(help="Génère des clés de signature internes neuves (lignes pour .env).")(keys)
    app.command(
        "config-doc",
        help="Table de configuration (tous les réglages) ; --write met à jour README.md.",
    )(config_doc)
    app.command(
        "stop-databases",
        help="Arrête les PostgreSQL embarqués encore lancés sous .coop/ (les données restent).",
    )(stop_databases)
