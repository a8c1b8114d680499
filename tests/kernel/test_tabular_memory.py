"""Bounded memory: 400 000 rows (a national export) in each format, process RSS growth
under 256 MiB, the file complete. Rows come from an async iterator, as from a cursor."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import anyio
import psutil
import pytest

from coop.bench.memory import PeakRss, count_in_zip_entry, count_lines
from kernel.tabular import CellType, Column, Row, Sheet, csv_chunks, ods_chunks, xlsx_chunks

ROWS = 400_000
MAX_GROWTH = 256 * 1024 * 1024

# Every cell type once (memory does not depend on how many columns a row has; the
# time does, and this test runs in every `make test`).
COLUMNS = (
    Column("Action"),
    Column("Difficultés"),
    Column("Rang", CellType.integer),
    Column("Valeur", CellType.decimal),
    Column("Avancement", CellType.percent),
    Column("Échéance", CellType.date),
    Column("Validé le", CellType.datetime),
    Column("En retard", CellType.boolean),
)

# A pool of distinct rows cycled through: the rows cost the test nothing to make.
_POOL: list[Row] = [
    (
        f"Action {i} : ouvrir des places d’accueil à la crèche des Lilas",
        "=LIEN_HYPERTEXTE(x)" if i % 100 == 0 else "Recrutement d’auxiliaires difficile",
        i,
        Decimal(i % 500) + Decimal("0.5"),
        Decimal(i % 101) / 100,
        dt.date(2026, 1 + i % 12, 1 + i % 28),
        dt.datetime(2026, 3, 31, 8, i % 60, tzinfo=dt.UTC),
        i % 7 == 0,
    )
    for i in range(997)
]


async def _rows() -> AsyncIterator[Row]:
    for i in range(ROWS):
        yield _POOL[i % len(_POOL)]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "ods"])
async def test_four_hundred_thousand_rows_in_bounded_memory(fmt: str, tmp_path: Path) -> None:
    sheet = Sheet("Suivis 2026", COLUMNS, _rows())
    chunks = {"csv": csv_chunks, "xlsx": xlsx_chunks, "ods": ods_chunks}[fmt](sheet)
    path = tmp_path / f"export.{fmt}"
    started, cpu = time.monotonic(), sum(psutil.Process().cpu_times()[:2])
    with PeakRss() as rss:
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in chunks:
                await out.write(chunk)
    elapsed = time.monotonic() - started
    cpu = sum(psutil.Process().cpu_times()[:2]) - cpu
    size = path.stat().st_size
    print(
        f"\n{fmt}: {ROWS} rows, {elapsed:.1f} s ({cpu:.1f} s CPU), {size / 1e6:.1f} MB,"
        f" RSS +{rss.growth >> 20} MiB"
    )
    assert rss.growth < MAX_GROWTH
    if fmt == "csv":
        assert count_lines(path) == ROWS + 1
    elif fmt == "xlsx":
        assert count_in_zip_entry(path, "xl/worksheets/sheet1.xml", b"<row ") == ROWS + 1
    else:
        assert count_in_zip_entry(path, "content.xml", b"<table:table-row>") == ROWS + 1
