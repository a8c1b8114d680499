"""`coop bench`: the national data set and the side-by-side load benchmark."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markdown import Markdown

from coop.bench.bounds import Bounds
from coop.bench.dataset import SCALES
from coop.cli_french import CoopTyper

app = CoopTyper(
    name="bench", help="Jeu de données national et benchmark de charge.", no_args_is_help=True
)
console = Console(stderr=True)

ScaleOpt = Annotated[str, typer.Option(help=f"Échelle : {', '.join(SCALES)}")]
SeedOpt = Annotated[int, typer.Option(help="Graine du générateur (jeu déterministe)")]


def _check_scale(scale: str) -> None:
    if scale not in SCALES:
        raise typer.BadParameter(f"échelle inconnue : {scale} (connues : {', '.join(SCALES)})")


def _check_endpoints(keys: set[str]) -> None:
    import datetime as dt

    from coop.bench import imports as bench_imports
    from coop.bench.dataset import personas, plan
    from coop.bench.scenarios import operations

    p = plan("tiny", 0, dt.datetime.now(dt.UTC).date())
    # Every endpoint, those that need a first request (a cursor, a document) included.
    known = {op.key for op in operations(p, personas(p), b"", "cursor", "document")}
    known.add(bench_imports.KEY)  # one timed run of its own, not a measured endpoint
    if keys - known:
        raise typer.BadParameter(
            f"points d'accès inconnus : {', '.join(sorted(keys - known))} "
            f"(connus : {', '.join(sorted(known))})"
        )


def _report(out: Path, name: str, results: dict[str, Any], report: str) -> None:
    """One measure's figures: `<name>.json` and `<name>.md` in `out`, the report printed."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    (out / f"{name}.md").write_text(report + "\n")
    Console().print(Markdown(report))


@app.command(help="Charge le jeu de données (COPY en masse dans les tables de chaque service).")
def generate(scale: ScaleOpt = "national", seed: SeedOpt = 2024) -> None:
    """Load the data set (bulk COPY into the services' own tables)."""
    import asyncio

    from coop.bench import stack
    from coop.bench.generate import generate as gen

    _check_scale(scale)
    url, embedded = stack.ensure_database(scale)
    try:
        stack.migrate(url)
        info = asyncio.run(gen(url, scale, seed, console))
    finally:
        if embedded:
            stack.stop_database()
    console.print(f"[green]✓[/] {sum(info['rows'].values()):,} lignes en {info['seconds']} s")


@app.command(
    hidden=True,
    help="Sert l'application de référence (base et requêtes données par le benchmark), "
    "comme `coop serve` sert les applications.",
)
def baseline(
    port: Annotated[int, typer.Option(help="Port")],
    workers: Annotated[int | None, typer.Option(min=1, help="Processus")] = None,
) -> None:
    """Serve the baseline app (its database and queries from the environment the bench
    gives it), as `coop serve` serves the apps."""
    from coop.bench.baseline import ENV_PREFIX
    from coop.bench.stack import BASELINE_FACTORY
    from kernel.server import serve
    from kernel.settings import CommonSettings

    # Metrics on a port of the system's choosing: nobody reads the baseline's.
    settings = CommonSettings(host="127.0.0.1", port=port, metrics_port=0)
    # Its pool is sized in each worker (a service worker's typed reads' share).
    serve(BASELINE_FACTORY, settings, env_prefix=ENV_PREFIX, workers=workers, database=False)


@app.command(
    hidden=True, help="Sert le relais nu : chaque port relaie vers un service (coop.bench.relay)."
)
def relay(
    route: Annotated[
        list[str], typer.Option(help="PORT=SERVICE_PORT : écoute sur PORT, relaie vers le service")
    ],
) -> None:
    """Serve the bare relay (`coop.bench.relay`): each port forwards to one service."""
    from coop.bench.relay import serve

    routes: dict[int, int] = {}
    for item in route:
        listen, sep, service = item.partition("=")
        if not sep or not listen.isdigit() or not service.isdigit():
            raise typer.BadParameter(f"route attendue PORT=PORT_DU_SERVICE, reçu : {item}")
        routes[int(listen)] = int(service)
    serve(routes)


