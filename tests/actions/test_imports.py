"""Import of an existing plan d'actions: référence, template, dry run → report → commit.

Issue 26: "an existing plan in a spreadsheet becomes a plan d'actions after a dry run
the user can read"; "importing the same file again changes nothing and a re-import
updates instead of duplicating". Files are real workbooks written by openpyxl (and the
suite's own writers for the template), never byte literals.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import uuid
import zipfile
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from kernel.tabular import Sheet, TableRow, csv_chunks, ods_chunks, xlsx_chunks
from services.actions import imports
from services.actions.models import Action, Axe, ImportPlan, historique
from services.actions.rules import FICHE_LABELS
from tests.actions.conftest import CONV_A, CONV_ECHUE, Api
from tests.support.conventions import make_convention, with_actions
from tests.support.personas import (
    CAF_A_ADMIN,
    CAF_A_AGENT,
    CAF_A_LECTEUR,
    CAF_B_AGENT,
    COLLECTIVITE_X,
    X_REFERENT,
)

PLAN = f"/api/v1/conventions/{CONV_A}"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADERS = [c.label for c in imports.CHAMPS]
X = "Collectivité X (test)"
Z = "Collectivité Z (test)"


def row(reference: str, titre: str, axe: str = "Soutenir les parents", **fields: Any) -> list[Any]:
    values: dict[str, Any] = {"reference": reference, "axe": axe, "titre": titre}
    values.setdefault("porteurs", X)
    values.update(fields)
    return [values.get(c.key) for c in imports.CHAMPS]


def workbook(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Plan"
    ws.append(header or HEADERS)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


FILE = [
    row("1.1", "Ouvrir un LAEP", statut="en cours", public_cible="Parents de jeunes enfants"),
    row("1.2", "Créer un RPE", porteurs=f"{X} ; {Z}"),
    row("2.1", "Développer l'accueil de loisirs", axe="Renforcer l'accès aux loisirs"),
]


async def upload(api: Api, data: bytes, name: str = "plan.xlsx", who: Any = CAF_A_AGENT) -> Any:
    return await api.post(who, f"{PLAN}/imports", files={"fichier": (name, data, XLSX)})


async def commit(api: Api, report: Any, who: Any = CAF_A_AGENT) -> Any:
    path = f"{PLAN}/imports/{report.json()['id']}/validation"
    return await api.post(who, path, headers={"if-match": report.headers["etag"]})


async def count(engine: AsyncEngine, what: Any) -> int:
    async with AsyncSession(engine) as session:
        return int((await session.execute(select(func.count()).select_from(what))).scalar_one())


async def test_reference_is_unique_in_its_convention(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    first = await api.action(CAF_A_AGENT, CONV_A, axe["id"], reference="1.2")
    assert first["reference"] == "1.2"
    listed = (await api.get(CAF_A_AGENT, f"{PLAN}/actions")).json()["items"]
    assert [a["reference"] for a in listed] == ["1.2"]
    r = await api.post(
        CAF_A_AGENT,
        f"{PLAN}/actions",
        json={"axe_id": axe["id"], "titre": "Autre", "porteur_ids": [str(COLLECTIVITE_X)]}
        | {"reference": "1.2"},
    )
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "reference-deja-utilisee"
    assert "1.2" in r.json()["detail"]
    other = await api.action(CAF_A_AGENT, CONV_A, axe["id"])
    assert other["reference"] is None  # optional
    path = f"/api/v1/actions/{other['id']}"
    etag = (await api.get(CAF_A_AGENT, path)).headers["etag"]
    r = await api.patch(CAF_A_AGENT, path, json={"reference": "1.2"}, headers={"if-match": etag})
    assert r.status_code == 409
    r = await api.patch(CAF_A_AGENT, path, json={"reference": "1.3"}, headers={"if-match": etag})
    assert r.status_code == 200
    assert r.json()["reference"] == "1.3"


async def test_the_same_reference_given_twice_at_once(api: Api) -> None:
    """Two creations racing for one référence: one wins, the other gets the 409 (the
    references' lock), never the unique index's error as a 500."""
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    body = {"axe_id": axe["id"], "titre": "Créer un RPE", "porteur_ids": [str(COLLECTIVITE_X)]}
    answers = await asyncio.gather(
        *(
            api.post(CAF_A_AGENT, f"{PLAN}/actions", json={**body, "reference": "3.1"})
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
async def test_template_has_the_fiche_fields(api: Api, fmt: str) -> None:
    r = await api.get(CAF_A_AGENT, f"{PLAN}/actions/modele-import?format={fmt}")
    assert r.status_code == 200, r.text
    if fmt == "xlsx":
        wb = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True)
        header = [c for c in next(wb.worksheets[0].iter_rows(values_only=True))]
        assert wb.sheetnames == ["Plan d’actions", "Aide"]
    else:
        header = next(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert header[:5] == ["Référence", "Action parente", "Axe", "Titre", "Porteurs"]
    # DOMAIN.md's exact labels of the fiche-action.
    assert header[-10:] == list(FICHE_LABELS.values())
    assert "Echéances de réalisation" in header
    assert "Spécificités par autorité organisatrice signataire" in header


async def test_template_filled_in_is_imported_as_is(api: Api) -> None:
    """The template, filled in by a spreadsheet (openpyxl), maps exactly: no confirmation."""
    r = await api.get(CAF_A_AGENT, f"{PLAN}/actions/modele-import?format=xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    wb.worksheets[0].append(row("1.1", "Ouvrir un LAEP"))
    out = io.BytesIO()
    wb.save(out)
    report = await upload(api, out.getvalue())
    assert report.status_code == 201, report.text
    body = report.json()
    assert body["correspondance"]["a_confirmer"] is False
    assert body["valide"] is True
    assert body["totaux"]["creation"] == 1


WRITERS = {
    "ods": (lambda sheet: ods_chunks(sheet), "application/vnd.oasis.opendocument.spreadsheet"),
    "xlsx": (lambda sheet: xlsx_chunks(sheet), XLSX),
    "csv": (lambda sheet: csv_chunks(sheet), "text/csv"),
}


@pytest.mark.parametrize("fmt", list(WRITERS))
async def test_every_format_the_suite_writes_is_imported(api: Api, fmt: str) -> None:
    """ODS, XLSX and CSV files written by the suite's own writers (typed cells: a date
    as a date) come in alike."""
    write, media_type = WRITERS[fmt]
    dated = row("1.1", "Ouvrir un LAEP", date_echeance=dt.date(2026, 9, 30))
    sheet = Sheet("Plan", [c.column for c in imports.CHAMPS], [dated, *FILE[1:]])
    data = b"".join([chunk async for chunk in write(sheet)])
    report = await api.post(
        CAF_A_AGENT, f"{PLAN}/imports", files={"fichier": (f"plan.{fmt}", data, media_type)}
    )
    assert report.status_code == 201, report.text
    assert report.json()["totaux"]["creation"] == 3, report.json()["lignes"]
    assert (await commit(api, report)).status_code == 200
    listed = (await api.get(CAF_A_AGENT, f"{PLAN}/actions")).json()["items"]
    assert listed[0]["date_echeance"] == "2026-09-30"


async def test_dry_run_report_commit_and_reimport(api: Api, db_engine: AsyncEngine) -> None:
    report = await upload(api, workbook(FILE))
    assert report.status_code == 201, report.text
    body = report.json()
    assert report.headers["location"].endswith(f"/imports/{body['id']}")
    assert body["etat"] == "essai"
    assert body["valide"] is True
    assert body["totaux"] == {"creation": 3, "modification": 0, "inchangee": 0, "refusee": 0}
    assert body["axes_nouveaux"] == ["Soutenir les parents", "Renforcer l'accès aux loisirs"]
    assert [p["nom"] for p in body["lignes"][1]["porteurs"]] == [X, Z]
    # A dry run writes nothing in the plan.
    assert await count(db_engine, Action) == 0

    done = await commit(api, report)
    assert done.status_code == 200, done.text
    assert done.json()["etat"] == "validé"
    listed = (await api.get(CAF_A_AGENT, f"{PLAN}/actions")).json()["items"]
    assert [(a["reference"], a["titre"]) for a in listed] == [
        ("1.1", "Ouvrir un LAEP"),
        ("1.2", "Créer un RPE"),
        ("2.1", "Développer l'accueil de loisirs"),
    ]
    assert listed[1]["porteur_noms"] == [X, Z]
    laep = (await api.get(CAF_A_AGENT, f"/api/v1/actions/{listed[0]['id']}")).json()
    assert laep["statut"] == "en cours"
    assert laep["public_cible"] == "Parents de jeunes enfants"
    # Written as the API writes: one history row per axe and action created.
    assert await count(db_engine, historique) == 5
    versions = {a["id"]: a["version"] for a in listed}

    # The same file again: nothing to do, nothing written.
    again = await upload(api, workbook(FILE))
    assert again.json()["totaux"]["inchangee"] == 3
    assert (await commit(api, again)).status_code == 200
    listed = (await api.get(CAF_A_AGENT, f"{PLAN}/actions")).json()["items"]
    assert {a["id"]: a["version"] for a in listed} == versions
    assert await count(db_engine, historique) == 5

    # A changed file updates the action of its référence instead of adding one.
    changed = [FILE[0][:], *FILE[1:]]
    changed[0][HEADERS.index("Statut")] = "Réalisée"  # as typed: case is no matter
    third = await upload(api, workbook(changed))
    ligne = third.json()["lignes"][0]
    assert (ligne["operation"], ligne["changements"]) == ("modification", ["Statut"])
    assert ligne["action_id"] == laep["id"]
    assert (await commit(api, third)).status_code == 200
    listed = (await api.get(CAF_A_AGENT, f"{PLAN}/actions")).json()["items"]
    assert len(listed) == 3
    assert listed[0]["statut"] == "réalisée"
    assert listed[0]["version"] == versions[laep["id"]] + 1
    history = (await api.get(CAF_A_AGENT, f"/api/v1/actions/{laep['id']}/historique")).json()
    change = history["items"][0]["changements"][0]
    assert (change["champ"], change["avant"], change["apres"]) == ("statut", "en cours", "réalisée")


async def test_refused_rows_are_located_and_nothing_is_written(
    api: Api, db_engine: AsyncEngine
) -> None:
    rows = [
        row("1.1", "Ouvrir un LAEP", porteurs="Colectivite X test"),
        row("1.1", "Doublon"),
        row("1.3", "", statut="terminée", date_debut="31/13/2026"),
    ]
    report = await upload(api, workbook(rows))
    body = report.json()
    assert body["valide"] is False
    assert body["totaux"]["refusee"] == 3
    near = body["lignes"][0]["erreurs"][0]
    assert (near["ligne"], near["colonne"], near["champ"]) == (2, "E", "Porteurs")
    assert near["suggestions"] == [X, Z]  # the closest first
    assert "Vouliez-vous dire « Collectivité X (test) » ou" in near["message"]
    assert "ligne 2" in body["lignes"][1]["erreurs"][0]["message"]
    third = {(e["colonne"], e["champ"]) for e in body["lignes"][2]["erreurs"]}
    assert {("D", "Titre"), ("F", "Statut"), ("I", "Date de début")} <= third
    r = await commit(api, report)
    assert r.status_code == 409
    assert r.json()["code"] == "import-refuse"
    assert await count(db_engine, Action) == 0


async def test_a_stale_report_is_not_committed(api: Api) -> None:
    report = await upload(api, workbook(FILE[:1]))
    path = f"{PLAN}/imports/{report.json()['id']}/validation"
    assert (await api.post(CAF_A_AGENT, path)).status_code == 428
    # Someone changes the plan after the report was read.
    await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
    r = await commit(api, report)
    assert r.status_code == 412, r.text
    # Read again, the report is of the current plan (the axe exists now) and commits.
    fresh = await api.get(CAF_A_AGENT, f"{PLAN}/imports/{report.json()['id']}")
    assert fresh.headers["etag"] != report.headers["etag"]
    assert fresh.json()["axes_nouveaux"] == []
    assert (await commit(api, fresh)).status_code == 200


async def test_own_headers_are_guessed_then_confirmed(api: Api) -> None:
    header = ["N°", "Axe stratégique", "Intitulé de l'action", "Porteur", "Commentaire"]
    data = workbook([["1.1", "Soutenir les parents", "Ouvrir un LAEP", X, "RAS"]], header)
    report = await upload(api, data)
    body = report.json()
    mapping = {c["champ"]: c for c in body["correspondance"]["colonnes"]}
    assert [mapping[k]["colonne"] for k in ("reference", "axe", "titre", "porteurs")] == [
        "A",
        "B",
        "C",
        "D",
    ]
    assert body["correspondance"]["a_confirmer"] is True
    assert body["correspondance"]["colonnes_ignorees"] == ["Commentaire"]
    # The user says column E holds the public cible.
    one = f"{PLAN}/imports/{body['id']}"
    r = await api.put(
        CAF_A_AGENT, f"{one}/correspondance", json={"colonnes": {"public_cible": "E"}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["correspondance"]["confirmee"] is True
    assert r.headers["etag"] != report.headers["etag"]
    bad = await api.put(CAF_A_AGENT, f"{one}/correspondance", json={"colonnes": {"titre": "Z"}})
    assert bad.status_code == 422
    assert "colonne Z" in bad.text
    assert (await commit(api, r)).status_code == 200
    action = (await api.get(CAF_A_AGENT, f"{PLAN}/actions")).json()["items"][0]
    detail = (await api.get(CAF_A_AGENT, f"/api/v1/actions/{action['id']}")).json()
    assert detail["public_cible"] == "RAS"


async def test_an_import_is_its_authors_and_the_cafs_agents(api: Api) -> None:
    report = await upload(api, workbook(FILE[:1]))
    one = f"{PLAN}/imports/{report.json()['id']}"
    assert (await api.get(CAF_A_AGENT, one)).status_code == 200
    assert (await api.get(CAF_A_ADMIN, one)).status_code == 404  # another agent
    assert (await api.get(CAF_B_AGENT, one)).status_code == 404  # outside the scope
    assert (await api.get(CAF_A_LECTEUR, one)).status_code == 403
    assert (await upload(api, workbook(FILE), who=X_REFERENT)).status_code == 403


async def test_an_ended_convention_takes_changes_not_new_actions(
    api: Api, db_engine: AsyncEngine
) -> None:
    """As the API's writes: once a convention has ended, the Caf still keeps its plan
    right (service._APRES_LA_FIN, "plan": Caf) but no new action comes in."""
    axe_id, action_id = uuid.uuid4(), uuid.uuid4()
    async with AsyncSession(db_engine) as session:  # the plan it had before its end
        session.add(Axe(id=axe_id, convention_id=CONV_ECHUE, titre="Soutenir", position=1))
        await session.flush()
        session.add(
            Action(
                id=action_id,
                convention_id=CONV_ECHUE,
                axe_id=axe_id,
                reference="1.1",
                position=1,
                titre="Ouvrir un LAEP",
                statut="en cours",
                porteur_ids=[COLLECTIVITE_X],
            )
        )
        await session.commit()
    path = f"/api/v1/conventions/{CONV_ECHUE}/imports"
    rows = [row("1.1", "Ouvrir un LAEP", axe="Soutenir", statut="réalisée"), row("1.2", "Créer")]
    files = {"fichier": ("plan.xlsx", workbook(rows), XLSX)}
    report = await api.post(CAF_A_AGENT, path, files=files)
    lignes = report.json()["lignes"]
    assert [ligne["operation"] for ligne in lignes] == ["modification", "refusée"]
    assert "elle n'accepte plus de nouvelles actions" in lignes[1]["erreurs"][0]["message"]
    files = {"fichier": ("plan.xlsx", workbook(rows[:1]), XLSX)}
    report = await api.post(CAF_A_AGENT, path, files=files)
    done = await api.post(
        CAF_A_AGENT,
        f"{path}/{report.json()['id']}/validation",
        headers={"if-match": report.headers["etag"]},
    )
    assert done.status_code == 200, done.text
    action = (await api.get(CAF_A_AGENT, f"/api/v1/actions/{action_id}")).json()
    assert action["statut"] == "réalisée"


def _formula_workbook() -> bytes:
    # openpyxl writes the formula without a computed value, as a program would.
    return workbook([[*row("1.1", "Ouvrir un LAEP")[:3], '=CONCAT("a";"b")']])


def _macro_workbook() -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(workbook(FILE)), "r") as source,
        zipfile.ZipFile(out, "w") as target,
    ):
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        target.writestr("xl/vbaProject.bin", b'Attribute VB_Name = "Module1"')
    return out.getvalue()


def _many_sheets() -> bytes:
    wb = openpyxl.Workbook()
    for n in range(21):
        wb.create_sheet(f"Feuille {n}")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _huge_csv() -> bytes:
    line = ";".join(["1.1", "Axe", "Titre " + "x" * 2000, X]) + "\r\n"
    return ("\ufeff" + ";".join(HEADERS[:4]) + "\r\n" + line * 5300).encode()


REFUSALS = {
    "corrupt": (lambda: workbook(FILE)[:3000], "plan.xlsx", 415, "fichier-corrompu"),
    "disguised": (lambda: workbook(FILE), "plan.ods", 415, "type-non-reconnu"),
    "macros": (_macro_workbook, "plan.xlsx", 415, "classeur-avec-macros"),
    "too-big": (_huge_csv, "plan.csv", 413, "fichier-trop-volumineux"),
    "too-many-rows": (
        lambda: workbook([row(str(n), "Ouvrir") for n in range(2001)]),
        "plan.xlsx",
        413,
        "trop-de-lignes",
    ),
    "too-many-sheets": (_many_sheets, "plan.xlsx", 413, "trop-de-feuilles"),
    "formula": (_formula_workbook, "plan.xlsx", 422, "formule-sans-valeur"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_refused_files_leave_nothing(api: Api, db_engine: AsyncEngine, case: str) -> None:
    build, name, status, code = REFUSALS[case]
    r = await upload(api, build(), name)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code
    assert await count(db_engine, ImportPlan) == 0
    assert await count(db_engine, Action) == 0


def test_porteurs_by_siren_insee_and_name() -> None:
    """The codes come from the conventions service's registry (`build_plan`)."""
    x, z = uuid.uuid4(), uuid.uuid4()
    plan = imports.Plan(
        axes=[],
        actions={},
        porteurs=[
            imports.Organisation(x, "Commune de Voiron", code_insee="38563"),
            imports.Organisation(z, "CC du Pays Voironnais", siren="243800984"),
        ],
    )
    found = imports.essai(
        [_table_row(row("1.1", "Ouvrir", porteurs="38563 ; 243 800 984 ; commune de voiron"))],
        {c.key: n for n, c in enumerate(imports.CHAMPS)},
        plan,
    )
    ligne = found.lignes[0]
    assert ligne.erreurs == []
    assert [(p["par"], p["nom"]) for p in ligne.porteurs] == [
        ("code INSEE", "Commune de Voiron"),
        ("SIREN", "CC du Pays Voironnais"),
        ("nom", "Commune de Voiron"),
    ]
    assert ligne.valeurs["porteur_ids"] == [x, z]


