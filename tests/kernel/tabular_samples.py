"""The sheets the tabular tests export: every cell type, and the texts that trip writers."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

from kernel.tabular import CellType, Column, Row, Sheet, csv_chunks, ods_chunks, xlsx_chunks

SUIVI_COLUMNS = (
    Column("Référence"),
    Column("Action"),
    Column("Porteurs"),
    Column("Avancement", CellType.percent),
    Column("Valeur", CellType.decimal),
    Column("Actions engagées", CellType.integer),
    Column("Échéance", CellType.date),
    Column("Validé le", CellType.datetime),
    Column("En retard", CellType.boolean),
)

# Winter (UTC+1) and summer (UTC+2) times: the Paris time is what people see.
WINTER = dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.UTC)
SUMMER = dt.datetime(2026, 7, 1, 10, 30, tzinfo=dt.UTC)

SUIVI_ROWS: list[Row] = [
    (
        "1.1",
        "=SOMME(A1:A9)",
        "Commune de Saint-Étienne-de-Crossey",
        Decimal("0.425"),
        Decimal("1234.5"),
        12,
        dt.date(2026, 3, 31),
        WINTER,
        True,
    ),
    (
        "1.2",
        "+33 6 12 34 56 78",
        "Œuvre « L’Île »",
        Decimal("1"),
        Decimal("-0.75"),
        0,
        None,
        SUMMER,
        False,
    ),
    ("2.1", "-2 places", "Crèche  des   Lilas", None, None, None, dt.date(2025, 12, 1), None, None),
    (
        "2.2",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        'Guillemets "doubles" ; point-virgule',
        Decimal("0.5"),
        Decimal("3"),
        7,
        None,
        None,
        True,
    ),
    ("3.1", "Réalisé <b>& gras</b>", "Ligne 1\nLigne 2", None, None, None, None, None, False),
]

INDICATEUR_COLUMNS = (Column("Indicateur"), Column("Cible", CellType.decimal))
INDICATEUR_ROWS: list[Row] = [
    ("Places d’accueil créées", Decimal("40")),
    ("ETP RPE", Decimal("2.5")),
]


def suivi_sheet() -> Sheet:
    return Sheet("Suivi 2026-T1", SUIVI_COLUMNS, SUIVI_ROWS)


def indicateur_sheet() -> Sheet:
    return Sheet("Indicateurs", INDICATEUR_COLUMNS, INDICATEUR_ROWS)


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def exported(fmt: str, *sheets: Sheet) -> bytes:
    if fmt == "csv":
        return await collect(csv_chunks(sheets[0]))
    if fmt == "xlsx":
        return await collect(xlsx_chunks(*sheets))
    return await collect(ods_chunks(*sheets, title="Tableau de suivi"))
