"""Child processes of `coop run`: start, wait until ready, restart, stop cleanly; a
clamd for dev.

Children run in their own session, so the terminal's Ctrl-C reaches only `coop run`,
which then stops them itself, last started first: SIGINT (graceful), then SIGTERM,
then SIGKILL, each after a timeout. A child that dies once the suite runs is started
again after a back-off (`Keeper`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# MD5 and size of the standard EICAR test file: the only signature of the fallback
# database, so that the antivirus path works end to end without the real databases.
EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"
EICAR_SIZE = 68
SYSTEM_CLAMAV_DB = Path("/var/lib/clamav")


class StartupError(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None = None
    # How it ended when `stop_all` stopped it: "exited", "SIGINT", "SIGTERM", "SIGKILL".
    stopped_by: str | None = field(default=None)
    # How it was started (`spawn`), to start it again.
    argv: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def spawn(
    name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path | None = None
) -> Child:
    """Start a child in its own session, its output appended to `log_path`."""
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 (argv built by us)
                list(argv),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    else:
        process = subprocess.Popen(  # noqa: S603
            list(argv), env=dict(env), stdin=subprocess.DEVNULL, start_new_session=True
        )
    return Child(name, process, log_path, argv=list(argv), env=dict(env))


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def wait_ready(
    child: Child,
    url: str,
    *,
    timeout: float = 60.0,
    interval: float = 0.2,
    check: Callable[[], bool] | None = None,
) -> None:
    """Poll `url` (or `check`) until it answers 200; fail at once if the child exits."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            code = child.process.poll()
            if code is not None:
                raise StartupError(
                    f"{child.name} s'est arrêté au démarrage (code {code}).\n{child.log_tail()}"
                )
            try:
                if check is not None:
                    if check():
                        return
                elif client.get(url).status_code == 200:
                    return
            except (httpx.HTTPError, OSError):
                pass
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{child.name} ne répond pas sur {url} après {timeout:.0f} s.\n"
                    f"{child.log_tail()}"
                )
            time.sleep(interval)


def stop_all(
    children: Sequence[Child], *, sigint_timeout: float = 10.0, sigterm_timeout: float = 5.0
) -> None:
    """Stop every child, last started first: SIGINT, then SIGTERM, then SIGKILL."""
    for child in reversed(children):
        _stop(child, sigint_timeout, sigterm_timeout)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill what is left of a child's process group (its own session: `spawn`): an app's
    worker processes outlive their parent when it is killed, and would go on holding
    its port."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _stop(child: Child, sigint_timeout: float, sigterm_timeout: float) -> None:
    process = child.process
    if process.poll() is not None:
        child.stopped_by = child.stopped_by or "exited"
        _kill_group(process)
        return
    for sig, timeout in ((signal.SIGINT, sigint_timeout), (signal.SIGTERM, sigterm_timeout)):
        try:
            process.send_signal(sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=timeout)
            child.stopped_by = sig.name
            _kill_group(process)  # nothing, unless a worker outlived its parent
            return
        except subprocess.TimeoutExpired:
            continue
    if process.poll() is None:
        _kill_group(process)
        process.wait()
        child.stopped_by = "SIGKILL"
    else:
        child.stopped_by = child.stopped_by or "exited"


# --- restarts ----------------------------------------------------------------------------


@dataclass
class Backoff:
    """The wait before starting again a child that died: `first`, doubled at each death
    up to `ceiling`; back to `first` once the child had stayed up `stable_after` seconds
    (a crash now and then is not a crash loop)."""

    first: float = 1.0
    ceiling: float = 30.0
    stable_after: float = 60.0
    _next: float = field(default=0.0, init=False)

    def after_death(self, uptime: float) -> float:
        if not self._next or uptime >= self.stable_after:
            self._next = self.first
        delay = self._next
        self._next = min(self._next * 2, self.ceiling)
        return delay


@dataclass
class _Watched:
    child: Child
    ready: Callable[[], bool] | None
    backoff: Backoff
    started: float
    restart_at: float | None = None
    awaiting_ready: bool = False


