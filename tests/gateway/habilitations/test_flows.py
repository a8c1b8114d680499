"""Habilitation flows end to end: the gateway in process, its database grants, the
real actions service behind it (access = reading a convention's plan through it)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.habilitations.dependencies import sweep_expired
from gateway.habilitations.models import metadata
from kernel.principal import OrganisationKind, Role
from tests.gateway.habilitations.rig import CONVENTION_A, NOMS, HabRig, habilitations_rig
from tests.support.migrations import schema_differences
from tests.support.personas import CAF_A, CAF_B, CNAF, COLLECTIVITE_X, COLLECTIVITE_Y

CAF = OrganisationKind.caf
COLL = OrganisationKind.collectivite
PLAN_A = f"/api/v1/conventions/{CONVENTION_A}/axes"


async def test_models_and_migrations_agree(db_engine: AsyncEngine) -> None:
    assert await schema_differences(db_engine, metadata) == []


async def _if_match(hab: HabRig, path: str, who: str) -> str:
    resp = await hab.client.get(path, headers=hab.headers(who))
    assert resp.status_code == 200, resp.text
    return resp.headers["etag"]


async def test_invite_accept_then_access(hab: HabRig) -> None:
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    # Before: a stranger sees nothing of convention A.
    assert (await hab.client.get(PLAN_A, headers=hab.headers("newcomer"))).status_code == 404

    resp = await hab.client.post(
        "/api/v1/invitations",
        json={
            "email": "Newcomer@Test.invalid",
            "organisation_id": str(COLLECTIVITE_X),
            "role": "contributeur",
        },
        headers=hab.headers("referent"),
    )
    assert resp.status_code == 201, resp.text
    invitation = resp.json()
    assert invitation["statut"] == "en attente"
    # Its Location answers: the invitation as the lists show it, never its token.
    followed = await hab.client.get(resp.headers["location"], headers=hab.headers("referent"))
    assert followed.status_code == 200, followed.text
    assert followed.json() == {k: v for k, v in invitation.items() if k != "jeton"}
    expires = dt.datetime.fromisoformat(invitation["expire_le"])
    assert dt.timedelta(days=6) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
    token = invitation["jeton"]

    # Someone else holding the token cannot use it: their e-mail does not match.
    thief = await hab.client.post(
        "/api/v1/invitations/acceptation", json={"jeton": token}, headers=hab.headers("thief")
    )
    assert thief.status_code == 404

    accepted = await hab.client.post(
        "/api/v1/invitations/acceptation",
        json={"jeton": token},
        headers=hab.headers("newcomer", email="newcomer@test.invalid"),
    )
    assert accepted.status_code == 201, accepted.text
    grant = accepted.json()
    assert (grant["role"], grant["organisation_id"], grant["statut"]) == (
        "contributeur",
        str(COLLECTIVITE_X),
        "active",
    )
    # Single use.
    again = await hab.client.post(
        "/api/v1/invitations/acceptation",
        json={"jeton": token},
        headers=hab.headers("newcomer", email="newcomer@test.invalid"),
    )
    assert again.status_code == 409
    # Access through the gateway to the actions service, on the very next request.
    assert (await hab.client.get(PLAN_A, headers=hab.headers("newcomer"))).status_code == 200
    me = (await hab.client.get("/api/v1/moi", headers=hab.headers("newcomer"))).json()
    assert [(g["role"], g["organisation_id"]) for g in me["habilitations"]] == [
        ("contributeur", str(COLLECTIVITE_X))
    ]
    assert "contribuer_actions_portees" in me["habilitations"][0]["capacites"]


async def test_the_invitation_s_token_is_announced_deprecated(hab: HabRig) -> None:
    """docs/api.md: "Obsolète : le champ `jeton` de la réponse à POST /api/v1/invitations"
    (the invitee receives the link by e-mail): every answer giving it says so
    (`Deprecation`, RFC 9745; no `Sunset`: a field of /api/v1 stays served)."""
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    body = {"email": "late@test.invalid", "organisation_id": str(COLLECTIVITE_X), "role": "lecteur"}
    headers = {**hab.headers("referent"), "Idempotency-Key": "jeton-obsolete-1"}
    created = await hab.client.post("/api/v1/invitations", json=body, headers=headers)
    replayed = await hab.client.post("/api/v1/invitations", json=body, headers=headers)
    for resp in (created, replayed):
        assert resp.status_code == 201, resp.text
        assert resp.headers["Deprecation"] == "@1796428800"  # 5 December 2026
        assert "Sunset" not in resp.headers
    # The answers without the field announce nothing.
    listed = await hab.client.get("/api/v1/invitations", headers=hab.headers("referent"))
    assert listed.status_code == 200, listed.text
    assert [i["id"] for i in listed.json()["items"]] == [created.json()["id"]]
    assert "Deprecation" not in listed.headers
    document = (await hab.client.get("/api/v1/openapi.json")).json()
    jeton = document["components"]["schemas"]["InvitationCreee"]["properties"]["jeton"]
    assert jeton["deprecated"] is True


async def test_expired_invitation_is_refused(hab: HabRig, db_engine: AsyncEngine) -> None:
    await hab.grant("agent", CAF_A, CAF, Role.agent)
    resp = await hab.client.post(
        "/api/v1/invitations",
        json={
            "email": "late@test.invalid",
            "organisation_id": str(COLLECTIVITE_X),
            "role": "referent",
        },
        headers=hab.headers("agent"),
    )
    assert resp.status_code == 201
    async with db_engine.begin() as conn:
        await conn.execute(
            text("UPDATE gateway.invitations SET expires_at = now() - interval '1 s'")
        )
    late = await hab.client.post(
        "/api/v1/invitations/acceptation",
        json={"jeton": resp.json()["jeton"]},
        headers=hab.headers("late", email="late@test.invalid"),
    )
    assert late.status_code == 409
    assert (await hab.client.get(PLAN_A, headers=hab.headers("late"))).status_code == 404


async def test_access_request_approved_then_refused(hab: HabRig) -> None:
    await hab.grant("agent", CAF_A, CAF, Role.agent)
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    await hab.grant("x-lecteur", COLLECTIVITE_X, COLL, Role.lecteur)
    await hab.grant("caf-b-agent", CAF_B, CAF, Role.agent)

    asked = await hab.client.post(
        "/api/v1/demandes-acces",
        json={"organisation_id": str(COLLECTIVITE_X), "role": "lecteur", "message": "Élue"},
        headers=hab.headers("asker"),
    )
    assert asked.status_code == 201, asked.text
    demande = asked.json()
    path = f"/api/v1/demandes-acces/{demande['id']}"
    etag = asked.headers["etag"]
    # A second request while one is pending: refused.
    dup = await hab.client.post(
        "/api/v1/demandes-acces",
        json={"organisation_id": str(COLLECTIVITE_X), "role": "lecteur"},
        headers=hab.headers("asker"),
    )
    assert dup.status_code == 409
    # Caf B's agent does not see X's requests; X's lecteur sees X but may not decide.
    other = await hab.client.post(
        path + "/approbation", json={}, headers={**hab.headers("caf-b-agent"), "if-match": etag}
    )
    assert other.status_code == 404
    lecteur = await hab.client.post(
        path + "/approbation", json={}, headers={**hab.headers("x-lecteur"), "if-match": etag}
    )
    assert lecteur.status_code == 403
    no_etag = await hab.client.post(path + "/approbation", json={}, headers=hab.headers("agent"))
    assert no_etag.status_code == 428

    approved = await hab.client.post(
        path + "/approbation", json={}, headers={**hab.headers("agent"), "if-match": etag}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["role"] == "lecteur"
    assert (await hab.client.get(PLAN_A, headers=hab.headers("asker"))).status_code == 200
    decided = (await hab.client.get(path, headers=hab.headers("asker"))).json()
    assert decided["statut"] == "approuvée"

    # Refusal, by the referent, with a reason (required).
    second = await hab.client.post(
        "/api/v1/demandes-acces",
        json={"organisation_id": str(COLLECTIVITE_X), "role": "contributeur"},
        headers=hab.headers("second"),
    )
    path2 = f"/api/v1/demandes-acces/{second.json()['id']}"
    etag2 = second.headers["etag"]
    no_reason = await hab.client.post(
        path2 + "/refus", json={}, headers={**hab.headers("referent"), "if-match": etag2}
    )
    assert no_reason.status_code == 422
    refused = await hab.client.post(
        path2 + "/refus",
        json={"motif": "Personne inconnue du service"},
        headers={**hab.headers("referent"), "if-match": etag2},
    )
    assert refused.status_code == 200, refused.text
    assert (refused.json()["statut"], refused.json()["motif"]) == (
        "refusée",
        "Personne inconnue du service",
    )
    assert (await hab.client.get(PLAN_A, headers=hab.headers("second"))).status_code == 404
    # Requests only name collectivités that sign a known convention.
    unknown = await hab.client.post(
        "/api/v1/demandes-acces",
        json={"organisation_id": str(CNAF), "role": "lecteur"},
        headers=hab.headers("third"),
    )
    assert unknown.status_code == 404


async def test_revocation_removes_access_on_the_next_request(hab: HabRig) -> None:
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    grant_id = await hab.grant("reader", COLLECTIVITE_X, COLL, Role.lecteur)
    assert (await hab.client.get(PLAN_A, headers=hab.headers("reader"))).status_code == 200
    path = f"/api/v1/habilitations/{grant_id}"
    etag = await _if_match(hab, path, "referent")
    revoked = await hab.client.post(
        path + "/revocation",
        json={"motif": "A quitté la mairie"},
        headers={**hab.headers("referent"), "if-match": etag},
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["statut"] == "révoquée"
    assert (await hab.client.get(PLAN_A, headers=hab.headers("reader"))).status_code == 404
    # A stale ETag is refused.
    stale = await hab.client.post(
        path + "/reactivation", json={}, headers={**hab.headers("referent"), "if-match": etag}
    )
    assert stale.status_code == 412


async def test_a_change_made_elsewhere_is_seen_without_waiting_for_the_cache(
    tmp_path: Path, database_url: str, db_engine: AsyncEngine, actions_url: str
) -> None:
    """Another gateway instance or the operator's CLI revokes: the NOTIFY at commit drops
    this gateway's cached grants (the cache alone would keep them for 5 minutes)."""
    async with habilitations_rig(
        tmp_path, database_url, db_engine, actions_url, grant_cache_seconds=300
    ) as rig:
        grant_id = await rig.grant("reader", COLLECTIVITE_X, COLL, Role.lecteur)
        assert (await rig.client.get(PLAN_A, headers=rig.headers("reader"))).status_code == 200
        async with db_engine.begin() as conn:  # not through this gateway
            await conn.execute(
                text("UPDATE gateway.grants SET status = 'révoquée' WHERE id = :id"),
                {"id": grant_id},
            )
        # The notification is asynchronous: ask again until it has arrived (or give up).
        for _ in range(600):
            status = (await rig.client.get(PLAN_A, headers=rig.headers("reader"))).status_code
            if status == 404:
                break
            await asyncio.sleep(0.05)
        assert status == 404


async def test_suspension_and_expiry(hab: HabRig, db_engine: AsyncEngine) -> None:
    await hab.grant("agent", CAF_A, CAF, Role.agent)
    grant_id = await hab.grant("reader", COLLECTIVITE_X, COLL, Role.lecteur)
    path = f"/api/v1/habilitations/{grant_id}"
    suspended = await hab.client.post(
        path + "/suspension",
        json={"motif": "Congé"},
        headers={**hab.headers("agent"), "if-match": await _if_match(hab, path, "agent")},
    )
    assert suspended.json()["statut"] == "suspendue"
    assert (await hab.client.get(PLAN_A, headers=hab.headers("reader"))).status_code == 404
    back = await hab.client.post(
        path + "/reactivation",
        json={},
        headers={**hab.headers("agent"), "if-match": suspended.headers["etag"]},
    )
    assert back.json()["statut"] == "active"
    assert (await hab.client.get(PLAN_A, headers=hab.headers("reader"))).status_code == 200

    # Time passes: the grant ends.
    async with db_engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE gateway.grants SET valid_from = now() - interval '2 days', "
                "valid_until = now() - interval '1 s' WHERE id = :id"
            ),
            {"id": grant_id},
        )
    assert await sweep_expired(hab.sessionmaker, hab.resolver) == 1
    assert (await hab.client.get(PLAN_A, headers=hab.headers("reader"))).status_code == 404
    expired = (await hab.client.get(path, headers=hab.headers("agent"))).json()
    assert expired["statut"] == "expirée"
    # Renewal brings it back for a year.
    renewed = await hab.client.post(
        path + "/renouvellement",
        json={"motif": "Toujours en poste"},
        headers={**hab.headers("agent"), "if-match": await _if_match(hab, path, "agent")},
    )
    assert renewed.status_code == 200, renewed.text
    until = dt.datetime.fromisoformat(renewed.json()["valide_jusqu_au"])
    assert until - dt.datetime.now(dt.UTC) > dt.timedelta(days=364)
    assert (await hab.client.get(PLAN_A, headers=hab.headers("reader"))).status_code == 200


