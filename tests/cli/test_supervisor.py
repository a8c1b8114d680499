"""What `coop run` relies on: readiness waits, clean stop on Ctrl-C, its own clamd."""

from __future__ import annotations

import json
import socket
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coop.ports import free_port
from coop.supervisor import (
    Backoff,
    Child,
    Keeper,
    StartupError,
    clamd_binary,
    clamd_ping,
    prepare_clamd,
    spawn,
    stop_all,
    wait_ready,
)

# A child that reports "ready" once its handlers are installed, then sleeps. It stops on
# Ctrl-C as the apps do (their server installs its own handler), even when started from a
# background job, whose children inherit SIGINT ignored (POSIX shells).
CHILD = textwrap.dedent(
    """
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for name in sys.argv[2:]:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    open(sys.argv[1], "w").write("ready")
    while True:
        time.sleep(0.05)
    """
)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    stop_all(started, sigint_timeout=1, sigterm_timeout=1)


def _sleeper(tmp_path: Path, name: str, *ignored: str) -> Child:
    flag = tmp_path / f"{name}.ready"
    child = spawn(name, [sys.executable, "-c", CHILD, str(flag), *ignored], {})
    wait_ready(child, "", check=flag.exists, timeout=30)
    return child


def test_stop_escalates_from_sigint_to_sigterm_to_kill(
    tmp_path: Path, children: list[Child]
) -> None:
    polite = _sleeper(tmp_path, "polite")
    deaf_to_sigint = _sleeper(tmp_path, "deaf", "SIGINT")
    stubborn = _sleeper(tmp_path, "stubborn", "SIGINT", "SIGTERM")
    children += [polite, deaf_to_sigint, stubborn]
    stop_all(children, sigint_timeout=0.5, sigterm_timeout=0.5)
    assert [c.stopped_by for c in children] == ["SIGINT", "SIGTERM", "SIGKILL"]
    assert all(c.process.poll() is not None for c in children)


def test_a_child_that_already_exited_is_not_signalled(tmp_path: Path) -> None:
    child = spawn("done", [sys.executable, "-c", "pass"], {})
    child.process.wait()
    stop_all([child])
    assert child.stopped_by == "exited"


def test_children_do_not_receive_the_terminal_ctrl_c(tmp_path: Path, children: list[Child]) -> None:
    # Their own session: only `coop run` gets Ctrl-C and stops them in order.
    child = _sleeper(tmp_path, "own-session")
    children.append(child)
    import os

    assert os.getsid(child.process.pid) == child.process.pid != os.getsid(0)


def test_wait_ready_returns_once_the_app_answers(tmp_path: Path, children: list[Child]) -> None:
    port = free_port()
    server = spawn(
        "web",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        {},
        log_path=tmp_path / "web.log",
    )
    children.append(server)
    wait_ready(server, f"http://127.0.0.1:{port}/", timeout=30)
    assert server.process.poll() is None


def test_wait_ready_reports_a_crash_with_the_end_of_the_log(tmp_path: Path) -> None:
    log = tmp_path / "broken.log"
    code = "import sys; print('settings refused: no database'); sys.exit(3)"
    child = spawn("broken", [sys.executable, "-c", code], {}, log_path=log)
    with pytest.raises(StartupError) as raised:
        wait_ready(child, f"http://127.0.0.1:{free_port()}/readyz", timeout=30)
    assert "broken" in str(raised.value)
    assert "code 3" in str(raised.value)
    assert "settings refused: no database" in str(raised.value)


def test_clamd_config_accepts_the_largest_document(tmp_path: Path) -> None:
    setup = prepare_clamd(tmp_path, max_file_bytes=200 * 1024 * 1024)
    text = setup.config.read_text()
    stream_max = int(
        next(ln for ln in text.splitlines() if ln.startswith("StreamMaxLength")).split()[1]
    )
    assert stream_max >= 200 * 1024 * 1024
    assert f"LocalSocket {setup.socket}" in text
    if not setup.full_database:
        assert (setup.database / "eicar.hdb").read_text().startswith("44d88612")


def test_coop_run_clamd_answers_and_detects_the_test_signature(
    tmp_path: Path, children: list[Child]
) -> None:
    binary = clamd_binary()
    if binary is None:
        pytest.skip("clamd absent: `coop run` then disables scanning (tested by the README run)")
    # The EICAR-only database (what `coop run` uses without the real ones): fast to load.
    setup = prepare_clamd(tmp_path, max_file_bytes=1024 * 1024, system_database=tmp_path / "none")
    assert not setup.full_database
    child = spawn("clamd", [binary, "-c", str(setup.config)], {}, tmp_path / "clamd.log")
    children.append(child)
    wait_ready(child, str(setup.socket), timeout=300, check=lambda: clamd_ping(setup.socket))
    eicar = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    assert _instream(setup.socket, eicar).endswith(b"FOUND")
    assert _instream(setup.socket, b"bilan 2025").endswith(b"OK")


def _instream(path: Path, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(b"zINSTREAM\0" + len(data).to_bytes(4, "big") + data + b"\0\0\0\0")
        reply = b""
        while not reply.endswith(b"\0"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.rstrip(b"\0")


def test_the_restart_backoff_doubles_to_its_ceiling_and_resets_after_a_stable_run() -> None:
    backoff = Backoff(first=1, ceiling=30, stable_after=60)
    crash_loop = [backoff.after_death(uptime=2) for _ in range(7)]
    assert crash_loop == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.after_death(uptime=61) == 1  # it had run a while: a fresh start
    assert backoff.after_death(uptime=2) == 2


def test_the_keeper_starts_a_dead_child_again_and_says_so(
    tmp_path: Path, children: list[Child]
) -> None:
    flag = tmp_path / "app.ready"
    log = tmp_path / "app.log"
    child = spawn("app", [sys.executable, "-c", CHILD, str(flag)], {}, log_path=log)
    wait_ready(child, "", check=flag.exists, timeout=30)
    children.append(child)
    said: list[tuple[str, str]] = []
    cleared: list[int] = []
    keeper = Keeper(
        children,
        lambda message, level: said.append((level, message)),
        ready={"app": flag.exists},
        before_restart={"app": lambda: cleared.append(len(said))},
        backoff=lambda: Backoff(first=0.2),
    )
    keeper.check()
    assert said == []  # alive: nothing to do
    flag.unlink()
    child.process.kill()
    child.process.wait()
    deadline = time.monotonic() + 30
    while len(said) < 3 and time.monotonic() < deadline:
        keeper.check()
        time.sleep(0.05)
    restarted = children[0]
    assert restarted is not child
    assert restarted.process.poll() is None
    assert [level for level, _ in said] == ["warning", "warning", "info"]
    assert said[0][1] == "app s'est arrêté (code -9) : redémarrage dans 0.2 s"
    assert said[1][1] == f"app redémarré (pid {restarted.process.pid})"
    assert said[2][1] == "app est de nouveau prêt"
    assert cleared == [1]  # once: after its death was said, before its successor started
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["msg"] for line in lines] == [message for _, message in said]
    assert {line["logger"] for line in lines} == {"coop.run"}
