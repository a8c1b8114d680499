"""Ports for the servers the tests and the benchmark start beside anything else: never
one another process was given (parallel test workers), never one the kernel may hand to
an outgoing connection meanwhile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from coop.ports import free_port

_TAKE = """
import sys
from coop.ports import free_port
print(" ".join(str(free_port()) for _ in range(int(sys.argv[1]))), flush=True)
sys.stdin.read()  # alive, its ports reserved, until the test is done
"""


def _ephemeral_start() -> int:
    path = Path("/proc/sys/net/ipv4/ip_local_port_range")
    return int(path.read_text().split()[0]) if path.exists() else 49152


def test_processes_running_together_are_never_given_the_same_port() -> None:
    count = 100  # several blocks each
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _TAKE, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        given = []
        for process in processes:
            assert process.stdout is not None
            given.append([int(p) for p in process.stdout.readline().split()])
        ours = [free_port() for _ in range(count)]
    finally:
        for process in processes:
            process.communicate("")
    every = [port for ports in [*given, ours] for port in ports]
    assert len(every) == 4 * count
    assert len(set(every)) == len(every), "a port was given twice"
    # Below the range the kernel picks client ports and bind(0) ports from.
    assert max(every) < _ephemeral_start()
