"""The grant resolver's cache: one query per miss, invalidation, validity boundaries."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.habilitations import service
from gateway.habilitations.models import Person
from gateway.habilitations.resolver import DbGrantResolver
from gateway.identity import CallerIdentity
from kernel.database import create_sessionmaker
from kernel.principal import OrganisationKind, PrincipalKind, Role
from tests.support.personas import COLLECTIVITE_X

ISSUER = "http://idp.test"


async def test_cache_hits_invalidation_and_end_of_validity(db_engine: AsyncEngine) -> None:
    sessionmaker = create_sessionmaker(db_engine)
    now = [1000.0]
    resolver = DbGrantResolver(sessionmaker, ttl_seconds=60, clock=lambda: now[0])
    who = CallerIdentity(ISSUER, "sub-1", PrincipalKind.person, "a@test.invalid", "A")
    first = await resolver.principal_for(who)
    assert first.grants == ()
    assert resolver.loads == 1
    await resolver.principal_for(who)
    assert resolver.loads == 1  # served from memory

    async with sessionmaker() as session:
        person = await session.get(Person, uuid.UUID(first.subject))
        assert person is not None
        assert person.email == "a@test.invalid"
        await service.create_grant(
            session,
            organisation_id=COLLECTIVITE_X,
            kind=OrganisationKind.collectivite,
            role=Role.lecteur,
            actor=service.Actor(None, "test"),
            person_id=person.id,
            valid_until=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30),
            resolver=resolver,
        )
        await session.commit()
    granted = await resolver.principal_for(who)
    assert [g.role for g in granted.grants] == [Role.lecteur]
    assert resolver.loads == 2
    # The entry does not outlive the grant's end (30 s), even with a 60 s TTL.
    now[0] += 31
    await resolver.principal_for(who)
    assert resolver.loads == 3


async def test_the_principal_names_the_caller_and_the_client_they_came_through(
    db_engine: AsyncEngine,
) -> None:
    """Issue 24: histories say who (their name at the time) and through which app; the
    same person through two apps gets two principals, each with its client; a token
    without a name keeps the name last recorded."""
    resolver = DbGrantResolver(create_sessionmaker(db_engine), ttl_seconds=60)
    mobile = CallerIdentity(ISSUER, "sub-2", PrincipalKind.person, None, "Agnès", "ctg-mobile")
    partner = CallerIdentity(ISSUER, "sub-2", PrincipalKind.person, None, None, "si-partenaire")
    first = await resolver.principal_for(mobile)
    second = await resolver.principal_for(partner)
    assert (first.name, first.client) == ("Agnès", "ctg-mobile")
    assert (second.name, second.client) == ("Agnès", "si-partenaire")
    assert first.subject == second.subject
    renamed = CallerIdentity(ISSUER, "sub-2", PrincipalKind.person, None, "Agnès M.", "ctg-2")
    assert (await resolver.principal_for(renamed)).name == "Agnès M."