async def test_a_grant_past_its_end_reads_expired_before_the_sweep(
    hab: HabRig, db_engine: AsyncEngine
) -> None:
    await hab.grant("agent", CAF_A, CAF, Role.agent)
    grant_id = await hab.grant("reader", COLLECTIVITE_X, COLL, Role.lecteur)
    async with db_engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE gateway.grants SET valid_from = now() - interval '2 days', "
                "valid_until = now() - interval '1 s' WHERE id = :id"
            ),
            {"id": grant_id},
        )
    # Still stored as active (no sweep yet): it reads and acts as expired all the same.
    path = f"/api/v1/habilitations/{grant_id}"
    assert (await hab.client.get(path, headers=hab.headers("agent"))).json()["statut"] == "expirée"
    listed = await hab.client.get(
        "/api/v1/habilitations",
        params={"organisation_id": str(COLLECTIVITE_X)},
        headers=hab.headers("agent"),
    )
    assert [g["statut"] for g in listed.json()["items"]] == ["expirée"]
    assert (await hab.client.get(PLAN_A, headers=hab.headers("reader"))).status_code == 404


async def test_expiring_grants_are_listed_for_those_who_renew_them(hab: HabRig) -> None:
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    await hab.grant("reader", COLLECTIVITE_X, COLL, Role.lecteur, valid_until=soon)
    await hab.grant("y-reader", COLLECTIVITE_Y, COLL, Role.lecteur, valid_until=soon)
    await hab.grant("later", COLLECTIVITE_X, COLL, Role.contributeur)
    limit = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    resp = await hab.client.get(
        "/api/v1/habilitations", params={"expirant_avant": limit}, headers=hab.headers("referent")
    )
    assert resp.status_code == 200
    assert [g["titulaire"]["nom"] for g in resp.json()["items"]] == ["Reader"]
    me = (await hab.client.get("/api/v1/moi", headers=hab.headers("referent"))).json()
    assert me["habilitations_expirant_bientot"] == 1
    assert me["peut_attribuer"] == [
        {
            "organisation_id": str(COLLECTIVITE_X),
            "organisation_type": "collectivite",
            "roles": ["contributeur", "lecteur"],
        }
    ]


