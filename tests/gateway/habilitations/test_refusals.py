"""What the habilitations refuse, and how: the problem a client gets, and nothing written."""

from __future__ import annotations

import datetime as dt

import httpx

from kernel.principal import OrganisationKind, Role
from tests.gateway.habilitations.rig import HabRig
from tests.support.personas import CAF_A, COLLECTIVITE_X
from tests.support.problems import assert_problem

CAF = OrganisationKind.caf
COLL = OrganisationKind.collectivite


async def _change(
    hab: HabRig, who: str, grant_id: object, action: str, body: dict[str, str]
) -> httpx.Response:
    path = f"/api/v1/habilitations/{grant_id}"
    etag = (await hab.client.get(path, headers=hab.headers(who))).headers["etag"]
    return await hab.client.post(
        f"{path}/{action}", json=body, headers={**hab.headers(who), "if-match": etag}
    )


async def _history(hab: HabRig, who: str, grant_id: object) -> list[str]:
    path = f"/api/v1/habilitations/{grant_id}/historique"
    return [
        e["evenement"]
        for e in (await hab.client.get(path, headers=hab.headers(who))).json()["items"]
    ]


async def test_a_change_the_grants_state_does_not_allow_is_a_409(hab: HabRig) -> None:
    await hab.grant("agent", CAF_A, CAF, Role.agent)
    grant_id = await hab.grant("reader", COLLECTIVITE_X, COLL, Role.lecteur)

    active = await _change(hab, "agent", grant_id, "reactivation", {})
    assert assert_problem(active, 409)["detail"] == "Habilitation active : action impossible."

    assert (
        await _change(hab, "agent", grant_id, "revocation", {"motif": "départ"})
    ).status_code == 200
    for action, body in [("suspension", {"motif": "x"}), ("revocation", {"motif": "x"})]:
        refused = await _change(hab, "agent", grant_id, action, body)
        assert (
            assert_problem(refused, 409)["detail"] == "Habilitation révoquée : action impossible."
        )
    renewed = await _change(hab, "agent", grant_id, "renouvellement", {})
    assert "accordez-en une nouvelle" in assert_problem(renewed, 409)["detail"]
    assert await _history(hab, "agent", grant_id) == ["accordée", "révoquée"]


async def test_a_renewal_into_the_past_is_a_422(hab: HabRig) -> None:
    await hab.grant("agent", CAF_A, CAF, Role.agent)
    grant_id = await hab.grant("reader", COLLECTIVITE_X, COLL, Role.lecteur)
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    resp = await _change(hab, "agent", grant_id, "renouvellement", {"valide_jusqu_au": past})
    assert (
        assert_problem(resp, 422)["detail"]
        == "La nouvelle fin de validité doit être dans le futur."
    )
    assert await _history(hab, "agent", grant_id) == ["accordée"]


async def test_direct_grant_refusals(hab: HabRig) -> None:
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    referent = await hab.person_id("referent")
    reader = await hab.person_id("reader")

    async def grant(person: object, **extra: str) -> httpx.Response:
        return await hab.client.post(
            "/api/v1/habilitations",
            json={
                "personne_id": str(person),
                "organisation_id": str(COLLECTIVITE_X),
                "role": "lecteur",
                **extra,
            },
            headers=hab.headers("referent"),
        )

    own = assert_problem(await grant(referent), 403)
    assert own["detail"] == "Vous ne pouvez pas vous attribuer une habilitation."
    stranger = assert_problem(await grant("7d0f3c1e-0000-4000-8000-000000000000"), 404)
    assert stranger["detail"] == "Personne inconnue (elle doit s'être connectée une fois)."
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    assert assert_problem(await grant(reader, valide_jusqu_au=past), 422)["detail"] == (
        "La fin de validité doit être dans le futur."
    )

    assert (await grant(reader)).status_code == 201
    twice = assert_problem(await grant(reader), 409)
    assert "déjà une habilitation sur cette organisation" in twice["detail"]
    listed = await hab.client.get(
        "/api/v1/habilitations",
        params={"organisation_id": str(COLLECTIVITE_X)},
        headers=hab.headers("referent"),
    )
    holders = sorted(g["titulaire"]["nom"] for g in listed.json()["items"])
    assert holders == ["Reader", "Referent"]


async def test_access_is_asked_on_a_collectivite_role_only(hab: HabRig) -> None:
    resp = await hab.client.post(
        "/api/v1/demandes-acces",
        json={"organisation_id": str(COLLECTIVITE_X), "role": "agent"},
        headers=hab.headers("asker"),
    )
    assert "lecteur, contributeur ou referent" in assert_problem(resp, 422)["detail"]
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    pending = await hab.client.get("/api/v1/demandes-acces", headers=hab.headers("referent"))
    assert pending.json()["items"] == []


async def test_a_cancelled_invitation_cannot_be_accepted(hab: HabRig) -> None:
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    created = await hab.client.post(
        "/api/v1/invitations",
        json={
            "email": "late@test.invalid",
            "organisation_id": str(COLLECTIVITE_X),
            "role": "lecteur",
        },
        headers=hab.headers("referent"),
    )
    invitation = created.json()
    cancel = f"/api/v1/invitations/{invitation['id']}/annulation"
    cancelled = await hab.client.post(cancel, headers=hab.headers("referent"))
    assert cancelled.json()["statut"] == "annulée"
    again = await hab.client.post(cancel, headers=hab.headers("referent"))
    assert assert_problem(again, 409)["detail"] == "Invitation déjà annulée."
    accepted = await hab.client.post(
        "/api/v1/invitations/acceptation",
        json={"jeton": invitation["jeton"]},
        headers=hab.headers("late", email="late@test.invalid"),
    )
    assert assert_problem(accepted, 409)["detail"] == "Invitation déjà annulée."
    me = (await hab.client.get("/api/v1/moi", headers=hab.headers("late"))).json()
    assert me["habilitations"] == []


async def test_a_client_id_is_registered_once(hab: HabRig) -> None:
    await hab.grant("admin", CAF_A, CAF, Role.administrateur)
    body = {
        "client_id": "sig-x",
        "nom": "SI de X",
        "organisation_id": str(COLLECTIVITE_X),
        "role": "contributeur",
    }
    first = await hab.client.post("/api/v1/clients", json=body, headers=hab.headers("admin"))
    assert first.status_code == 201, first.text
    second = await hab.client.post(
        "/api/v1/clients", json={**body, "nom": "Autre"}, headers=hab.headers("admin")
    )
    assert assert_problem(second, 409)["detail"] == "Ce client_id est déjà enregistré."
    clients = (await hab.client.get("/api/v1/clients", headers=hab.headers("admin"))).json()
    assert [(c["client_id"], c["nom"]) for c in clients["items"]] == [("sig-x", "SI de X")]


async def test_the_renewal_worklist_pages_by_end_of_validity(hab: HabRig) -> None:
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    now = dt.datetime.now(dt.UTC)
    for i, name in enumerate(["c-third", "a-first", "b-second"]):
        until = now + dt.timedelta(days=[30, 10, 20][i])
        await hab.grant(name, COLLECTIVITE_X, COLL, Role.lecteur, valid_until=until)
    limit = (now + dt.timedelta(days=40)).isoformat()
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"expirant_avant": limit, "limit": "1", **({"cursor": cursor} if cursor else {})}
        page = (
            await hab.client.get(
                "/api/v1/habilitations", params=params, headers=hab.headers("referent")
            )
        ).json()
        seen += [g["titulaire"]["nom"] for g in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["A-First", "B-Second", "C-Third"]
