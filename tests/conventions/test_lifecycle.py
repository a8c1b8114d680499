"""Lifecycle: creation, dates rule, changes with ETag, signature, history."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.pagination import Page
from kernel.principal import Principal
from services.conventions.schemas import ConventionSummary
from tests.conventions.conftest import TODAY
from tests.conventions.helpers import create, h, history, payload, sign_all, table_counts
from tests.support.apps import running
from tests.support.contract import assert_reads_back
from tests.support.conventions import conventions_app, make_convention, seed_organisations
from tests.support.personas import (
    CAF_A,
    CAF_A_AGENT,
    CAF_B,
    CAF_B_AGENT,
    COLLECTIVITE_X,
    COLLECTIVITE_Y,
    NATIONAL,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    Y_CONTRIBUTEUR,
)


async def test_create_lists_the_caf_first_and_the_transitions_of_a_draft(
    client: httpx.AsyncClient,
) -> None:
    body = await create(client)
    assert body["statut"] == "en préparation"
    assert body["etat"] == "en préparation"
    assert [s["organisation_id"] for s in body["signataires"]] == [str(CAF_A), str(COLLECTIVITE_X)]
    assert body["copil"]["presidence"] == "alternée"
    # Not signable yet: nobody has signed.
    assert body["transitions_disponibles"] == [
        "modifier",
        "gérer les signataires",
        "gérer les équipements",
    ]
    resp = await client.get(f"/api/v1/conventions/{body['id']}", headers=h())
    assert resp.headers["etag"] == f'"{body["id"]}.1"'


async def test_the_caf_is_added_as_signatory_when_omitted(client: httpx.AsyncClient) -> None:
    body = await create(client, signataires=[{"organisation_id": str(COLLECTIVITE_X)}])
    assert [s["organisation_id"] for s in body["signataires"]] == [str(CAF_A), str(COLLECTIVITE_X)]


async def test_dates_rule_end_at_most_31_december_of_n_plus_4(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    ok = await create(client, date_debut="2025-03-01", date_fin="2029-12-31")
    assert ok["date_fin"] == "2029-12-31"
    before = await table_counts(db_engine)
    too_long = await client.post(
        "/api/v1/conventions",
        json=payload(date_debut="2025-03-01", date_fin="2030-01-01"),
        headers=h(),
    )
    assert too_long.status_code == 422
    assert too_long.headers["content-type"] == "application/problem+json"
    assert too_long.json()["errors"][0]["code"] == "duree_maximale"
    reversed_ = await client.post(
        "/api/v1/conventions",
        json=payload(date_debut="2026-01-01", date_fin="2025-12-31"),
        headers=h(),
    )
    assert reversed_.status_code == 422
    assert reversed_.json()["errors"][0]["code"] == "dates_inversees"
    assert await table_counts(db_engine) == before


async def test_patch_requires_if_match_and_refuses_a_stale_etag(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    body = await create(client)
    url = f"/api/v1/conventions/{body['id']}"
    etag = (await client.get(url, headers=h())).headers["etag"]
    missing = await client.patch(url, json={"titre": "Nouveau"}, headers=h())
    assert missing.status_code == 428
    first = await client.patch(url, json={"titre": "Premier"}, headers=h(**{"If-Match": etag}))
    assert first.status_code == 200, first.text
    assert first.json()["titre"] == "Premier"
    assert first.headers["etag"] != etag
    stale = await client.patch(url, json={"titre": "Second"}, headers=h(**{"If-Match": etag}))
    assert stale.status_code == 412
    assert stale.headers["etag"] == first.headers["etag"]
    assert (await client.get(url, headers=h())).json()["titre"] == "Premier"


async def test_concurrent_patches_with_the_same_etag_one_wins(client: httpx.AsyncClient) -> None:
    body = await create(client)
    url = f"/api/v1/conventions/{body['id']}"
    etag = (await client.get(url, headers=h())).headers["etag"]
    results = await asyncio.gather(
        *(
            client.patch(url, json={"titre": f"Version {i}"}, headers=h(**{"If-Match": etag}))
            for i in range(4)
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 412, 412, 412]
    winner = next(r for r in results if r.status_code == 200).json()["titre"]
    assert (await client.get(url, headers=h())).json()["titre"] == winner


async def test_patch_dates_follow_the_dates_rule(client: httpx.AsyncClient) -> None:
    body = await create(client)
    url = f"/api/v1/conventions/{body['id']}"
    etag = (await client.get(url, headers=h())).headers["etag"]
    resp = await client.patch(url, json={"date_fin": "2031-01-01"}, headers=h(**{"If-Match": etag}))
    assert resp.status_code == 422
    assert (await client.get(url, headers=h())).json()["date_fin"] == "2029-12-31"


async def test_signature_requires_every_signature_date(client: httpx.AsyncClient) -> None:
    body = await create(client)
    cid = body["id"]
    await sign_all(client, cid, [CAF_A], "2024-12-20")
    refused = await client.post(f"/api/v1/conventions/{cid}/signature", headers=h())
    assert refused.status_code == 409
    missing = refused.json()["manquants"]
    assert [m["code"] for m in missing] == ["signature_manquante"]
    assert missing[0]["organisation_id"] == str(COLLECTIVITE_X)
    await sign_all(client, cid, [COLLECTIVITE_X], "2024-12-22")
    draft = (await client.get(f"/api/v1/conventions/{cid}", headers=h())).json()
    assert "signer" in draft["transitions_disponibles"]
    signed = await client.post(f"/api/v1/conventions/{cid}/signature", headers=h())
    assert signed.status_code == 200, signed.text
    out = signed.json()
    assert out["statut"] == "signée"
    assert out["etat"] == "active"  # 2025-01-01 .. 2029-12-31 around 2026-11-24
    assert out["date_signature"] == "2024-12-22"
    assert out["transitions_disponibles"] == [
        "avenant",
        "mettre en demeure",
        "résilier",
        "renouveler",
    ]


async def test_signature_requires_the_socle_thematiques(client: httpx.AsyncClient) -> None:
    body = await create(client, thematiques=["petite enfance", "enfance", "logement"])
    cid = body["id"]
    await sign_all(client, cid, [CAF_A, COLLECTIVITE_X], "2024-12-20")
    refused = await client.post(f"/api/v1/conventions/{cid}/signature", headers=h())
    assert refused.status_code == 409
    (problem,) = refused.json()["manquants"]
    assert problem["code"] == "socle_thematiques"
    assert "jeunesse" in problem["message"]
    assert "parentalité" in problem["message"]
    got = (await client.get(f"/api/v1/conventions/{cid}", headers=h())).json()
    assert got["statut"] == "en préparation"


async def test_signature_requires_a_collectivite_and_past_signature_dates(
    client: httpx.AsyncClient,
) -> None:
    alone = await create(client, signataires=[{"organisation_id": str(CAF_A)}])
    await sign_all(client, alone["id"], [CAF_A], "2024-12-20")
    refused = await client.post(f"/api/v1/conventions/{alone['id']}/signature", headers=h())
    assert [m["code"] for m in refused.json()["manquants"]] == ["signataire_manquant"]
    future = await create(client)
    await sign_all(client, future["id"], [CAF_A, COLLECTIVITE_X], "2026-12-01")
    refused = await client.post(f"/api/v1/conventions/{future['id']}/signature", headers=h())
    assert refused.status_code == 409
    assert {m["code"] for m in refused.json()["manquants"]} == {"signature_future"}


async def test_a_signed_convention_changes_only_by_avenant(client: httpx.AsyncClient) -> None:
    body = await create(client)
    cid = body["id"]
    await sign_all(client, cid, [CAF_A, COLLECTIVITE_X], "2024-12-20")
    signed = await client.post(f"/api/v1/conventions/{cid}/signature", headers=h())
    etag = signed.headers["etag"]
    url = f"/api/v1/conventions/{cid}"
    patch = await client.patch(url, json={"titre": "Autre"}, headers=h(**{"If-Match": etag}))
    assert patch.status_code == 409
    assert "avenant" in patch.json()["detail"]
    add = await client.post(
        f"{url}/signataires", json={"organisation_id": str(COLLECTIVITE_Y)}, headers=h()
    )
    assert add.status_code == 409
    again = await client.post(f"{url}/signature", headers=h())
    assert again.status_code == 409


async def test_signatories_are_managed_while_in_preparation(client: httpx.AsyncClient) -> None:
    body = await create(client, signataires=[])
    url = f"/api/v1/conventions/{body['id']}/signataires"
    added = await client.post(
        url, json={"organisation_id": str(COLLECTIVITE_X), "representant": "Maire"}, headers=h()
    )
    assert added.status_code == 201
    assert len(added.json()["signataires"]) == 2
    dup = await client.post(url, json={"organisation_id": str(COLLECTIVITE_X)}, headers=h())
    assert dup.status_code == 409
    caf = await client.delete(f"{url}/{CAF_A}", headers=h())
    assert caf.status_code == 409
    removed = await client.delete(f"{url}/{COLLECTIVITE_X}", headers=h())
    assert removed.status_code == 200
    assert [s["organisation_id"] for s in removed.json()["signataires"]] == [str(CAF_A)]
    listed = await client.get(url, headers=h())
    assert [s["organisation_id"] for s in listed.json()] == [str(CAF_A)]


async def test_history_records_who_when_what_why(client: httpx.AsyncClient) -> None:
    """Every change names its author as they were then called, the app they used, and
    what changed, field by field (issue 24)."""
    from tests.support.personas import CAF_A_AGENT

    body = await create(client)
    cid = body["id"]
    etag = (await client.get(f"/api/v1/conventions/{cid}", headers=h())).headers["etag"]
    resp = await client.patch(
        f"/api/v1/conventions/{cid}",
        json={"titre": "CTG de X, 2025-2029"},
        headers=h(**{"if-match": etag}),
    )
    assert resp.status_code == 200, resp.text
    await sign_all(client, cid, [CAF_A, COLLECTIVITE_X], "2024-12-20")
    await client.post(
        f"/api/v1/conventions/{cid}/signature", json={"motif": "COPIL du 20/12"}, headers=h()
    )
    events = await history(client, cid)
    assert [(e["objet_type"], e["evenement"]) for e in events] == [
        ("convention", "signature"),
        ("signataire", "modification de signataire"),
        ("signataire", "modification de signataire"),
        ("convention", "modification"),
        ("convention", "création"),
    ]
    last = events[0]
    assert last["auteur"] == CAF_A_AGENT.subject
    assert (last["auteur_nom"], last["client"]) == ("Caf A Agent", "ctg-dans-ma-poche")
    assert last["motif"] == "COPIL du 20/12"
    assert last["details"]["date_signature"] == "2024-12-20"
    assert {c["champ"]: c["apres"] for c in last["changements"]} == {
        "statut": "signée",
        "date_signature": "2024-12-20",
    }
    assert last["le"]
    renamed = events[3]
    assert renamed["changements"] == [
        {
            "champ": "titre",
            "libelle": "Titre",
            "avant": "CTG de X 2025-2029",
            "apres": "CTG de X, 2025-2029",
        }
    ]
    assert renamed["objet_libelle"] == "CTG de X, 2025-2029"
    signed = events[1]
    assert signed["parent_id"] == cid
    assert signed["changements"][0]["libelle"] == "Date de signature"
    created = {c["champ"]: c["apres"] for c in events[-1]["changements"]}
    assert created["titre"] == "CTG de X 2025-2029"
    assert created["date_fin"] == "2029-12-31"
    assert "resiliation_motif" not in created  # empty fields are not listed


async def test_an_equipement_keeps_its_history_once_removed(client: httpx.AsyncClient) -> None:
    """Annexe 2: who added an équipement and who removed it, and what it was."""
    cid = (await create(client))["id"]
    added = await client.post(
        f"/api/v1/conventions/{cid}/equipements",
        json={"organisation_id": str(CAF_A), "type": "RPE", "nom": "RPE des Tilleuls"},
        headers=h(),
    )
    assert added.status_code == 201, added.text
    eid = added.json()["id"]
    removed = await client.delete(f"/api/v1/conventions/{cid}/equipements/{eid}", headers=h())
    assert removed.status_code == 204
    url = f"/api/v1/conventions/{cid}/equipements/{eid}/historique"
    resp = await client.get(url, headers=h(X_LECTEUR))
    assert resp.status_code == 200, resp.text
    removal, addition = resp.json()["items"]
    assert (removal["evenement"], addition["evenement"]) == (
        "retrait d'équipement",
        "ajout d'équipement",
    )
    assert {c["champ"]: c["avant"] for c in removal["changements"]}["nom"] == "RPE des Tilleuls"
    assert all(c["apres"] is None for c in removal["changements"])
    assert removal["objet_libelle"] == "RPE des Tilleuls"
    unknown = f"/api/v1/conventions/{cid}/equipements/{uuid.uuid4()}/historique"
    assert (await client.get(unknown, headers=h())).status_code == 404
    assert (await client.get(url, headers=h(CAF_B_AGENT))).status_code == 404


async def test_listing_is_keyset_paginated(client: httpx.AsyncClient) -> None:
    for i in range(5):
        await create(client, titre=f"CTG {i}")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/conventions", params=params, headers=h())).json()
        seen += [c["titre"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"CTG {i}" for i in range(5)]


async def test_listing_filters_and_scopes_combine(client: httpx.AsyncClient) -> None:
    """Each filter narrows the caller's own scope; a collectivité sees only what it signs."""
    await create(client, titre="CTG Voiron 100%_net")
    with_y = await create(
        client,
        titre="CTG Vienne",
        signataires=[{"organisation_id": str(COLLECTIVITE_Y)}],
    )
    await sign_all(client, with_y["id"], [CAF_A, COLLECTIVITE_Y], "2024-12-20")
    signed = await client.post(f"/api/v1/conventions/{with_y['id']}/signature", headers=h())
    assert signed.status_code == 200, signed.text

    async def titles(principal: Principal = CAF_A_AGENT, **params: str) -> list[str]:
        resp = await client.get("/api/v1/conventions", params=params, headers=h(principal))
        assert resp.status_code == 200, resp.text
        assert_reads_back(resp.content, Page[ConventionSummary])
        return [c["titre"] for c in resp.json()["items"]]

    assert await titles() == ["CTG Vienne", "CTG Voiron 100%_net"]
    assert await titles(organisation_id=str(COLLECTIVITE_Y)) == ["CTG Vienne"]
    assert await titles(statut="signée") == ["CTG Vienne"]
    assert await titles(statut="en préparation") == ["CTG Voiron 100%_net"]
    # The text is matched literally: % and _ are not wildcards.
    assert await titles(q="100%_") == ["CTG Voiron 100%_net"]
    assert await titles(q="0%x") == []
    assert await titles(caf_id=str(CAF_B)) == []
    assert await titles(X_CONTRIBUTEUR) == ["CTG Voiron 100%_net"]
    assert await titles(Y_CONTRIBUTEUR, statut="signée") == ["CTG Vienne"]
    assert await titles(CAF_B_AGENT) == []
    assert await titles(NATIONAL, caf_id=str(CAF_A), q="vienne") == ["CTG Vienne"]
    # Only the drafts the caller may sign carry their signatories' checks.
    drafts = (await client.get("/api/v1/conventions", headers=h())).json()["items"]
    assert drafts[1]["transitions_disponibles"][:1] == ["modifier"]
    assert drafts[0]["transitions_disponibles"] == [
        "avenant",
        "mettre en demeure",
        "résilier",
        "renouveler",
    ]
    x_view = (await client.get("/api/v1/conventions", headers=h(X_CONTRIBUTEUR))).json()
    assert x_view["items"][0]["transitions_disponibles"] == []


