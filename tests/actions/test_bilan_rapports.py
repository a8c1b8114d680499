"""The bilan's report served: ODT and PDF of a draft as it stands, of an adopted bilan
as the adoption fixed it; scoped like the bilan, with a French file name and an ETag."""

from __future__ import annotations

import io
import subprocess
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx

from tests.actions.conftest import CONV_A, Api
from tests.support.conventions import sections_completes
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_B_AGENT,
    COLLECTIVITE_X,
    X_LECTEUR,
)
from tests.support.system_tools import require_program


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / f"{uuid.uuid4()}.pdf"
    path.write_bytes(pdf)
    program = require_program("pdftotext", "poppler-utils")
    out = subprocess.run(
        [program, "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return " ".join(out.split())


def odt_text(odt: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(odt)) as z:
        assert z.read("mimetype") == b"application/vnd.oasis.opendocument.text"
        return z.read("content.xml").decode()


async def _plan_with_a_validated_suivi(api: Api) -> dict[str, Any]:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Accueillir les jeunes enfants")
    action = await api.action(
        CAF_A_AGENT,
        CONV_A,
        axe["id"],
        titre="Créer un multi-accueil à Voiron",
        reference="1.2",
        porteur_ids=[str(COLLECTIVITE_X)],
        statut="en cours",
    )
    ind = await api.indicateur(action["id"], cibles={"2026": 40})
    suivi = await api.suivi_valide(
        action["id"],
        "2026-T1",
        statut_action="en cours",
        avancement=65,
        realisations="Ouverture de 12 places supplémentaires.",
        difficultes="Recrutement d'auxiliaires de puériculture.",
        valeurs=[{"indicateur_id": ind["id"], "valeur": 27}],
    )
    assert suivi["etat"] == "validé", suivi
    return action


async def test_a_drafts_report_then_the_adopted_one_fixed(api: Api, tmp_path: Path) -> None:
    action = await _plan_with_a_validated_suivi(api)
    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/conventions/{CONV_A}/bilans",
        json={
            "type": "bilan intermédiaire",
            "periode_debut": "2025-01-01",
            "periode_fin": "2026-03-31",
            "sections": {
                **sections_completes("bilan intermédiaire"),
                "avancees": "Deux communes ont rejoint la démarche.",
            },
        },
    )
    assert r.status_code == 201, r.text
    bilan, bilan_etag = r.json(), r.headers["etag"]
    pdf_path = f"/api/v1/bilans/{bilan['id']}/rapport.pdf"
    odt_path = f"/api/v1/bilans/{bilan['id']}/rapport.odt"

    r = await api.get(X_LECTEUR, pdf_path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    title = f"Bilan intermédiaire — CTG {CONV_A.hex[:6]}"
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    assert (
        "filename*=UTF-8''Bilan%20interm%C3%A9diaire%20%E2%80%94%20CTG"
        in (r.headers["content-disposition"])
    )
    assert r.headers["content-disposition"].endswith(".pdf")
    draft_etag = r.headers["etag"]
    assert draft_etag.startswith('W/"')
    text = pdf_text(r.content, tmp_path)
    for expected in (
        title,
        "Caf A (test)",
        "Collectivité X (test) Collectivité",
        "Période du bilan : du 01/01/2025 au 31/03/2026.",
        "Avancées",
        "Deux communes ont rejoint la démarche.",
        "Accueillir les jeunes enfants",
        "1.2 — Créer un multi-accueil à Voiron",  # the plan's own numbering
        "Statut : en cours",
        "Porteurs : Collectivité X (test)",
        "Dernier suivi validé : 2026-T1, avancement 65 %.",
        "Ouverture de 12 places supplémentaires.",
        "Recrutement d'auxiliaires de puériculture.",
        "Indicateur : Places créées (places)",
        "2026 27 40 68 %",
        "Actions 1",
        "Actions avec un suivi validé 1",
        "brouillon",
    ):
        assert expected in text, expected

    # Nothing it shows changed: the same (weak) ETag, a 304 without rendering.
    r = await api.get(X_LECTEUR, pdf_path, headers={"if-none-match": draft_etag})
    assert (r.status_code, r.content, r.headers["etag"]) == (304, b"", draft_etag)

    r = await api.get(X_LECTEUR, odt_path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.oasis.opendocument.text"
    assert r.headers["content-disposition"].endswith(".odt")
    assert r.headers["etag"] != draft_etag
    content = odt_text(r.content)
    for expected in (
        "Créer un multi-accueil à Voiron",
        "Statut : en cours",
        "Ouverture de 12 places supplémentaires.",
        "Deux communes ont rejoint la démarche.",
        '<text:p text:style-name="Table_20_Contents">68 %</text:p>',
    ):
        assert expected in content, expected

    # Outside the scope: as for the bilan itself, 404.
    for path in (pdf_path, odt_path):
        r = await api.get(CAF_B_AGENT, path)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"] == "application/problem+json"

    r = await api.post(
        CAF_A_AGENT,
        f"/api/v1/bilans/{bilan['id']}/adoption",
        json={"date_adoption": "2026-04-02"},
        headers={"if-match": bilan_etag},
    )
    assert r.status_code == 200, r.text
    adopted = await api.get(X_LECTEUR, pdf_path)
    assert adopted.status_code == 200
    fixed_etag = adopted.headers["etag"]
    assert fixed_etag.startswith('"')
    text = pdf_text(adopted.content, tmp_path)
    assert "Adopté le 02/04/2026." in text
    assert "Statut : en cours" in text

    # The plan moves on; the adopted bilan's report does not.
    etag = (await api.get(CAF_A_AGENT, f"/api/v1/actions/{action['id']}")).headers["etag"]
    r = await api.patch(
        CAF_A_AGENT,
        f"/api/v1/actions/{action['id']}",
        json={"statut": "réalisée", "titre": "Multi-accueil ouvert"},
        headers={"if-match": etag},
    )
    assert r.status_code == 200, r.text
    again = await api.get(X_LECTEUR, pdf_path)
    assert again.headers["etag"] == fixed_etag
    text = pdf_text(again.content, tmp_path)
    assert "Statut : en cours" in text
    assert "Créer un multi-accueil à Voiron" in text
    assert "Multi-accueil ouvert" not in text
    r = await api.get(X_LECTEUR, pdf_path, headers={"if-none-match": fixed_etag})
    assert r.status_code == 304


async def test_unknown_bilan_is_404(client: httpx.AsyncClient, api: Api) -> None:
    r = await api.get(CAF_A_AGENT, f"/api/v1/bilans/{uuid.uuid4()}/rapport.odt")
    assert r.status_code == 404
    assert r.json()["detail"] == "Bilan introuvable."
