"""The authorization matrix: personas × every public route × objects inside and outside
their scope → expected status, through the gateway in process (real grants, real IdP).

This file holds the gateway's own routes (habilitations, invitations, access requests,
machine clients); test_matrix_<service>.py hold the services' routes and test_guard.py
fails when any public route of the four apps has no row.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from gateway.app import create_app as create_gateway
from kernel.principal import OrganisationKind, Role
from tests.authz.world import PERSONAS, Row, Side, World, _all, both, run_rows
from tests.support.personas import COLLECTIVITE_X, COLLECTIVITE_Y

COLL = OrganisationKind.collectivite


async def _target_grant(w: World, org: uuid.UUID, role: Role = Role.lecteur) -> uuid.UUID:
    return await w.hab.grant(f"target-{uuid.uuid4().hex[:8]}", org, COLL, role)


async def _grant_etag(w: World, grant_id: uuid.UUID) -> str:
    resp = await w.hab.client.get(
        f"/api/v1/habilitations/{grant_id}", headers=w.headers("national")
    )
    return resp.headers["etag"]


OrgCall = Callable[[World, str, uuid.UUID], Awaitable[int]]


# Who sees a grant on X (inside scope) / on Y (outside scope for Caf A and X personas).
SEES_X = _all(404, caf_a_agent=200, caf_a_lecteur=200, x_referent=200, national=200)
SEES_Y = _all(404, caf_b_agent=200, national=200)
MANAGES_X = _all(403, caf_b_agent=404, y_contributeur=404, caf_a_agent=200, x_referent=200)
MANAGES_Y = _all(404, caf_b_agent=200, national=403, y_contributeur=403)


async def _get_grant(w: World, who: str, org: uuid.UUID) -> int:
    gid = await _target_grant(w, org)
    return (
        await w.hab.client.get(f"/api/v1/habilitations/{gid}", headers=w.headers(who))
    ).status_code


async def _history(w: World, who: str, org: uuid.UUID) -> int:
    gid = await _target_grant(w, org)
    path = f"/api/v1/habilitations/{gid}/historique"
    return (await w.hab.client.get(path, headers=w.headers(who))).status_code


def _change(action: str, body: dict[str, str], suspend_first: bool = False) -> OrgCall:
    async def call(w: World, who: str, org: uuid.UUID) -> int:
        gid = await _target_grant(w, org)
        if suspend_first:
            await w.hab.client.post(
                f"/api/v1/habilitations/{gid}/suspension",
                json={"motif": "préparation"},
                headers={
                    **w.headers("caf_b_agent" if org == COLLECTIVITE_Y else "caf_a_agent"),
                    "if-match": await _grant_etag(w, gid),
                },
            )
        resp = await w.hab.client.post(
            f"/api/v1/habilitations/{gid}/{action}",
            json=body,
            headers={**w.headers(who), "if-match": await _grant_etag(w, gid)},
        )
        return resp.status_code

    return call


async def _list(w: World, who: str, org: uuid.UUID) -> int:
    return (await w.hab.client.get("/api/v1/habilitations", headers=w.headers(who))).status_code


async def _moi(w: World, who: str, org: uuid.UUID) -> int:
    return (await w.hab.client.get("/api/v1/moi", headers=w.headers(who))).status_code


async def _grant_new(w: World, who: str, org: uuid.UUID) -> int:
    person = await w.hab.person_id(f"new-{uuid.uuid4().hex[:8]}")
    resp = await w.hab.client.post(
        "/api/v1/habilitations",
        json={"personne_id": str(person), "organisation_id": str(org), "role": "lecteur"},
        headers=w.headers(who),
    )
    return resp.status_code


async def _invite(w: World, who: str, org: uuid.UUID) -> int:
    resp = await w.hab.client.post(
        "/api/v1/invitations",
        json={"email": "invite@test.invalid", "organisation_id": str(org), "role": "lecteur"},
        headers=w.headers(who),
    )
    return resp.status_code


ORG_ROWS: dict[tuple[str, str], list[tuple[str, OrgCall, uuid.UUID, dict[str, int]]]] = {
    ("GET", "/api/v1/moi"): [("self", _moi, COLLECTIVITE_X, _all(200))],
    ("GET", "/api/v1/habilitations"): [("visible list", _list, COLLECTIVITE_X, _all(200))],
    ("POST", "/api/v1/habilitations"): [
        (
            "lecteur on X",
            _grant_new,
            COLLECTIVITE_X,
            {**MANAGES_X, "caf_a_agent": 201, "x_referent": 201},
        ),
        ("lecteur on Y", _grant_new, COLLECTIVITE_Y, {**MANAGES_Y, "caf_b_agent": 201}),
    ],
    ("GET", "/api/v1/habilitations/{grant_id}"): [
        ("grant on X", _get_grant, COLLECTIVITE_X, SEES_X),
        ("grant on Y", _get_grant, COLLECTIVITE_Y, SEES_Y),
    ],
    ("GET", "/api/v1/habilitations/{grant_id}/historique"): [
        ("grant on X", _history, COLLECTIVITE_X, SEES_X),
        ("grant on Y", _history, COLLECTIVITE_Y, SEES_Y),
    ],
    ("POST", "/api/v1/habilitations/{grant_id}/renouvellement"): [
        ("grant on X", _change("renouvellement", {}), COLLECTIVITE_X, MANAGES_X),
        ("grant on Y", _change("renouvellement", {}), COLLECTIVITE_Y, MANAGES_Y),
    ],
    ("POST", "/api/v1/habilitations/{grant_id}/suspension"): [
        ("grant on X", _change("suspension", {"motif": "m"}), COLLECTIVITE_X, MANAGES_X),
        ("grant on Y", _change("suspension", {"motif": "m"}), COLLECTIVITE_Y, MANAGES_Y),
    ],
    ("POST", "/api/v1/habilitations/{grant_id}/reactivation"): [
        ("grant on X", _change("reactivation", {}, True), COLLECTIVITE_X, MANAGES_X),
        ("grant on Y", _change("reactivation", {}, True), COLLECTIVITE_Y, MANAGES_Y),
    ],
    ("POST", "/api/v1/habilitations/{grant_id}/revocation"): [
        ("grant on X", _change("revocation", {"motif": "m"}), COLLECTIVITE_X, MANAGES_X),
        ("grant on Y", _change("revocation", {"motif": "m"}), COLLECTIVITE_Y, MANAGES_Y),
    ],
    ("POST", "/api/v1/invitations"): [
        (
            "lecteur on X",
            _invite,
            COLLECTIVITE_X,
            {**MANAGES_X, "caf_a_agent": 201, "x_referent": 201},
        ),
        ("lecteur on Y", _invite, COLLECTIVITE_Y, {**MANAGES_Y, "caf_b_agent": 201}),
    ],
}


async def _invitation(
    w: World, org: uuid.UUID, email: str = "invite@test.invalid"
) -> dict[str, str]:
    manager = "caf_b_agent" if org == COLLECTIVITE_Y else "caf_a_agent"
    resp = await w.hab.client.post(
        "/api/v1/invitations",
        json={"email": email, "organisation_id": str(org), "role": "lecteur"},
        headers=w.headers(manager),
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def _list_invitations(w: World, who: str, org: uuid.UUID) -> int:
    return (await w.hab.client.get("/api/v1/invitations", headers=w.headers(who))).status_code


async def _get_invitation(w: World, who: str, org: uuid.UUID) -> int:
    """Where the invitation's creation answer points (its Location)."""
    path = f"/api/v1/invitations/{(await _invitation(w, org))['id']}"
    return (await w.hab.client.get(path, headers=w.headers(who))).status_code


