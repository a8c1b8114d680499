"""Discussions: the threads of comments on a fiche-action and on a suivi.

Scoped like the action (404 outside), read by its readers, written by the Caf's agents
and the write roles of any signatory collectivité (not only the porteurs: art. 9 (003),
"les personnes désignées pour suivre la CTG au sein de la collectivité"); a comment is
corrected by its author within 15 minutes, deleted by its author or moderated by a Caf
agent, and stays as a tombstone; its history is kept without its text. Time moves by
the app's clock setting, never by sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.principal import Role
from services.actions.app import create_app
from services.actions.settings import ActionsSettings
from tests.actions.conftest import (
    COLLECTIVITE_X,
    COLLECTIVITE_Z,
    CONV_A,
    CONV_ECHUE,
    TODAY,
    Api,
    conventions_unreachable,
)
from tests.support.apps import running
from tests.support.personas import (
    CAF_A_AGENT,
    CAF_A_LECTEUR,
    CAF_B_AGENT,
    COLL,
    NATIONAL,
    X_CONTRIBUTEUR,
    X_LECTEUR,
    X_REFERENT,
    Y_CONTRIBUTEUR,
    person,
)

T0 = dt.datetime(2026, 4, 10, 9, 0, tzinfo=dt.UTC)
# A signatory collectivité of CONV_A that carries none of its actions.
Z_CONTRIBUTEUR = person("z-contributeur", (COLLECTIVITE_Z, COLL, Role.contributeur))


class Clocked(Api):
    """The API, and the app's clock (its `clock` setting) to move."""

    def __init__(self, client: httpx.AsyncClient, settings: ActionsSettings) -> None:
        super().__init__(client)
        self.settings = settings

    def advance(self, **delta: float) -> None:
        assert self.settings.clock is not None
        self.settings.clock = self.settings.clock + dt.timedelta(**delta)


@pytest.fixture
async def api(database_url: str, seeded: None) -> AsyncIterator[Clocked]:
    settings = ActionsSettings(database_url=database_url, conventions_sync_seconds=3600, clock=T0)
    app = create_app(
        settings,
        conventions_transport=httpx.MockTransport(conventions_unreachable),
        today=lambda: TODAY,
    )
    async with running(app) as client:
        yield Clocked(client, settings)


async def _action(api: Api) -> str:
    axe = await api.axe(CAF_A_AGENT, CONV_A, "Agir")
    return str((await api.action(CAF_A_AGENT, CONV_A, axe["id"]))["id"])


async def _post(api: Clocked, who: Any, path: str, texte: str) -> dict[str, Any]:
    r = await api.post(who, path, json={"texte": texte})
    assert r.status_code == 201, r.text
    api.advance(seconds=1)
    return dict(r.json())


def _etag(c: dict[str, Any]) -> dict[str, str]:
    return {"if-match": f'"{c["id"]}.{c["version"]}"'}


async def test_a_thread_is_posted_and_read_in_both_orders(api: Clocked) -> None:
    action = await _action(api)
    path = f"/api/v1/actions/{action}/commentaires"
    first = await _post(api, X_CONTRIBUTEUR, path, "Le RPE ouvre en septembre.")
    assert first["auteur_nom"] == "X Contributeur"
    assert first["texte"] == "Le RPE ouvre en septembre."
    assert first["periode"] is None
    assert first["suivi_id"] is None
    assert first["supprime"] is False
    assert first["modifiable_jusqu_au"] == "2026-04-10T09:15:00Z"
    # Not only the porteur (X): any signatory collectivité's write roles, the Caf's agents.
    await _post(api, Z_CONTRIBUTEUR, path, "Nous pouvons prêter une salle.")
    await _post(api, CAF_A_AGENT, path, "Merci à tous.")
    page = (await api.get(X_LECTEUR, path, params={"limit": 2})).json()
    assert [c["texte"] for c in page["items"]] == [
        "Le RPE ouvre en septembre.",
        "Nous pouvons prêter une salle.",
    ]
    rest = (await api.get(X_LECTEUR, path, params={"cursor": page["next_cursor"]})).json()
    assert [c["texte"] for c in rest["items"]] == ["Merci à tous."]
    assert rest["next_cursor"] is None
    newest = (
        await api.get(NATIONAL, path, params={"ordre": "antechronologique", "limit": 2})
    ).json()
    assert [c["texte"] for c in newest["items"]] == [
        "Merci à tous.",
        "Nous pouvons prêter une salle.",
    ]
    older = (
        await api.get(
            NATIONAL,
            path,
            params={"ordre": "antechronologique", "cursor": newest["next_cursor"]},
        )
    ).json()
    assert [c["texte"] for c in older["items"]] == ["Le RPE ouvre en septembre."]
    one = await api.get(X_LECTEUR, f"/api/v1/commentaires/{first['id']}")
    assert one.status_code == 200
    assert one.headers["etag"] == f'"{first["id"]}.1"'


