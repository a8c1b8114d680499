"""Loopback ports for servers started beside anything else on the machine (the tests'
servers, parallel test workers, the benchmark's stack).

Binding port 0 and releasing it races: until the server binds that port itself, the
kernel may hand it to any outgoing connection or to another process's bind(0), and two
test workers may be told the same one. So ports are taken below the kernel's ephemeral
range (which it never hands out by itself), by blocks: a process reserves a block with
an exclusive lock on a file named after it, held until the process exits (the kernel
drops it even after a crash), and gives the block's ports out one by one, each checked
free when given.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
import threading
from pathlib import Path

BLOCK = 32
# Below Linux's default ephemeral range (32768-60999) and macOS's (49152-65535), above
# the usual fixed ports (the suite's 8000-8009 and 9000-9009, PostgreSQL's 5432).
FIRST, END = 20000, 32768
LOCK_DIR = Path(tempfile.gettempdir()) / "coop-ports"


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return END


class _Ports:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[int] = []
        # Raw descriptors of the lock files, open for the life of the process: a file
        # object would be reported unclosed (ResourceWarning) at interpreter exit.
        self._held: list[int] = []
        self._pid = os.getpid()

    def take(self) -> int:
        with self._lock:
            if self._pid != os.getpid():  # a forked child holds none of the parent's blocks
                self._pending, self._held, self._pid = [], [], os.getpid()
            while True:
                if not self._pending:
                    self._pending = self._reserve_block()
                port = self._pending.pop(0)
                if _bindable(port):
                    return port

    def _reserve_block(self) -> list[int]:
        end = min(END, _ephemeral_start())
        blocks = list(range(FIRST, end - BLOCK + 1, BLOCK))
        if not blocks:
            raise RuntimeError(f"no port range below the ephemeral ports ({end})")
        LOCK_DIR.mkdir(mode=0o777, parents=True, exist_ok=True)
        for start in random.sample(blocks, len(blocks)):
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
            lock = os.open(LOCK_DIR / f"{start}.lock", flags, 0o666)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock)
                continue
            self._held.append(lock)
            return list(range(start, start + BLOCK))
        raise RuntimeError(f"every block of ports in {FIRST}-{end} is reserved ({LOCK_DIR})")


def _bindable(port: int) -> bool:
    """Free now, with nothing left in TIME_WAIT (no SO_REUSEADDR): a server binds it as is."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_PORTS = _Ports()


def free_port() -> int:
    """A loopback port free now that no other process using this module will be given
    while this process lives (nor this process again)."""
    return _PORTS.take()
