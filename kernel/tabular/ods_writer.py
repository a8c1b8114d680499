"""ODS written as a stream: ``content.xml`` is produced row by row into a streamed ZIP.

The usual ODF libraries build the whole document tree in memory; here the styles and
columns are known before the first row (they come from the column definition), so the
document is XML text written in order: a head, each row as it comes, a tail.

Cells are typed (``office:value-type``): ``float`` with ``office:value``, ``percentage``,
``date`` with ``office:date-value`` (and a ``jj/mm/aaaa`` data style), ``boolean``, and
``string`` for text, which a spreadsheet never evaluates, whatever it starts with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import anyio.to_thread

from kernel.odf import (
    ODF_VERSION,
    ODS_MIMETYPE,
    XML_DECLARATION,
    XMLNS,
    Member,
    meta,
    package_chunks,
    text_paragraphs,
    xml_attr,
)
from kernel.tabular.columns import (
    CellType,
    CellValue,
    Column,
    Row,
    Sheet,
    batches,
    check_row,
    display,
    normalise,
    plain_number,
    sheet_title,
)

MEDIA_TYPE = ODS_MIMETYPE
BATCH_ROWS = 1000

_DATA_STYLES = (
    '<number:date-style style:name="N_DATE">'
    '<number:day number:style="long"/><number:text>/</number:text>'
    '<number:month number:style="long"/><number:text>/</number:text>'
    '<number:year number:style="long"/></number:date-style>'
    '<number:date-style style:name="N_DATETIME">'
    '<number:day number:style="long"/><number:text>/</number:text>'
    '<number:month number:style="long"/><number:text>/</number:text>'
    '<number:year number:style="long"/><number:text> </number:text>'
    '<number:hours number:style="long"/><number:text>:</number:text>'
    '<number:minutes number:style="long"/></number:date-style>'
    '<number:percentage-style style:name="N_PERCENT">'
    '<number:number number:decimal-places="1" number:min-decimal-places="1"'
    ' number:min-integer-digits="1"/><number:text> %</number:text></number:percentage-style>'
    '<number:boolean-style style:name="N_BOOLEAN"><number:boolean/></number:boolean-style>'
    '<style:style style:name="ce_date" style:family="table-cell"'
    ' style:parent-style-name="Default" style:data-style-name="N_DATE"/>'
    '<style:style style:name="ce_datetime" style:family="table-cell"'
    ' style:parent-style-name="Default" style:data-style-name="N_DATETIME"/>'
    '<style:style style:name="ce_percent" style:family="table-cell"'
    ' style:parent-style-name="Default" style:data-style-name="N_PERCENT"/>'
    '<style:style style:name="ce_boolean" style:family="table-cell"'
    ' style:parent-style-name="Default" style:data-style-name="N_BOOLEAN"/>'
    '<style:style style:name="ce_header" style:family="table-cell"'
    ' style:parent-style-name="Default"><style:table-cell-properties fo:wrap-option="wrap"/>'
    '<style:text-properties fo:font-weight="bold"/></style:style>'
)

_STYLES = (
    XML_DECLARATION + f'<office:document-styles {XMLNS} office:version="{ODF_VERSION}">'
    '<office:styles><style:default-style style:family="table-cell">'
    '<style:text-properties fo:language="fr" fo:country="FR"/></style:default-style>'
    '<style:style style:name="Default" style:family="table-cell"/></office:styles>'
    "</office:document-styles>"
).encode()


def _column_style(sheet_index: int, column_index: int) -> str:
    return f"co{sheet_index}_{column_index}"


def _head(sheets: Sequence[Sheet]) -> bytes:
    widths = "".join(
        f'<style:style style:name="{_column_style(s, c)}" style:family="table-column">'
        f'<style:table-column-properties style:column-width="{col.display_width * 0.21:.2f}cm"/>'
        "</style:style>"
        for s, sheet in enumerate(sheets)
        for c, col in enumerate(sheet.columns)
    )
    return (
        XML_DECLARATION + f'<office:document-content {XMLNS} office:version="{ODF_VERSION}">'
        f"<office:automatic-styles>{_DATA_STYLES}{widths}</office:automatic-styles>"
        "<office:body><office:spreadsheet>"
    ).encode()


_TAIL = b"</office:spreadsheet></office:body></office:document-content>"


def _sheet_head(index: int, sheet: Sheet) -> bytes:
    columns = "".join(
        f'<table:table-column table:style-name="{_column_style(index, c)}"'
        ' table:default-cell-style-name="Default"/>'
        for c in range(len(sheet.columns))
    )
    headers = "".join(
        '<table:table-cell table:style-name="ce_header" office:value-type="string">'
        f"{text_paragraphs(col.header)}</table:table-cell>"
        for col in sheet.columns
    )
    return (
        f"<table:table table:name={xml_attr(sheet_title(sheet.name))}>{columns}"
        f"<table:table-header-rows><table:table-row>{headers}</table:table-row>"
        "</table:table-header-rows>"
    ).encode()


def _cell(column: Column, raw: CellValue) -> str:
    value = normalise(column, raw)
    if value is None:
        return "<table:table-cell/>"
    kind = column.type
    shown = text_paragraphs(display(column, value))
    if kind is CellType.text:
        return f'<table:table-cell office:value-type="string">{shown}</table:table-cell>'
    if kind is CellType.boolean:
        return (
            '<table:table-cell table:style-name="ce_boolean" office:value-type="boolean"'
            f' office:boolean-value="{"true" if value else "false"}">{shown}</table:table-cell>'
        )
    if kind in (CellType.date, CellType.datetime):
        assert isinstance(value, dt.date)
        return (
            f'<table:table-cell table:style-name="ce_{kind.value}" office:value-type="date"'
            f' office:date-value="{value.isoformat()}">{shown}</table:table-cell>'
        )
    assert isinstance(value, int | Decimal)
    if kind is CellType.percent:
        return (
            '<table:table-cell table:style-name="ce_percent" office:value-type="percentage"'
            f' office:value="{plain_number(value)}">{shown}</table:table-cell>'
        )
    return (
        f'<table:table-cell office:value-type="float" office:value="{plain_number(value)}">'
        f"{shown}</table:table-cell>"
    )


def encode_rows(columns: Sequence[Column], rows: Sequence[Row]) -> bytes:
    parts = []
    for row in rows:
        cells = "".join(_cell(c, v) for c, v in zip(columns, check_row(columns, row), strict=True))
        parts.append(f"<table:table-row>{cells}</table:table-row>")
    return "".join(parts).encode("utf-8")


async def _content(sheets: Sequence[Sheet], batch_rows: int) -> AsyncIterator[bytes]:
    yield _head(sheets)
    for index, sheet in enumerate(sheets):
        yield _sheet_head(index, sheet)
        async for batch in batches(sheet.rows, batch_rows):
            yield await anyio.to_thread.run_sync(encode_rows, sheet.columns, batch)
        yield b"</table:table>"
    yield _TAIL


async def ods_chunks(
    *sheets: Sheet, title: str = "Export", batch_rows: int = BATCH_ROWS
) -> AsyncIterator[bytes]:
    """The spreadsheet of `sheets`, in order, as a stream of ZIP chunks."""
    members = [
        Member("content.xml", "text/xml", _content(sheets, batch_rows)),
        Member("styles.xml", "text/xml", _STYLES),
        Member("meta.xml", "text/xml", meta(title)),
    ]
    async for chunk in package_chunks(ODS_MIMETYPE, members):
        yield chunk
