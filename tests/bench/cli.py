"""`coop bench` as `make bench` runs it, in a process of its own, on the test database."""

from __future__ import annotations

import os
import subprocess
import sys


def coop_bench(database_url: str, *args: str) -> None:
    """`coop bench <args>`; a failure shows the end of what it printed on stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "coop.cli", "bench", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
