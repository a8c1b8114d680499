from __future__ import annotations

import httpx

from tests.support.conventions import make_convention
from tests.support.personas import CAF_A_AGENT, auth_headers


async def test_create_and_sign(client: httpx.AsyncClient) -> None:
    cid = await make_convention(client)
    resp = await client.get(
        f"/api/v1/conventions/{cid}", headers=auth_headers(CAF_A_AGENT, "conventions")
    )
    assert resp.status_code == 200, resp.text
    print(resp.json())
    assert resp.json()["statut"] == "signée"
