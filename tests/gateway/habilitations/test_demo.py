"""The demo habilitations: personas resolve to their grants; loading twice adds nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from coop import demo_ids
from coop.demo_gateway import demo_step, dev_issuer
from gateway.habilitations.models import Habilitation
from gateway.habilitations.resolver import DbGrantResolver
from gateway.identity import CallerIdentity
from kernel.database import create_sessionmaker
from kernel.principal import PrincipalKind, Role


async def test_demo_grants_are_idempotent_and_resolved(db_engine: AsyncEngine) -> None:
    sessionmaker = create_sessionmaker(db_engine)
    for _ in range(2):
        async with sessionmaker() as session:
            await demo_step(session)
            await session.commit()
    async with sessionmaker() as session:
        count = (await session.execute(select(func.count()).select_from(Habilitation))).scalar()
    assert count == 11
    resolver = DbGrantResolver(sessionmaker)
    referent = await resolver.principal_for(
        CallerIdentity(
            dev_issuer(),
            str(demo_ids.demo_id("person:collectivite-referent")),
            PrincipalKind.person,
        )
    )
    assert [(g.organisation_id, g.role) for g in referent.grants] == [
        (demo_ids.VOIRON, Role.referent)
    ]
    back_office = await resolver.principal_for(
        CallerIdentity(dev_issuer(), "back-office", PrincipalKind.client)
    )
    assert [(g.organisation_id, g.role) for g in back_office.grants] == [
        (demo_ids.CAF_ISERE, Role.agent)
    ]
