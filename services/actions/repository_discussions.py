"""Every SQL statement of the discussions: a thread's pages (oldest or newest first) and
its changes after a sync token (`repository_sync`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.reads import Keyset, columns
from services.actions.models import Action, Commentaire
from services.actions.repository_sync import ListQuery, list_query
from services.actions.schemas_discussions import OrdreFil


class CommentaireRow(NamedTuple):
    """A comment as CommentaireOut shows it, and its change number (delta sync)."""

    id: uuid.UUID
    convention_id: uuid.UUID
    action_id: uuid.UUID
    suivi_id: uuid.UUID | None
    periode: str | None
    auteur_id: str
    auteur_nom: str | None
    texte: str | None
    mentions: list[dict[str, object]]
    created_at: dt.datetime
    modifie_le: dt.datetime | None
    supprime_le: dt.datetime | None
    supprime_par: str | None
    version: int
    seq: int


def _thread(of_suivi: bool) -> Callable[[], Select[Any]]:
    """An action's own thread (``parent_id``), or one of its suivis' (``suivi_id``)."""

    def statement() -> Select[Any]:
        which: ColumnElement[bool] = (
            Commentaire.suivi_id == bindparam("suivi_id")
            if of_suivi
            else Commentaire.suivi_id.is_(None)
        )
        return select(*columns(CommentaireRow, Commentaire)).where(
            Commentaire.action_id == bindparam("parent_id"), which
        )

    return statement


# Per thread and order: its pages on (created_at, id), its changes on seq.
THREADS: dict[tuple[bool, OrdreFil], ListQuery[CommentaireRow]] = {
    (of_suivi, ordre): list_query(
        CommentaireRow,
        _thread(of_suivi),
        order=Keyset(
            (Commentaire.created_at, Commentaire.id),
            descending=ordre is OrdreFil.antechronologique,
        ),
        seq=Commentaire.seq,
        tombstone_kind="commentaire",
    )
    for of_suivi in (False, True)
    for ordre in OrdreFil
}


async def thread_authors(
    session: AsyncSession, action_id: uuid.UUID, suivi_id: uuid.UUID | None
) -> list[str]:
    """Who has written in a thread (its participants), in the order they first did."""
    which = Commentaire.suivi_id.is_(None) if suivi_id is None else Commentaire.suivi_id == suivi_id
    stmt = (
        select(Commentaire.auteur_id)
        .where(Commentaire.action_id == action_id, which)
        .group_by(Commentaire.auteur_id)
        .order_by(func.min(Commentaire.created_at))
    )
    return list((await session.execute(stmt)).scalars().all())


async def action_of(session: AsyncSession, c: Commentaire) -> Action:
    """The action of a comment in hand (its row stays while the comment does: cascade)."""
    return (await session.execute(select(Action).where(Action.id == c.action_id))).scalar_one()
