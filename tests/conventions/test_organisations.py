"""Organisations registry: search, creation rules, and the CSV import (all or nothing)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import httpx
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from coop.cli_conventions import import_file
from tests.conventions.helpers import h, table_counts
from tests.support.personas import (
    CAF_A,
    CAF_A_LECTEUR,
    CAF_B_AGENT,
    COLLECTIVITE_X,
    NATIONAL,
    X_LECTEUR,
)

HEADER = (
    "type,nom,departement,code_caf,code_insee,siren,population,epci_siren,"
    "ao_recenser,ao_informer,ao_planifier,ao_qualite\n"
)
GOOD_CSV = (
    HEADER
    + """EPCI,CC Le Grésivaudan,38,,,200018166,,,,,,
Commune,Crolles,38,,38140,213801406,8600,200018166,commune,commune,EPCI,EPCI
Commune,Pontcharra,38,,38314,213803147,7600,200018166,,,,
Caf,Caf de la Savoie,73,731,,,,,,,,
MSA,MSA Alpes du Nord,73,,,,,,,,,
"""
)

BAD_CSV = (
    HEADER
    + """EPCI,CC Le Grésivaudan,38,,,200018166,,,,,,
Commune,Crolles,38,,38140,213801406,huit mille,200018166,,,,
Commune,Pontcharra,38,,38314,,7600,999999999,,,,
Mairie,Inconnue,38,,,,,,,,,
Commune,Pontcharra bis,38,,38314,,100,,,,EPCI,
Caf,Caf sans code,73,,,,,,,,,
"""
)


def run_import(path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "coop.cli", "import-organisations", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


async def test_search_by_name_or_code_with_keyset_pages(client: httpx.AsyncClient) -> None:
    by_name = await client.get("/api/v1/organisations", params={"q": "caf"}, headers=h(X_LECTEUR))
    assert by_name.status_code == 200
    assert [o["nom"] for o in by_name.json()["items"]] == ["Caf A (test)", "Caf B (test)"]
    by_code = await client.get("/api/v1/organisations", params={"q": "38999"}, headers=h())
    assert [o["nom"] for o in by_code.json()["items"]] == ["Collectivité X (test)"]
    x = by_code.json()["items"][0]
    assert x["competences_ao"] == {
        "recenser_les_besoins": "commune",
        "informer_et_accompagner": "commune",
        "planifier": "commune",
        "soutenir_la_qualite": "commune",
    }
    by_type = await client.get(
        "/api/v1/organisations", params={"type": "Commune"}, headers=h(NATIONAL)
    )
    assert {o["nom"] for o in by_type.json()["items"]} == {
        "Collectivité X (test)",
        "Collectivité Y (test)",
    }
    names: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/organisations", params=params, headers=h())).json()
        names += [o["nom"] for o in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert names == sorted(names)
    assert len(names) == 5
    bad_cursor = await client.get("/api/v1/organisations", params={"cursor": "xx"}, headers=h())
    assert bad_cursor.status_code == 400


async def test_create_organisation_rules(client: httpx.AsyncClient, db_engine: AsyncEngine) -> None:
    epci = await client.post(
        "/api/v1/organisations",
        json={"type": "EPCI", "nom": "CC Test", "siren": "200000002", "departement": "38"},
        headers=h(),
    )
    assert epci.status_code == 201, epci.text
    commune = await client.post(
        "/api/v1/organisations",
        json={
            "type": "Commune",
            "nom": "Commune test",
            "code_insee": "38500",
            "population": 4000,
            "epci_id": epci.json()["id"],
            "competences_ao": {"planifier": "EPCI"},
        },
        headers=h(),
    )
    assert commune.status_code == 201, commune.text
    assert commune.json()["competences_ao"]["planifier"] == "EPCI"
    assert commune.json()["competences_ao"]["recenser_les_besoins"] == "commune"
    before = await table_counts(db_engine)
    refused = [
        # A commune without INSEE code nor population.
        ({"type": "Commune", "nom": "Sans code"}, h(), 422),
        # Competence transferred without an EPCI.
        (
            {
                "type": "Commune",
                "nom": "Orpheline",
                "code_insee": "38501",
                "population": 10,
                "competences_ao": {"planifier": "EPCI"},
            },
            h(),
            422,
        ),
        # Same INSEE code.
        ({"type": "Commune", "nom": "Doublon", "code_insee": "38500", "population": 1}, h(), 409),
        # Readers do not write the registry.
        ({"type": "MSA", "nom": "MSA"}, h(CAF_A_LECTEUR), 403),
        ({"type": "MSA", "nom": "MSA"}, h(NATIONAL), 403),
        # Cafs come from the national registry (import), not from the API.
        ({"type": "Caf", "nom": "Caf sans code"}, h(), 403),
        # One Caf per département: Caf B's agent does not write Isère's registry...
        (
            {"type": "Commune", "nom": "Intruse", "code_insee": "38502", "population": 1},
            h(CAF_B_AGENT),
            403,
        ),
        # ...and an organisation must say where it is.
        ({"type": "MSA", "nom": "MSA sans département"}, h(), 403),
    ]
    for body, headers, status in refused:
        resp = await client.post("/api/v1/organisations", json=body, headers=headers)
        assert resp.status_code == status, (body, resp.text)
    assert await table_counts(db_engine) == before
    got = await client.get(f"/api/v1/organisations/{CAF_A}", headers=h())
    assert got.json()["code_caf"] == "9901"


async def test_csv_import_loads_a_good_file(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "orgs.csv"
    path.write_text(GOOD_CSV, encoding="utf-8")
    result = run_import(path, database_url)
    assert result.returncode == 0, result.stderr
    assert "5 organisations importées" in result.stderr
    crolles = (
        await client.get("/api/v1/organisations", params={"q": "38140"}, headers=h())
    ).json()["items"][0]
    epci = (
        await client.get("/api/v1/organisations", params={"q": "200018166"}, headers=h())
    ).json()["items"][0]
    assert crolles["epci_id"] == epci["id"]
    assert crolles["competences_ao"]["planifier"] == "EPCI"
    assert crolles["population"] == 8600
    members = await client.get("/api/v1/organisations", params={"epci_id": epci["id"]}, headers=h())
    assert [o["nom"] for o in members.json()["items"]] == ["Crolles", "Pontcharra"]
    # Loading the same file again: every coded row is now a duplicate, nothing changes.
    again = await import_file(database_url, GOOD_CSV, Console(file=io.StringIO()))
    assert [line for line, _ in again.errors] == [3, 4, 5]
    assert "déjà au répertoire" in again.errors[0][1]


async def test_csv_import_reports_bad_lines_and_loads_nothing(
    client: httpx.AsyncClient, db_engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    before = await table_counts(db_engine)
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    result = run_import(path, database_url)
    assert result.returncode == 1
    out = result.stderr
    assert "rien n'a été chargé" in out
    lines = {
        int(line.split("│")[1])
        for line in out.splitlines()
        if line.count("│") >= 3 and line.split("│")[1].strip().isdigit()
    }
    # Line 2 (the EPCI) is good; every other line is reported.
    assert lines == {3, 4, 5, 6, 7}
    assert "EPCI inconnu" in out
    assert "code INSEE 38314 déjà en ligne 4" in out
    # Pydantic's refusals read in French (kernel/validation_messages.py), not "Input
    # should be a valid integer".
    assert "population : Un nombre entier est attendu." in out
    assert "type : Valeur non reconnue" in out
    assert "should" not in out
    assert await table_counts(db_engine) == before


async def test_csv_import_refuses_unknown_columns(database_url: str) -> None:
    report = await import_file(
        database_url, "type,nom,couleur\nMSA,MSA,bleu\n", Console(file=io.StringIO())
    )
    assert report.errors == [(1, "colonnes inconnues : couleur")]


async def test_cafs_and_the_cnaf_are_changed_by_the_national_registry_only(
    client: httpx.AsyncClient,
) -> None:
    url = f"/api/v1/organisations/{CAF_A}"
    etag = (await client.get(url, headers=h())).headers["etag"]
    # Refused before the change is even read: a valid one, and one that would be a 422.
    for change in ({"population": 1}, {"nom": None}):
        r = await client.patch(url, json=change, headers=h(**{"If-Match": etag}))
        assert r.status_code == 403
        assert r.json()["detail"] == "Les Caf et la Cnaf se modifient par le référentiel national."
    unchanged = await client.get(url, headers=h())
    assert unchanged.headers["etag"] == etag


async def test_patch_organisation_with_etag(client: httpx.AsyncClient) -> None:
    url = f"/api/v1/organisations/{COLLECTIVITE_X}"
    etag = (await client.get(url, headers=h())).headers["etag"]
    assert (await client.patch(url, json={"population": 13000}, headers=h())).status_code == 428
    ok = await client.patch(
        url,
        json={"population": 13000, "competences_ao": {"planifier": "commune"}},
        headers=h(**{"If-Match": etag}),
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["population"] == 13000
    stale = await client.patch(url, json={"nom": "Autre"}, headers=h(**{"If-Match": etag}))
    assert stale.status_code == 412
    current = ok.headers["etag"]
    reader = await client.patch(
        url, json={"nom": "Autre"}, headers=h(NATIONAL, **{"If-Match": current})
    )
    assert reader.status_code == 403
    orphan = await client.patch(
        url,
        json={"competences_ao": {"planifier": "EPCI"}},
        headers=h(**{"If-Match": current}),
    )
    assert orphan.status_code == 422
    other_caf = await client.patch(
        url, json={"population": 1}, headers=h(CAF_B_AGENT, **{"If-Match": current})
    )
    assert other_caf.status_code == 403
    assert "département" in other_caf.json()["detail"]
    # A name cannot be emptied: a 422 naming the field, not a crash.
    emptied = await client.patch(url, json={"nom": None}, headers=h(**{"If-Match": current}))
    assert emptied.status_code == 422, emptied.text
    assert emptied.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in emptied.json()["errors"]] == ["nom"]
    got = (await client.get(url, headers=h())).json()
    assert (got["nom"], got["population"]) == ("Collectivité X (test)", 13000)
