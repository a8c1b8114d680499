"""Reading uploaded spreadsheets: our own exports read back typed, a user's CSV in
either separator and encoding, and every refused file refused clearly (status, code,
French detail), before anything is kept."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest
import xlsxwriter

from kernel import sniffing
from kernel.errors import DomainError
from kernel.tabular import Limits, read_table
from tests.documents.samples import ooxml, pdf
from tests.kernel.tabular_samples import SUIVI_COLUMNS, exported, indicateur_sheet, suivi_sheet

MiB = 1024 * 1024


def refused(data: bytes, filename: str, limits: Limits | None = None) -> DomainError:
    with pytest.raises(DomainError) as caught:
        read_table(data, filename, *([limits] if limits else []))
    assert caught.value.detail  # French, for the user
    return caught.value


def _rezip(data: bytes, extra: dict[str, bytes]) -> bytes:
    """A copy of a ZIP with entries added or replaced (stored order kept, mimetype first)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in extra:
                continue
            method = zipfile.ZIP_STORED if info.filename == "mimetype" else zipfile.ZIP_DEFLATED
            dst.writestr(info.filename, src.read(info.filename), compress_type=method)
        for name, content in extra.items():
            dst.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "ods"])
async def test_our_exports_read_back(fmt: str) -> None:
    table = read_table(await exported(fmt, suivi_sheet(), indicateur_sheet()), f"plan.{fmt}")
    first = table.sheets[0]
    assert first.header is not None
    assert list(first.header.values) == [c.header for c in SUIVI_COLUMNS]
    assert [r.line for r in first.rows] == [2, 3, 4, 5, 6]
    row = first.rows[0]
    assert row.values[1] == "=SOMME(A1:A9)"  # text, even through CSV's apostrophe
    assert first.rows[2].values[1] == "-2 places"
    assert first.rows[4].values[2] == "Ligne 1\nLigne 2"
    if fmt == "csv":
        assert table.media_type == sniffing.CSV
        assert first.name is None
        assert row.values[3:6] == ("42,5 %", "1234,5", "12")
        return
    assert first.name == "Suivi 2026-T1"
    assert [s.name for s in table.sheets] == ["Suivi 2026-T1", "Indicateurs"]
    assert row.values[3:6] == (Decimal("0.425"), Decimal("1234.5"), 12)
    assert row.values[6] in (dt.date(2026, 3, 31), dt.datetime(2026, 3, 31))  # noqa: DTZ001
    assert row.values[7] == dt.datetime(2026, 1, 15, 11, 0)  # noqa: DTZ001
    assert row.values[8] is True
    assert first.rows[2].values[2] == "Crèche  des   Lilas"
    assert row.where(4) == "feuille « Suivi 2026-T1 », ligne 2, colonne E"


def test_csv_separator_and_encoding_are_recognised() -> None:
    text = "Référence,Intitulé,Échéance\r\n1.1,Crèche « Les Lilas »,31/03/2026\r\n"
    for data in (text.encode("cp1252"), text.encode("utf-8"), b"\xef\xbb\xbf" + text.encode()):
        table = read_table(data, "plan.csv")
        assert table.sheets[0].rows[0].values == ("1.1", "Crèche « Les Lilas »", "31/03/2026")
    semi = 'Référence;Intitulé\n1.1;« Un, deux »\n1.2;"Sur\ndeux lignes"\n1.3;fin\n'
    rows = read_table(semi.encode(), "plan.csv").sheets[0].rows
    assert [(r.line, r.values[1]) for r in rows] == [
        (2, "« Un, deux »"),
        (3, "Sur\ndeux lignes"),
        (5, "fin"),  # the line the spreadsheet shows, after a two-line cell
    ]


def test_formulas_without_a_computed_value_are_located() -> None:
    """A workbook written by a program (here openpyxl) has no cached values."""
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "Plan"
    ws.append(["Référence", "Places"])
    ws.append(["1.1", "=10+2"])
    ws.append(["1.2", 5])
    buf = io.BytesIO()
    book.save(buf)
    error = refused(buf.getvalue(), "plan.xlsx")
    assert error.status == 422
    assert error.extra["code"] == "formule-sans-valeur"
    assert error.errors == [
        {
            "field": "B2",
            "location": "feuille « Plan », ligne 2, colonne B",
            "message": "formule sans valeur calculée",
            "code": "formule-sans-valeur",
        }
    ]


def test_formulas_with_their_computed_value_are_read() -> None:
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = book.add_worksheet("Plan")
    ws.write_row(0, 0, ["Référence", "Places"])
    ws.write_string(1, 0, "1.1")
    ws.write_formula(1, 1, "=10+2", None, 12)
    book.close()
    assert read_table(buf.getvalue(), "plan.xlsx").sheets[0].rows[0].values == ("1.1", 12)


async def test_ods_formula_without_value_and_repeated_cells() -> None:
    ods = await exported("ods", suivi_sheet())
    with zipfile.ZipFile(io.BytesIO(ods)) as z:
        content = z.read("content.xml").decode()
    # LibreOffice's way: an empty run to the sheet's edge, a million empty rows repeated.
    content = content.replace(
        "</table:table>",
        '<table:table-row table:number-rows-repeated="1048000"><table:table-cell '
        'table:number-columns-repeated="16384"/></table:table-row>'
        '<table:table-row><table:table-cell table:number-columns-repeated="3"/>'
        '<table:table-cell table:formula="of:=1+1"/>'
        '<table:table-cell table:number-columns-repeated="16000"/></table:table-row>'
        "</table:table>",
    )
    error = refused(_rezip(ods, {"content.xml": content.encode()}), "plan.ods")
    assert error.status == 422
    assert error.errors is not None
    assert error.errors[0]["location"] == "feuille « Suivi 2026-T1 », ligne 1048007, colonne D"