@pytest.mark.parametrize(
    ("who", "grant", "target", "role", "expected"),
    [
        ("referent", (COLLECTIVITE_X, COLL, Role.referent), COLLECTIVITE_X, "referent", 403),
        ("referent", (COLLECTIVITE_X, COLL, Role.referent), COLLECTIVITE_Y, "lecteur", 404),
        ("contrib", (COLLECTIVITE_X, COLL, Role.contributeur), COLLECTIVITE_X, "lecteur", 403),
        ("caf-lecteur", (CAF_A, CAF, Role.lecteur), COLLECTIVITE_X, "lecteur", 403),
        ("caf-b-agent", (CAF_B, CAF, Role.agent), COLLECTIVITE_X, "lecteur", 404),
        ("agent", (CAF_A, CAF, Role.agent), CAF_A, "agent", 403),
        ("agent", (CAF_A, CAF, Role.agent), COLLECTIVITE_X, "referent", 201),
        ("admin", (CAF_A, CAF, Role.administrateur), CAF_A, "agent", 201),
        ("admin", (CAF_A, CAF, Role.administrateur), CAF_B, "agent", 404),
        (
            "national",
            (CNAF, OrganisationKind.national, Role.lecteur_national),
            COLLECTIVITE_X,
            "lecteur",
            403,
        ),
        (
            "national",
            (CNAF, OrganisationKind.national, Role.lecteur_national),
            CNAF,
            "lecteur_national",
            403,
        ),
        ("nobody", None, COLLECTIVITE_X, "lecteur", 404),
    ],
)
async def test_who_may_invite_whom(
    hab: HabRig, who: str, grant: tuple, target: object, role: str, expected: int
) -> None:
    if grant is not None:
        await hab.grant(who, *grant)
    resp = await hab.client.post(
        "/api/v1/invitations",
        json={"email": "someone@test.invalid", "organisation_id": str(target), "role": role},
        headers=hab.headers(who),
    )
    assert resp.status_code == expected, resp.text


