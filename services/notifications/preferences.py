"""How each person receives each family's e-mails: immediately, in a daily digest
(07:00 Europe/Paris), in a weekly one (Monday 07:00), or not at all.

A person who chose nothing gets the family's default: the workflow and reminder
families immediately, the conversation ones (`DIGEST_BY_DEFAULT`) daily, as issue 25
asks ("reminders and workflow immediate, the rest daily"); a family added to `Famille`
is immediate unless it joins that set. Preferences govern e-mail only: the in-app
notification is always recorded. The one-click unsubscribe (RFC 8058) sets a family to
"désactivé".

`modes_for` is the one question the senders ask (service._act, and any path that
e-mails a person).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Forbidden
from kernel.principal import Principal
from services.notifications import repository_preferences as repo
from services.notifications.models import Famille, ModeEnvoi

DIGEST_BY_DEFAULT = frozenset({Famille.discussions})
DIGEST_MODES = frozenset({ModeEnvoi.quotidien, ModeEnvoi.hebdomadaire})
MACHINE_CLIENT = (
    "Les préférences d'envoi sont celles d'une personne : un client machine ne reçoit "
    "pas d'e-mails."
)


def default_mode(famille: Famille) -> ModeEnvoi:
    return ModeEnvoi.quotidien if famille in DIGEST_BY_DEFAULT else ModeEnvoi.immediat


def default_modes() -> dict[str, str]:
    """Every family's default (for SQL: repository_preferences.digest_candidates)."""
    return {f.value: default_mode(f).value for f in Famille}


async def modes_for(
    session: AsyncSession, personne_ids: Sequence[uuid.UUID], famille: Famille
) -> dict[uuid.UUID, ModeEnvoi]:
    """Each person's mode for the family now (their choice, else the default)."""
    modes = dict.fromkeys(personne_ids, default_mode(famille))
    for personne_id, _, mode in await repo.chosen_modes(session, personne_ids, famille.value):
        modes[personne_id] = ModeEnvoi(mode)
    return modes


@dataclass(frozen=True)
class PreferenceView:
    famille: Famille
    mode: ModeEnvoi
    par_defaut: bool


def _person(principal: Principal) -> uuid.UUID:
    """The person calling; machine clients have no preferences (403)."""
    if (me := principal.person_id) is None:
        raise Forbidden(MACHINE_CLIENT)
    return me


async def my_preferences(session: AsyncSession, principal: Principal) -> list[PreferenceView]:
    """Every family, in the enum's order, with the caller's mode and whether it is the
    default."""
    me = _person(principal)
    chosen = {f: ModeEnvoi(m) for _, f, m in await repo.chosen_modes(session, [me])}
    return [
        PreferenceView(f, chosen.get(f.value, default_mode(f)), f.value not in chosen)
        for f in Famille
    ]


async def change(
    session: AsyncSession, principal: Principal, modes: Mapping[Famille, ModeEnvoi | None]
) -> list[PreferenceView]:
    """Set the families named (None: back to the default); the others are unchanged."""
    me = _person(principal)
    await repo.set_modes(session, me, {f.value: m.value if m else None for f, m in modes.items()})
    return await my_preferences(session, principal)


async def switch_off(
    session: AsyncSession, personne_id: uuid.UUID, familles: Sequence[Famille]
) -> None:
    """The one-click unsubscribe: the families set to "désactivé"."""
    await repo.set_modes(
        session, personne_id, {f.value: ModeEnvoi.desactive.value for f in familles}
    )


async def erase(session: AsyncSession, personne_ids: Sequence[uuid.UUID]) -> None:
    """A person erased by the gateway (its `personne.effacee` event): their preferences
    and the items waiting for their digest go."""
    await repo.erase_persons(session, personne_ids)
