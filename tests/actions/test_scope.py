"""Who sees what: every persona on every kind of resource of one convention."""

from __future__ import annotations

import pytest

from kernel import dev_keys
from kernel.internal_token import InternalTokenSigner
from tests.actions.conftest import CONV_A, Api
from tests.support.personas import (
    CAF_A_ADMIN,
    CAF_A_AGENT,
    CAF_A_LECTEUR,
    CAF_B_AGENT,
    COLLECTIVITE_X,
    NATIONAL,
    NOBODY,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    X_PARTNER_CLIENT,
    X_REFERENT,
    Y_CONTRIBUTEUR,
)

READERS = [
    CAF_A_AGENT,
    CAF_A_LECTEUR,
    CAF_A_ADMIN,
    X_REFERENT,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    X_PARTNER_CLIENT,
    NATIONAL,
]
OUTSIDERS = [CAF_B_AGENT, Y_CONTRIBUTEUR, NOBODY]


async def test_read_scope_per_persona(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Agir")
    action = await api.action(CAF_A_AGENT, CONV_A, axe["id"])
    ind = (
        await api.post(
            CAF_A_AGENT,
            f"/api/v1/actions/{action['id']}/indicateurs",
            json={"libelle": "Places", "nature": "réalisation", "unite": "places"},
        )
    ).json()
    await api.post(
        CAF_A_AGENT,
        f"/api/v1/actions/{action['id']}/suivis",
        json={"periode": "2026-T1", "statut_action": "en cours"},
    )
    bilan = (
        await api.post(
            CAF_A_AGENT,
            f"/api/v1/conventions/{CONV_A}/bilans",
            json={
                "type": "bilan final",
                "periode_debut": "2025-01-01",
                "periode_fin": "2029-12-31",
            },
        )
    ).json()
    paths = [
        f"/api/v1/conventions/{CONV_A}/axes",
        f"/api/v1/conventions/{CONV_A}/axes/{axe['id']}",
        f"/api/v1/conventions/{CONV_A}/actions",
        f"/api/v1/actions/{action['id']}",
        f"/api/v1/actions/{action['id']}/indicateurs",
        f"/api/v1/actions/{action['id']}/indicateurs/{ind['id']}",
        f"/api/v1/actions/{action['id']}/suivis",
        f"/api/v1/actions/{action['id']}/suivis/2026-T1",
        f"/api/v1/actions/{action['id']}/suivis/2026-T1/historique",
        f"/api/v1/conventions/{CONV_A}/campagnes",
        f"/api/v1/conventions/{CONV_A}/campagnes/2026-T1",
        f"/api/v1/conventions/{CONV_A}/bilans",
        f"/api/v1/bilans/{bilan['id']}",
    ]
    for path in paths:
        for who in READERS:
            r = await api.get(who, path)
            assert r.status_code == 200, (path, who.subject, r.text)
        for who in OUTSIDERS:
            r = await api.get(who, path)
            assert r.status_code == 404, (path, who.subject)
    listed = (
        await api.get(
            X_LECTEUR,
            f"/api/v1/conventions/{CONV_A}/actions",
            params={"porteur_id": str(COLLECTIVITE_X)},
        )
    ).json()
    assert [a["id"] for a in listed["items"]] == [action["id"]]


async def test_delta_sync_reveals_nothing_outside_the_scope(api: Api) -> None:
    """A sync token is no key: changes and deletions of a list stay 404 to outsiders."""
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Agir")
    action = (await api.action(CAF_A_AGENT, CONV_A, axe["id"]))["id"]
    lists = [
        f"/api/v1/conventions/{CONV_A}/axes",
        f"/api/v1/conventions/{CONV_A}/actions",
        f"/api/v1/conventions/{CONV_A}/bilans",
        f"/api/v1/actions/{action}/indicateurs",
        f"/api/v1/actions/{action}/suivis",
    ]
    tokens = {path: (await api.get(X_LECTEUR, path)).json()["sync_token"] for path in lists}
    gone = await api.axe(CAF_A_AGENT, CONV_A, "Supprimer")
    path = f"/api/v1/conventions/{CONV_A}/axes/{gone['id']}"
    etag = (await api.get(CAF_A_AGENT, path)).headers["etag"]
    assert (await api.delete(CAF_A_AGENT, path, headers={"if-match": etag})).status_code == 204
    for path, token in tokens.items():
        r = await api.get(X_LECTEUR, path, params={"updated_since": token})
        assert r.status_code == 200, (path, r.text)
        for who in OUTSIDERS:
            r = await api.get(who, path, params={"updated_since": token})
            assert r.status_code == 404, (path, who.subject)
            assert r.headers["content-type"] == "application/problem+json"
    axes = f"/api/v1/conventions/{CONV_A}/axes"
    delta = (await api.get(X_LECTEUR, axes, params={"updated_since": tokens[axes]})).json()
    assert {"id": gone["id"], "kind": "axe"} in delta["deleted"]


async def test_national_readers_never_write(api: Api) -> None:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Agir")
    r = await api.post(
        NATIONAL,
        f"/api/v1/conventions/{CONV_A}/actions",
        json={"axe_id": axe["id"], "titre": "x", "porteur_ids": [str(COLLECTIVITE_X)]},
    )
    assert r.status_code == 403


@pytest.mark.parametrize("kind", ["none", "service"])
async def test_public_routes_need_a_person_or_client_token(api: Api, kind: str) -> None:
    headers = {}
    if kind == "service":
        signer = InternalTokenSigner("conventions", dev_keys.private_jwk("conventions"))
        headers = {"authorization": f"Bearer {signer.mint_service('actions')}"}
    r = await api.client.get(f"/api/v1/conventions/{CONV_A}/axes", headers=headers)
    assert r.status_code == (401 if kind == "none" else 403)
