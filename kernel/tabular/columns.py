"""One column definition for every export format, and what each cell type means.

A `Sheet` is a name, its `Column`s (French header, cell type) and rows, each a sequence
of values in column order, given as a sync or async iterable (a database cursor). Every
writer (CSV, XLSX, ODS) reads the same definition, so the three files of one export have
the same columns, in the same order, with the same types.

Cell values by type (None is an empty cell in every type):

- ``text``: str, always written as text, never as a formula (see `formula_like`);
- ``integer``: int; ``decimal``: Decimal, int or float;
- ``percent``: a fraction (Decimal("0.425") is shown 42,5 %);
- ``date``: date; ``datetime``: an aware datetime, shown in Europe/Paris time;
- ``boolean``: bool.

A value of another type is a bug of the caller: TypeError names the column.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

CellValue = str | int | float | Decimal | bool | dt.date | dt.datetime | None
Row = Sequence[CellValue]


class CellType(StrEnum):
    text = "text"
    integer = "integer"
    decimal = "decimal"
    percent = "percent"
    date = "date"
    datetime = "datetime"
    boolean = "boolean"


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    type: CellType = CellType.text
    # Display width in characters (spreadsheets); by default from the header and type.
    width: int | None = None

    @property
    def display_width(self) -> int:
        if self.width:
            return self.width
        minimum = {CellType.date: 11, CellType.datetime: 17, CellType.text: 12}
        return max(len(self.header) + 2, minimum.get(self.type, 8))


@dataclass(frozen=True)
class Sheet:
    name: str
    columns: Sequence[Column]
    rows: Iterable[Row] | AsyncIterable[Row]


# OWASP "CSV injection": a cell starting with one of these is read as a formula by
# spreadsheets (tab and carriage return too, which some of them skip before looking).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(text: str) -> bool:
    return text.startswith(FORMULA_TRIGGERS)


def check_row(columns: Sequence[Column], row: Row) -> Row:
    if len(row) != len(columns):
        raise TypeError(f"row of {len(row)} values for {len(columns)} columns")
    return row


def _bad(column: Column, value: object) -> TypeError:
    naive = " (naive datetime)" if column.type is CellType.datetime else ""
    return TypeError(f"column {column.header!r} ({column.type.value}): bad value {value!r}{naive}")


def _as_text(column: Column, value: CellValue) -> CellValue:
    if isinstance(value, str):
        return value
    raise _bad(column, value)


def _as_integer(column: Column, value: CellValue) -> CellValue:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _bad(column, value)


def _as_number(column: Column, value: CellValue) -> CellValue:
    if isinstance(value, Decimal) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    raise _bad(column, value)


def _as_date(column: Column, value: CellValue) -> CellValue:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise _bad(column, value)


def _as_datetime(column: Column, value: CellValue) -> CellValue:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(PARIS).replace(tzinfo=None)
    raise _bad(column, value)


def _as_boolean(column: Column, value: CellValue) -> CellValue:
    if isinstance(value, bool):
        return value
    raise _bad(column, value)


_NORMALISERS = {
    CellType.text: _as_text,
    CellType.integer: _as_integer,
    CellType.decimal: _as_number,
    CellType.percent: _as_number,
    CellType.date: _as_date,
    CellType.datetime: _as_datetime,
    CellType.boolean: _as_boolean,
}


def normalise(column: Column, value: CellValue) -> CellValue:
    """The value as writers take it: datetimes in Paris time without zone, numbers as
    Decimal or int; TypeError for a value that does not fit the column's type."""
    if value is None:
        return None
    return _NORMALISERS[column.type](column, value)


def plain_number(value: Decimal | int) -> str:
    """A number in plain notation with a point (XML attributes): 1E+2 is written 100."""
    if isinstance(value, int):
        return str(value)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def french_number(value: Decimal | int) -> str:
    """A number as a French reader types it: decimal comma, no thousands separator."""
    return plain_number(value).replace(".", ",")


def french_percent(value: Decimal | int) -> str:
    return french_number(Decimal(value) * 100) + " %"


def french_date(value: dt.date) -> str:
    return value.strftime("%d/%m/%Y")


def french_datetime(value: dt.datetime) -> str:
    return value.strftime("%d/%m/%Y %H:%M")


def display(column: Column, value: CellValue) -> str:
    """The French text of a normalised value, as the cell shows it (CSV, ODS text)."""
    if value is None:
        return ""
    kind = column.type
    if kind is CellType.text:
        assert isinstance(value, str)
        return value
    if kind is CellType.boolean:
        return "oui" if value else "non"
    if kind is CellType.datetime:
        assert isinstance(value, dt.datetime)
        return french_datetime(value)
    if kind is CellType.date:
        assert isinstance(value, dt.date)
        return french_date(value)
    assert isinstance(value, int | Decimal)
    return french_percent(value) if kind is CellType.percent else french_number(value)


# Characters Excel refuses in a sheet name (LibreOffice refuses a subset of them).
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\']")
MAX_SHEET_NAME = 31


def sheet_title(name: str) -> str:
    """A sheet name both Excel and LibreOffice accept (31 characters, no []:*?/\\')."""
    cleaned = " ".join(_BAD_SHEET_CHARS.sub(" ", name).split())[:MAX_SHEET_NAME].strip()
    return cleaned or "Feuille"


async def batches(rows: Iterable[Row] | AsyncIterable[Row], size: int) -> AsyncIterator[list[Row]]:
    """Rows grouped by `size`, so writers encode each group off the event loop."""
    batch: list[Row] = []
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
    else:
        for row in rows:
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch
