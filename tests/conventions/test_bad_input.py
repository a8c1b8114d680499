"""Bad input on every endpoint: wrong types, unknown enum values, missing fields,
oversized strings, malformed ids. Always problem+json 422, never a write."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conventions.helpers import create, h, payload, table_counts
from tests.support.conventions import make_convention
from tests.support.personas import CAF_A, COLLECTIVITE_X

LONG = "x" * 5000


async def test_bad_input_everywhere(client: httpx.AsyncClient, db_engine: AsyncEngine) -> None:
    draft = (await create(client))["id"]
    signed = await make_convention(client)
    d = f"/api/v1/conventions/{draft}"
    s = f"/api/v1/conventions/{signed}"
    x = str(COLLECTIVITE_X)
    cases: list[tuple[str, str, Any]] = [
        # create
        ("POST", "/api/v1/conventions", payload(date_debut="pas une date")),
        ("POST", "/api/v1/conventions", payload(echelon="régional")),
        ("POST", "/api/v1/conventions", payload(thematiques=["cuisine"])),
        ("POST", "/api/v1/conventions", payload(titre=LONG)),
        ("POST", "/api/v1/conventions", payload(titre="")),
        ("POST", "/api/v1/conventions", payload(caf_id="caf-a")),
        ("POST", "/api/v1/conventions", payload(copil={"presidence": "tournante"})),
        ("POST", "/api/v1/conventions", payload(copil={"reunions_par_an": "deux"})),
        ("POST", "/api/v1/conventions", payload(objectifs_partages="un objectif")),
        ("POST", "/api/v1/conventions", payload(inconnu=1)),
        ("POST", "/api/v1/conventions", {k: v for k, v in payload().items() if k != "titre"}),
        ("POST", "/api/v1/conventions", payload(signataires=[{"representant": "Maire"}])),
        ("POST", "/api/v1/conventions", payload(signataires=[{"organisation_id": x}] * 2)),
        ("POST", "/api/v1/conventions", [1, 2]),
        ("POST", "/api/v1/conventions", "texte"),
        # patch
        ("PATCH", d, {"date_fin": 2029}),
        ("PATCH", d, {"titre": None}),
        ("PATCH", d, {"thematiques": ["petite enfance", "inconnue"]}),
        ("PATCH", d, {"copil": {"secretariat": LONG}}),
        ("PATCH", d, {"statut": "signée"}),
        # signataires
        ("POST", f"{d}/signataires", {}),
        ("POST", f"{d}/signataires", {"organisation_id": x, "representant": LONG}),
        ("POST", f"{d}/signataires", {"organisation_id": "00000000-0000-0000-0000-000000000000"}),
        ("PATCH", f"{d}/signataires/{x}", {"date_signature": "hier"}),
        ("PATCH", f"{d}/signataires/{x}", {"deliberation_reference": LONG}),
        ("PATCH", f"{d}/signataires/pas-un-uuid", {"representant": "Maire"}),
        ("DELETE", f"{d}/signataires/pas-un-uuid", None),
        # signature
        ("POST", f"{d}/signature", {"motif": LONG}),
        ("POST", f"{d}/signature", {"motif": 12}),
        # équipements
        ("POST", f"{d}/equipements", {"organisation_id": x, "type": "Crèche", "nom": "A"}),
        ("POST", f"{d}/equipements", {"organisation_id": x, "type": "RPE"}),
        ("POST", f"{d}/equipements", {"organisation_id": x, "type": "RPE", "nom": LONG}),
        ("DELETE", f"{d}/equipements/42", None),
        # avenants
        ("POST", f"{s}/avenants", {"objet": "x", "articles_modifies": ["A1"]}),
        ("POST", f"{s}/avenants", {"date_avenant": "2026-01-01", "objet": LONG}),
        (
            "POST",
            f"{s}/avenants",
            {"date_avenant": "2026-01-01", "objet": "x", "prolongation_un_an": "peut-être"},
        ),
        (
            "POST",
            f"{s}/avenants",
            {
                "date_avenant": "2026-01-01",
                "objet": "x",
                "ajout_signataires": [{"organisation_id": "x"}],
            },
        ),
        (
            "POST",
            f"{s}/avenants",
            {
                "date_avenant": "2026-01-01",
                "objet": "x",
                "prolongation_un_an": True,
                "nouvelle_date_fin": "2030-06-30",
            },
        ),
        (
            "POST",
            f"{s}/avenants",
            {"date_avenant": "2027-01-01", "objet": "x", "articles_modifies": ["A1"]},
        ),
        # résiliation
        ("POST", f"{s}/resiliation", {"mode": "à l'amiable", "motif": "x"}),
        ("POST", f"{s}/resiliation", {"mode": "sans mise en demeure"}),
        ("POST", f"{s}/resiliation", {"mode": "sans mise en demeure", "motif": LONG}),
        (
            "POST",
            f"{s}/resiliation",
            {"mode": "sans mise en demeure", "motif": "x", "date_notification": "31/12/2026"},
        ),
        # renouvellement
        ("POST", f"{s}/renouvellement", {"date_debut": "2030-01-01", "date_fin": "2035-12-31"}),
        ("POST", f"{s}/renouvellement", {"titre": LONG}),
        # reads with bad parameters
        ("GET", "/api/v1/conventions/pas-un-uuid", None),
        ("GET", "/api/v1/conventions?limit=0", None),
        ("GET", "/api/v1/conventions?limit=abc", None),
        ("GET", "/api/v1/conventions?statut=brouillon", None),
        ("GET", f"{s}/versions/premiere", None),
        ("GET", "/api/v1/organisations?type=Mairie", None),
        ("GET", "/api/v1/organisations?q=" + "x" * 200, None),
        # organisations
        ("POST", "/api/v1/organisations", {"type": "Mairie", "nom": "x"}),
        ("POST", "/api/v1/organisations", {"type": "Commune", "nom": "x", "code_insee": "123"}),
        ("POST", "/api/v1/organisations", {"type": "Commune", "nom": "x", "population": -1}),
        ("POST", "/api/v1/organisations", {"type": "EPCI", "nom": LONG, "siren": "200000003"}),
        ("POST", "/api/v1/organisations", {"nom": "x"}),
        ("PATCH", f"/api/v1/organisations/{x}", {"type": "EPCI"}),
        ("PATCH", f"/api/v1/organisations/{x}", {"population": "beaucoup"}),
        ("PATCH", f"/api/v1/organisations/{x}", {"competences_ao": {"planifier": "région"}}),
    ]
    before = await table_counts(db_engine)
    for method, url, body in cases:
        headers = h(**{"If-Match": "*"})
        resp = await client.request(method, url, json=body, headers=headers)
        assert resp.status_code == 422, (method, url, body, resp.status_code, resp.text)
        assert resp.headers["content-type"] == "application/problem+json", url
        problem = resp.json()
        assert problem["status"] == 422
        assert problem["type"].startswith("urn:coop:problem:")
        assert problem["detail"]
    assert await table_counts(db_engine) == before
    # The convention is untouched.
    got = (await client.get(d, headers=h())).json()
    assert got["titre"] == "CTG de X 2025-2029"
    assert [sg["organisation_id"] for sg in got["signataires"]] == [str(CAF_A), x]


async def test_malformed_json_is_a_problem(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/v1/conventions",
        content=b"{pas du json",
        headers=h(**{"content-type": "application/json"}),
    )
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