@app.command(
    help="Mesure l'ouverture d'une campagne et ses rappels J-15 sur le jeu de données "
    "(durée, messages, personnes, mémoire), cible à côté."
)
def rappels(
    scale: ScaleOpt = "national",
    seed: SeedOpt = 2024,
    out: Annotated[Path, typer.Option(help="Dossier des résultats")] = Path("benchmarks/results"),
) -> None:
    """A campaign's opening and J-15 reminders, measured (coop.bench.rappels)."""
    from coop.bench.rappels import markdown
    from coop.bench.rappels import run as run_rappels

    _check_scale(scale)
    results = run_rappels(scale, seed, console)
    _report(out, "rappels", results, markdown(results))
    if not results["one_per_person"]:
        console.print("[red]Mesure invalide : des personnes ont reçu plusieurs messages.[/]")
        raise typer.Exit(1)


@app.command(
    help="Mesure l'export national (toutes les lignes de suivi d'une année) dans chaque "
    "format sur le jeu de données : durée, mémoire (RSS), lignes, cibles à côté."
)
def exports(
    scale: ScaleOpt = "national",
    seed: SeedOpt = 2024,
    out: Annotated[Path, typer.Option(help="Dossier des résultats")] = Path("benchmarks/results"),
) -> None:
    """The national export in each format, through the export job (coop.bench.exports)."""
    from coop.bench.exports import failed, markdown
    from coop.bench.exports import run as run_exports

    _check_scale(scale)
    results = run_exports(scale, seed, console)
    _report(out, "exports", results, markdown(results))
    if failed(results):
        console.print("[red]Mesure invalide : un export a échoué ou son fichier est incomplet.[/]")
        raise typer.Exit(1)


@app.command(
    help="Lance chaque application pour de vrai, mesure les variantes côte à côte, écrit "
    "latest.md, latest.json et latest.png."
)
def run(
    scale: ScaleOpt = "national",
    seed: SeedOpt = 2024,
    requests: Annotated[
        int, typer.Option(help="c=1 et transferts : requêtes max par variante et point")
    ] = Bounds.requests,
    seconds: Annotated[
        float, typer.Option(help="c=1 et transferts : secondes max par point")
    ] = Bounds.seconds,
    load_requests: Annotated[
        int, typer.Option(help="c=32 : requêtes max par variante et point")
    ] = Bounds.load_requests,
    load_seconds: Annotated[
        float, typer.Option(help="c=32 : secondes max par point")
    ] = Bounds.load_seconds,
    rounds: Annotated[
        int, typer.Option(min=1, help="c=32 : tours (chaque variante une fois par tour)")
    ] = Bounds.rounds,
    out: Annotated[Path, typer.Option(help="Dossier des résultats")] = Path("benchmarks/results"),
    only: Annotated[
        list[str] | None,
        typer.Option(help="Ces points d'accès seulement (clé, ex. agregats_nationaux ; répétable)"),
    ] = None,
) -> None:
    """Start every app for real, run the mix side by side, write latest.md/json/png."""
    from coop.bench.report import errors, failed, markdown
    from coop.bench.runner import run as run_bench

    _check_scale(scale)
    _check_endpoints(set(only or ()))
    bounds = Bounds(requests, seconds, load_requests, load_seconds, rounds)
    results = run_bench(scale, bounds, seed, out, console, only=frozenset(only or ()))
    Console().print(Markdown(markdown(results)))
    sys.stdout.write(
        f"\nRésultats : {out / 'latest.md'}, {out / 'latest.json'}, {out / 'latest.png'}\n"
    )
    if failed(results):
        counts = ", ".join(f"{v} {n}" for v, n in errors(results).items() if n)
        console.print(f"[red]Mesure invalide : réponses hors attendues ({counts}).[/]")
        raise typer.Exit(1)
