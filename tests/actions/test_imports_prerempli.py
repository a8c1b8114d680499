"""The import template prefilled with the plan as it stands (`?prerempli=true`): edited
in a spreadsheet and imported again, it changes exactly what was edited.

Issue 26: "importing the same file again changes nothing and a re-import updates instead
of duplicating". The file goes out through the suite's writers and comes back through
its reader; the edit is made by openpyxl, as a spreadsheet would.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import openpyxl
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.actions import imports
from services.actions.models import historique
from tests.actions.conftest import CONV_A, Api
from tests.actions.test_imports import HEADERS, PLAN, XLSX, X, Z, commit, count, row, upload
from tests.actions.test_imports import workbook as openpyxl_workbook
from tests.support.personas import CAF_A_AGENT, CAF_B_AGENT

ROWS = [
    row(
        "1",
        "Ouvrir un LAEP",
        statut="en cours",
        priorite="haute",
        date_debut=dt.date(2026, 1, 5),
        date_echeance=dt.date(2026, 12, 31),
        public_cible="- parents de jeunes enfants",  # a formula trigger, kept as text
        porteurs=f"{X} ; {Z}",
    ),
    row("1.1", "Louer un local", parent="1", referent="Mme Martin"),
    row("2", "Créer un RPE", axe="Accueillir les jeunes enfants", thematique="petite enfance"),
]
MEDIA = {
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "xlsx": XLSX,
    "csv": "text/csv",
}


async def _plan(api: Api) -> dict[str, dict[str, Any]]:
    """The plan through the API; an action without référence and a sous-action of it
    added by hand, as a plan typed before références existed."""
    report = await upload(api, openpyxl_workbook(ROWS))
    assert (await commit(api, report)).status_code == 200, report.text
    listed = (await api.get(CAF_A_AGENT, f"{PLAN}/actions")).json()["items"]
    axe_id = listed[0]["axe_id"]
    loose = await api.action(CAF_A_AGENT, CONV_A, axe_id, titre="Informer les familles")
    await api.action(
        CAF_A_AGENT, CONV_A, axe_id, titre="Publier", reference="9", parent_id=loose["id"]
    )
    listed = (await api.get(CAF_A_AGENT, f"{PLAN}/actions")).json()["items"]
    return {a["reference"]: a for a in listed}


async def _prefilled(api: Api, fmt: str) -> bytes:
    r = await api.get(CAF_A_AGENT, f"{PLAN}/actions/modele-import?format={fmt}&prerempli=true")
    assert r.status_code == 200, r.text
    assert "plan-d-actions" in r.headers["content-disposition"]
    return r.content


async def test_prefilled_plan_edited_in_a_spreadsheet_changes_that_cell_only(
    api: Api, db_engine: AsyncEngine
) -> None:
    before = await _plan(api)
    wb = openpyxl.load_workbook(io.BytesIO(await _prefilled(api, "xlsx")))
    assert wb.sheetnames == ["Plan d’actions", "Aide", "Actions sans référence"]
    sheet = wb.worksheets[0]
    lines = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert lines[0] == HEADERS
    by_ref = {line[0]: dict(zip(HEADERS, line, strict=True)) for line in lines[1:]}
    assert list(by_ref) == ["1", "1.1", "2"]  # each action followed by its sous-actions
    first = by_ref["1"]
    assert (first["Axe"], first["Porteurs"], first["Statut"]) == (
        "Soutenir les parents",
        f"{X} ; {Z}",
        "en cours",
    )
    due = first["Date d'échéance"]
    assert isinstance(due, dt.datetime)
    assert due.date() == dt.date(2026, 12, 31)
    assert by_ref["1.1"]["Action parente"] == "1"
    # The actions no row can name, and why.
    apart = [list(r) for r in wb.worksheets[2].iter_rows(values_only=True)][1:]
    assert apart == [
        ["Soutenir les parents", "Informer les familles", None, imports.SANS_REFERENCE],
        ["Soutenir les parents", "Publier", "Informer les familles", imports.PARENT_SANS_REFERENCE],
    ]
    history = await count(db_engine, historique)

    # One cell edited, as a user would in a spreadsheet.
    line = list(by_ref).index("1.1") + 2  # under the header, 1-based
    sheet.cell(row=line, column=HEADERS.index("Statut") + 1, value="réalisée")
    out = io.BytesIO()
    wb.save(out)
    report = await upload(api, out.getvalue())
    body = report.json()
    assert body["valide"] is True, body["lignes"]
    assert body["totaux"] == {"creation": 0, "modification": 1, "inchangee": 2, "refusee": 0}
    changed = [ligne for ligne in body["lignes"] if ligne["operation"] == "modification"]
    assert [(ligne["reference"], ligne["changements"]) for ligne in changed] == [
        ("1.1", ["Statut"])
    ]
    assert (await commit(api, report)).status_code == 200
    after = {
        a["reference"]: a for a in (await api.get(CAF_A_AGENT, f"{PLAN}/actions")).json()["items"]
    }
    assert after["1.1"]["statut"] == "réalisée"
    assert {k: a["version"] for k, a in after.items() if k != "1.1"} == {
        k: a["version"] for k, a in before.items() if k != "1.1"
    }
    assert await count(db_engine, historique) == history + 1


@pytest.mark.parametrize("fmt", ["ods", "csv"])
async def test_prefilled_plan_imported_as_it_is_changes_nothing(api: Api, fmt: str) -> None:
    await _plan(api)
    data = await _prefilled(api, fmt)
    # The plan goes to the convention's readers only.
    outside = await api.get(
        CAF_B_AGENT, f"{PLAN}/actions/modele-import?format={fmt}&prerempli=true"
    )
    assert outside.status_code == 404
    report = await api.post(
        CAF_A_AGENT, f"{PLAN}/imports", files={"fichier": (f"plan.{fmt}", data, MEDIA[fmt])}
    )
    assert report.status_code == 201, report.text
    body = report.json()
    assert body["correspondance"]["a_confirmer"] is False
    assert body["totaux"] == {"creation": 0, "modification": 0, "inchangee": 3, "refusee": 0}, body[
        "lignes"
    ]
