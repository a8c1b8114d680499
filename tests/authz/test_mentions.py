"""@mentions in discussions, through the gateway: a comment mentions persons who read
the convention, as the gateway's habilitations say at that moment (the actions service
asks the gateway over HTTP, `GET /internal/v1/conventions/{id}/personnes`); anyone else
is refused with a French 422 and nothing is published. The "who can I mention here"
list is the convention's people (its Caf and signatory collectivités: national readers
read every CTG and are nobody's colleagues in it), names without addresses."""

from __future__ import annotations

import uuid
from typing import Any

from kernel.principal import OrganisationKind, Role
from tests.actions.test_evenements import feed
from tests.authz.test_matrix_actions import A
from tests.authz.world import Side, World
from tests.gateway.habilitations.rig import revoke

COLL = OrganisationKind.collectivite


async def _ids(world: World, *personas: str) -> dict[str, str]:
    return {p: str(await world.hab.person_id(p)) for p in personas}


async def _post(world: World, who: str, side: Side, body: dict[str, Any]) -> Any:
    return await world.gateway.post(
        f"{A}/{side.action}/commentaires", json=body, headers=world.headers(who)
    )


async def _thread(world: World, side: Side) -> list[dict[str, Any]]:
    resp = await world.gateway.get(
        f"{A}/{side.action}/commentaires", params={"limit": 200}, headers=world.headers("x_lecteur")
    )
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


async def test_who_can_be_mentioned_here(world: World) -> None:
    side = world.sides["A"]
    ids = await _ids(
        world,
        "caf_a_agent",
        "caf_a_lecteur",
        "x_referent",
        "x_contributeur",
        "x_lecteur",
        "caf_b_agent",
        "y_contributeur",
        "national",
    )
    path = f"{A}/{side.action}/mentionnables"
    resp = await world.gateway.get(path, headers=world.headers("x_contributeur"))
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    listed = {m["id"] for m in items}
    convention_people = {"caf_a_agent", "caf_a_lecteur", "x_referent", "x_contributeur"}
    assert {ids[p] for p in convention_people | {"x_lecteur"}} <= listed
    assert not {ids[p] for p in ("caf_b_agent", "y_contributeur", "national")} & listed
    assert len(listed) == len(items)  # one item per person
    assert all("email" not in m for m in items)  # names, never addresses
    assert [m["nom"] for m in items] == sorted((m["nom"] for m in items), key=str.casefold)
    found = await world.gateway.get(
        path, params={"q": "LECTEUR"}, headers=world.headers("caf_a_agent")
    )
    assert {m["id"] for m in found.json()["items"]} == {ids["caf_a_lecteur"], ids["x_lecteur"]}
    # Those who may not post do not get the list either.
    assert (await world.gateway.get(path, headers=world.headers("x_lecteur"))).status_code == 403
    assert (
        await world.gateway.get(path, headers=world.headers("y_contributeur"))
    ).status_code == 404