async def test_porteurs_by_code_from_the_conventions_registry(database_url: str) -> None:
    """The signataires' INSEE codes are the conventions service's (its registry, over its
    internal route): asked when the file names porteurs by code."""
    async with with_actions(database_url, dt.date(2026, 4, 10)) as apps:
        api = Api(apps.actions)
        cid = await make_convention(apps.conventions, signataire_ids=(COLLECTIVITE_X,))
        data = workbook([row("1.1", "Ouvrir un LAEP", porteurs="38999"), row("1.2", "Autre")])
        report = await api.post(
            CAF_A_AGENT,
            f"/api/v1/conventions/{cid}/imports",
            files={"fichier": ("plan.xlsx", data, XLSX)},
        )
        assert report.status_code == 201, report.text
        lignes = report.json()["lignes"]
        assert lignes[0]["porteurs"] == [
            {
                "saisi": "38999",
                "organisation_id": str(COLLECTIVITE_X),
                "nom": X,
                "par": "code INSEE",
            }
        ]
        assert lignes[1]["porteurs"][0]["par"] == "nom"  # by name, as the replica has it
        assert report.json()["valide"] is True


def _table_row(values: list[Any]) -> TableRow:
    return TableRow("Plan", 2, tuple(values))


async def test_the_form_holds_one_file(api: Api, db_engine: AsyncEngine) -> None:
    r = await api.post(CAF_A_AGENT, f"{PLAN}/imports", json={"fichier": "plan.xlsx"})
    assert r.status_code == 422
    assert "multipart" in r.json()["detail"]
    r = await api.post(
        CAF_A_AGENT,
        f"{PLAN}/imports",
        data={"commentaire": "voici"},
        files={"fichier": ("plan.xlsx", workbook(FILE), XLSX)},
    )
    assert r.status_code == 422
    assert "« fichier »" in r.json()["detail"]
    assert await count(db_engine, ImportPlan) == 0