async def test_a_suivi_has_its_own_thread(api: Clocked) -> None:
    action = await _action(api)
    r = await api.post(
        X_CONTRIBUTEUR,
        f"/api/v1/actions/{action}/suivis",
        json={"periode": "2026-T1", "statut_action": "en cours"},
    )
    assert r.status_code == 201, r.text
    suivi_path = f"/api/v1/actions/{action}/suivis/2026-T1/commentaires"
    on_suivi = await _post(api, CAF_A_AGENT, suivi_path, "Pouvez-vous préciser l'avancement ?")
    assert on_suivi["periode"] == "2026-T1"
    assert on_suivi["suivi_id"] == r.json()["id"]
    await _post(api, X_CONTRIBUTEUR, f"/api/v1/actions/{action}/commentaires", "Sur la fiche.")
    suivi_thread = (await api.get(X_LECTEUR, suivi_path)).json()
    assert [c["id"] for c in suivi_thread["items"]] == [on_suivi["id"]]
    action_thread = (await api.get(X_LECTEUR, f"/api/v1/actions/{action}/commentaires")).json()
    assert [c["texte"] for c in action_thread["items"]] == ["Sur la fiche."]
    # No suivi for that quarter: 404, nothing written.
    missing = f"/api/v1/actions/{action}/suivis/2026-T2/commentaires"
    assert (await api.get(X_LECTEUR, missing)).status_code == 404
    r = await api.post(CAF_A_AGENT, missing, json={"texte": "Perdu"})
    assert r.status_code == 404, r.text


async def test_scope_and_rights(api: Clocked, db_engine: AsyncEngine) -> None:
    action = await _action(api)
    path = f"/api/v1/actions/{action}/commentaires"
    posted = await _post(api, X_REFERENT, path, "Bonjour")
    # Outside the convention's scope: 404, as for the action itself.
    for outsider in (CAF_B_AGENT, Y_CONTRIBUTEUR):
        assert (await api.get(outsider, path)).status_code == 404
        assert (await api.post(outsider, path, json={"texte": "Intrus"})).status_code == 404
        one = f"/api/v1/commentaires/{posted['id']}"
        assert (await api.get(outsider, one)).status_code == 404
    # Readers read, and may not write: 403 with a French detail, nothing written.
    for reader in (X_LECTEUR, CAF_A_LECTEUR, NATIONAL):
        assert (await api.get(reader, path)).status_code == 200
        r = await api.post(reader, path, json={"texte": "Lecteur"})
        assert r.status_code == 403, r.text
        assert "prennent part aux discussions" in r.json()["detail"]
    async with db_engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM actions.commentaires"))
    assert count == 1


