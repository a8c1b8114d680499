"""The national export: every suivi of a year of every convention, and the year's figures
per Caf, for national readers, asked through `POST /api/v1/exports` and written by the
job `coop worker` runs.

Issue 26: "Per convention (...), per Caf campaign (...), and national aggregates for
national readers; scoped exactly like the API"; DOMAIN.md: the Cnaf's
`lecteur_national` may "read everything, national and departmental aggregates". The
rows are the per-convention export's (the API's own file, asked for each convention),
the figures the campaigns' counts (`GET /campagnes/{periode}`) summed over the year;
LibreOffice opens the ODS and the XLSX."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.principal import Principal
from services.actions.models import Export
from services.actions.service_exports_national import COLONNES_AGREGATS, COLONNES_SUIVIS
from tests.actions.conftest import Api
from tests.actions.test_campagnes import suivi
from tests.actions.test_export_jobs import EXPORTS, FORMULA, TODAY, campaign_plan, clocked
from tests.support.apps import running
from tests.support.conventions import AUDIENCE, conventions_app, seed_organisations
from tests.support.office import CALC_TO_CSV, convert
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_B_AGENT,
    COLLECTIVITE_Y,
    NATIONAL,
    X_CONTRIBUTEUR,
    auth_headers,
)

# TODAY is 2026-04-10: 2026-T1 and 2026-T2 have begun, 2026-T3 not.
QUARTERS = ("2026-T1", "2026-T2")


def national(fmt: str = "ods", **fields: Any) -> dict[str, Any]:
    return {"type": "national", "format": fmt, "annee": 2026, **fields}


def _csv(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))


@dataclass(frozen=True)
class Seen:
    conventions: dict[str, tuple[str, str]]  # convention id -> its Caf's id, its title
    # The API's own file of each convention (CSV), its rows without the header.
    per_convention: dict[str, list[list[str]]]
    campagnes: dict[str, dict[str, Any]]  # quarter -> the national campaign view
    late: dict[str, int]  # convention id -> its actions late today (the API's en_retard)
    status: dict[str, dict[str, Any]]  # the export once ready, by file
    files: dict[str, bytes]
    calc: Path


async def _world(conventions: httpx.AsyncClient, api: Api) -> dict[str, tuple[str, str]]:
    """The Caf campaign's world (`test_export_jobs.campaign_plan`: Caf A's Voiron and
    Grésivaudan, Caf B's Valence; action 4.1, late, its 2026-T1 suivi validated with an
    indicator value), and more: 4.1's suivi of the year before (not in 2026's export) and
    of 2026-T2, an abandoned action with a suivi, one sent back, a draft at Caf B."""
    _, late = await campaign_plan(conventions, api)
    listed = await conventions.get(
        "/api/v1/conventions", params={"limit": 50}, headers=auth_headers(NATIONAL, AUDIENCE)
    )
    assert listed.status_code == 200, listed.text
    world = {c["id"]: (c["caf_id"], c["titre"]) for c in listed.json()["items"]}
    ids = {titre: cid for cid, (_, titre) in world.items()}
    await suivi(api, late, "2025-T4", "soumission", "validation")
    await suivi(api, late, "2026-T2")
    gone = await api.action(CAF_A_AGENT, ids["CTG de Voiron"], late["axe_id"], titre="Abandonnée")
    await suivi(api, gone, "2026-T1", "soumission")
    path = f"/api/v1/actions/{gone['id']}"
    etag = (await api.get(CAF_A_AGENT, path)).headers["etag"]
    r = await api.patch(
        CAF_A_AGENT, path, json={"statut": "abandonnée"}, headers={"if-match": etag}
    )
    assert r.status_code == 200, r.text
    axe = await api.axe(CAF_A_AGENT, ids["CTG du Grésivaudan"], "Accueil")
    sent_back = await api.action(CAF_A_AGENT, ids["CTG du Grésivaudan"], axe["id"])
    await suivi(api, sent_back, "2026-T1", "soumission", "renvoi")
    axe = await api.axe(CAF_B_AGENT, ids["CTG de Valence"], "Informer")
    draft = await api.action(
        CAF_B_AGENT, ids["CTG de Valence"], axe["id"], porteur_ids=[str(COLLECTIVITE_Y)]
    )
    r = await api.post(
        CAF_B_AGENT,
        f"/api/v1/actions/{draft['id']}/suivis",
        json={"periode": "2026-T1", "statut_action": "en cours", "avancement": 5},
    )
    assert r.status_code == 201, r.text
    return world


@pytest.fixture(scope="module")
async def seen(
    database_url: str, db_engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> Seen:
    root = tmp_path_factory.mktemp("national")
    await seed_organisations(database_url)
    conv_app = conventions_app(database_url, today=TODAY)
    async with (
        running(conv_app) as conventions,
        clocked(database_url, db_engine, httpx.ASGITransport(app=conv_app)) as api,
    ):
        world = await _world(conventions, api)
        asked = {
            "ods": national("ods"),
            "xlsx": national("xlsx"),
            "csv": national("csv"),
            "csv-agregats": national("csv", feuille="agregats"),
        }
        exports = {}
        for name, body in asked.items():
            r = await api.post(NATIONAL, EXPORTS, json=body)
            assert r.status_code == 202, r.text
            exports[name] = r.json()
            # Three at most waiting per person: each written before the next is asked.
            assert await api.run_jobs() == 1
        status, files = {}, {}
        for name, export in exports.items():
            status[name] = (await api.get(NATIONAL, f"{EXPORTS}/{export['id']}")).json()
            r = await api.get(NATIONAL, f"{EXPORTS}/{export['id']}/fichier")
            assert r.status_code == 200, r.text
            files[name] = r.content
        per_convention, late = {}, {}
        for cid in world:
            r = await api.get(
                NATIONAL, f"/api/v1/conventions/{cid}/tableau-de-suivi", params={"format": "csv"}
            )
            assert r.status_code == 200, r.text
            per_convention[cid] = _csv(r.content)[1:]
            r = await api.get(
                NATIONAL, f"/api/v1/conventions/{cid}/actions", params={"en_retard": "true"}
            )
            assert r.status_code == 200, r.text
            late[cid] = len(r.json()["items"])
        campagnes = {}
        for q in QUARTERS:
            r = await api.get(NATIONAL, f"/api/v1/campagnes/{q}")
            assert r.status_code == 200, r.text
            campagnes[q] = r.json()
    for fmt in ("ods", "xlsx"):
        (root / f"{fmt}.{fmt}").write_bytes(files[fmt])
    convert([root / "ods.ods", root / "xlsx.xlsx"], CALC_TO_CSV, root / "csv", root / "profile")
    return Seen(world, per_convention, campagnes, late, status, files, root / "csv")


def _year(rows: list[list[str]]) -> list[list[str]]:
    """A tableau de suivi's rows of 2026 (its quarter: the 8th column)."""
    return [r for r in rows if r[7].startswith("2026-")]


def test_every_suivi_of_the_year_with_the_api_values(seen: Seen) -> None:
    """Each convention's rows are its own export's rows of 2026 (the API's file), after
    its Caf and its title, whichever Caf it belongs to; 2025's quarters are not there."""
    rows = _csv(seen.files["csv"])
    assert rows[0] == [c.header for c in COLONNES_SUIVIS]
    caf_names = {line["caf_id"]: line["caf_nom"] for line in seen.campagnes["2026-T1"]["cafs"]}
    expected = []
    for cid, own in seen.per_convention.items():
        caf_id, title = seen.conventions[cid]
        expected += [[caf_names[caf_id], title, *r] for r in _year(own)]
    body = rows[1:]
    assert sorted(body) == sorted(expected)
    # Sorted by Caf, convention, then the plan's order and the quarters'.
    assert [r[:2] for r in body] == sorted(r[:2] for r in body)
    followed = [r for r in body if r[4].startswith("Ouvrir")]
    assert [r[9] for r in followed] == list(QUARTERS)
    t1 = followed[0]
    assert t1[5] == "Collectivité X (test), Collectivité Y (test)"
    assert (t1[8], t1[10], t1[11]) == ("oui", "validé", "45 %")  # late: due 31/03/2026
    assert t1[14] == "Places créées : 12 / 40 places (30 %)"
    assert t1[13] == "'-2 animateurs"  # a user's text is never a formula
    assert any(r[4] == "'" + FORMULA and r[10] == "non renseigné" for r in body)


def _summed(seen: Seen) -> dict[str, Counter[str]]:
    """The campaigns' counts per Caf name, summed over the year's quarters."""
    out: dict[str, Counter[str]] = {}
    for view in seen.campagnes.values():
        for line in view["cafs"]:
            c = out.setdefault(line["caf_nom"], Counter())
            counts = line["compteurs"]
            # Every convention in force, no action added, all year long here.
            c["conventions"] = line["conventions"]
            c["actions"] = counts["actions"]
            c["attendus"] += counts["actions"]
            for key in ("validé", "à compléter", "soumis", "brouillon", "manquant"):
                c[key] += counts[key]
    late = Counter[str]()
    for cid, n in seen.late.items():
        late[seen.conventions[cid][0]] += n
    names = {line["caf_id"]: line["caf_nom"] for line in seen.campagnes["2026-T1"]["cafs"]}
    for caf_id, n in late.items():
        out[names[caf_id]]["en_retard"] = n
    return out


