"""The actions service's internal route: a convention's bilans, for the other services."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx

from kernel import dev_keys
from kernel.bilan_ref import BilanRefs, bilans_path
from kernel.internal_token import InternalTokenSigner
from kernel.principal import Principal
from tests.actions.conftest import CONV_A, CONV_B, Api, h
from tests.support.conventions import sections_completes
from tests.support.personas import CAF_A_AGENT, CAF_B_AGENT


def service_headers(issuer: str = "conventions") -> dict[str, str]:
    token = InternalTokenSigner(issuer, dev_keys.private_jwk(issuer)).mint_service("actions")
    return {"authorization": f"Bearer {token}"}


async def _bilan(api: Api, who: Principal, cid: uuid.UUID, type_: str, adopt: bool) -> str:
    body = {
        "type": type_,
        "periode_debut": "2025-01-01",
        "periode_fin": "2025-12-31",
        "sections": sections_completes(type_),
    }
    created = await api.post(who, f"/api/v1/conventions/{cid}/bilans", json=body)
    assert created.status_code == 201, created.text
    if adopt:
        path = f"/api/v1/bilans/{created.json()['id']}"
        etag = (await api.get(who, path)).headers["etag"]
        adopted = await api.post(
            who,
            f"{path}/adoption",
            json={"date_adoption": "2026-03-01"},
            headers={"if-match": etag},
        )
        assert adopted.status_code == 200, adopted.text
    return str(created.json()["id"])


async def test_a_convention_s_bilans_for_a_service(client: httpx.AsyncClient, api: Api) -> None:
    adopted = await _bilan(api, CAF_A_AGENT, CONV_A, "bilan final", True)
    draft = await _bilan(api, CAF_A_AGENT, CONV_A, "point d'étape annuel", False)
    await _bilan(api, CAF_B_AGENT, CONV_B, "bilan final", True)
    resp = await client.get(bilans_path(CONV_A), headers=service_headers())
    assert resp.status_code == 200, resp.text
    items = {b.id: b for b in BilanRefs.model_validate_json(resp.content).items}
    assert set(items) == {uuid.UUID(adopted), uuid.UUID(draft)}
    final = items[uuid.UUID(adopted)]
    assert (final.type, final.etat, final.date_adoption) == (
        "bilan final",
        "adopté",
        dt.date(2026, 3, 1),
    )
    assert items[uuid.UUID(draft)].etat == "brouillon"
    unknown = await client.get(bilans_path(uuid.uuid4()), headers=service_headers())
    assert unknown.json() == {"items": []}


async def test_only_services_call_it(client: httpx.AsyncClient) -> None:
    assert (await client.get(bilans_path(CONV_A))).status_code == 401
    person = await client.get(bilans_path(CONV_A), headers=h(CAF_A_AGENT))
    assert person.status_code == 403
