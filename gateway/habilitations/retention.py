"""What the gateway keeps about people once they have left (the job
`gateway.person-erasure`, every `COOP_RETENTION_SWEEP_SECONDS`).

A person whose last grant ended (revoked, expired; or whose access request was refused)
more than `COOP_GATEWAY_PERSON_RETENTION_DAYS` ago, and who has not been seen since, has
their e-mail erased: it served to reach them and to match invitations, and nothing is
left to reach them about. Their subject and display name stay: the histories of the
conventions name who acted, and a public-service record does not lose its authors
(docs/architecture.md, "What is kept about people"). A person with a current
grant, or a pending request, is never touched. Invitations over for as long lose their
e-mail, decided access requests their requester's message.

Should they come back, their next login records their e-mail again from their token.

What other services keep about them goes through the gateway's events: the erasure
records `personne.effacee` in the same transaction, and the notifications service,
which follows that feed, drops their preferences and pending digest items.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.habilitations import repository as repo
from gateway.habilitations.events import persons_erased


@dataclass(frozen=True)
class Erased:
    persons: int
    invitations: int
    demandes: int


async def erase_departed(
    sessionmaker: async_sessionmaker[AsyncSession], now: dt.datetime, retention_days: int
) -> Erased:
    """One pass of the rule as of `now` (one transaction)."""
    cutoff = now - dt.timedelta(days=retention_days)
    async with sessionmaker() as session:
        persons = await repo.erase_departed_persons(session, now, cutoff)
        erased = Erased(
            persons=len(persons),
            invitations=await repo.erase_ended_invitations(session, cutoff),
            demandes=await repo.erase_decided_request_messages(session, cutoff),
        )
        if persons:  # last: the outbox's lock is held until the commit
            await persons_erased(session, persons)
        await session.commit()
    return erased
