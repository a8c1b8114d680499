"""Reading an uploaded spreadsheet (XLSX, ODS, CSV) into rows located for French messages.

`read_table(data, filename)` types the file by its content (magic bytes, the ZIP's
entries), never by its name alone (the name's extension must agree), and refuses with a
`DomainError` carrying its status and French detail, before anything is kept:

- more than 10 MiB (413), more than 2 000 data rows or 20 sheets (413);
- a corrupt file, a disguised one (a PDF named .xlsx), an old binary .xls or a
  password-protected workbook, a document that is no spreadsheet (415);
- a macro-enabled workbook (``vbaProject.bin``, ODF ``Basic/`` or ``Scripts/``) (415);
- a ZIP whose entries would inflate past 64 MiB, or hold more than 2 000 entries: a
  zip bomb (413). Readers never inflate more than an entry declares (the standard
  library's ZIP reader stops there), so the declared sizes bound the work;
- a formula whose value was never computed (a workbook written by a program, not saved
  by a spreadsheet) where a value is expected (422, with every such cell located).

XML is parsed without DTDs or entities (defusedxml; openpyxl uses it when installed), so
a billion-laughs or external-entity payload is refused, not expanded. ODS content is
parsed as a stream, row by row. The first non-empty row of each sheet is its header.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO
from xml.etree.ElementTree import Element, ParseError

import openpyxl
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook

from kernel import sniffing
from kernel.errors import DomainError, InvalidPayload, PayloadTooLarge, UnsupportedMediaType
from kernel.tabular.columns import CellValue

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * MiB
    max_rows: int = 2000  # data rows of the whole file, headers not counted
    max_sheets: int = 20
    max_columns: int = 200
    max_uncompressed: int = 64 * MiB
    max_zip_entries: int = 2000


DEFAULT_LIMITS = Limits()


def column_name(index: int) -> str:
    """The spreadsheet's name of a 0-based column index: 0 → A, 27 → AB."""
    return get_column_letter(index + 1)


def location(sheet: str | None, line: int, column: int | None = None) -> str:
    """Where a cell is, as a French user finds it: « feuille « Plan », ligne 12, colonne C »."""
    parts = [f"feuille « {sheet} »"] if sheet else []
    parts.append(f"ligne {line}")
    if column is not None:
        parts.append(f"colonne {column_name(column)}")
    return ", ".join(parts)


@dataclass(frozen=True)
class TableRow:
    sheet: str | None  # None for CSV
    line: int  # 1-based, as the spreadsheet numbers it
    values: tuple[CellValue, ...]  # trailing empty cells dropped

    def get(self, column: int) -> CellValue:
        return self.values[column] if column < len(self.values) else None

    def where(self, column: int | None = None) -> str:
        return location(self.sheet, self.line, column)


@dataclass(frozen=True)
class TableSheet:
    name: str | None
    header: TableRow | None
    rows: tuple[TableRow, ...]


@dataclass(frozen=True)
class Table:
    media_type: str  # sniffing.XLSX, sniffing.ODS or sniffing.CSV
    sheets: tuple[TableSheet, ...]

    @property
    def rows(self) -> Iterator[TableRow]:
        for sheet in self.sheets:
            yield from sheet.rows


def _refuse(error: type[DomainError], code: str, detail: str) -> DomainError:
    return error(detail, extra={"code": code})


def _too_many_rows(limits: Limits) -> DomainError:
    return _refuse(
        PayloadTooLarge,
        "trop-de-lignes",
        f"Le fichier dépasse {limits.max_rows} lignes de données : découpez-le.",
    )


def _too_wide(where: str, limits: Limits) -> DomainError:
    return _refuse(
        PayloadTooLarge,
        "trop-de-colonnes",
        f"Valeur au-delà de la colonne {column_name(limits.max_columns - 1)} ({where}) : "
        f"le fichier ne peut avoir plus de {limits.max_columns} colonnes.",
    )