async def test_transitions_refuse_a_stale_if_match_when_one_is_sent(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    body = await create(client)
    url = f"/api/v1/conventions/{body['id']}"
    stale = (await client.get(url, headers=h())).headers["etag"]
    await sign_all(client, body["id"], [CAF_A], "2024-12-20")
    current = (await client.get(url, headers=h())).headers["etag"]
    before = await table_counts(db_engine)
    attempts = [
        ("POST", f"{url}/signataires", {"organisation_id": str(COLLECTIVITE_Y)}),
        ("PATCH", f"{url}/signataires/{COLLECTIVITE_X}", {"representant": "Adjoint"}),
        ("DELETE", f"{url}/signataires/{COLLECTIVITE_X}", None),
        ("POST", f"{url}/equipements", {"organisation_id": str(CAF_A), "type": "RPE", "nom": "R"}),
        ("POST", f"{url}/signature", None),
    ]
    for method, path, json in attempts:
        resp = await client.request(method, path, json=json, headers=h(**{"If-Match": stale}))
        assert resp.status_code == 412, (method, path, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.headers["etag"] == current
    assert await table_counts(db_engine) == before
    got = (await client.get(url, headers=h())).json()
    assert [s["representant"] for s in got["signataires"]] == ["Directrice", "Maire"]
    # The current ETag is accepted.
    added = await client.post(
        f"{url}/signataires",
        json={"organisation_id": str(COLLECTIVITE_Y)},
        headers=h(**{"If-Match": current}),
    )
    assert added.status_code == 201, added.text


async def test_unknown_signatory_or_equipement_is_404(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    body = await create(client)
    url = f"/api/v1/conventions/{body['id']}"
    before = await table_counts(db_engine)
    not_signatory = f"{url}/signataires/{COLLECTIVITE_Y}"
    patched = await client.patch(not_signatory, json={"representant": "Maire"}, headers=h())
    assert patched.status_code == 404
    assert patched.json()["detail"] == "Signataire introuvable."
    removed = await client.delete(not_signatory, headers=h())
    assert removed.status_code == 404
    equipement = await client.delete(
        f"{url}/equipements/00000000-0000-0000-0000-000000000001", headers=h()
    )
    assert equipement.status_code == 404
    assert equipement.json()["detail"] == "Équipement introuvable."
    assert await table_counts(db_engine) == before


async def test_a_forged_cursor_is_a_400_problem(client: httpx.AsyncClient) -> None:
    """Right number of values, wrong types: refused before any SQL, never a 500."""
    import base64

    forged = base64.urlsafe_b64encode(b'[1, {"u": "pas-un-uuid"}]').decode().rstrip("=")
    wrong_types = base64.urlsafe_b64encode(b"[1, 2]").decode().rstrip("=")
    for cursor in (forged, wrong_types):
        resp = await client.get("/api/v1/conventions", params={"cursor": cursor}, headers=h())
        assert resp.status_code == 400, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["detail"] == "Curseur de pagination invalide."
    events = await client.get("/api/v1/organisations", params={"cursor": wrong_types}, headers=h())
    assert events.status_code == 400, events.text


async def test_signing_reads_the_signatories_once_for_the_rule_the_version_and_the_answer(
    database_url: str,
) -> None:
    await seed_organisations(database_url)
    app = conventions_app(database_url, today=TODAY)
    async with running(app) as client:
        cid = (await create(client))["id"]
        await sign_all(client, cid, [CAF_A, COLLECTIVITE_X], "2024-12-20")
        statements: list[str] = []

        def seen(_c: object, _cur: object, statement: str, *_rest: object) -> None:
            statements.append(statement)

        engine = app.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", seen)
        try:
            signed = await client.post(f"/api/v1/conventions/{cid}/signature", headers=h())
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert signed.status_code == 200, signed.text
        version = (await client.get(f"/api/v1/conventions/{cid}/versions/1", headers=h())).json()
    reads = [s for s in statements if "FROM conventions.signataire" in s]
    assert len(reads) == 1, reads
    # The one read serves all three: the answer and the version both list them.
    assert len(signed.json()["signataires"]) == 2
    assert len(version["contenu"]["signataires"]) == 2


async def test_a_matching_if_none_match_is_a_304(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Like the documents: a client holding the current version gets no body again."""
    draft = (await create(client))["id"]
    path = f"/api/v1/conventions/{draft}"
    first = await client.get(path, headers=h())
    tag = first.headers["etag"]
    cached = await client.get(path, headers=h(**{"if-none-match": tag}))
    assert (cached.status_code, cached.headers["etag"], cached.content) == (304, tag, b"")
    listed = await client.get(path, headers=h(**{"if-none-match": f'"autre", W/{tag}'}))
    assert listed.status_code == 304
    assert (await client.get(path, headers=h(**{"if-none-match": '"autre"'}))).status_code == 200
    # Outside the caller's scope it stays a 404, whatever the header says.
    hidden = await client.get(path, headers=h(CAF_B_AGENT, **{"if-none-match": "*"}))
    assert hidden.status_code == 404
    # Changed: the old tag no longer matches.
    changed = await client.patch(
        path, json={"titre": "CTG de X (modifiée)"}, headers=h(**{"if-match": tag})
    )
    assert changed.status_code == 200, changed.text
    again = await client.get(path, headers=h(**{"if-none-match": tag}))
    assert again.status_code == 200
    assert again.json()["titre"] == "CTG de X (modifiée)"
    # The same version reads differently once its end date has passed: no 304 then.
    signed = await make_convention(client, date_fin=dt.date(2029, 12, 31))
    path = f"/api/v1/conventions/{signed}"
    tag = (await client.get(path, headers=h())).headers["etag"]
    async with running(conventions_app(database_url, today=dt.date(2030, 1, 2))) as later:
        late = await later.get(path, headers=h(**{"if-none-match": tag}))
    assert late.status_code == 200
    assert (late.headers["etag"], late.json()["etat"]) == (tag, "échue")
