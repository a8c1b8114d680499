"""Reading the plan's history (`kernel.history`): an object's history, scoped like the
object (404 outside the reader's scope: the convention's readers), still readable once
the object is deleted (its deletion last); this service's part of a convention's feed.

An axe's history shows its indicators' rows too, an action's its sous-actions' and its
indicators', an indicator's its values' (`History.object_page`)."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import NotFound
from kernel.history import EntreeHistorique
from kernel.pagination import Page, PageParams
from kernel.principal import Principal
from services.actions import repository as repo
from services.actions.dependencies import ActionsContext
from services.actions.history import ACTION, AXE, HISTORY, INDICATEUR, SOUS_ACTION
from services.actions.models import Action, Axe, Indicateur

Entries = Page[EntreeHistorique]


async def _convention(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    live: uuid.UUID | None,
    objet_id: uuid.UUID,
    kinds: Collection[str],
    missing: str,
    parent_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """The convention of an object, live or known to the history, if the reader sees it:
    else `missing` (one answer whether it never existed or lies outside the scope)."""
    convention_id = live or await HISTORY.convention_of(
        session, objet_id, kinds, parent_id=parent_id
    )
    if convention_id is None:
        raise NotFound(missing)
    try:
        await ctx.replica.readable(session, convention_id, principal)
    except NotFound:
        raise NotFound(missing) from None
    return convention_id


async def axe_history(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    axe_id: uuid.UUID,
    page: PageParams,
) -> Entries:
    await ctx.replica.readable(session, convention_id, principal)
    live = await repo.convention_of(session, Axe, axe_id)
    found = await _convention(ctx, session, principal, live, axe_id, [AXE.name], "Axe introuvable.")
    if found != convention_id:
        raise NotFound("Axe introuvable.")
    return await HISTORY.object_page(session, axe_id, page, convention_id=convention_id)


async def _action_convention(
    ctx: ActionsContext, session: AsyncSession, principal: Principal, action_id: uuid.UUID
) -> uuid.UUID:
    live = await repo.convention_of(session, Action, action_id)
    kinds = [ACTION.name, SOUS_ACTION.name]
    return await _convention(ctx, session, principal, live, action_id, kinds, "Action introuvable.")


async def action_history(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    action_id: uuid.UUID,
    page: PageParams,
) -> Entries:
    convention_id = await _action_convention(ctx, session, principal, action_id)
    return await HISTORY.object_page(session, action_id, page, convention_id=convention_id)


async def indicateur_history(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    indicateur_id: uuid.UUID,
    *,
    action_id: uuid.UUID | None = None,
    convention_id: uuid.UUID | None = None,
) -> Entries:
    """An indicator of an action (`action_id`), or of the convention or one of its axes
    (`convention_id`)."""
    missing = "Indicateur introuvable."
    if action_id is not None:
        convention_id = await _action_convention(ctx, session, principal, action_id)
    elif convention_id is not None:
        await ctx.replica.readable(session, convention_id, principal)
    live = await repo.convention_of(session, Indicateur, indicateur_id, action_id=action_id)
    found = await _convention(
        ctx, session, principal, live, indicateur_id, [INDICATEUR.name], missing, action_id
    )
    if found != convention_id:
        raise NotFound(missing)
    return await HISTORY.object_page(session, indicateur_id, page, convention_id=convention_id)


async def feed(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    page: PageParams,
) -> Entries:
    """This service's part of the convention's feed (`kernel.history.History.feed`)."""
    await ctx.replica.readable(session, convention_id, principal)
    return await HISTORY.feed(session, convention_id, page)
