"""Child processes of `coop run`: start, wait until ready, stop cleanly; a clamd for dev.

Children run in their own session, so the terminal's Ctrl-C reaches only `coop run`,
which then stops them itself, last started first: SIGINT (graceful), then SIGTERM,
then SIGKILL, each after a timeout.
"""

from __future__ import annotations

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
    return Child(name, process, log_path)


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


def _stop(child: Child, sigint_timeout: float, sigterm_timeout: float) -> None:
    process = child.process
    if process.poll() is not None:
        child.stopped_by = child.stopped_by or "exited"
        return
    for sig, timeout in ((signal.SIGINT, sigint_timeout), (signal.SIGTERM, sigterm_timeout)):
        try:
            process.send_signal(sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=timeout)
            child.stopped_by = sig.name
            return
        except subprocess.TimeoutExpired:
            continue
    if process.poll() is None:
        process.kill()
        process.wait()
        child.stopped_by = "SIGKILL"
    else:
        child.stopped_by = child.stopped_by or "exited"


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