async def test_bad_input_is_refused_in_french(api: Clocked) -> None:
    action = await _action(api)
    path = f"/api/v1/actions/{action}/commentaires"
    for body in ({"texte": "   "}, {"texte": "x" * 5001}, {}, {"texte": "a", "autre": 1}):
        r = await api.post(CAF_A_AGENT, path, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert (await api.post(CAF_A_AGENT, path, json={"texte": "x" * 5000})).status_code == 201


async def test_its_author_corrects_it_within_15_minutes(api: Clocked) -> None:
    action = await _action(api)
    c = await _post(api, X_CONTRIBUTEUR, f"/api/v1/actions/{action}/commentaires", "Brouillon")
    one = f"/api/v1/commentaires/{c['id']}"
    # Another participant may not; If-Match is required.
    r = await api.patch(CAF_A_AGENT, one, json={"texte": "Non"}, headers=_etag(c))
    assert r.status_code == 403, r.text
    assert (await api.patch(X_CONTRIBUTEUR, one, json={"texte": "Sans"})).status_code == 428
    api.advance(minutes=14)
    r = await api.patch(X_CONTRIBUTEUR, one, json={"texte": "Corrigé"}, headers=_etag(c))
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["texte"] == "Corrigé"
    assert edited["version"] == 2
    assert edited["modifie_le"] is not None
    assert r.headers["etag"] == f'"{c["id"]}.2"'
    # Stale ETag: 412.
    r = await api.patch(X_CONTRIBUTEUR, one, json={"texte": "Encore"}, headers=_etag(c))
    assert r.status_code == 412
    api.advance(minutes=2)
    r = await api.patch(X_CONTRIBUTEUR, one, json={"texte": "Trop tard"}, headers=_etag(edited))
    assert r.status_code == 409, r.text
    assert "15 minutes" in r.json()["detail"]
    assert (await api.get(X_LECTEUR, one)).json()["texte"] == "Corrigé"


async def test_deleted_it_stays_as_a_tombstone_and_delta_sync_sees_it(api: Clocked) -> None:
    action = await _action(api)
    path = f"/api/v1/actions/{action}/commentaires"
    gone = await _post(api, X_CONTRIBUTEUR, path, "Message envoyé par erreur")
    kept = await _post(api, CAF_A_AGENT, path, "Reste")
    token = (await api.get(X_LECTEUR, path)).json()["sync_token"]
    # Someone else's comment: not even a signatory's referent deletes it.
    r = await api.delete(X_REFERENT, f"/api/v1/commentaires/{kept['id']}", headers=_etag(kept))
    assert r.status_code == 403, r.text
    api.advance(hours=3)  # deleting one's own comment has no time limit
    r = await api.delete(X_CONTRIBUTEUR, f"/api/v1/commentaires/{gone['id']}", headers=_etag(gone))
    assert r.status_code == 204, r.text
    thread = (await api.get(X_LECTEUR, path)).json()["items"]
    assert [c["id"] for c in thread] == [gone["id"], kept["id"]]
    tomb = thread[0]
    assert tomb["supprime"] is True
    assert tomb["texte"] is None
    assert tomb["mentions"] == []
    assert tomb["supprime_par"] == "auteur"
    assert tomb["auteur_nom"] == "X Contributeur"
    assert tomb["created_at"] == gone["created_at"]
    delta = (await api.get(X_LECTEUR, path, params={"updated_since": token})).json()
    assert [c["id"] for c in delta["items"]] == [gone["id"]]
    assert delta["items"][0]["supprime"] is True
    # A tombstone is neither corrected nor deleted again.
    one = f"/api/v1/commentaires/{gone['id']}"
    etag = {"if-match": (await api.get(X_LECTEUR, one)).headers["etag"]}
    r = await api.patch(X_CONTRIBUTEUR, one, json={"texte": "Revenir"}, headers=etag)
    assert r.status_code == 409
    assert (await api.delete(X_CONTRIBUTEUR, one, headers=etag)).status_code == 409


async def test_a_caf_agent_moderates(api: Clocked) -> None:
    """DOMAIN.md: Caf agents "act on the CTG of their Caf"; moderation is theirs, the
    tombstone says so, and the history names the moderator."""
    action = await _action(api)
    c = await _post(api, X_CONTRIBUTEUR, f"/api/v1/actions/{action}/commentaires", "Hors sujet")
    one = f"/api/v1/commentaires/{c['id']}"
    r = await api.delete(CAF_A_AGENT, one, headers=_etag(c))
    assert r.status_code == 204, r.text
    assert (await api.get(X_LECTEUR, one)).json()["supprime_par"] == "modération"
    history = (await api.get(X_LECTEUR, f"/api/v1/actions/{action}/historique")).json()["items"]
    mine = [e for e in history if e["objet_type"] == "commentaire"]
    assert [e["evenement"] for e in mine] == ["suppression par modération", "création"]
    assert mine[0]["auteur_nom"] == "Caf A Agent"


async def test_history_is_kept_without_the_text(api: Clocked) -> None:
    action = await _action(api)
    c = await _post(api, X_CONTRIBUTEUR, f"/api/v1/actions/{action}/commentaires", "Secret")
    one = f"/api/v1/commentaires/{c['id']}"
    r = await api.patch(X_CONTRIBUTEUR, one, json={"texte": "Moins secret"}, headers=_etag(c))
    assert r.status_code == 200
    r = await api.delete(X_CONTRIBUTEUR, one, headers=_etag(r.json()))
    assert r.status_code == 204
    history = (await api.get(X_LECTEUR, f"/api/v1/actions/{action}/historique")).json()["items"]
    mine = [e for e in history if e["objet_type"] == "commentaire"]
    assert [e["evenement"] for e in mine] == ["suppression", "modification", "création"]
    assert {e["auteur_nom"] for e in mine} == {"X Contributeur"}
    assert "secret" not in str(mine).lower()
    assert mine[1]["changements"][0]["libelle"] == "Texte"


async def test_an_ended_convention_is_still_discussed(api: Clocked, db_engine: AsyncEngine) -> None:
    """Art. 12 (003) stops "les engagements des parties"; a comment is none, and the
    bilan final is written after the end: an échue convention's threads stay open."""
    async with db_engine.begin() as conn:
        axe = await conn.scalar(
            text(
                "INSERT INTO actions.axes (id, convention_id, titre, position, version) "
                "VALUES (gen_random_uuid(), :c, 'Agir', 1, 1) RETURNING id"
            ),
            {"c": CONV_ECHUE},
        )
        action = await conn.scalar(
            text(
                "INSERT INTO actions.actions (id, convention_id, axe_id, position, titre, "
                "statut, porteur_ids, version) VALUES (gen_random_uuid(), :c, :a, 1, "
                "'Créer un RPE', 'réalisée', ARRAY[:x]::uuid[], 1) RETURNING id"
            ),
            {"c": CONV_ECHUE, "a": axe, "x": COLLECTIVITE_X},
        )
    await _post(api, X_CONTRIBUTEUR, f"/api/v1/actions/{action}/commentaires", "Pour le bilan")


async def test_a_gateway_that_does_not_answer_is_a_fast_503(
    database_url: str, seeded: None, db_engine: AsyncEngine
) -> None:
    """Mentions are checked with the gateway (who reads the convention): one that
    accepts the connection and never answers costs the request its timeout, then a 503
    with Retry-After; nothing is published. A comment without mentions does not ask."""
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = ActionsSettings(
        database_url=database_url,
        conventions_sync_seconds=3600,
        gateway_url=f"http://127.0.0.1:{port}",
        gateway_timeout_seconds=0.5,
    )
    app = create_app(
        settings,
        conventions_transport=httpx.MockTransport(conventions_unreachable),
        today=lambda: TODAY,
    )
    try:
        async with running(app) as client:
            api = Api(client)
            path = f"/api/v1/actions/{await _action(api)}/commentaires"
            started = time.monotonic()
            r = await api.post(
                X_CONTRIBUTEUR, path, json={"texte": "Vu ?", "mentions": [str(uuid.uuid4())]}
            )
            assert r.status_code == 503, r.text
            assert time.monotonic() - started < 2
            assert r.headers["retry-after"]
            assert (await api.get(X_LECTEUR, path)).json()["items"] == []
            mentionables = path.replace("commentaires", "mentionnables")
            assert (await api.get(X_CONTRIBUTEUR, mentionables)).status_code == 503
            r = await api.post(X_CONTRIBUTEUR, path, json={"texte": "Sans mention"})
            assert r.status_code == 201, r.text
    finally:
        release.set()
        server.close()
        await server.wait_closed()
