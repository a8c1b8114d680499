"""Exports from one column definition: CSV as French spreadsheets read it, typed ODS
and XLSX cells, and a user's text never becoming a formula in any of them."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import zipfile
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from defusedxml import ElementTree

from kernel import sniffing
from kernel.odf import NAMESPACES
from kernel.tabular import CellType, Column, Row, Sheet, csv_chunks, xlsx_chunks
from tests.kernel.tabular_samples import (
    SUIVI_COLUMNS,
    SUIVI_ROWS,
    collect,
    exported,
    indicateur_sheet,
    suivi_sheet,
)

T = "{" + NAMESPACES["table"] + "}"
OF = "{" + NAMESPACES["office"] + "}"


async def test_csv_is_what_french_spreadsheets_expect() -> None:
    data = await exported("csv", suivi_sheet())
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8, not Windows-1252
    lines = data[3:].decode("utf-8").split("\r\n")
    assert lines[0] == (
        '"Référence";"Action";"Porteurs";"Avancement";"Valeur";"Actions engagées";'
        '"Échéance";"Validé le";"En retard"'
    )
    # Decimal comma, French dates, Paris time (UTC+1 in January), oui/non.
    assert lines[1] == (
        '"1.1";"\'=SOMME(A1:A9)";"Commune de Saint-Étienne-de-Crossey";"42,5 %";"1234,5";'
        '"12";"31/03/2026";"15/01/2026 11:00";"oui"'
    )
    # UTC+2 in July; every formula trigger neutralised with OWASP's apostrophe.
    assert lines[2] == (
        '"1.2";"\'+33 6 12 34 56 78";"Œuvre « L’Île »";"100 %";"-0,75";"0";"";'
        '"01/07/2026 12:30";"non"'
    )
    assert lines[3].startswith('"2.1";"\'-2 places";"Crèche  des   Lilas";"";""')
    assert lines[4].startswith(
        '"2.2";"\'@SUM(1+1)*cmd|\' /C calc\'!A0";"Guillemets ""doubles"" ; point-virgule"'
    )
    assert lines[5].startswith('"3.1";"Réalisé <b>& gras</b>";"Ligne 1\r\nLigne 2"') is False
    assert '"Ligne 1\nLigne 2"' in lines[5]
    assert lines[-1] == ""  # the file ends with CRLF
    assert len(lines) == len(SUIVI_ROWS) + 2


async def test_negative_numbers_are_not_neutralised() -> None:
    """Only text can carry a user's formula: a number column keeps its minus sign."""
    data = await exported("csv", Sheet("S", [Column("Écart", CellType.decimal)], [(-3,)]))
    assert data.decode("utf-8-sig").split("\r\n")[1] == '"-3"'


async def test_rows_may_come_from_an_async_iterator() -> None:
    async def rows() -> AsyncIterator[Row]:
        for i in range(2500):  # more than one batch
            yield (f"Action {i}", i)

    columns = [Column("Action"), Column("Rang", CellType.integer)]
    data = await collect(csv_chunks(Sheet("S", columns, rows()), batch_rows=1000))
    lines = data.decode("utf-8-sig").split("\r\n")
    assert len(lines) == 2502
    assert lines[2500] == '"Action 2499";"2499"'


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (Column("Rang", CellType.integer), "3"),
        (Column("Rang", CellType.integer), True),
        (Column("Date", CellType.date), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
        (Column("Validé le", CellType.datetime), dt.datetime(2026, 1, 1)),  # noqa: DTZ001
        (Column("Texte"), 3),
        (Column("Oui", CellType.boolean), 1),
    ],
)
async def test_a_value_of_the_wrong_type_is_a_bug_not_a_guess(
    column: Column, value: object
) -> None:
    for fmt in ("csv", "xlsx", "ods"):
        with pytest.raises(TypeError, match=column.header):
            await exported(fmt, Sheet("S", [column], [(value,)]))  # type: ignore[list-item]