def _corrupt(kind: str) -> DomainError:
    return _refuse(
        UnsupportedMediaType,
        "fichier-corrompu",
        f"Le fichier {kind} est endommagé ou illisible : ouvrez-le dans votre tableur et "
        "enregistrez-le de nouveau.",
    )


class _Collector:
    """Keeps a sheet's non-empty rows: the first is the header, the others count."""

    def __init__(self, name: str | None, limits: Limits, counted: list[int]) -> None:
        self.name = name
        self.limits = limits
        self.counted = counted  # shared across sheets: the limit is per file
        self.header: TableRow | None = None
        self.rows: list[TableRow] = []

    def add(self, line: int, values: list[CellValue]) -> None:
        while values and values[-1] is None:
            values.pop()
        if not values:
            return
        if len(values) > self.limits.max_columns:
            raise _too_wide(location(self.name, line, len(values) - 1), self.limits)
        row = TableRow(self.name, line, tuple(values))
        if self.header is None:
            self.header = row
            return
        self.counted[0] += 1
        if self.counted[0] > self.limits.max_rows:
            raise _too_many_rows(self.limits)
        self.rows.append(row)

    def sheet(self) -> TableSheet:
        return TableSheet(self.name, self.header, tuple(self.rows))


# --- ZIP containers --------------------------------------------------------------------

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MACRO_CONTENT_TYPE = b"application/vnd.ms-excel.sheet.macroEnabled"


def _open_zip(data: bytes, limits: Limits) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _corrupt("ZIP") from None
    infos = archive.infolist()
    declared = sum(info.file_size for info in infos)
    if len(infos) > limits.max_zip_entries or declared > limits.max_uncompressed:
        raise _refuse(
            PayloadTooLarge,
            "archive-trop-volumineuse",
            f"Une fois décompressé, le classeur dépasserait {limits.max_uncompressed // MiB} "
            "Mio : il n'est pas accepté.",
        )
    names = {info.filename for info in infos}
    macros = any(
        n.lower().endswith("vbaproject.bin") or n.startswith(("Basic/", "Scripts/")) for n in names
    )
    if not macros and "[Content_Types].xml" in names:
        macros = _MACRO_CONTENT_TYPE in _read_entry(archive, "[Content_Types].xml")
    if macros:
        raise _refuse(
            UnsupportedMediaType,
            "classeur-avec-macros",
            "Les classeurs contenant des macros ne sont pas acceptés : enregistrez le fichier "
            "au format .xlsx ou .ods sans macros.",
        )
    if "META-INF/manifest.xml" in names and b"encryption-data" in _read_entry(
        archive, "META-INF/manifest.xml"
    ):
        raise _protected()
    return archive


def _read_entry(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zipfile.LargeZipFile):
        raise _corrupt("ZIP") from None


def _protected() -> DomainError:
    return _refuse(
        UnsupportedMediaType,
        "classeur-protege",
        "Ce classeur est protégé par un mot de passe ou au format Excel 97-2003 (.xls) : "
        "enregistrez-le sans mot de passe au format .xlsx ou .ods.",
    )


# --- XLSX ------------------------------------------------------------------------------

_EXCEL_ERRORS = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"}
)


def _xlsx_value(value: object) -> CellValue:
    if value is None or isinstance(value, str | bool | int | Decimal | dt.date):
        return value if value != "" else None
    if isinstance(value, float):
        number = Decimal(repr(value))
        return int(number) if number == number.to_integral_value() else number
    if isinstance(value, dt.time | dt.timedelta):
        return str(value)
    return str(value)


def _read_xlsx(data: bytes, limits: Limits) -> tuple[TableSheet, ...]:
    with warnings.catch_warnings():
        # openpyxl warns about features it skips (data validation, default style...).
        warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")
        try:
            formulas = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
            values = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises anything from KeyError to ValueError
            raise _xlsx_refusal(exc) from None
        try:
            return _xlsx_sheets(formulas, values, limits)
        except DomainError:
            raise
        except Exception as exc:
            raise _xlsx_refusal(exc) from None
        finally:
            formulas.close()
            values.close()


