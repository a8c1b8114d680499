"""The history's kernel (issue 24): per-field diffs, and merging a feed's parts."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.database import create_sessionmaker
from kernel.history import EntreeHistorique, FeedCursor, History, Kind, diff, merge_feed
from kernel.pagination import Page, PageParams

KIND = Kind("action", {"titre": "Titre", "cibles": "Cibles", "echeance": "Échéance"})


def test_a_change_lists_the_fields_that_changed_with_their_labels() -> None:
    before = KIND.snapshot({"titre": "A", "cibles": {"2026": Decimal("10")}, "echeance": None})
    after = KIND.snapshot(
        {"titre": "A", "cibles": {"2026": Decimal("12")}, "echeance": dt.date(2026, 6, 30)}
    )
    assert diff(KIND, before, after) == [
        {"champ": "cibles", "libelle": "Cibles", "avant": {"2026": "10"}, "apres": {"2026": "12"}},
        {"champ": "echeance", "libelle": "Échéance", "avant": None, "apres": "2026-06-30"},
    ]


def test_a_creation_lists_what_was_set_and_a_deletion_what_was_there() -> None:
    values = KIND.snapshot({"titre": "A", "cibles": {}, "echeance": None})
    assert diff(KIND, None, values) == [
        {"champ": "titre", "libelle": "Titre", "avant": None, "apres": "A"}
    ]
    assert diff(KIND, values, None) == [
        {"champ": "titre", "libelle": "Titre", "avant": "A", "apres": None}
    ]
    assert diff(KIND, values, values) == []


def _entry(source: str, id_: int, at: dt.datetime) -> EntreeHistorique:
    return EntreeHistorique(
        id=id_,
        source=source,
        objet_type="action",
        objet_id=uuid.uuid4(),
        objet_libelle=None,
        parent_id=None,
        convention_id=None,
        evenement="modification",
        le=at,
        auteur="x",
        auteur_nom=None,
        client=None,
        changements=[],
        motif=None,
        details={},
    )


def test_a_feed_keeps_the_newest_entries_of_all_parts_and_resumes_after_the_last() -> None:
    """Ordered by (time, source, id), newest first: a tie in time is broken the same way
    by every service, so the cursor made of the last entry kept means the same to each."""
    t0 = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    t1 = t0 + dt.timedelta(seconds=1)
    conventions = Page(items=[_entry("conventions", 9, t1), _entry("conventions", 8, t0)])
    actions = Page(items=[_entry("actions", 5, t1), _entry("actions", 4, t0)], next_cursor="more")
    page = merge_feed([conventions, actions], 3)
    assert [(e.source, e.id) for e in page.items] == [
        ("conventions", 9),
        ("actions", 5),
        ("conventions", 8),
    ]
    assert page.next_cursor is not None
    cursor = FeedCursor.decode(page.next_cursor)
    assert cursor == FeedCursor(t0, "conventions", 8)
    # Every part fits and none has more: the last page.
    assert merge_feed([conventions], 3).next_cursor is None
    # A part with more beyond the page: another page, even if the page is not full.
    assert merge_feed([actions], 3).next_cursor is not None


async def test_a_service_resumes_its_part_after_any_services_cursor(db_engine: AsyncEngine) -> None:
    """Three rows of one service at the same instant and one later. Newest first, ties
    by service name then id, descending: after the cursor of a service sorting after it
    at that instant, all three are still to come; after one sorting before it, none;
    after one of its own, those below its id."""
    from services.conventions.models import historique

    convention = uuid.uuid4()
    at = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    async with db_engine.begin() as conn:
        for le in (at, at, at, at + dt.timedelta(seconds=1)):
            await conn.execute(
                insert(historique).values(
                    convention_id=convention,
                    objet_type="convention",
                    objet_id=convention,
                    evenement="modification",
                    changements=[],
                    auteur_id="x",
                    le=le,
                )
            )
    history = History(historique, "conventions")
    sessionmaker = create_sessionmaker(db_engine)

    async def after(cursor: FeedCursor | None) -> list[int]:
        async with sessionmaker() as session:
            params = PageParams(limit=10, cursor=cursor.encode() if cursor else None)
            return [e.id for e in (await history.feed(session, convention, params)).items]

    everything = await after(None)
    assert len(everything) == 4
    latest, same_instant = everything[0], everything[1:]
    assert await after(FeedCursor(at, "documents", 0)) == same_instant
    assert await after(FeedCursor(at, "actions", 10**9)) == []
    assert await after(FeedCursor(at, "conventions", same_instant[1])) == same_instant[2:]
    assert latest not in await after(FeedCursor(at + dt.timedelta(seconds=1), "actions", 0))