async def test_ods_cells_are_typed_and_text_stays_text() -> None:
    data = await exported("ods", suivi_sheet(), indicateur_sheet())
    # mimetype first, stored, its size in the local header: found at offset 38.
    assert data[30:38] == b"mimetype"
    assert data[38:84] == b"application/vnd.oasis.opendocument.spreadsheet"
    assert sniffing.sniff_head(data[: sniffing.HEAD_BYTES]) == sniffing.ODS
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        content = ElementTree.fromstring(z.read("content.xml"))
    tables = content.findall(f".//{T}table")
    assert [t.get(f"{T}name") for t in tables] == ["Suivi 2026-T1", "Indicateurs"]
    rows = tables[0].findall(f"./{T}table-row")
    first = rows[0].findall(f"{T}table-cell")
    assert first[1].get(f"{OF}value-type") == "string"
    assert first[1].get(f"{T}formula") is None
    assert "".join(first[1].itertext()) == "=SOMME(A1:A9)"
    assert (first[3].get(f"{OF}value-type"), first[3].get(f"{OF}value")) == ("percentage", "0.425")
    assert (first[4].get(f"{OF}value-type"), first[4].get(f"{OF}value")) == ("float", "1234.5")
    assert (first[6].get(f"{OF}value-type"), first[6].get(f"{OF}date-value")) == (
        "date",
        "2026-03-31",
    )
    assert first[7].get(f"{OF}date-value") == "2026-01-15T11:00:00"
    assert first[8].get(f"{OF}boolean-value") == "true"
    assert len(rows) == len(SUIVI_ROWS)


async def test_xlsx_cells_are_typed_and_text_stays_text() -> None:
    data = await exported("xlsx", suivi_sheet(), indicateur_sheet())
    assert sniffing.sniff_head(data[: sniffing.HEAD_BYTES]) == sniffing.XLSX
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Suivi 2026-T1", "Indicateurs"]
    ws = book["Suivi 2026-T1"]
    assert [c.value for c in ws[1]] == [c.header for c in SUIVI_COLUMNS]
    assert ws.freeze_panes == "A2"
    assert (ws["B2"].value, ws["B2"].data_type) == ("=SOMME(A1:A9)", "s")
    assert (ws["B4"].value, ws["B4"].data_type) == ("-2 places", "s")
    assert ws["D2"].value == pytest.approx(0.425)
    assert ws["D2"].number_format == "0.0%"
    assert ws["E3"].value == pytest.approx(-0.75)
    assert ws["G2"].value == dt.datetime(2026, 3, 31)  # noqa: DTZ001
    assert ws["G2"].is_date
    assert ws["H3"].value == dt.datetime(2026, 7, 1, 12, 30)  # noqa: DTZ001
    assert ws["I2"].value is True
    assert ws["C4"].value == "Crèche  des   Lilas"
    assert book["Indicateurs"]["B3"].value == 2.5


def _left_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


async def test_xlsx_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process's temporary files in a folder of the test's own: the machine's /tmp
    # also holds those of the exports other tests (and worktrees) write meanwhile.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    await exported("xlsx", suivi_sheet())
    stream = xlsx_chunks(suivi_sheet())
    await anext(stream)  # a client that goes away after the first chunk
    await stream.aclose()
    with pytest.raises(TypeError):  # a failure half-way leaves nothing either
        await exported("xlsx", Sheet("S", [Column("Rang", CellType.integer)], [(1,), ("2",)]))
    assert _left_in(tmp_path) == []


async def test_a_sheet_name_spreadsheets_refuse_is_cleaned() -> None:
    sheet = Sheet("Plan [2026]: Voiron/Crolles ? et *autres* communes", [Column("A")], [("x",)])
    for fmt in ("xlsx", "ods"):
        data = await exported(fmt, sheet)
        if fmt == "xlsx":
            assert openpyxl.load_workbook(io.BytesIO(data)).sheetnames == [
                "Plan 2026 Voiron Crolles et aut"
            ]
        else:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                assert b'table:name="Plan 2026 Voiron Crolles et aut"' in z.read("content.xml")


def test_decimal_values_keep_their_digits() -> None:
    from kernel.tabular.columns import french_number, plain_number

    assert plain_number(Decimal("1E+2")) == "100"
    assert plain_number(Decimal("0.10")) == "0.1"
    assert french_number(Decimal("-1234.50")) == "-1234,5"
