"""Reading one imported cell as the type a field expects, whatever format it came from.

XLSX and ODS cells arrive typed (numbers, dates, booleans); CSV cells are text as a
French user types it (``3,5``, ``31/03/2026``, ``oui``). Each function accepts both and
raises `CellError` with a French message for the import report (the caller adds where
the cell is, with `TableRow.where`).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from kernel.tabular.columns import CellValue


class CellError(ValueError):
    """A cell that does not hold what its column expects; the message is French."""


_TRUE = frozenset({"oui", "o", "vrai", "x", "1", "true", "yes"})
_FALSE = frozenset({"non", "n", "faux", "0", "false", "no"})
_DATE_FR = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
# Spaces a French number may be grouped with (space, no-break, narrow no-break).
_GROUPING = re.compile("[ \u00a0\u202f]")


def as_text(value: CellValue) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    text = str(value).strip()
    return text or None


def as_decimal(value: CellValue) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, (bool, dt.date)):
        raise CellError("nombre attendu")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = _GROUPING.sub("", value.strip()).replace(",", ".")
    percent = text.endswith("%")
    try:
        number = Decimal(text.rstrip("%"))
    except InvalidOperation:
        raise CellError(f"nombre attendu, trouvé « {value.strip()} »") from None
    if not number.is_finite():
        raise CellError(f"nombre attendu, trouvé « {value.strip()} »")
    return number / 100 if percent else number


def as_int(value: CellValue) -> int | None:
    number = as_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise CellError(f"nombre entier attendu, trouvé « {value} »")
    return int(number)


def as_date(value: CellValue) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.time() != dt.time():
            raise CellError("date attendue, trouvé une date avec une heure")
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise CellError("date attendue (jj/mm/aaaa)")
    text = value.strip()
    found = _DATE_FR.match(text)
    try:
        if found:
            day, month, year = (int(g) for g in found.groups())
            return dt.date(year, month, day)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CellError(f"date attendue (jj/mm/aaaa), trouvé « {text} »") from None


def as_bool(value: CellValue) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CellError(f"« oui » ou « non » attendu, trouvé « {str(value).strip()} »")