def _xlsx_refusal(exc: BaseException) -> DomainError:
    """openpyxl wraps the XML parser's refusal (a DTD, an entity) in its own errors."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DefusedXmlException):
            return _unsafe_xml()
        seen = seen.__cause__ or seen.__context__
    return _corrupt("XLSX")


def _xlsx_sheets(formulas: Workbook, values: Workbook, limits: Limits) -> tuple[TableSheet, ...]:
    if len(values.sheetnames) > limits.max_sheets:
        raise _too_many_sheets(limits)
    counted = [0]
    sheets = []
    uncomputed: list[UncomputedCell] = []
    for ws_f, ws_v in zip(formulas.worksheets, values.worksheets, strict=True):
        # Trust the rows present, not the declared dimension (often A1:XFD1048576).
        ws_f.reset_dimensions()
        ws_v.reset_dimensions()
        collector = _Collector(ws_v.title, limits, counted)
        rows = zip(ws_f.iter_rows(values_only=True), ws_v.iter_rows(values_only=True), strict=True)
        for line, (row_f, row_v) in enumerate(rows, start=1):
            if len(row_v) > limits.max_columns and any(
                v is not None for v in row_v[limits.max_columns :]
            ):
                raise _too_wide(location(ws_v.title, line), limits)
            cells: list[CellValue] = []
            for col, (f, v) in enumerate(zip(row_f, row_v, strict=False)):
                is_formula = isinstance(f, str) and f.startswith("=") and f != v
                if is_formula and (v is None or v in _EXCEL_ERRORS):
                    error = None if v is None else str(v)
                    uncomputed.append(UncomputedCell(ws_v.title, line, col, error))
                cells.append(_xlsx_value(v))
            collector.add(line, cells)
        sheets.append(collector.sheet())
    if uncomputed:
        raise _uncomputed(uncomputed)
    return tuple(sheets)


@dataclass(frozen=True)
class UncomputedCell:
    """A formula cell without a computed value (`error` None) or whose value is a
    spreadsheet error (« #DIV/0! »...)."""

    sheet: str | None
    line: int
    column: int
    error: str | None = None

    def problem_entry(self) -> dict[str, str]:
        """Its entry in the problem's `errors`: the cell (« B2 »), where it is, why."""
        message = (
            f"formule en erreur ({self.error})"
            if self.error is not None
            else "formule sans valeur calculée"
        )
        return {
            "field": f"{column_name(self.column)}{self.line}",
            "location": location(self.sheet, self.line, self.column),
            "message": message,
            "code": "formule-sans-valeur",
        }


def _uncomputed(cells: list[UncomputedCell]) -> DomainError:
    return InvalidPayload(
        "Des cellules contiennent une formule sans valeur calculée ou en erreur : ouvrez le "
        "fichier dans votre tableur, vérifiez ces cellules et enregistrez-le de nouveau.",
        errors=[cell.problem_entry() for cell in cells[:100]],
        extra={"code": "formule-sans-valeur"},
    )


def _too_many_sheets(limits: Limits) -> DomainError:
    return _refuse(
        PayloadTooLarge,
        "trop-de-feuilles",
        f"Le classeur a plus de {limits.max_sheets} feuilles : gardez celles à importer.",
    )


def _unsafe_xml() -> DomainError:
    return _refuse(
        UnsupportedMediaType,
        "xml-refuse",
        "Le classeur contient des déclarations XML non acceptées (DTD, entités).",
    )


# --- ODS -------------------------------------------------------------------------------

_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_T_TABLE = f"{{{_TABLE}}}table"
_T_ROW = f"{{{_TABLE}}}table-row"
_T_CELL = f"{{{_TABLE}}}table-cell"
_T_COVERED = f"{{{_TABLE}}}covered-table-cell"
_T_NAME = f"{{{_TABLE}}}name"
_T_FORMULA = f"{{{_TABLE}}}formula"
_T_COLS_REPEATED = f"{{{_TABLE}}}number-columns-repeated"
_T_ROWS_REPEATED = f"{{{_TABLE}}}number-rows-repeated"
_O_VALUE_TYPE = f"{{{_OFFICE}}}value-type"
_O_VALUE = f"{{{_OFFICE}}}value"
_O_DATE = f"{{{_OFFICE}}}date-value"
_O_BOOLEAN = f"{{{_OFFICE}}}boolean-value"
_O_STRING = f"{{{_OFFICE}}}string-value"
_X_P = f"{{{_TEXT}}}p"
_X_H = f"{{{_TEXT}}}h"
_X_S = f"{{{_TEXT}}}s"
_X_TAB = f"{{{_TEXT}}}tab"
_X_BREAK = f"{{{_TEXT}}}line-break"
_X_C = f"{{{_TEXT}}}c"


def _inline_text(element: Element) -> str:
    """The text of a paragraph: spans and links flattened, ``text:s`` as its spaces."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == _X_S:
            parts.append(" " * int(child.get(_X_C, "1")))
        elif child.tag == _X_TAB:
            parts.append("\t")
        elif child.tag == _X_BREAK:
            parts.append("\n")
        else:
            parts.append(_inline_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _ods_value(cell: Element) -> CellValue:
    kind = cell.get(_O_VALUE_TYPE)
    if kind is None:
        return None
    if kind in ("float", "percentage", "currency"):
        number = Decimal(cell.get(_O_VALUE, ""))
        return int(number) if number == number.to_integral_value() else number
    if kind == "date":
        raw = cell.get(_O_DATE, "")
        return dt.datetime.fromisoformat(raw) if "T" in raw else dt.date.fromisoformat(raw)
    if kind == "boolean":
        return cell.get(_O_BOOLEAN) == "true"
    if kind == "string" and cell.get(_O_STRING) is not None:
        return cell.get(_O_STRING) or None
    paragraphs = [_inline_text(p) for p in cell if p.tag in (_X_P, _X_H)]
    return "\n".join(paragraphs) or None


def _read_ods(archive: zipfile.ZipFile, limits: Limits) -> tuple[TableSheet, ...]:
    try:
        with archive.open("content.xml") as content:
            return _ods_sheets(content, limits)
    except DomainError:
        raise
    except DefusedXmlException:
        raise _unsafe_xml() from None
    except (KeyError, ParseError, zipfile.BadZipFile, OSError, ValueError, InvalidOperation):
        raise _corrupt("ODS") from None


@dataclass
class _OdsState:
    limits: Limits
    counted: list[int] = field(default_factory=lambda: [0])
    sheets: list[TableSheet] = field(default_factory=list)
    uncomputed: list[UncomputedCell] = field(default_factory=list)
    collector: _Collector | None = None
    line: int = 0


def _ods_sheets(content: IO[bytes], limits: Limits) -> tuple[TableSheet, ...]:
    state = _OdsState(limits)
    stack: list[Element] = []
    for event, element in iterparse(content, events=("start", "end"), forbid_dtd=True):
        if event == "start":
            stack.append(element)
            if element.tag == _T_TABLE:
                if len(state.sheets) >= limits.max_sheets:
                    raise _too_many_sheets(limits)
                state.collector = _Collector(element.get(_T_NAME), limits, state.counted)
                state.line = 0
            continue
        stack.pop()
        if element.tag == _T_ROW and state.collector is not None:
            _ods_row(element, state)
            # Done with the row: drop it from its parent so memory stays one row deep.
            if stack:
                stack[-1].remove(element)
        elif element.tag == _T_TABLE and state.collector is not None:
            state.sheets.append(state.collector.sheet())
            state.collector = None
            if stack:
                stack[-1].remove(element)
    if state.uncomputed:
        raise _uncomputed(state.uncomputed)
    return tuple(state.sheets)


def _ods_row(row: Element, state: _OdsState) -> None:
    collector = state.collector
    assert collector is not None
    limits = state.limits
    repeat = int(row.get(_T_ROWS_REPEATED, "1"))
    values: list[CellValue] = []
    position = 0  # empty runs (often thousands wide, to the sheet's edge) are not expanded
    for cell in row:
        if cell.tag not in (_T_CELL, _T_COVERED):
            continue
        span = int(cell.get(_T_COLS_REPEATED, "1"))
        if cell.get(_T_FORMULA) is not None and cell.get(_O_VALUE_TYPE) is None:
            state.uncomputed.append(UncomputedCell(collector.name, state.line + 1, position))
        value = _ods_value(cell)
        if value is not None:
            if position + span > limits.max_columns:
                raise _too_wide(location(collector.name, state.line + 1), limits)
            values.extend([None] * (position - len(values)))
            values.extend([value] * span)
        position += span
    if not values:
        state.line += repeat
        return
    for _ in range(repeat):
        state.line += 1
        collector.add(state.line, list(values))


# --- CSV -------------------------------------------------------------------------------


def _decode_csv(data: bytes) -> str:
    encodings = ["utf-8-sig"] if data.startswith(codecs.BOM_UTF8) else ["utf-8", "cp1252"]
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
            break
        return text
    raise _refuse(
        UnsupportedMediaType,
        "encodage-non-reconnu",
        "Le fichier CSV n'est ni en UTF-8 ni en Windows-1252, ou contient des caractères de "
        "contrôle : enregistrez-le en « CSV UTF-8 ».",
    )


def _delimiter(text: str) -> str:
    sample = text[: 64 * 1024]
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,").delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        return "," if first.count(",") > first.count(";") else ";"


def _csv_cell(text: str) -> CellValue:
    if not text:
        return None
    # Our own exports neutralise formulas with an apostrophe: read them back as typed.
    if text.startswith("'") and text[1:2] and text[1] in "=+-@\t\r":
        return text[1:]
    return text


def _read_csv(data: bytes, limits: Limits) -> tuple[TableSheet, ...]:
    text = _decode_csv(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    collector = _Collector(None, limits, [0])
    line = 1
    try:
        for record in reader:
            collector.add(line, [_csv_cell(c) for c in record])
            line = reader.line_num + 1
    except csv.Error:
        raise _corrupt("CSV") from None
    return (collector.sheet(),)


# --- entry point -----------------------------------------------------------------------

_NOT_A_SPREADSHEET = (
    "Le fichier n'est pas un classeur accepté (formats acceptés : .xlsx, .ods, .csv)."
)


def detect(data: bytes, filename: str) -> str:
    """The spreadsheet type of `data` (its content decides; the extension must agree)."""
    if data.startswith(_OLE2):
        raise _protected()
    try:
        sniffed = sniffing.sniff_head(data[: sniffing.HEAD_BYTES])
        media = sniffing.final_type(sniffed, filename, text_ok=True)
    except sniffing.UnsupportedType as exc:
        raise _refuse(
            UnsupportedMediaType, "type-non-reconnu", f"{_NOT_A_SPREADSHEET} {exc}"
        ) from None
    if media not in (sniffing.XLSX, sniffing.ODS, sniffing.CSV):
        raise _refuse(UnsupportedMediaType, "type-non-reconnu", _NOT_A_SPREADSHEET)
    return media


def read_table(data: bytes, filename: str, limits: Limits = DEFAULT_LIMITS) -> Table:
    """The rows of an uploaded spreadsheet, or a refusal (see the module's docstring).

    CPU-bound and synchronous (a few hundred milliseconds at the limits): call it in a
    worker thread from a request."""
    if len(data) > limits.max_bytes:
        raise _refuse(
            PayloadTooLarge,
            "fichier-trop-volumineux",
            f"Le fichier dépasse {limits.max_bytes // MiB} Mio.",
        )
    if not data:
        raise _refuse(UnsupportedMediaType, "fichier-vide", "Le fichier est vide.")
    if not data.startswith(b"PK\x03\x04"):
        media = detect(data, filename)
        return Table(media, _read_csv(data, limits))
    # Macros and bombs are looked for before the type: an .xlsm is no known type.
    with _open_zip(data, limits) as archive:
        media = detect(data, filename)
        if media == sniffing.ODS:
            return Table(media, _read_ods(archive, limits))
    return Table(media, _read_xlsx(data, limits))