async def _accept_other(w: World, who: str, org: uuid.UUID) -> int:
    """An invitation addressed to someone else's e-mail: nobody else may take it."""
    jeton = (await _invitation(w, org, "quelquun@test.invalid"))["jeton"]
    resp = await w.hab.client.post(
        "/api/v1/invitations/acceptation", json={"jeton": jeton}, headers=w.headers(who)
    )
    return resp.status_code


async def _cancel(w: World, who: str, org: uuid.UUID) -> int:
    inv = (await _invitation(w, org))["id"]
    path = f"/api/v1/invitations/{inv}/annulation"
    return (await w.hab.client.post(path, headers=w.headers(who))).status_code


async def _request_access(w: World, who: str, org: uuid.UUID) -> int:
    resp = await w.hab.client.post(
        "/api/v1/demandes-acces",
        json={"organisation_id": str(org), "role": "lecteur"},
        headers=w.headers(who),
    )
    return resp.status_code


async def _demande(w: World, org: uuid.UUID) -> str:
    name = f"asker-{uuid.uuid4().hex[:8]}"
    resp = await w.hab.client.post(
        "/api/v1/demandes-acces",
        json={"organisation_id": str(org), "role": "lecteur"},
        headers=w.hab.headers(name),
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def _list_demandes(w: World, who: str, org: uuid.UUID) -> int:
    return (await w.hab.client.get("/api/v1/demandes-acces", headers=w.headers(who))).status_code


async def _get_demande(w: World, who: str, org: uuid.UUID) -> int:
    path = f"/api/v1/demandes-acces/{await _demande(w, org)}"
    return (await w.hab.client.get(path, headers=w.headers(who))).status_code


def _decide(step: str, body: dict[str, str]) -> OrgCall:
    async def call(w: World, who: str, org: uuid.UUID) -> int:
        path = f"/api/v1/demandes-acces/{await _demande(w, org)}"
        seen = await w.hab.client.get(path, headers=w.headers("national"))
        headers = {**w.headers(who), "if-match": seen.headers["etag"]}
        return (await w.hab.client.post(f"{path}/{step}", json=body, headers=headers)).status_code

    return call


async def _register_client(w: World, who: str, org: uuid.UUID) -> int:
    body = {
        "client_id": f"systeme-{uuid.uuid4().hex[:8]}",
        "nom": "Système partenaire",
        "organisation_id": str(org),
        "role": "contributeur",
    }
    return (
        await w.hab.client.post("/api/v1/clients", json=body, headers=w.headers(who))
    ).status_code


async def _list_clients(w: World, who: str, org: uuid.UUID) -> int:
    return (await w.hab.client.get("/api/v1/clients", headers=w.headers(who))).status_code


EVERYONE = _all(200)
ORG_ROWS.update(
    {
        ("GET", "/api/v1/invitations"): [
            ("visible list", _list_invitations, COLLECTIVITE_X, EVERYONE)
        ],
        # Scoped like the list: the organisations one manages, 404 elsewhere.
        ("GET", "/api/v1/invitations/{invitation_id}"): [
            ("on X", _get_invitation, COLLECTIVITE_X, _all(404, caf_a_agent=200, x_referent=200)),
            ("on Y", _get_invitation, COLLECTIVITE_Y, _all(404, caf_b_agent=200)),
        ],
        ("POST", "/api/v1/invitations/acceptation"): [
            # Never revealed to another person; machine clients accept nothing.
            ("someone else's", _accept_other, COLLECTIVITE_X, _all(404, partner_x=403))
        ],
        ("POST", "/api/v1/invitations/{invitation_id}/annulation"): [
            ("lecteur on X", _cancel, COLLECTIVITE_X, MANAGES_X),
            ("lecteur on Y", _cancel, COLLECTIVITE_Y, MANAGES_Y),
        ],
        ("POST", "/api/v1/demandes-acces"): [
            # Already habilitated on X: 409; machine clients do not ask.
            (
                "lecteur on X",
                _request_access,
                COLLECTIVITE_X,
                _all(201, x_referent=409, x_contributeur=409, x_lecteur=409, partner_x=403),
            )
        ],
        ("GET", "/api/v1/demandes-acces"): [
            ("visible list", _list_demandes, COLLECTIVITE_X, EVERYONE)
        ],
        ("GET", "/api/v1/demandes-acces/{demande_id}"): [
            ("on X", _get_demande, COLLECTIVITE_X, SEES_X),
            ("on Y", _get_demande, COLLECTIVITE_Y, SEES_Y),
        ],
        ("POST", "/api/v1/demandes-acces/{demande_id}/approbation"): [
            ("on X", _decide("approbation", {}), COLLECTIVITE_X, MANAGES_X),
            ("on Y", _decide("approbation", {}), COLLECTIVITE_Y, MANAGES_Y),
        ],
        ("POST", "/api/v1/demandes-acces/{demande_id}/refus"): [
            ("on X", _decide("refus", {"motif": "m"}), COLLECTIVITE_X, MANAGES_X),
            ("on Y", _decide("refus", {"motif": "m"}), COLLECTIVITE_Y, MANAGES_Y),
        ],
        ("POST", "/api/v1/clients"): [
            (
                "contributeur on X",
                _register_client,
                COLLECTIVITE_X,
                # A Caf administrateur's task (no persona has it); X unknown to Caf B's side.
                _all(403, caf_b_agent=404, y_contributeur=404),
            )
        ],
        ("GET", "/api/v1/clients"): [("visible list", _list_clients, COLLECTIVITE_X, EVERYONE)],
    }
)


def _on_side(call: OrgCall, org: uuid.UUID) -> Callable[[World, str, Side, bool], Awaitable[int]]:
    async def run(w: World, who: str, side: Side, ok: bool) -> int:
        return await call(w, who, org)

    return run


# The gateway's routes in the matrix's shape (side A's world holds the calls' state).
ROWS: dict[tuple[str, str], list[Row]] = {
    route: [(label, "A", _on_side(call, org), expected) for label, call, org, expected in rows]
    for route, rows in ORG_ROWS.items()
}


async def _convention_history(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "GET", f"/api/v1/conventions/{side.convention}/historique")


# A convention's history, merged across the services: read like the convention.
ROWS[("GET", "/api/v1/conventions/{convention_id}/historique")] = both(
    "historique", _convention_history, "reads"
)


@pytest.mark.parametrize("route", sorted(ROWS), ids=lambda r: f"{r[0]} {r[1]}")
async def test_matrix(world: World, route: tuple[str, str]) -> None:
    failures = await run_rows(world, ROWS[route])
    assert not failures, "\n".join(failures)


async def test_the_matrix_reaches_the_services_as_production_does(world: World) -> None:
    """Every matrix call through the gateway takes production's path to the service: the
    gateway's own transport, over HTTP to a server listening on loopback, never an
    in-process transport handed to it by the test."""
    # The gateway takes no transport for its services, only their URLs.
    assert "service_transports" not in inspect.signature(create_gateway).parameters
    async with httpx.AsyncClient() as client:
        for name, url in world.service_urls.items():
            assert url.startswith("http://127.0.0.1:"), name
            assert (await client.get(url + "/healthz")).status_code == 200, name


__all__ = ["PERSONAS"]


async def test_a_change_shows_in_the_convention_history_with_a_name_and_the_client(
    world: World,
) -> None:
    """Issue 24, end to end: a change made through the gateway shows in the convention's
    history, merged across the services, naming the person as their token did and the
    app they came through; pages follow one another, newest first."""
    side = world.sides["A"]
    path = f"/api/v1/conventions/{side.preparation}"
    etag = (await world.gateway.get(path, headers=world.headers("caf_a_agent"))).headers["etag"]
    titre = f"CTG renommée {uuid.uuid4().hex[:6]}"
    renamed = await world.gateway.patch(
        path,
        json={"titre": titre},
        headers={**world.headers("caf_a_agent"), "if-match": etag},
    )
    assert renamed.status_code == 200, renamed.text
    feed = await world.gateway.get(f"{path}/historique", headers=world.headers("x_lecteur"))
    assert feed.status_code == 200, feed.text
    newest = feed.json()["items"][0]
    assert (newest["source"], newest["objet_type"], newest["evenement"]) == (
        "conventions",
        "convention",
        "modification",
    )
    assert (newest["auteur_nom"], newest["client"]) == ("Caf_A_Agent", "ctg-dans-ma-poche")
    assert [c["apres"] for c in newest["changements"] if c["champ"] == "titre"] == [titre]
    # One entry a page: the same entries, in the same order.
    everything = [(e["source"], e["id"]) for e in feed.json()["items"]]
    paged: list[tuple[str, int]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = await world.gateway.get(
            f"{path}/historique", params=params, headers=world.headers("x_lecteur")
        )
        paged += [(e["source"], e["id"]) for e in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert paged == everything