async def test_the_stored_report_is_the_one_answered(api: Api, db_engine: AsyncEngine) -> None:
    """The report an upload answers is the one stored and answered again (GET on an
    unchanged plan, after a commit): same keys, same values; an error has
    `suggestions` only when it is a porteur's."""
    rows = [row("1.1", "Ouvrir un LAEP", porteurs="Colectivite X test"), row("1.2", "")]
    report = await upload(api, workbook(rows))
    body = report.json()
    async with AsyncSession(db_engine) as session:
        stored = (await session.execute(select(ImportPlan.rapport))).scalar_one()
    assert stored == body
    assert (await api.get(CAF_A_AGENT, report.headers["location"])).json() == body
    erreurs = [e for ligne in body["lignes"] for e in ligne["erreurs"]]
    assert [sorted(e) for e in erreurs] == [
        ["champ", "colonne", "ligne", "message", "suggestions"],
        ["champ", "colonne", "ligne", "message"],
    ]
    assert sorted(body["lignes"][0]) == sorted(LIGNE_RAPPORT_KEYS)
    fixed = await upload(api, workbook([row("1.1", "Ouvrir un LAEP")]))
    done = await commit(api, fixed)
    assert done.status_code == 200
    async with AsyncSession(db_engine) as session:
        imp = await session.get(ImportPlan, uuid.UUID(fixed.json()["id"]))
        assert imp is not None
    assert imp.rapport == done.json()
    assert done.json()["etat"] == "validé"
    assert done.json()["lignes"][0]["action_id"] is not None
    assert (await api.get(CAF_A_AGENT, fixed.headers["location"])).json() == done.json()


LIGNE_RAPPORT_KEYS = (
    "ligne",
    "reference",
    "titre",
    "operation",
    "action_parente",
    "axe",
    "axe_nouveau",
    "action_id",
    "changements",
    "porteurs",
    "erreurs",
    "avertissements",
)
