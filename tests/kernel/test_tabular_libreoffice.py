"""A real spreadsheet opens the exports: LibreOffice converts the ODS and XLSX files to
CSV (one soffice run for every file of the session) and finds the exact values, typed:
numbers and dates unquoted, text quoted, a user's leading "=" kept as text."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.kernel.tabular_samples import exported, indicateur_sheet, suivi_sheet
from tests.support.office import CALC_TO_CSV, convert


@pytest.fixture(scope="session")
def seen_by_libreoffice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every export of the session converted by one LibreOffice run: <format>-<sheet>.csv."""
    root = tmp_path_factory.mktemp("libreoffice")
    files = []
    for fmt in ("ods", "xlsx"):
        data = asyncio.run(exported(fmt, suivi_sheet(), indicateur_sheet()))
        path = root / f"{fmt}.{fmt}"
        path.write_bytes(data)
        files.append(path)
    convert(files, CALC_TO_CSV, root / "csv", root / "profile")
    return root / "csv"


def _lines(folder: Path, name: str) -> list[str]:
    return (folder / name).read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("fmt", ["ods", "xlsx"])
def test_libreoffice_reads_the_exact_values(seen_by_libreoffice: Path, fmt: str) -> None:
    lines = _lines(seen_by_libreoffice, f"{fmt}-Suivi 2026-T1.csv")
    assert lines[0] == (
        '"Référence","Action","Porteurs","Avancement","Valeur","Actions engagées",'
        '"Échéance","Validé le","En retard"'
    )
    # Quoted: text; unquoted: numbers, percents, dates, Paris times, booleans. A formula
    # would show its result (exported as a value), never "=SOMME(A1:A9)" in quotes.
    assert lines[1] == (
        '"1.1","=SOMME(A1:A9)","Commune de Saint-Étienne-de-Crossey",42.5%,1234.5,12,'
        "03/31/2026,01/15/2026 11:00:00,TRUE"
    )
    assert lines[2] == (
        '"1.2","+33 6 12 34 56 78","Œuvre « L’Île »",100%,-0.75,0,,07/01/2026 12:30:00,FALSE'
    )
    assert lines[3] == '"2.1","-2 places","Crèche  des   Lilas",,,,12/01/2025,,'
    assert lines[4] == (
        '"2.2","@SUM(1+1)*cmd|\' /C calc\'!A0","Guillemets ""doubles"" ; point-virgule",'
        "50%,3,7,,,TRUE"
    )
    # A cell of two lines stays one cell of two lines.
    assert lines[5:] == ['"3.1","Réalisé <b>& gras</b>","Ligne 1', 'Ligne 2",,,,,,FALSE']


@pytest.mark.parametrize("fmt", ["ods", "xlsx"])
def test_libreoffice_sees_every_sheet(seen_by_libreoffice: Path, fmt: str) -> None:
    assert _lines(seen_by_libreoffice, f"{fmt}-Indicateurs.csv") == [
        '"Indicateur","Cible"',
        '"Places d’accueil créées",40',
        '"ETP RPE",2.5',
    ]
