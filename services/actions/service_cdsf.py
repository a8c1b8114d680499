"""The collectivités' express agreement to send a bilan's petite-enfance part to the CDSF,
asked by the Caf and recalled weekly until given.

The seeds (003, art. 9): "Avec l'accord express des collectivités locales, la Caf peut
transmettre au CDSF les éléments de la CTG correspondant au schéma pluriannuel de
maintien et de développement de l'offre d'accueil du jeune enfant, ainsi que son bilan
intermédiaire et final." A Caf agent asks it on an adopted bilan (`demander`): the
referents of the collectivités concerned that have not agreed yet hear of it then
(week 0), and again each week of the request (`remind`, job
`actions.cdsf-agreement-reminders`) until they agree, the part becomes transmissible,
or the Caf withdraws the request (`retirer`). `rappels_accord_cdsf` keys each
(bilan, collectivité, week): recorded in the transaction of its event, never twice.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.convention_ref import ConventionRef
from kernel.errors import Conflict
from kernel.etag import Preconditions, etag_for
from kernel.principal import Principal
from services.actions import events
from services.actions import repository as repo
from services.actions import repository_suivis as srepo
from services.actions.history import BILAN, HISTORY
from services.actions.models import Bilan
from services.actions.rules import EtatBilan
from services.actions.service import require_caf_agent
from services.actions.service_bilans import load_bilan, missing_agreements

WEEK = dt.timedelta(days=7)
# Bilans read per page by the reminders' job.
BATCH = 200


async def _caf_agent_s_bilan(
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    bilan_id: uuid.UUID,
    what: str,
) -> tuple[Bilan, ConventionRef]:
    bilan, convention = await load_bilan(session, principal, bilan_id, for_update=True)
    require_caf_agent(principal, convention, what)
    preconditions.check(etag_for(bilan.id, bilan.version))
    return bilan, convention


async def demander(
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    bilan_id: uuid.UUID,
    now: dt.datetime,
) -> tuple[Bilan, ConventionRef]:
    """Ask the collectivités concerned for their agreement (again: nothing new)."""
    bilan, convention = await _caf_agent_s_bilan(
        session, principal, preconditions, bilan_id, "demander l'accord des collectivités"
    )
    if bilan.etat != EtatBilan.adopte:
        raise Conflict(
            "L'accord des collectivités se demande sur un bilan adopté.",
            extra={"code": "bilan-non-adopte"},
        )
    missing = await missing_agreements(session, bilan, convention)
    if bilan.petite_enfance_transmissible or not missing:
        raise Conflict(
            "Toutes les collectivités concernées ont déjà donné leur accord.",
            extra={"code": "accords-complets"},
        )
    if bilan.accords_demandes_le is not None:
        return bilan, convention
    before = BILAN.snapshot(bilan)
    bilan.accords_demandes_le = now
    bilan.accords_demandes_par = principal.subject
    await repo.touch(session, bilan)
    await session.flush()
    await HISTORY.record(
        session, principal, BILAN, bilan, before, evenement="demande des accords CDSF"
    )
    told = await srepo.add_rappel(session, bilan.id, missing, 0, now)
    if told:
        await events.accord_cdsf(session, principal, convention, bilan, told, semaine=0)
    return bilan, convention


async def retirer(
    session: AsyncSession, principal: Principal, preconditions: Preconditions, bilan_id: uuid.UUID
) -> tuple[Bilan, ConventionRef]:
    """Withdraw the request: no more reminders (none asked: nothing changes)."""
    bilan, convention = await _caf_agent_s_bilan(
        session, principal, preconditions, bilan_id, "retirer la demande d'accord"
    )
    if bilan.accords_demandes_le is None:
        return bilan, convention
    before = BILAN.snapshot(bilan)
    bilan.accords_demandes_le = None
    bilan.accords_demandes_par = None
    await repo.touch(session, bilan)
    await session.flush()
    await srepo.drop_rappels(session, bilan.id)
    await HISTORY.record(
        session, principal, BILAN, bilan, before, evenement="retrait de la demande des accords CDSF"
    )
    return bilan, convention


async def remind(sessionmaker: async_sessionmaker[AsyncSession], now: dt.datetime) -> int:
    """The reminders due at `now`: each request's n-th week (n ≥ 1) to the collectivités
    still to agree, one event per bilan and week (a week missed while the job was down
    is not sent late: its next week is). How many events were recorded."""
    recorded = 0
    after: uuid.UUID | None = None
    while True:
        async with sessionmaker() as session:
            page = await srepo.bilans_awaiting_agreement(session, after, BATCH)
        if not page:
            return recorded
        after = page[-1].id
        for bilan in page:
            assert bilan.accords_demandes_le is not None
            semaine = (now - bilan.accords_demandes_le) // WEEK
            if semaine < 1:
                continue
            async with sessionmaker() as session:
                convention = await repo.ref_by_id(session, bilan.convention_id)
                if convention is None:
                    continue
                missing = await missing_agreements(session, bilan, convention)
                told = await srepo.add_rappel(session, bilan.id, missing, semaine, now)
                if told:
                    await events.accord_cdsf(session, None, convention, bilan, told, semaine)
                    recorded += 1
                await session.commit()
