"""What the gateway keeps about people, and for how long: the access journal, the
erasure of people long gone, the invitations' outbox. Time is moved with the clock
setting (`COOP_CLOCK`), never by sleeping.

DOMAIN.md, "Traceability": "the CNIL recommends keeping access and action logs 6 months
to a year ..., apart from the data, with minimal personal data"; the model convention
binds the parties to the RGPD (seed 003, art. 7: "ces transmissions (ou mises à
disposition) de données personnelles respecteront strictement le Règlement Général sur
la Protection des Données (RGPD) ... ainsi que les décisions, avis ou préconisations de
la Commission nationale de l'Informatique et des Libertés (CNIL)").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.devidp.keys import MOBILE_APP
from gateway.habilitations.jobs import periodic_jobs
from gateway.habilitations.models import (
    DemandeAcces,
    Invitation,
    Person,
    evenements,
    journal_acces,
)
from gateway.journal import AccessJournal
from gateway.settings import GatewaySettings
from kernel.database import create_engine
from kernel.principal import OrganisationKind, Role
from tests.gateway.habilitations.rig import CONVENTION_A, HabRig, habilitations_rig, revoke
from tests.support.personas import CAF_A, COLLECTIVITE_X

COLL = OrganisationKind.collectivite
PLAN_A = f"/api/v1/conventions/{CONVENTION_A}/axes"
DAY = dt.timedelta(days=1)


def later(days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + days * DAY


async def run_job(database_url: str, name: str, clock: dt.datetime, **settings: Any) -> Any:
    """One round of the gateway's job `name`, as `coop worker` runs it, at `clock`."""
    values = GatewaySettings(database_url=database_url, clock=clock, **settings)
    async with periodic_jobs(values) as jobs:
        [job] = [j for j in jobs if j.name == name]
        return await job.work()


async def scalar(engine: AsyncEngine, stmt: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(stmt)).scalar_one()


# --- the access journal --------------------------------------------------------------------


async def test_the_journal_says_who_called_which_route_and_never_keeps_the_token(
    hab: HabRig, db_engine: AsyncEngine
) -> None:
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    referent = await hab.person_id("referent")
    headers = hab.headers("referent")
    before = dt.datetime.now(dt.UTC)
    proxied = await hab.client.get(PLAN_A + "?limit=5", headers=headers)
    own = await hab.client.get("/api/v1/moi", headers=headers)
    anonymous = await hab.client.get(PLAN_A)
    assert (proxied.status_code, own.status_code, anonymous.status_code) == (200, 200, 401)
    assert (await hab.client.get("/healthz")).status_code == 200  # probes are not traced

    assert await hab.journal.flush() == 3
    async with db_engine.connect() as conn:
        rows = (await conn.execute(select(journal_acces).order_by(journal_acces.c.id))).all()
    assert [(r.principal_id, r.client, r.method, r.route, r.path, r.status) for r in rows] == [
        (referent, MOBILE_APP, "GET", "/api/v1/conventions/{id}/axes", PLAN_A, 200),
        (referent, MOBILE_APP, "GET", "/api/v1/moi", "/api/v1/moi", 200),
        (None, None, "GET", "/api/v1/conventions/{id}/axes", PLAN_A, 401),
    ]
    assert [r.request_id for r in rows] == [
        resp.headers["x-request-id"] for resp in (proxied, own, anonymous)
    ]
    assert all(before - dt.timedelta(seconds=1) <= r.at <= dt.datetime.now(dt.UTC) for r in rows)
    token = headers["authorization"].removeprefix("Bearer ")
    stored = " ".join(str(value) for r in rows for value in r)
    assert token[:20] not in stored
    assert "limit" not in stored
    assert hab.journal.pending == 0


async def test_a_full_journal_drops_new_rows_instead_of_growing(
    hab: HabRig, db_engine: AsyncEngine
) -> None:
    hab.journal.max_pending = 2
    for _ in range(4):
        assert (await hab.client.get(PLAN_A)).status_code == 401
    assert hab.journal.pending == 2
    assert await hab.journal.flush() == 2
    assert await scalar(db_engine, select(func.count()).select_from(journal_acces)) == 2


async def test_each_gateway_process_writes_its_journal_by_itself_and_when_it_stops(
    tmp_path: Path, database_url: str, db_engine: AsyncEngine, actions_url: str
) -> None:
    count = select(func.count()).select_from(journal_acces)
    async with habilitations_rig(
        tmp_path, database_url, db_engine, actions_url, access_journal_flush_seconds=0.1
    ) as rig:
        await rig.client.get(PLAN_A)
        async with asyncio.timeout(10):
            while not await scalar(db_engine, count):  # noqa: ASYNC110 (written off the request path)
                await asyncio.sleep(0.05)
    async with habilitations_rig(tmp_path, database_url, db_engine, actions_url) as rig:
        await rig.client.get(PLAN_A)
        assert rig.journal.pending == 1
    assert await scalar(db_engine, count) == 2  # the last rows, as the process stopped


