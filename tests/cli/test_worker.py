"""`coop worker` as the process `coop run`, the image and docker-compose start."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coop.apps import APPS
from coop.cli import app
from coop.run_suite import start_worker


async def declared_jobs() -> dict[str, float]:
    """Every app's periodic jobs as its own job source declares them (name: interval),
    with the worker's own purge of failed jobs: what `coop worker` must run."""
    declared = {"queue.failed-jobs-purge": 3600.0}
    for spec in APPS.values():
        source = spec.job_source()
        if source is not None:
            async with source(spec.settings_class()()) as jobs:
                declared |= {job.name: job.every_seconds for job in jobs}
    return declared


def test_the_worker_process_reports_its_jobs_beats_and_stops_on_sigint(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heartbeat = tmp_path / "worker.heartbeat"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "COOP_WORKER_HEARTBEAT_FILE": str(heartbeat),
        "COOP_WORKER_HEARTBEAT_SECONDS": "1",
        # Nothing answers there: the replicas' jobs fail and are retried, the worker lives on.
        "COOP_CONVENTIONS_URL": "http://127.0.0.1:9",
        "COOP_DOCUMENTS_ANTIVIRUS": "false",
        "COOP_DOCUMENTS_STORAGE_ROOT": str(tmp_path / "documents"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    declared = asyncio.run(declared_jobs())
    child = start_worker(env, tmp_path / "worker.log", timeout=60)
    try:
        monkeypatch.setenv("COOP_WORKER_HEARTBEAT_FILE", str(heartbeat))
        monkeypatch.setenv("COOP_WORKER_HEARTBEAT_SECONDS", "1")
        probe = CliRunner().invoke(app, ["healthcheck", "worker"])
        assert probe.exit_code == 0, probe.output
        assert probe.stdout == "worker : ok\n"
    finally:
        child.process.send_signal(signal.SIGINT)
        code = child.process.wait(timeout=30)
    log = child.log_tail(200)
    assert code == 0, log
    # Every app's jobs, whichever they are (a new job needs no edit here)...
    ready = f"Travailleur prêt : {len(declared)} tâches périodiques, 17 connexions"
    assert ready in log
    for name, seconds in declared.items():
        assert f"  {name} : toutes les {seconds:g} s" in log
    # ... a few well known among them (a source yielding nothing would not pass).
    assert {
        "actions.convention-ref-sync",
        "gateway.grant-expiry-sweep",
        "queue.failed-jobs-purge",
        "notifications.rappels",
        "documents.convention-ref-sync",
    } <= declared.keys()
    assert {name.split(".")[0] for name in declared} >= {
        spec.name for spec in APPS.values() if spec.jobs is not None
    }
    assert "Travailleur arrêté." in log
    # Stopped: the probe says so (the container would be restarted).
    probe = CliRunner().invoke(app, ["healthcheck", "worker"])
    assert probe.exit_code == 1
    assert "aucun battement" in probe.output


def test_the_worker_refuses_an_interval_it_cannot_keep(database_url: str, tmp_path: Path) -> None:
    """A sync every 7 s cannot be a fixed schedule shared by every worker: said at start."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "COOP_WORKER_HEARTBEAT_FILE": str(tmp_path / "hb"),
        "COOP_ACTIONS_CONVENTIONS_SYNC_SECONDS": "7",
        "COOP_DOCUMENTS_ANTIVIRUS": "false",
    }
    result = subprocess.run(
        [sys.executable, "-m", "coop.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "intervalle de 7 s" in result.stderr
