"""The benchmark's own embedded PostgreSQL is stopped when the bench is done with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from coop.bench import stack


def test_the_bench_stops_the_embedded_server_it_started(
    cluster_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    # Not under tmp_path: see `cluster_dir`.
    data_dir = cluster_dir / "pg"
    pid_file = data_dir / "postmaster.pid"
    _url, embedded = stack.ensure_database("tiny", str(data_dir))
    try:
        assert embedded
        assert pid_file.exists(), "the embedded server is running"
    finally:
        stack.stop_database(str(data_dir))
    assert not pid_file.exists(), "the embedded server is still running"