@pytest.mark.parametrize(
    ("name", "make", "status", "code"),
    [
        ("plan.xlsx", lambda: pdf(), 415, "type-non-reconnu"),  # a PDF named .xlsx
        ("plan.csv", lambda: ooxml("xlsx"), 415, "type-non-reconnu"),  # name and content disagree
        ("plan.docx", lambda: ooxml("docx"), 415, "type-non-reconnu"),  # no spreadsheet
        (
            "plan.xls",
            lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
            415,
            "classeur-protege",
        ),
        ("plan.csv", lambda: b"a;b\n\x00;2\n", 415, "type-non-reconnu"),  # binary
        ("plan.csv", lambda: b"a;b\n\x1b[2J;2\n", 415, "encodage-non-reconnu"),
        ("plan.csv", lambda: b"", 415, "fichier-vide"),
        ("plan.csv", lambda: b"x" * (10 * MiB + 1), 413, "fichier-trop-volumineux"),
    ],
)
def test_disguised_and_oversized_files_are_refused(
    name: str, make: object, status: int, code: str
) -> None:
    error = refused(make(), name)  # type: ignore[operator]
    assert (error.status, error.extra["code"]) == (status, code)


async def test_corrupt_workbooks_are_refused() -> None:
    for fmt in ("xlsx", "ods"):
        data = await exported(fmt, suivi_sheet())
        error = refused(data[: len(data) // 2], f"plan.{fmt}")
        assert (error.status, error.extra["code"]) == (415, "fichier-corrompu")
    bad_xml = _rezip(await exported("ods", suivi_sheet()), {"content.xml": b"<office:oops"})
    assert refused(bad_xml, "plan.ods").extra["code"] == "fichier-corrompu"


async def test_macro_enabled_workbooks_are_refused() -> None:
    xlsx = await exported("xlsx", suivi_sheet())
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        types = z.read("[Content_Types].xml")
    xlsm = _rezip(
        xlsx,
        {
            "[Content_Types].xml": types.replace(
                b"spreadsheetml.sheet.main+xml", b"ms-excel.sheet.macroEnabled.main+xml"
            ),
            "xl/vbaProject.bin": b"\xd0\xcf\x11\xe0macro",
        },
    )
    for name in ("plan.xlsm", "plan.xlsx"):
        error = refused(xlsm, name)
        assert (error.status, error.extra["code"]) == (415, "classeur-avec-macros")
    basic = _rezip(
        await exported("ods", suivi_sheet()),
        {"Basic/Standard/Module1.xml": b'<script:module>Sub Main\nShell("calc")\nEnd Sub'},
    )
    assert refused(basic, "plan.ods").extra["code"] == "classeur-avec-macros"


async def test_zip_bombs_are_refused_before_inflating() -> None:
    """100 MiB of zeros deflate to 100 KiB: declared sizes give it away."""
    bomb = io.BytesIO()
    with (
        zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z,
        z.open("xl/media/image1.png", "w") as f,
    ):
        block = b"\0" * MiB
        for _ in range(100):
            f.write(block)
    xlsx = await exported("xlsx", suivi_sheet())
    with zipfile.ZipFile(bomb) as z:
        packed = _rezip(xlsx, {"xl/media/image1.png": z.read("xl/media/image1.png")})
    assert len(packed) < MiB
    error = refused(packed, "plan.xlsx")
    assert (error.status, error.extra["code"]) == (413, "archive-trop-volumineuse")


_BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)


async def test_xml_entities_are_refused_not_expanded() -> None:
    ods = await exported("ods", suivi_sheet())
    with zipfile.ZipFile(io.BytesIO(ods)) as z:
        content = z.read("content.xml").decode()
    bomb = _BILLION_LAUGHS + content.split("\n", 1)[1].replace("Crèche", "&lol3;")
    error = refused(_rezip(ods, {"content.xml": bomb.encode()}), "plan.ods")
    assert (error.status, error.extra["code"]) == (415, "xml-refuse")
    xlsx = await exported("xlsx", suivi_sheet())
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    bomb = _BILLION_LAUGHS + sheet.split("\n", 1)[1]
    error = refused(_rezip(xlsx, {"xl/worksheets/sheet1.xml": bomb.encode()}), "plan.xlsx")
    assert (error.status, error.extra["code"]) == (415, "xml-refuse")


def test_row_sheet_and_column_limits() -> None:
    header = "Référence;Intitulé\n"
    at_limit = header + "".join(f"{i};Action {i}\n" for i in range(2000))
    assert len(read_table(at_limit.encode(), "plan.csv").sheets[0].rows) == 2000
    error = refused((at_limit + "2001;Une de trop\n").encode(), "plan.csv")
    assert (error.status, error.extra["code"]) == (413, "trop-de-lignes")
    wide = header + "1.1;" + ";" * 250 + "loin\n"
    error = refused(wide.encode(), "plan.csv")
    assert (error.status, error.extra["code"]) == (413, "trop-de-colonnes")
    assert "ligne 2" in error.detail

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True})
    for i in range(21):
        book.add_worksheet(f"Feuille {i}").write_string(0, 0, "Référence")
    book.close()
    error = refused(buf.getvalue(), "plan.xlsx")
    assert (error.status, error.extra["code"]) == (413, "trop-de-feuilles")
    # Smaller limits are parameters, for another import.
    small = Limits(max_rows=1)
    assert refused(b"a\n1\n2\n", "plan.csv", small).extra["code"] == "trop-de-lignes"
