"""`coop run`: one app dying no longer stops the suite; the runner starts it again.

The real `coop run` (every app its own `coop serve` process and its workers) on free
ports and the test database; an app's process is killed, the gateway answers 503
meanwhile and 200 once the runner has started it again; Ctrl-C then stops everything
promptly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from coop.apps import APPS
from coop.stack import Stack


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_an_app_that_dies_is_restarted_and_ctrl_c_still_stops_everything(
    database_url: str, tmp_path: Path
) -> None:
    # Free ports and the apps wired to each other, as the end-to-end tests start them
    # (never the default ports: someone may be running the suite there).
    wiring = Stack(database_url=database_url, work_dir=tmp_path, rate_limit=False)
    env = dict(os.environ)
    for spec in APPS.values():
        env.update(wiring.env_for(spec))
    env["COLUMNS"] = "200"
    console = tmp_path / "console.txt"
    with console.open("wb") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "coop.cli", "run", "--no-demo"],
            cwd=tmp_path,  # its .coop/ (logs) there
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    started: list[psutil.Process] = []
    try:

        def said(text: str) -> bool:
            if run.poll() is not None:
                raise AssertionError(f"coop run exited:\n{console.read_text()}")
            return text in console.read_text()

        _until(lambda: said("Coopération est prête."), 180, "the suite ready")
        started = psutil.Process(run.pid).children()
        conventions = next(p for p in started if "conventions" in p.cmdline())
        token = httpx.post(
            f"{wiring.url('idp')}/dev/token", params={"persona": "caf-agent"}
        ).json()["access_token"]
        gateway = httpx.Client(
            base_url=wiring.url("gateway"),
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert gateway.get("/api/v1/conventions").status_code == 200

        # The app's own process (its workers outlive it: the runner ends them).
        conventions.kill()
        answers: list[httpx.Response] = []

        def answered(status: int) -> bool:
            answers.append(gateway.get("/api/v1/conventions"))
            return answers[-1].status_code == status

        _until(lambda: answered(503), 10, "the gateway answering 503")
        assert answers[-1].headers["retry-after"] == "5"

        _until(lambda: answered(200), 90, "the gateway answering 200 again")
        # (502: a request the dying workers had taken and never answered.)
        assert {a.status_code for a in answers} <= {200, 502, 503}, [a.text for a in answers]
        _until(lambda: said("conventions est de nouveau prêt"), 10, "the runner saying so")
        text = console.read_text()
        assert "conventions s'est arrêté (code -9) : redémarrage dans 1 s" in text
        assert "conventions redémarré (pid" in text
        log = (tmp_path / ".coop" / "logs" / "conventions.log").read_text()
        assert "conventions s'est arrêté (code -9) : redémarrage dans 1 s" in log
        restarted = [
            p for p in psutil.Process(run.pid).children() if p.pid not in {q.pid for q in started}
        ]
        assert [p.cmdline()[-1] for p in restarted] == ["conventions"]
        started += restarted
        gateway.close()

        everything = psutil.Process(run.pid).children(recursive=True)  # workers included
        began = time.monotonic()
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=30) == 0
        assert time.monotonic() - began < 20
        assert [p.pid for p in everything if not _gone(p)] == [], "outlived coop run"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for process in started:  # each app's process group: its workers too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
