"""Internal routes: the reference feed, organisations for the other apps, access list;
and the agreement of models and migrations."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel import dev_keys
from kernel.convention_ref import ReferencesPage
from kernel.internal_token import InternalTokenSigner
from services.conventions.models import Base
from tests.conventions.helpers import h, payload
from tests.support.conventions import make_convention, resilier
from tests.support.migrations import schema_differences
from tests.support.personas import (
    CAF_A,
    CAF_A_AGENT,
    CAF_A_LECTEUR,
    CAF_B,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    NATIONAL,
    X_CONTRIBUTEUR,
    X_LECTEUR,
)


def service_headers(issuer: str = "actions") -> dict[str, str]:
    token = InternalTokenSigner(issuer, dev_keys.private_jwk(issuer)).mint_service("conventions")
    return {"authorization": f"Bearer {token}"}


async def feed(client: httpx.AsyncClient, after: int = 0, limit: int = 500) -> ReferencesPage:
    resp = await client.get(
        "/internal/v1/conventions/references",
        params={"after": after, "limit": limit},
        headers=service_headers(),
    )
    assert resp.status_code == 200, resp.text
    return ReferencesPage.model_validate_json(resp.content)


async def test_models_and_migrations_agree(db_engine: AsyncEngine) -> None:
    assert await schema_differences(db_engine, Base.metadata) == []


async def test_feed_orders_by_seq_and_resumes_after(client: httpx.AsyncClient) -> None:
    a = await make_convention(client, titre="A")
    b = await make_convention(
        client, caf_id=CAF_B, signataire_ids=(COLLECTIVITE_Y,), titre="B", signee=False
    )
    page = await feed(client)
    assert [r.id for r in page.items] == [a, b]
    seqs = [r.seq for r in page.items]
    assert seqs == sorted(seqs)
    ref_a = page.items[0]
    assert ref_a.statut == "signée"
    assert set(ref_a.signataire_ids) == {CAF_A, COLLECTIVITE_X}
    assert ref_a.caf_id == CAF_A
    assert ref_a.date_effet_resiliation is None
    assert page.items[1].statut == "en préparation"
    last = max(seqs)
    assert (await feed(client, after=last)).items == []
    # A résiliation moves A after B in the feed, with its effective date.
    await resilier(client, a)
    changed = (await feed(client, after=last)).items
    assert [r.id for r in changed] == [a]
    assert changed[0].statut == "résiliée"
    assert changed[0].date_effet_resiliation == dt.date(2026, 11, 24)
    assert changed[0].seq > last
    limited = await feed(client, limit=1)
    assert [r.id for r in limited.items] == [b]


async def test_every_change_bumps_the_seq(client: httpx.AsyncClient) -> None:
    cid = await make_convention(client, signee=False)
    before = (await feed(client)).items[0].seq
    resp = await client.post(
        f"/api/v1/conventions/{cid}/signataires",
        json={"organisation_id": str(COLLECTIVITE_Y)},
        headers=h(),
    )
    assert resp.status_code == 201
    ref = (await feed(client, after=before)).items[0]
    assert COLLECTIVITE_Y in ref.signataire_ids
    one = await client.get(
        f"/internal/v1/conventions/{cid}/reference", headers=service_headers("gateway")
    )
    assert one.status_code == 200
    assert one.json()["seq"] == ref.seq


async def test_feed_is_for_services_only(client: httpx.AsyncClient) -> None:
    cid = await make_convention(client)
    for path in (
        "/internal/v1/conventions/references",
        f"/internal/v1/conventions/{cid}/reference",
        f"/internal/v1/organisations/{CAF_A}",
        f"/internal/v1/organisations?ids={CAF_A}",
    ):
        assert (await client.get(path, headers=h(NATIONAL))).status_code == 403, path
        assert (await client.get(path)).status_code == 401, path
    unknown = await client.get(
        f"/internal/v1/conventions/{uuid.uuid4()}/reference", headers=service_headers()
    )
    assert unknown.status_code == 404
    too_many = await client.get(
        "/internal/v1/conventions/references", params={"limit": 1001}, headers=service_headers()
    )
    assert too_many.status_code == 422


async def test_internal_organisations(client: httpx.AsyncClient) -> None:
    one = await client.get(f"/internal/v1/organisations/{CAF_A}", headers=service_headers())
    assert one.status_code == 200
    assert one.json()["type"] == "Caf"
    assert one.json()["departement"] == "38"
    many = await client.get(
        "/internal/v1/organisations",
        params={"ids": f"{COLLECTIVITE_X},{uuid.uuid4()},{CAF_B}"},
        headers=service_headers(),
    )
    assert [o["id"] for o in many.json()] == [str(COLLECTIVITE_X), str(CAF_B)]
    assert many.json()[0]["code_insee"] == "38999"
    bad = await client.get(
        "/internal/v1/organisations", params={"ids": "pas-un-uuid"}, headers=service_headers()
    )
    assert bad.status_code == 422
    # At most 500 ids (in their short hex form they fit the query length limit).
    too_many = ",".join(uuid.uuid4().hex for _ in range(501))
    over = await client.get(
        "/internal/v1/organisations", params={"ids": too_many}, headers=service_headers()
    )
    assert over.status_code == 422
    assert over.json()["detail"] == "Au plus 500 identifiants."
    missing = await client.get(
        f"/internal/v1/organisations/{uuid.uuid4()}", headers=service_headers()
    )
    assert missing.status_code == 404


async def test_acces_lists_the_conventions_and_the_right_on_each(
    client: httpx.AsyncClient,
) -> None:
    a = await make_convention(client, titre="A")
    b = await make_convention(client, caf_id=CAF_B, signataire_ids=(COLLECTIVITE_Y,))
    c = await make_convention(client, titre="C", signataire_ids=(), signee=False)

    async def acces(principal: object, limit: int = 50) -> dict[uuid.UUID, str]:
        out: dict[uuid.UUID, str] = {}
        cursor = None
        while True:
            params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
            resp = await client.get("/internal/v1/acces", params=params, headers=h(principal))  # type: ignore[arg-type]
            assert resp.status_code == 200, resp.text
            out.update({uuid.UUID(i["convention_id"]): i["droit"] for i in resp.json()["items"]})
            cursor = resp.json()["next_cursor"]
            if cursor is None:
                return out

    assert await acces(CAF_A_AGENT, limit=1) == {a: "écriture", c: "écriture"}
    assert await acces(CAF_A_LECTEUR) == {a: "lecture", c: "lecture"}
    assert await acces(X_CONTRIBUTEUR) == {a: "contribution"}
    assert await acces(X_LECTEUR) == {a: "lecture"}
    assert await acces(NATIONAL) == {a: "lecture", b: "lecture", c: "lecture"}
    service = await client.get("/internal/v1/acces", headers=service_headers())
    assert service.status_code == 403


async def test_the_feed_names_the_organisations_and_follows_a_rename(
    client: httpx.AsyncClient,
) -> None:
    """Issue 23: the reference names the Caf and each signataire (`noms`), and renaming
    one gives each convention naming it a new change number (the replicas read it
    again); the representations name the Caf beside `caf_id`."""
    a = await make_convention(client, titre="A")
    b = await make_convention(client, caf_id=CAF_B, signataire_ids=(COLLECTIVITE_Y,), titre="B")
    page = await feed(client)
    assert page.items[0].noms == {CAF_A: "Caf A (test)", COLLECTIVITE_X: "Collectivité X (test)"}
    last = max(r.seq for r in page.items)
    detail = (await client.get(f"/api/v1/conventions/{a}", headers=h())).json()
    assert (detail["caf_id"], detail["caf_nom"]) == (str(CAF_A), "Caf A (test)")
    listed = (await client.get("/api/v1/conventions", headers=h())).json()["items"]
    assert [c["caf_nom"] for c in listed if c["id"] == str(a)] == ["Caf A (test)"]
    draft = await client.post("/api/v1/conventions", json=payload(), headers=h())
    assert draft.json()["caf_nom"] == "Caf A (test)"  # a write's answer too
    last = max(r.seq for r in (await feed(client)).items)
    held = {
        cid: (await client.get(f"/api/v1/conventions/{cid}", headers=h(NATIONAL))).headers["etag"]
        for cid in (a, b)
    }
    url = f"/api/v1/organisations/{COLLECTIVITE_X}"
    etag = (await client.get(url, headers=h())).headers["etag"]
    # Another field: no new change number for the conventions.
    resp = await client.patch(url, json={"population": 12001}, headers=h(**{"if-match": etag}))
    assert resp.status_code == 200, resp.text
    assert (await feed(client, after=last)).items == []
    resp = await client.patch(
        url, json={"nom": "Voiron-sur-Test"}, headers=h(**{"if-match": resp.headers["etag"]})
    )
    assert resp.status_code == 200, resp.text
    changed = {r.id: r.noms[COLLECTIVITE_X] for r in (await feed(client, after=last)).items}
    # The conventions X signs, not B.
    assert changed == {a: "Voiron-sur-Test", uuid.UUID(draft.json()["id"]): "Voiron-sur-Test"}
    assert b not in changed
    # The names are part of the representation, so of its ETag: a client holding the
    # old one gets the new name, never a 304 (nor may it write over it unread); the
    # convention X does not sign still answers 304.
    fresh = await client.get(f"/api/v1/conventions/{a}", headers=h(**{"if-none-match": held[a]}))
    assert fresh.status_code == 200
    assert fresh.headers["etag"] != held[a]
    assert {s["nom"] for s in fresh.json()["signataires"]} >= {"Voiron-sur-Test"}
    stale = await client.patch(
        f"/api/v1/conventions/{a}", json={"titre": "A2"}, headers=h(**{"if-match": held[a]})
    )
    assert stale.status_code == 412
    same = await client.get(
        f"/api/v1/conventions/{b}", headers=h(NATIONAL, **{"if-none-match": held[b]})
    )
    assert same.status_code == 304
