"""XLSX with xlsxwriter in constant-memory mode.

Rows are written in order and flushed to a temporary file as they come (xlsxwriter keeps
one row in memory); ``close()`` assembles the package into a temporary file that is then
streamed out and deleted. Dates are dates with a ``jj/mm/aaaa`` format, numbers are
numbers, percents numbers with a percent format; text goes through ``write_string``
only, so a user's ``=SOMME(…)`` stays text (xlsxwriter's own string-to-formula and
string-to-number guesses are off as well).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from kernel.tabular.columns import (
    CellType,
    Column,
    Row,
    Sheet,
    batches,
    check_row,
    normalise,
    sheet_title,
)

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BATCH_ROWS = 2000
CHUNK_BYTES = 256 * 1024
MAX_ROWS = 1_048_576  # the format's limit, header included
MAX_STRING = 32_767  # characters a cell holds in Excel

_NUMBER_FORMATS = {
    CellType.integer: "0",
    CellType.decimal: "General",
    CellType.percent: "0.0%",
    CellType.date: "dd/mm/yyyy",
    CellType.datetime: "dd/mm/yyyy hh:mm",
}


class _SheetWriter:
    def __init__(self, worksheet: Worksheet, columns: Sequence[Column], formats: list[Format]):
        self.worksheet = worksheet
        self.columns = columns
        self.formats = formats
        self.next_row = 1

    def write(self, rows: Sequence[Row]) -> None:
        ws = self.worksheet
        if self.next_row + len(rows) > MAX_ROWS:
            raise OverflowError(f"more than {MAX_ROWS} rows in an XLSX sheet")
        for row in rows:
            r = self.next_row
            for c, (column, raw) in enumerate(
                zip(self.columns, check_row(self.columns, row), strict=True)
            ):
                value = normalise(column, raw)
                if value is None:
                    continue
                kind = column.type
                if kind is CellType.text:
                    assert isinstance(value, str)
                    ws.write_string(r, c, value[:MAX_STRING])
                elif kind is CellType.boolean:
                    ws.write_boolean(r, c, bool(value))
                elif kind in (CellType.date, CellType.datetime):
                    assert isinstance(value, dt.date)
                    ws.write_datetime(r, c, value, self.formats[c])
                else:
                    assert isinstance(value, int | Decimal)
                    ws.write_number(r, c, float(value), self.formats[c])
            self.next_row += 1


def _open(path: Path, tmpdir: str, sheets: Sequence[Sheet]) -> tuple[Any, list[_SheetWriter]]:
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "tmpdir": tmpdir,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    header = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    writers = []
    for sheet in sheets:
        ws = workbook.add_worksheet(sheet_title(sheet.name))
        formats = [
            workbook.add_format({"num_format": _NUMBER_FORMATS.get(c.type, "@")})
            for c in sheet.columns
        ]
        for c, column in enumerate(sheet.columns):
            ws.set_column(c, c, column.display_width)
            ws.write_string(0, c, column.header, header)
        ws.freeze_panes(1, 0)
        writers.append(_SheetWriter(ws, sheet.columns, formats))
    return workbook, writers


async def xlsx_chunks(*sheets: Sheet, batch_rows: int = BATCH_ROWS) -> AsyncIterator[bytes]:
    """The workbook of `sheets`, in order; nothing of it is left on disk afterwards.

    In constant-memory mode a sheet's rows must all be written before the next sheet
    gets any, which is how the sheets' iterables are read."""
    with tempfile.TemporaryDirectory(prefix="coop-xlsx-") as tmpdir:
        path = Path(tmpdir) / "export.xlsx"
        workbook, writers = _open(path, tmpdir, sheets)
        try:
            for sheet, writer in zip(sheets, writers, strict=True):
                async for batch in batches(sheet.rows, batch_rows):
                    await anyio.to_thread.run_sync(writer.write, batch)
                last_row = max(writer.next_row - 1, 0)
                writer.worksheet.autofilter(0, 0, last_row, max(len(sheet.columns) - 1, 0))
        finally:
            # Also on failure: closing is xlsxwriter's only way to release its row files.
            await anyio.to_thread.run_sync(workbook.close)
        async with await anyio.open_file(path, "rb") as f:
            while chunk := await f.read(CHUNK_BYTES):
                yield chunk
