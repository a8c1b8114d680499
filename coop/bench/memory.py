"""What a large file costs this process: its peak RSS sampled in a thread, and rows counted
in a file without reading it whole (the exports' bench and their memory test)."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import psutil  # type: ignore[import-untyped]


class PeakRss:
    """The process's RSS sampled every 20 ms in a thread (an event loop busy encoding
    rows would starve a task), its growth over the RSS at the start."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.base = self.peak = int(self.process.memory_info().rss)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, int(self.process.memory_info().rss))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, int(self.process.memory_info().rss))

    @property
    def growth(self) -> int:
        return self.peak - self.base


def count_in_zip_entry(path: Path, entry: str, marker: bytes, until: bytes | None = None) -> int:
    """Occurrences of `marker` in a ZIP entry (before the first `until`, no longer than
    the marker, if given), inflated chunk by chunk (never whole)."""
    assert until is None or len(until) <= len(marker)
    count, tail = 0, b""
    with zipfile.ZipFile(path) as z, z.open(entry) as f:
        while chunk := f.read(1 << 20):
            # The tail, shorter than a marker, holds none whole: nothing counted twice.
            data = tail + chunk
            end = data.find(until) if until else -1
            if end >= 0:
                return count + data[:end].count(marker)
            count += data.count(marker)
            tail = data[-(len(marker) - 1) :]
    return count


def count_lines(path: Path) -> int:
    """CRLF-ended lines of a file (a CSV export: a cell's own line breaks are LF alone),
    read by blocks (a CRLF split between two blocks counted once)."""
    count, last = 0, b""
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            count += (last + block[:1] == b"\r\n") + block.count(b"\r\n")
            last = block[-1:]
    return count
