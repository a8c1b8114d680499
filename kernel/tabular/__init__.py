"""Tabular exports (CSV, XLSX, ODS from one column definition) and spreadsheet imports.

Writers take `Sheet`s and give an async stream of bytes chunks (a streaming response or
a file); `read_table` takes an uploaded file's bytes and gives typed rows with their
sheet, line and column, or refuses the file with a French problem; `guess_mapping`
matches a user's own headers to the expected columns.
"""

from kernel.tabular.cells import CellError, as_bool, as_date, as_decimal, as_int, as_text
from kernel.tabular.columns import CellType, CellValue, Column, Row, Sheet
from kernel.tabular.csv_writer import csv_chunks
from kernel.tabular.mapping import Expected, HeaderMapping, Match, guess_mapping
from kernel.tabular.ods_writer import ods_chunks
from kernel.tabular.reader import Limits, Table, TableRow, TableSheet, read_table
from kernel.tabular.xlsx_writer import xlsx_chunks

__all__ = [
    "CellError",
    "CellType",
    "CellValue",
    "Column",
    "Expected",
    "HeaderMapping",
    "Limits",
    "Match",
    "Row",
    "Sheet",
    "Table",
    "TableRow",
    "TableSheet",
    "as_bool",
    "as_date",
    "as_decimal",
    "as_int",
    "as_text",
    "csv_chunks",
    "guess_mapping",
    "ods_chunks",
    "read_table",
    "xlsx_chunks",
]
