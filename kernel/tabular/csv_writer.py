"""CSV as a French spreadsheet user opens it by a double click.

UTF-8 with a byte order mark (without it Excel reads the file as Windows-1252), ``;``
between cells and CRLF line ends. Numbers have a decimal **comma**: Excel and
LibreOffice in a French locale read ``3,5`` as a number and ``3.5`` as text or a date,
and the comma is the very reason French CSV separates cells with ``;``. Dates are
``31/03/2026``, datetimes ``31/03/2026 14:05`` in Paris time, percents ``42,5 %``,
booleans ``oui``/``non``.

Formulas (OWASP, CSV injection): every cell is quoted, and a text starting with
``= + - @``, tab or CR gets a leading apostrophe, so a spreadsheet shows it as text and
never evaluates it. A text column alone can carry user text; numbers and dates are
written by us.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence

import anyio.to_thread

from kernel.tabular.columns import (
    CellType,
    Column,
    Row,
    Sheet,
    batches,
    check_row,
    display,
    formula_like,
    normalise,
)

MEDIA_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff".encode()
BATCH_ROWS = 2000


def neutralise(text: str) -> str:
    """A user's text as a CSV cell a spreadsheet keeps as text (OWASP's apostrophe)."""
    return "'" + text if formula_like(text) else text


def _cells(columns: Sequence[Column], row: Row) -> list[str]:
    out = []
    for column, raw in zip(columns, check_row(columns, row), strict=True):
        text = display(column, normalise(column, raw))
        out.append(neutralise(text) if column.type is CellType.text else text)
    return out


def encode_rows(columns: Sequence[Column], rows: Sequence[Row], *, header: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    if header:
        writer.writerow([c.header for c in columns])
    writer.writerows(_cells(columns, row) for row in rows)
    return buffer.getvalue().encode("utf-8")


async def csv_chunks(sheet: Sheet, *, batch_rows: int = BATCH_ROWS) -> AsyncIterator[bytes]:
    """The CSV file of one sheet, one chunk per batch of rows (encoded in a worker thread)."""
    yield BOM + encode_rows(sheet.columns, [], header=True)
    async for batch in batches(sheet.rows, batch_rows):
        yield await anyio.to_thread.run_sync(encode_rows, sheet.columns, batch)