async def test_nobody_changes_their_own_grant(hab: HabRig) -> None:
    grant_id = await hab.grant("admin", CAF_A, CAF, Role.administrateur)
    path = f"/api/v1/habilitations/{grant_id}"
    resp = await hab.client.post(
        path + "/renouvellement",
        json={},
        headers={**hab.headers("admin"), "if-match": await _if_match(hab, path, "admin")},
    )
    assert resp.status_code == 403


async def test_history_is_complete_and_append_only(hab: HabRig, db_engine: AsyncEngine) -> None:
    await hab.grant("agent", CAF_A, CAF, Role.agent)
    grant_id = await hab.grant("reader", COLLECTIVITE_X, COLL, Role.lecteur)
    path = f"/api/v1/habilitations/{grant_id}"
    for action, body in [
        ("renouvellement", {"motif": "annuel"}),
        ("suspension", {"motif": "congé"}),
        ("reactivation", {}),
        ("revocation", {"motif": "départ"}),
    ]:
        resp = await hab.client.post(
            f"{path}/{action}",
            json=body,
            headers={**hab.headers("agent"), "if-match": await _if_match(hab, path, "agent")},
        )
        assert resp.status_code == 200, resp.text
    history = (await hab.client.get(path + "/historique", headers=hab.headers("agent"))).json()
    assert [(e["evenement"], e["motif"]) for e in history["items"]] == [
        ("accordée", None),
        ("renouvelée", "annuel"),
        ("suspendue", "congé"),
        ("réactivée", None),
        ("révoquée", "départ"),
    ]
    agent_id = await hab.person_id("agent")
    assert {e["par"] for e in history["items"][1:]} == {str(agent_id)}
    # Named as they were called then, with the app they used (issue 24), not by an id.
    assert {(e["par_libelle"], e["par_client"]) for e in history["items"][1:]} == {
        ("Agent", "ctg-dans-ma-poche")
    }
    assert (history["items"][0]["par_libelle"], history["items"][0]["par_client"]) == ("cli", None)
    # The holder sees their own grant's history; a stranger does not.
    assert (
        await hab.client.get(path + "/historique", headers=hab.headers("reader"))
    ).status_code == 200
    assert (
        await hab.client.get(path + "/historique", headers=hab.headers("other"))
    ).status_code == 404
    for sql in ("UPDATE gateway.grant_events SET reason = 'x'", "DELETE FROM gateway.grant_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db_engine.begin() as conn:
                await conn.execute(text(sql))


async def test_machine_client_registered_by_caf_admin(hab: HabRig) -> None:
    await hab.grant("admin", CAF_A, CAF, Role.administrateur)
    await hab.grant("agent", CAF_A, CAF, Role.agent)
    body = {
        "client_id": "sig-x",
        "nom": "SI de X",
        "organisation_id": str(COLLECTIVITE_X),
        "role": "contributeur",
    }
    refused = await hab.client.post("/api/v1/clients", json=body, headers=hab.headers("agent"))
    assert refused.status_code == 403
    # Unregistered: the client is refused at the door.
    assert (
        await hab.client.get(PLAN_A, headers=hab.headers("sig-x", client=True))
    ).status_code == 403
    created = await hab.client.post("/api/v1/clients", json=body, headers=hab.headers("admin"))
    assert created.status_code == 201, created.text
    assert created.json()["habilitation"]["titulaire"]["client_id"] == "sig-x"
    assert (
        await hab.client.get(PLAN_A, headers=hab.headers("sig-x", client=True))
    ).status_code == 200


async def test_persons_are_named_beside_their_ids(hab: HabRig) -> None:
    """Issue 23: a client has no other way to name a person than what these answers
    carry: who holds, granted, invited, accepted, asked, decided, registered (`<x>_nom`
    beside `<x>`), read with the rows (no call per row)."""
    await hab.grant("admin", CAF_A, CAF, Role.administrateur)
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    referent = hab.headers("referent")
    invited = await hab.client.post(
        "/api/v1/invitations",
        json={
            "email": "lea@test.invalid",
            "organisation_id": str(COLLECTIVITE_X),
            "role": "lecteur",
        },
        headers=referent,
    )
    assert invited.status_code == 201, invited.text
    assert (invited.json()["creee_par_nom"], invited.json()["acceptee_par_nom"]) == (
        "Referent",
        None,
    )
    accepted = await hab.client.post(
        "/api/v1/invitations/acceptation",
        json={"jeton": invited.json()["jeton"]},
        headers=hab.headers("lea", email="lea@test.invalid"),
    )
    assert accepted.status_code == 201, accepted.text
    assert (accepted.json()["titulaire"]["nom"], accepted.json()["accordee_par_nom"]) == (
        "Lea",
        "Referent",
    )
    (invitation,) = (await hab.client.get("/api/v1/invitations", headers=referent)).json()["items"]
    assert (invitation["creee_par_nom"], invitation["acceptee_par_nom"]) == ("Referent", "Lea")
    grants = (await hab.client.get("/api/v1/habilitations", headers=referent)).json()["items"]
    named = {g["titulaire"]["nom"]: g["accordee_par_nom"] for g in grants}
    assert named == {"Referent": None, "Lea": "Referent"}  # None: granted with the CLI
    # The organisation too, from the replica of a convention naming it (item 2).
    assert {g["organisation_nom"] for g in grants} == {"Collectivité X (test)"}
    me = (await hab.client.get("/api/v1/moi", headers=hab.headers("lea"))).json()
    assert me["habilitations"][0]["accordee_par_nom"] == "Referent"

    asked = await hab.client.post(
        "/api/v1/demandes-acces",
        json={"organisation_id": str(COLLECTIVITE_X), "role": "lecteur"},
        headers=hab.headers("asker"),
    )
    assert asked.status_code == 201, asked.text
    assert (asked.json()["personne_nom"], asked.json()["decidee_par_nom"]) == ("Asker", None)
    refused = await hab.client.post(
        f"/api/v1/demandes-acces/{asked.json()['id']}/refus",
        json={"motif": "Inconnue"},
        headers={**referent, "if-match": asked.headers["etag"]},
    )
    assert refused.json()["decidee_par_nom"] == "Referent"
    (listed,) = (await hab.client.get("/api/v1/demandes-acces", headers=referent)).json()["items"]
    assert (listed["personne_nom"], listed["decidee_par_nom"]) == ("Asker", "Referent")

    body = {"client_id": "si-x", "nom": "SI de X", "organisation_id": str(COLLECTIVITE_X)}
    created = await hab.client.post(
        "/api/v1/clients", json={**body, "role": "lecteur"}, headers=hab.headers("admin")
    )
    assert created.status_code == 201, created.text
    assert created.json()["enregistre_par_nom"] == "Admin"
    (client,) = (await hab.client.get("/api/v1/clients", headers=hab.headers("admin"))).json()[
        "items"
    ]
    assert client["enregistre_par_nom"] == "Admin"

    # Organisations named beside their ids too: invitations, access requests, machine
    # clients, in their own statement (the replica row naming them), answers and lists.
    x = NOMS[COLLECTIVITE_X]
    assert [
        r["organisation_nom"]
        for r in (invited.json(), invitation, asked.json(), refused.json(), listed)
    ] == [x] * 5
    assert (created.json()["organisation_nom"], client["organisation_nom"]) == (x, x)


async def test_an_organisation_no_convention_names_has_no_name(hab: HabRig) -> None:
    """Issue 23: a habilitation's organisation is named from the gateway's replica of
    the conventions; the Cnaf, which no convention names, stays null (never a guess)."""
    await hab.grant("admin", CAF_A, CAF, Role.administrateur)
    await hab.grant("national", CNAF, OrganisationKind.national, Role.lecteur_national)
    mine = (await hab.client.get("/api/v1/moi", headers=hab.headers("admin"))).json()
    assert mine["habilitations"][0]["organisation_nom"] == "Caf A (test)"
    theirs = (await hab.client.get("/api/v1/moi", headers=hab.headers("national"))).json()
    assert theirs["habilitations"][0]["organisation_nom"] is None


async def test_a_machine_client_managing_habilitations_is_nobody_s_person_id(
    hab: HabRig, db_engine: AsyncEngine
) -> None:
    """A Caf's back-office system holding the agent role invites and grants like an agent;
    it is no person: what it did records no person as its author (the authors' columns
    name persons), its name does (the history's label)."""
    await hab.client_grant("si-caf-a", CAF_A, CAF, Role.agent)
    system = hab.headers("si-caf-a", client=True)
    invited = await hab.client.post(
        "/api/v1/invitations",
        json={
            "email": "new@test.invalid",
            "organisation_id": str(COLLECTIVITE_X),
            "role": "lecteur",
        },
        headers=system,
    )
    assert invited.status_code == 201, invited.text
    person = await hab.person_id("granted")
    granted = await hab.client.post(
        "/api/v1/habilitations",
        json={
            "personne_id": str(person),
            "organisation_id": str(COLLECTIVITE_X),
            "role": "lecteur",
        },
        headers=system,
    )
    assert granted.status_code == 201, granted.text
    async with db_engine.connect() as conn:
        authors = await conn.execute(
            text(
                "SELECT i.created_by, e.actor_id, e.actor_label FROM gateway.invitations i,"
                " gateway.grant_events e WHERE e.grant_id = :grant"
            ),
            {"grant": granted.json()["id"]},
        )
        assert authors.all() == [(None, None, "si-caf-a")]
