"""The tableau de suivi of a convention, exported (ODS, XLSX, CSV) straight from the API.

Art. 9 of the model convention (seed 003): "Un tableau de suivi partagé est mis en place
dès le démarrage de la CTG dans le but de : · Actualiser régulièrement les informations
(idéalement chaque trimestre) · Suivre l'état d'avancement des actions · Rendre compte
des modalités de mise en œuvre, des avancements et des difficultés".

A real spreadsheet opens the files: LibreOffice converts the ODS and the XLSX to CSV
(one soffice run for every file of this module) and finds the values the API gives,
typed (numbers, percents, dates, booleans unquoted; text quoted, a user's "=..." kept
as text)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from coop.ports import free_port
from services.actions.app import create_app
from services.actions.settings import ActionsSettings
from tests.actions.conftest import CONV_A, Api
from tests.support.apps import running
from tests.support.conventions import make_convention, with_actions
from tests.support.office import CALC_TO_CSV, convert
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_B_AGENT,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    X_LECTEUR,
    Y_CONTRIBUTEUR,
)

TODAY = dt.date(2026, 4, 10)  # 2026-T2 has begun: six quarters since 2025-T1
QUARTERS = ["2025-T1", "2025-T2", "2025-T3", "2025-T4", "2026-T1", "2026-T2"]
FORMULA = "=SOMME(A1:A9)"
HEADER = [
    "Référence",
    "Axe",
    "Action",
    "Porteurs",
    "Statut",
    "Échéance",
    "En retard",
    "Trimestre",
    "État du suivi",
    "Avancement",
    "Réalisations",
    "Difficultés",
    "Indicateurs (valeur / cible)",
]


@dataclass(frozen=True)
class Plan:
    convention: uuid.UUID
    action: dict[str, Any]  # the one followed in 2026-T1, late
    other: dict[str, Any]  # réalisée, a formula in its title


async def build_plan(conventions: httpx.AsyncClient, api: Api) -> Plan:
    cid = await make_convention(
        conventions,
        signataire_ids=(COLLECTIVITE_X, COLLECTIVITE_Y),
        titre="CTG de Voiron 2025/2029",
    )
    axe = await api.axe(CAF_A_AGENT, cid, "Soutenir les parents")
    action = await api.action(
        CAF_A_AGENT,
        cid,
        axe["id"],
        titre="Ouvrir un lieu d'accueil enfants-parents",
        reference="4.1",
        porteur_ids=[str(COLLECTIVITE_X), str(COLLECTIVITE_Y)],
        statut="en cours",
        date_echeance="2026-03-31",
    )
    other = await api.action(CAF_A_AGENT, cid, axe["id"], titre=FORMULA, statut="réalisée")
    ind = await api.indicateur(action["id"], cibles={"2026": 40})
    # A value the quarter before: the 2026-T1 one is a fall from it.
    r = await api.put(
        CAF_A_AGENT,
        f"/api/v1/actions/{action['id']}/indicateurs/{ind['id']}/valeurs/2025-T4",
        json={"valeur": 15},
    )
    assert r.status_code == 201, r.text
    await api.suivi_valide(
        action["id"],
        "2026-T1",
        statut_action="en cours",
        avancement=45,
        realisations="Deux ateliers ; « un local »",
        difficultes="-2 animateurs",
        valeurs=[{"indicateur_id": ind["id"], "valeur": 12}],
    )
    return Plan(cid, action, other)


@dataclass(frozen=True)
class Seen:
    plan: Plan
    api_action: dict[str, Any]  # the action as the API reads it
    api_suivi: dict[str, Any]
    api_indicateur: dict[str, Any]
    files: dict[str, bytes]  # format -> body
    headers: dict[str, httpx.Headers]
    calc: Path  # LibreOffice's CSV files: <format>-<sheet>.csv


@pytest.fixture(scope="module")
async def seen(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Seen:
    root = tmp_path_factory.mktemp("tableau")
    async with with_actions(database_url, TODAY) as apps:
        api = Api(apps.actions)
        plan = await build_plan(apps.conventions, api)
        api_action = (await api.get(X_LECTEUR, f"/api/v1/actions/{plan.action['id']}")).json()
        api_suivi = (
            await api.get(X_LECTEUR, f"/api/v1/actions/{plan.action['id']}/suivis/2026-T1")
        ).json()
        api_indicateur = (
            await api.get(X_LECTEUR, f"/api/v1/actions/{plan.action['id']}/indicateurs")
        ).json()["items"][0]
        files, headers = {}, {}
        for fmt, query in (
            ("ods", "format=ods"),
            ("xlsx", "format=xlsx"),
            ("csv", "format=csv"),
            ("csv-indicateurs", "format=csv&feuille=indicateurs"),
        ):
            r = await api.get(
                Y_CONTRIBUTEUR, f"/api/v1/conventions/{plan.convention}/tableau-de-suivi?{query}"
            )
            assert r.status_code == 200, r.text
            files[fmt], headers[fmt] = r.content, r.headers
            (root / f"{fmt}.{fmt}").write_bytes(r.content)
    convert([root / "ods.ods", root / "xlsx.xlsx"], CALC_TO_CSV, root / "csv", root / "profile")
    return Seen(plan, api_action, api_suivi, api_indicateur, files, headers, root / "csv")


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("fmt", ["ods", "xlsx"])
def test_libreoffice_finds_the_api_values(seen: Seen, fmt: str) -> None:
    rows = _rows(seen.calc / f"{fmt}-Tableau de suivi.csv")
    assert rows[0] == HEADER
    # Every action × every quarter begun, in the plan's order.
    assert [(r[2], r[7]) for r in rows[1:]] == [
        (title, q) for title in (seen.api_action["titre"], FORMULA) for q in QUARTERS
    ]
    followed = rows[1 + QUARTERS.index("2026-T1")]
    a, s = seen.api_action, seen.api_suivi
    assert followed == [
        "4.1",  # the action's référence
        "Soutenir les parents",
        a["titre"],
        "Collectivité X (test), Collectivité Y (test)",  # porteurs by name
        a["statut"],
        "03/31/2026",  # a date cell (Calc's standard format)
        "TRUE" if a["en_retard"] else "FALSE",
        "2026-T1",
        s["etat"],
        f"{s['avancement']}%",  # a percent cell
        s["realisations"],
        s["difficultes"],  # "-2 …": text, not a number nor a formula
        "Places créées : 12 / 40 places (30 %)",
    ]
    assert a["en_retard"] is True
    assert s["etat"] == "validé"
    missing = rows[1 + QUARTERS.index("2026-T2")]
    assert missing[8:13] == ["non renseigné", "", "", "", ""]
    # The user's "=SOMME(…)" title is text in a spreadsheet, never evaluated.
    assert rows[1 + len(QUARTERS)][2:7] == [
        FORMULA,
        "Collectivité X (test)",
        "réalisée",
        "",
        "FALSE",
    ]


INDICATEURS_HEADER = [
    "Axe",
    "Action",
    "Indicateur",
    "Unité",
    "Période",
    "Valeur",
    "Cible de l'année",
    "Part de la cible",
    "Dernière valeur",
    "Période de la dernière valeur",
    "Cible de la dernière valeur",
    "Part de la cible atteinte",
    "Tendance",
]


@pytest.mark.parametrize("fmt", ["ods", "xlsx"])
def test_indicator_values_against_their_target(seen: Seen, fmt: str) -> None:
    """Each value against its year's target, and on every row of the indicator its
    progression as the API reads it: typed numbers and percent, in French headers."""
    rows = _rows(seen.calc / f"{fmt}-Indicateurs.csv")
    p = seen.api_indicateur["progression"]
    assert (p["periode"], float(p["derniere_valeur"]), float(p["cible"])) == ("2026-T1", 12, 40)
    assert (float(p["pourcentage_de_la_cible"]), p["tendance"]) == (30.0, "baisse")
    progression = ["12", "2026-T1", "40", "30%", "baisse"]
    head = ["Soutenir les parents", seen.api_action["titre"], "Places créées", "places"]
    assert rows == [
        INDICATEURS_HEADER,
        [*head, "2025-T4", "15", "", "", *progression],  # no target set for 2025
        [*head, "2026-T1", "12", "40", "30%", *progression],
    ]


def test_csv_of_the_indicators_sheet(seen: Seen) -> None:
    body = seen.files["csv-indicateurs"]
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == INDICATEURS_HEADER
    assert [r[4:] for r in rows[1:]] == [
        ["2025-T4", "15", "", "", "12", "2026-T1", "40", "30 %", "baisse"],
        ["2026-T1", "12", "40", "30 %", "12", "2026-T1", "40", "30 %", "baisse"],
    ]


def test_csv_for_a_french_spreadsheet(seen: Seen) -> None:
    body = seen.files["csv"]
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == HEADER
    followed = rows[1 + QUARTERS.index("2026-T1")]
    assert followed[5:7] == ["31/03/2026", "oui"]
    assert followed[9] == "45 %"
    assert followed[11] == "'-2 animateurs"  # OWASP: a leading "-" is not a formula
    assert rows[1 + len(QUARTERS)][2] == "'" + FORMULA
    assert len(rows) == 1 + 2 * len(QUARTERS)


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("ods", "application/vnd.oasis.opendocument.spreadsheet"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("csv", "text/csv; charset=utf-8"),
    ],
)
def test_a_file_to_save(seen: Seen, fmt: str, media_type: str) -> None:
    headers = seen.headers[fmt]
    assert headers["content-type"] == media_type
    # The title's "/" does not make the name a path.
    assert headers["content-disposition"] == (
        'attachment; filename="tableau-de-suivi-CTG de Voiron 2025-2029-2026-04-10.'
        f"{fmt}\"; filename*=UTF-8''tableau-de-suivi-CTG%20de%20Voiron%202025-2029-2026-04-10.{fmt}"
    )


async def test_scoped_like_the_api(database_url: str) -> None:
    async with with_actions(database_url, TODAY) as apps:
        api = Api(apps.actions)
        cid = await make_convention(apps.conventions, signataire_ids=(COLLECTIVITE_X,))
        axe = await api.axe(CAF_A_AGENT, cid, "Soutenir les parents")
        await api.action(CAF_A_AGENT, cid, axe["id"])
        path = f"/api/v1/conventions/{cid}/tableau-de-suivi"
        # Another Caf, a collectivité that does not sign: as if it did not exist.
        for outsider in (CAF_B_AGENT, Y_CONTRIBUTEUR):
            r = await api.get(outsider, path)
            assert r.status_code == 404, r.text
            assert r.headers["content-type"] == "application/problem+json"
        r = await api.get(X_LECTEUR, f"/api/v1/conventions/{uuid.uuid4()}/tableau-de-suivi")
        assert r.status_code == 404
        # One quarter: its rows only; a quarter the convention does not run: 404.
        r = await api.get(X_LECTEUR, path, params={"format": "csv", "periode": "2025-T3"})
        assert r.status_code == 200
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
        assert [row[7] for row in rows[1:]] == ["2025-T3"]
        r = await api.get(X_LECTEUR, path, params={"periode": "2031-T1"})
        assert r.status_code == 404
        assert "2031-T1" in r.json()["detail"]
        r = await api.get(X_LECTEUR, path, params={"format": "pdf"})
        assert r.status_code == 422


async def test_porteurs_names_unreadable_is_a_fast_503(database_url: str, seeded: None) -> None:
    """The conventions service does not answer (a port nobody listens on): the export
    says so at once, as a problem, rather than a file without its porteurs' names."""
    app = create_app(
        ActionsSettings(
            database_url=database_url,
            conventions_url=f"http://127.0.0.1:{free_port()}",
            conventions_sync_seconds=3600,
        ),
        today=lambda: TODAY,
    )
    async with running(app) as client:
        api = Api(client)
        axe = await api.axe(CAF_A_AGENT, CONV_A, "Soutenir les parents")
        await api.action(CAF_A_AGENT, CONV_A, axe["id"])
        r = await api.get(CAF_A_AGENT, f"/api/v1/conventions/{CONV_A}/tableau-de-suivi")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "5"
    assert "noms des organisations" in r.json()["detail"]
