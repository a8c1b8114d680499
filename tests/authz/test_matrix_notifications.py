"""Authorization matrix of the notifications service's public routes, through the
gateway. A person's notifications are theirs alone: another's is a 404 to everyone
else; a machine client has none. The delivery log is the Caf administrators' (none of
the matrix's personas is one: tests/notifications/test_mail.py reads it as one). Each
person's preferences are theirs: the routes take no id, a machine client has none."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.notifications.models import Notification
from tests.authz.world import Expected, Row, Side, World, _all, everyone, run_rows

N = "/api/v1/moi/notifications"
P = "/api/v1/moi/preferences"


async def _notification_of(w: World, person_id: uuid.UUID) -> uuid.UUID:
    """A notification of `person_id`, written as the follower writes them."""
    nid = uuid.uuid4()
    async with w.hab.sessionmaker() as session:
        session.add(
            Notification(
                id=nid,
                personne_id=person_id,
                famille="suivis",
                type="suivi.soumis",
                titre="Suivi soumis",
                texte="Un suivi attend votre validation.",
                lien=None,
                convention_id=None,
                source="actions",
                evenement_id=uuid.uuid4(),
                cree_le=dt.datetime.now(dt.UTC),
            )
        )
        await session.commit()
    return nid


async def _list(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "GET", N)


async def _read_all(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "POST", f"{N}/lecture")


async def _read_own(w: World, who: str, side: Side, ok: bool) -> int:
    owner = uuid.uuid4() if who in ("anonymous", "partner_x") else await w.hab.person_id(who)
    nid = await _notification_of(w, owner)
    return await w.call(who, "POST", f"{N}/{nid}/lecture")


async def _read_another_s(w: World, who: str, side: Side, ok: bool) -> int:
    nid = await _notification_of(
        w, await w.hab.person_id("x_lecteur" if who != "x_lecteur" else "caf_a_agent")
    )
    return await w.call(who, "POST", f"{N}/{nid}/lecture")


async def _preferences(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "GET", P)


async def _change_preferences(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "PATCH", P, json={"modes": {"discussions": "hebdomadaire"}})


async def _log(w: World, who: str, side: Side, ok: bool) -> int:
    return await w.call(who, "GET", "/api/v1/envois")


# Own notifications: every person; a machine client has none (404).
OWN: Expected = _all(200, partner_x=404)
# Own preferences: every person; a machine client receives no e-mail (403).
PERSONS: Expected = _all(200, partner_x=403)

ROWS: dict[tuple[str, str], list[Row]] = {
    ("GET", N): [("my notifications", "A", _list, everyone())],
    ("POST", f"{N}/lecture"): [("all read", "A", _read_all, everyone())],
    ("POST", f"{N}/{{notification_id}}/lecture"): [
        ("read my own", "A", _read_own, OWN),
        ("read another's", "A", _read_another_s, _all(404)),
    ],
    ("GET", P): [("my preferences", "A", _preferences, PERSONS)],
    ("PATCH", P): [("change my preferences", "A", _change_preferences, PERSONS)],
    ("GET", "/api/v1/envois"): [("delivery log", "A", _log, _all(403))],
}


@pytest.mark.parametrize("route", sorted(ROWS), ids=lambda r: f"{r[0]} {r[1]}")
async def test_matrix(world: World, route: tuple[str, str]) -> None:
    failures = await run_rows(world, ROWS[route])
    assert not failures, "\n".join(failures)