class Keeper:
    """Keeps `children` running: `check()`, called every few tenths of a second, notices
    a child that died, starts it again after its back-off and tells when it answers
    its `ready` probe again (`before_restart` clears what the dead one left, by name).
    Each step is said on the console (`say(message, level)`) and written to the child's
    own log. `children` is the caller's list: a restarted child replaces the dead one
    there, so stopping that list stops what runs."""

    def __init__(
        self,
        children: list[Child],
        say: Callable[[str, str], None],
        *,
        ready: Mapping[str, Callable[[], bool]] | None = None,
        before_restart: Mapping[str, Callable[[], None]] | None = None,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.children = children
        self._say = say
        self._before_restart = before_restart or {}
        now = time.monotonic()
        probes = ready or {}
        self._watched = [
            _Watched(child, probes.get(child.name), backoff(), now) for child in children
        ]

    def check(self) -> None:
        now = time.monotonic()
        for watched in self._watched:
            child = watched.child
            if watched.restart_at is None:
                code = child.process.poll()
                if code is not None:
                    _kill_group(child.process)  # its workers, if it had any
                    delay = watched.backoff.after_death(now - watched.started)
                    watched.restart_at = now + delay
                    watched.awaiting_ready = False
                    self._tell(
                        child,
                        f"{child.name} s'est arrêté (code {code}) : redémarrage dans {delay:g} s",
                    )
                elif watched.awaiting_ready and (watched.ready is None or watched.ready()):
                    watched.awaiting_ready = False
                    self._tell(child, f"{child.name} est de nouveau prêt", "info")
            elif now >= watched.restart_at:
                self._restart(watched, now)

    def _restart(self, watched: _Watched, now: float) -> None:
        dead = watched.child
        prepare = self._before_restart.get(dead.name)
        if prepare is not None:
            prepare()
        child = spawn(dead.name, dead.argv, dead.env, dead.log_path)
        self.children[self.children.index(dead)] = child
        watched.child = child
        watched.started = now
        watched.restart_at = None
        watched.awaiting_ready = True
        self._tell(child, f"{child.name} redémarré (pid {child.process.pid})")

    def _tell(self, child: Child, message: str, level: str = "warning") -> None:
        self._say(message, level)
        if child.log_path is not None:
            # A line like the apps' own JSON lines, in the same file.
            line = {
                "ts": round(dt.datetime.now(dt.UTC).timestamp(), 3),
                "level": level,
                "logger": "coop.run",
                "msg": message,
            }
            with child.log_path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")


def answers(url: str, timeout: float = 0.5) -> bool:
    """`url` answers 200 now (one short try: the keeper's loop must not stall on it)."""
    try:
        return httpx.get(url, timeout=timeout, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


# --- clamd for `coop run` ----------------------------------------------------------------


def clamd_binary() -> str | None:
    found = shutil.which("clamd")
    if found:
        return found
    for candidate in ("/usr/sbin/clamd", "/usr/local/sbin/clamd"):
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _has_signatures(directory: Path) -> bool:
    patterns = ("*.cvd", "*.cld", "*.cud")
    return directory.is_dir() and any(any(directory.glob(p)) for p in patterns)


@dataclass(frozen=True)
class ClamdSetup:
    config: Path
    socket: Path
    database: Path
    # True: the real signature databases; False: the EICAR-only fallback.
    full_database: bool


def prepare_clamd(
    base: Path, max_file_bytes: int, system_database: Path = SYSTEM_CLAMAV_DB
) -> ClamdSetup:
    """Write the clamd config of `coop run` under `base` (.coop/clamav, socket in .coop/)."""
    work = (base / "clamav").resolve()
    work.mkdir(parents=True, exist_ok=True)
    sock = (base / "clamd.sock").resolve()
    if len(str(sock)) > 100:  # AF_UNIX paths are limited to ~108 bytes
        sock = Path(f"/tmp/coop-clamd-{os.getuid()}.sock")  # noqa: S108 (per-user name)
    full = _has_signatures(system_database)
    database = system_database if full else work / "db"
    if not full:
        database.mkdir(exist_ok=True)
        (database / "eicar.hdb").write_text(f"{EICAR_MD5}:{EICAR_SIZE}:Eicar-Test-Signature\n")
    stream_max = max(max_file_bytes + 1024 * 1024, 25 * 1024 * 1024)
    config = work / "clamd.conf"
    config.write_text(
        "# Written by `coop run`: a clamd of our own for the documents service.\n"
        "Foreground yes\n"
        f"LocalSocket {sock}\n"
        f"DatabaseDirectory {database}\n"
        f"TemporaryDirectory {work}\n"
        f"LogFile {work / 'clamd.log'}\n"
        f"StreamMaxLength {stream_max}\n"
        f"MaxFileSize {stream_max}\n"
        "MaxThreads 4\n"
    )
    return ClamdSetup(config, sock, database, full)


def clamd_ping(path: Path, timeout: float = 1.0) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(b"zPING\0")
            return sock.recv(16).rstrip(b"\0\n") == b"PONG"
    except OSError:
        return False