async def test_rows_the_database_refused_wait_for_the_next_round() -> None:
    journal = AccessJournal(max_pending=10)
    scope = {"path": PLAN_A, "method": "GET", "state": {"request_id": "r1"}}
    journal.record(scope, 401, 0.001)
    engine = create_engine("postgresql://coop@127.0.0.1:9/coop", pool_size=1)  # nobody there
    try:
        async with journal.flushing(engine, 60):
            with pytest.raises(ConnectionRefusedError):
                await journal.flush()
            assert journal.pending == 1
    finally:
        await engine.dispose()
    assert journal.pending == 1


async def test_the_journal_is_kept_its_period_then_purged_by_the_job(
    hab: HabRig, db_engine: AsyncEngine, database_url: str
) -> None:
    for _ in range(3):
        await hab.client.get(PLAN_A)
    assert await hab.journal.flush() == 3
    count = select(func.count()).select_from(journal_acces)

    # A year (365 days by default) is kept...
    assert await run_job(database_url, "gateway.access-log-purge", later(364)) == 0
    assert await scalar(db_engine, count) == 3
    # ... not a day more; and the period is a setting.
    assert await run_job(database_url, "gateway.access-log-purge", later(366)) == 3
    assert await scalar(db_engine, count) == 0

    await hab.client.get(PLAN_A)
    assert await hab.journal.flush() == 1
    six_months = {"access_log_retention_days": 183}
    assert await run_job(database_url, "gateway.access-log-purge", later(182), **six_months) == 0
    assert await run_job(database_url, "gateway.access-log-purge", later(184), **six_months) == 1


# --- people who have left ------------------------------------------------------------------


async def email_of(engine: AsyncEngine, person_id: uuid.UUID) -> str | None:
    value: str | None = await scalar(engine, select(Person.email).where(Person.id == person_id))
    return value


async def test_a_person_gone_for_a_year_loses_their_email_and_keeps_their_name_and_history(
    hab: HabRig, db_engine: AsyncEngine, database_url: str
) -> None:
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent)
    grant_id = await hab.grant("parti", COLLECTIVITE_X, COLL, Role.contributeur)
    parti = await hab.person_id("parti")
    assert (await hab.client.get(PLAN_A, headers=hab.headers("parti"))).status_code == 200
    await revoke(hab, grant_id, "referent")

    # Within the year after the revocation: nothing is erased.
    erased = await run_job(database_url, "gateway.person-erasure", later(364))
    assert erased.persons == 0
    assert await email_of(db_engine, parti) == "parti@test.invalid"

    # A year after: the e-mail goes, the subject and the name under which they acted stay.
    erased = await run_job(database_url, "gateway.person-erasure", later(366))
    assert erased.persons == 1
    async with db_engine.connect() as conn:
        person = (await conn.execute(select(Person).where(Person.id == parti))).one()
    assert (person.email, person.subject, person.name) == (None, "sub-parti", "Parti")
    assert person.erased_at is not None
    # The grant and its history still say who held it and what happened.
    path = f"/api/v1/habilitations/{grant_id}"
    grant = (await hab.client.get(path, headers=hab.headers("referent"))).json()
    assert (grant["titulaire"]["nom"], grant["titulaire"]["email"]) == ("Parti", None)
    history = (await hab.client.get(path + "/historique", headers=hab.headers("referent"))).json()
    assert [e["evenement"] for e in history["items"]] == ["accordée", "révoquée"]
    # Their own people are untouched: the referent still holds a current grant.
    referent = await hab.person_id("referent")
    assert await email_of(db_engine, referent) == "referent@test.invalid"


async def test_a_person_with_a_current_grant_is_never_erased(
    hab: HabRig, db_engine: AsyncEngine, database_url: str
) -> None:
    # Seen once, then never again, but still holding a grant two years on.
    await hab.grant("fidele", CAF_A, OrganisationKind.caf, Role.agent, valid_until=later(1000))
    fidele = await hab.person_id("fidele")
    # Suspended is current too: it may be reactivated.
    await hab.grant("suspendu", COLLECTIVITE_X, COLL, Role.lecteur, valid_until=later(1000))
    suspendu = await hab.person_id("suspendu")
    async with db_engine.begin() as conn:
        await conn.execute(
            text("UPDATE gateway.grants SET status = 'suspendue' WHERE person_id = :p"),
            {"p": suspendu},
        )

    erased = await run_job(database_url, "gateway.person-erasure", later(730))
    assert erased.persons == 0
    assert await email_of(db_engine, fidele) == "fidele@test.invalid"
    assert await email_of(db_engine, suspendu) == "suspendu@test.invalid"