async def test_a_comment_mentions_readers_and_nobody_else(world: World) -> None:
    side = world.sides["A"]
    ids = await _ids(world, "x_lecteur", "caf_a_agent", "y_contributeur", "national")
    resp = await _post(
        world,
        "x_contributeur",
        side,
        {
            "texte": "@X Lecteur, @Caf A Agent : la salle est prête.",
            "mentions": [ids["x_lecteur"], ids["caf_a_agent"], ids["x_lecteur"]],
        },
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["mentions"] == [
        {"id": ids["x_lecteur"], "nom": "X_Lecteur"},
        {"id": ids["caf_a_agent"], "nom": "Caf_A_Agent"},
    ]
    before = len(await _thread(world, side))
    for stranger in ("y_contributeur", "national", str(uuid.uuid4())):
        person = ids.get(stranger, stranger)
        resp = await _post(
            world, "x_contributeur", side, {"texte": "Vu ?", "mentions": [ids["x_lecteur"], person]}
        )
        assert resp.status_code == 422, resp.text
        problem = resp.json()
        assert "rien n'a été publié" in problem["detail"]
        assert [e["message"] for e in problem["errors"]] == [
            f"La personne {person} ne peut pas lire cette action."
        ]
    assert len(await _thread(world, side)) == before
    too_many = [str(uuid.uuid4()) for _ in range(21)]
    resp = await _post(world, "caf_a_agent", side, {"texte": "Tous", "mentions": too_many})
    assert resp.status_code == 422, resp.text


async def test_a_revoked_person_is_no_longer_mentioned(world: World) -> None:
    """Who may be mentioned is decided when the comment is posted or corrected."""
    side = world.sides["A"]
    grant = await world.hab.grant("x_partante", side.coll, COLL, Role.contributeur)
    person = str(await world.hab.person_id("x_partante"))
    first = await _post(world, "caf_a_agent", side, {"texte": "Bienvenue", "mentions": [person]})
    assert first.status_code == 201, first.text
    await revoke(world.hab, grant, "x_referent")
    again = await _post(world, "caf_a_agent", side, {"texte": "Au revoir", "mentions": [person]})
    assert again.status_code == 422, again.text
    # A correction names its mentions again, checked again.
    c = first.json()
    path = f"/api/v1/commentaires/{c['id']}"
    headers = {**world.headers("caf_a_agent"), "if-match": f'"{c["id"]}.1"'}
    resp = await world.gateway.patch(path, json={"mentions": [person]}, headers=headers)
    assert resp.status_code == 422, resp.text
    lecteur = str(await world.hab.person_id("x_lecteur"))
    resp = await world.gateway.patch(path, json={"mentions": [lecteur]}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert [m["id"] for m in resp.json()["mentions"]] == [lecteur]


async def test_the_thread_and_the_persons_mentioned_hear_of_a_comment(world: World) -> None:
    """Events (kernel.outbox) for the notifications: `commentaire.publie` names the
    thread's other participants, `commentaire.mention` the persons newly mentioned (at
    posting, or added by a correction); neither carries the text."""
    side = world.sides["A"]
    ids = await _ids(world, "x_contributeur", "x_referent", "caf_a_agent", "x_lecteur")
    await _post(world, "x_contributeur", side, {"texte": "Première"})
    await _post(world, "x_referent", side, {"texte": "Deuxième"})
    posted = await _post(
        world, "caf_a_agent", side, {"texte": "Secret", "mentions": [ids["x_referent"]]}
    )
    assert posted.status_code == 201, posted.text
    c = posted.json()
    headers = {**world.headers("caf_a_agent"), "if-match": f'"{c["id"]}.1"'}
    resp = await world.gateway.patch(
        f"/api/v1/commentaires/{c['id']}",
        json={"mentions": [ids["x_referent"], ids["x_lecteur"]]},
        headers=headers,
    )
    assert resp.status_code == 200, resp.text
    mine = [
        e for e in (await feed(world.actions)).items if e.donnees.get("commentaire_id") == c["id"]
    ]
    assert [e.type for e in mine] == [
        "commentaire.publie",
        "commentaire.mention",
        "commentaire.mention",
    ]
    publie, mention, added = mine
    # The thread's earlier authors, but for the one mentioned (told by the mention).
    assert ids["x_contributeur"] in publie.donnees["participant_ids"]  # type: ignore[operator]
    assert ids["x_referent"] not in publie.donnees["participant_ids"]  # type: ignore[operator]
    assert ids["caf_a_agent"] not in publie.donnees["participant_ids"]  # type: ignore[operator]
    assert mention.donnees["personne_ids"] == [ids["x_referent"]]
    assert added.donnees["personne_ids"] == [ids["x_lecteur"]]
    assert publie.convention_id == side.convention
    assert publie.donnees["action_id"] == side.action
    assert "Secret" not in str([e.donnees for e in mine])
