"""The gateway's domain events (kernel.outbox): invitations, access requests and their
decisions, followed by the notifications service; the invitations' former outbox
migrated (pending ones become events, so they are e-mailed once this lands)."""

from __future__ import annotations

import json
import uuid

from kernel import dev_keys
from kernel.internal_token import InternalTokenSigner
from kernel.migrations import upgrade
from kernel.outbox import EVENTS_PATH, Evenement, Evenements
from kernel.principal import OrganisationKind, Role
from tests.gateway.habilitations.rig import HabRig
from tests.support.fresh_database import fresh_database, sql
from tests.support.personas import CAF_A, COLLECTIVITE_X

__all__ = ["fresh_database"]

COLL = OrganisationKind.collectivite
NOTIFICATIONS = InternalTokenSigner("notifications", dev_keys.private_jwk("notifications"))


async def events(hab: HabRig) -> list[Evenement]:
    token = NOTIFICATIONS.mint_service("gateway")
    resp = await hab.client.get(EVENTS_PATH, headers={"authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    return Evenements.model_validate_json(resp.content).items


async def test_an_invitation_is_an_event_for_the_invitee(hab: HabRig) -> None:
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    created = await hab.client.post(
        "/api/v1/invitations",
        json={
            "email": "Nouvelle@Test.invalid",
            "organisation_id": str(COLLECTIVITE_X),
            "role": "lecteur",
        },
        headers=hab.headers("referent"),
    )
    assert created.status_code == 201, created.text
    (event,) = await events(hab)
    assert event.type == "invitation.creee"
    assert event.auteur_id == str(await hab.person_id("referent"))
    d = event.donnees
    assert d["invitation_id"] == created.json()["id"]
    assert d["email"] == "nouvelle@test.invalid"
    assert (d["organisation_id"], d["role"]) == (str(COLLECTIVITE_X), "lecteur")
    assert d["jeton"] == created.json()["jeton"]
    assert d["caf_ids"] == [str(CAF_A)]  # X signs Caf A's convention
    assert d["invite_par"] == "Referent"


async def test_an_access_request_and_its_decision_are_events(hab: HabRig) -> None:
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    await hab.person_id("asker")
    filed = await hab.client.post(
        "/api/v1/demandes-acces",
        json={"organisation_id": str(COLLECTIVITE_X), "role": "contributeur", "message": "Bonjour"},
        headers=hab.headers("asker"),
    )
    assert filed.status_code == 201, filed.text
    path = f"/api/v1/demandes-acces/{filed.json()['id']}"
    etag = (await hab.client.get(path, headers=hab.headers("referent"))).headers["etag"]
    refused = await hab.client.post(
        path + "/refus",
        json={"motif": "Inconnu de nos services"},
        headers={**hab.headers("referent"), "if-match": etag},
    )
    assert refused.status_code == 200, refused.text
    deposee, decidee = await events(hab)
    asker = str(await hab.person_id("asker"))
    assert deposee.type == "demande_acces.deposee"
    assert deposee.donnees["personne_id"] == asker
    assert deposee.donnees["caf_ids"] == [str(CAF_A)]
    # The requester's free text stays in the gateway (erased there after the decision).
    assert "Bonjour" not in str(deposee.donnees)
    assert decidee.type == "demande_acces.decidee"
    assert (decidee.donnees["statut"], decidee.donnees["motif"]) == (
        "refusée",
        "Inconnu de nos services",
    )
    assert decidee.donnees["personne_id"] == asker


def test_pending_invitations_of_the_former_outbox_become_events(fresh_database: str) -> None:
    """ "Invitations already pending are e-mailed once this lands" (issue 25): the unsent
    ones still awaiting acceptance become `invitation.creee` events with their token;
    sent, accepted or expired ones do not."""
    url = fresh_database
    upgrade("gateway", url, "0008")
    rows = [
        ("en attente", 3, False, "a-envoyer@test.invalid"),
        ("en attente", 3, True, "deja-envoyee@test.invalid"),
        ("acceptée", 3, False, "acceptee@test.invalid"),
        ("en attente", -1, False, "expiree@test.invalid"),
    ]
    pending = uuid.uuid4()
    for i, (status, expiry, sent, email) in enumerate(rows):
        iid = pending if i == 0 else uuid.uuid4()
        sql(
            url,
            "INSERT INTO gateway.invitations (id, email, organisation_id, organisation_kind,"
            " role, token_hash, expires_at, status, version) VALUES ($1, $2, $3,"
            " 'caf', 'lecteur', $4, now() + make_interval(days => $6), $5, 1)",
            iid,
            email,
            CAF_A,
            f"hash-{i}",
            status,
            expiry,
        )
        sql(
            url,
            "INSERT INTO gateway.outbox (kind, recipient, payload, sent_at) VALUES"
            " ('invitation', $1, jsonb_build_object('invitation_id', $2::text,"
            " 'token', 'jeton-' || $3::text), CASE WHEN $4 THEN now() END)",
            email,
            str(iid),
            str(i),
            sent,
        )
    upgrade("gateway", url)
    got = sql(url, "SELECT type, donnees FROM gateway.evenements ORDER BY seq")
    assert [r["type"] for r in got] == ["invitation.creee"]
    donnees = json.loads(got[0]["donnees"])
    assert donnees["invitation_id"] == str(pending)
    assert donnees["email"] == "a-envoyer@test.invalid"
    assert donnees["jeton"] == "jeton-0"
    assert donnees["caf_ids"] == [str(CAF_A)]
    assert sql(url, "SELECT to_regclass('gateway.outbox') AS t")[0]["t"] is None
