"""Recording the CTG signed before the product, perhaps before the 2026 model."""

from __future__ import annotations

import datetime as dt

import httpx

from kernel import dev_keys
from kernel.internal_token import InternalTokenSigner
from services.conventions.schemas import ConventionOut
from tests.conventions.helpers import create, h, history
from tests.support.contract import assert_reads_back
from tests.support.personas import CAF_A, COLLECTIVITE_X, X_LECTEUR

OLD_MODEL = ["enfance", "jeunesse", "logement"]


async def _old_ctg(client: httpx.AsyncClient, x_signed: str | None = "2022-03-15") -> str:
    draft = await create(
        client,
        titre="CTG de X 2022-2026",
        date_debut="2022-01-01",
        date_fin="2026-12-31",
        thematiques=OLD_MODEL,
        signataires=[
            {"organisation_id": str(CAF_A), "date_signature": "2022-03-01"},
            {
                "organisation_id": str(COLLECTIVITE_X),
                "date_signature": x_signed,
                "deliberation_reference": "DEL-2022-03",
                "deliberation_date": "2022-02-28",
            },
        ],
    )
    return str(draft["id"])


async def _suivie_depuis(client: httpx.AsyncClient, cid: str) -> str | None:
    """What the internal feed tells the other apps: since when the product follows it."""
    token = InternalTokenSigner("actions", dev_keys.private_jwk("actions")).mint_service(
        "conventions"
    )
    resp = await client.get(
        f"/internal/v1/conventions/{cid}/reference", headers={"authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200, resp.text
    value: str | None = resp.json()["suivie_depuis"]
    return value


async def test_a_ctg_signed_before_the_product_is_recorded_with_a_warning(
    client: httpx.AsyncClient,
) -> None:
    """000 (fiche 5): "D'intégrer les CTG signées [...] De renseigner les caractéristiques
    des CTG et SDSF signées : signataires, thématiques, nature des documents annexés";
    003's socle minimum (petite enfance, enfance, jeunesse, parentalité) stays required
    to sign a new CTG in the product, and is only a warning for one signed before it."""
    cid = await _old_ctg(client)
    url = f"/api/v1/conventions/{cid}/signature"
    new = await client.post(url, headers=h())
    assert new.status_code == 409
    codes = [m["code"] for m in new.json()["manquants"]]
    assert codes == ["socle_thematiques"]

    recorded = await client.post(url, json={"ctg_existante": True}, headers=h())
    assert recorded.status_code == 200, recorded.text
    body = recorded.json()
    assert (body["statut"], body["etat"], body["ctg_existante"]) == ("signée", "active", True)
    assert body["date_signature"] == "2022-03-15"  # the last party's signature
    assert len(body["avertissements"]) == 1
    assert "petite enfance, parentalité" in body["avertissements"][0]
    assert body["thematiques"] == OLD_MODEL
    # Every reader sees the warning, the detail (written from plain rows) as the answer.
    detail = await client.get(f"/api/v1/conventions/{cid}", headers=h(X_LECTEUR))
    assert_reads_back(detail.content, ConventionOut)
    assert detail.json()["avertissements"] == body["avertissements"]
    version = (await client.get(f"/api/v1/conventions/{cid}/versions/1", headers=h())).json()
    assert version["contenu"]["thematiques"] == OLD_MODEL
    signature = (await history(client, cid))[0]
    assert signature["evenement"] == "signature"
    # The other apps learn since when the product follows it (its bilans due before that
    # were owed outside the product: tests/actions/test_bilans.py).
    assert await _suivie_depuis(client, cid) == dt.datetime.now(dt.UTC).date().isoformat()
    assert signature["details"]["ctg_existante"] is True
    assert signature["details"]["socle_manquant"] == ["petite enfance", "parentalité"]

    # An avenant may complete it; none may remove what it has of the socle.
    avenants = f"/api/v1/conventions/{cid}/avenants"
    more = {"date_avenant": "2026-03-01", "objet": "Logement et handicap"}
    added = await client.post(
        avenants, json={**more, "thematiques": [*OLD_MODEL, "handicap"]}, headers=h()
    )
    assert added.status_code == 201, added.text
    dropped = await client.post(
        avenants, json={**more, "thematiques": ["jeunesse", "logement"]}, headers=h()
    )
    assert dropped.status_code == 409
    assert "enfance" in dropped.json()["detail"]
    socle = ["petite enfance", "enfance", "jeunesse", "parentalité"]
    completed = await client.post(
        avenants, json={**more, "objet": "Modèle 2026", "thematiques": socle}, headers=h()
    )
    assert completed.status_code == 201, completed.text
    after = (await client.get(f"/api/v1/conventions/{cid}", headers=h())).json()
    assert after["avertissements"] == []


async def test_recording_still_needs_the_signatures(client: httpx.AsyncClient) -> None:
    cid = await _old_ctg(client, x_signed=None)
    resp = await client.post(
        f"/api/v1/conventions/{cid}/signature", json={"ctg_existante": True}, headers=h()
    )
    assert resp.status_code == 409
    assert [m["code"] for m in resp.json()["manquants"]] == ["signature_manquante"]


async def test_a_convention_signed_in_the_product_has_no_warning(
    client: httpx.AsyncClient,
) -> None:
    draft = await create(client)
    assert draft["avertissements"] == []
    assert draft["ctg_existante"] is False
    assert await _suivie_depuis(client, str(draft["id"])) is None