FIGURES = (
    "conventions",
    "actions",
    "attendus",
    "validé",
    "à compléter",
    "soumis",
    "brouillon",
    "manquant",
)


def test_the_aggregates_are_the_campaigns_over_the_year(seen: Seen) -> None:
    rows = _csv(seen.files["csv-agregats"])
    assert rows[0] == [c.header for c in COLONNES_AGREGATS]
    summed = _summed(seen)
    by_caf = {r[0]: r for r in rows[1:]}
    assert list(by_caf) == [*sorted(summed), "Total national"]
    total: Counter[str] = Counter()
    for caf, c in summed.items():
        row = by_caf[caf]
        assert [int(x) for x in row[1:9]] == [c[k] for k in FIGURES], caf
        rate = round(100 * c["validé"] / c["attendus"], 2)
        assert row[9] == f"{rate:g} %".replace(".", ","), caf
        assert int(row[10]) == c["en_retard"], caf
        total.update(c)
    assert [int(x) for x in by_caf["Total national"][1:9]] == [total[k] for k in FIGURES]
    # Caf A: 4.1 (late), the formula, the one sent back, not the abandoned one; Caf B 2.
    assert (total["actions"], total["en_retard"]) == (5, 1)
    assert int(by_caf["Total national"][10]) == 1


@pytest.mark.parametrize("fmt", ["ods", "xlsx"])
def test_libreoffice_opens_both_sheets(seen: Seen, fmt: str) -> None:
    def read(sheet: str) -> list[list[str]]:
        text = (seen.calc / f"{fmt}-{sheet}.csv").read_text(encoding="utf-8")
        return list(csv.reader(io.StringIO(text)))

    suivis = read("Suivis")
    assert suivis[0] == [c.header for c in COLONNES_SUIVIS]
    assert len(suivis) == len(_csv(seen.files["csv"]))
    t1 = next(r for r in suivis if r[4].startswith("Ouvrir") and r[9] == "2026-T1")
    # Typed cells: a date, a boolean, a percent.
    assert (t1[7], t1[8], t1[11]) == ("03/31/2026", "TRUE", "45%")
    assert any(r[4] == FORMULA for r in suivis)  # text, never evaluated
    agregats = read("Agrégats")
    assert agregats[0] == [c.header for c in COLONNES_AGREGATS]
    csv_rows = _csv(seen.files["csv-agregats"])
    assert [r[:9] for r in agregats[1:]] == [r[:9] for r in csv_rows[1:]]


def test_the_status_names_the_year(seen: Seen) -> None:
    status = seen.status["ods"]
    assert status["etat"] == "prêt"
    assert status["parametres"] == {"annee": 2026, "feuille": "suivis"}
    assert status["nom_fichier"] == "export-national-2026-2026-04-10.ods"
    assert seen.status["csv-agregats"]["parametres"]["feuille"] == "agregats"


async def test_national_readers_only(
    database_url: str, db_engine: AsyncEngine, seeded: None
) -> None:
    """A Caf's agent, a collectivité: 403, nothing written; a year not begun, an
    impossible one: 422."""
    async with clocked(database_url, db_engine) as api:
        cases: list[tuple[Principal, dict[str, Any], int, str]] = [
            (CAF_A_AGENT, national(), 403, "lecteurs nationaux"),
            (X_CONTRIBUTEUR, national(), 403, "lecteurs nationaux"),
            (NATIONAL, national(annee=2027), 422, "n'a pas commencé"),
            (NATIONAL, national(annee=1999), 422, "annee"),
            (NATIONAL, national(feuille="indicateurs"), 422, "feuille"),
        ]
        for who, body, status, said in cases:
            r = await api.post(who, EXPORTS, json=body)
            assert r.status_code == status, (body, r.text)
            assert said in r.text, r.text
        assert await api.count(Export) == 0
        # The body's field, as the client sent it (not under the kind's name).
        r = await api.post(NATIONAL, EXPORTS, json=national(annee=1999, inconnu=1))
        assert [(e["field"], e["pointer"], e["code"]) for e in r.json()["errors"]] == [
            ("annee", "/annee", "greater_than_equal"),
            ("inconnu", "/inconnu", "extra_forbidden"),
        ]