async def test_an_expired_grant_counts_from_its_end_and_a_return_keeps_the_person(
    hab: HabRig, db_engine: AsyncEngine, database_url: str
) -> None:
    await hab.grant("expire", COLLECTIVITE_X, COLL, Role.lecteur, valid_until=later(100))
    expire = await hab.person_id("expire")
    # Its end is in 100 days: a year after the grant was given, it ended only 265 days ago.
    assert (await run_job(database_url, "gateway.person-erasure", later(365))).persons == 0
    assert (await run_job(database_url, "gateway.person-erasure", later(466))).persons == 1
    assert await email_of(db_engine, expire) is None
    # Should they log in again, their token brings their e-mail back.
    await hab.client.get("/api/v1/moi", headers=hab.headers("expire"))
    assert await email_of(db_engine, expire) == "expire@test.invalid"


async def test_refused_and_pending_requests_count_as_links(
    hab: HabRig, db_engine: AsyncEngine, database_url: str
) -> None:
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent, valid_until=later(1000))
    asks = {}
    for name in ("refuse", "attente"):
        asked = await hab.client.post(
            "/api/v1/demandes-acces",
            json={
                "organisation_id": str(COLLECTIVITE_X),
                "role": "lecteur",
                "message": f"Je suis {name}, 06 00 00 00 00",
            },
            headers=hab.headers(name),
        )
        assert asked.status_code == 201, asked.text
        asks[name] = asked
    refused = await hab.client.post(
        f"/api/v1/demandes-acces/{asks['refuse'].json()['id']}/refus",
        json={"motif": "Personne inconnue du service"},
        headers={**hab.headers("referent"), "if-match": asks["refuse"].headers["etag"]},
    )
    assert refused.status_code == 200, refused.text

    assert (await run_job(database_url, "gateway.person-erasure", later(364))).demandes == 0
    erased = await run_job(database_url, "gateway.person-erasure", later(366))
    assert (erased.persons, erased.demandes) == (1, 1)
    assert await email_of(db_engine, await hab.person_id("refuse")) is None
    # A pending request is a current link: its author and message are kept.
    assert await email_of(db_engine, await hab.person_id("attente")) == "attente@test.invalid"
    async with db_engine.connect() as conn:
        rows = await conn.execute(
            select(DemandeAcces.status, DemandeAcces.message, DemandeAcces.reason).order_by(
                DemandeAcces.status
            )
        )
        assert rows.all() == [
            ("en attente", "Je suis attente, 06 00 00 00 00", None),
            ("refusée", None, "Personne inconnue du service"),
        ]
    shown = await hab.client.get(
        f"/api/v1/demandes-acces/{asks['refuse'].json()['id']}", headers=hab.headers("referent")
    )
    assert shown.status_code == 200
    assert (shown.json()["personne_nom"], shown.json()["personne_email"]) == ("Refuse", None)
    assert shown.json()["message"] is None


async def test_invitations_over_for_a_year_lose_their_email_and_their_events_are_purged(
    hab: HabRig, db_engine: AsyncEngine, database_url: str
) -> None:
    await hab.grant("referent", COLLECTIVITE_X, COLL, Role.referent, valid_until=later(1000))
    for email in ("ancienne@test.invalid", "annulee@test.invalid"):
        created = await hab.client.post(
            "/api/v1/invitations",
            json={"email": email, "organisation_id": str(COLLECTIVITE_X), "role": "lecteur"},
            headers=hab.headers("referent"),
        )
        assert created.status_code == 201, created.text
    cancelled = await hab.client.post(
        f"/api/v1/invitations/{created.json()['id']}/annulation", headers=hab.headers("referent")
    )
    assert cancelled.status_code == 200, cancelled.text
    # One expires after 7 days, the other was cancelled before: a year after that, their
    # addresses go.
    assert (await run_job(database_url, "gateway.person-erasure", later(370))).invitations == 0
    assert (await run_job(database_url, "gateway.person-erasure", later(373))).invitations == 2
    assert await scalar(db_engine, select(func.count()).where(Invitation.email.is_not(None))) == 0
    listed = await hab.client.get(
        f"/api/v1/invitations?organisation_id={COLLECTIVITE_X}", headers=hab.headers("referent")
    )
    assert listed.status_code == 200, listed.text
    assert [i["email"] for i in listed.json()["items"]] == [None, None]

    # Their events (with the invitee's address, read by the notifications within
    # seconds) are kept 30 days, then purged.
    events = select(func.count()).select_from(evenements)
    assert await run_job(database_url, "gateway.event-purge", later(29)) == 0
    assert await scalar(db_engine, events) == 2
    assert await run_job(database_url, "gateway.event-purge", later(31)) == 2
    assert await scalar(db_engine, events) == 0
