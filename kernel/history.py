"""The history of everything: who changed what, when, and through which client.

Each app keeps one generic table, ``<schema>.historique`` (`history_table`), keyed by
object kind and id: one migration and one append-only trigger per app (not one per
object), one index for an object's history and one for the convention-wide feed, and a
new kind of object needs a `Kind`, never a table. A row says who (the principal's id and
display name at the time), through which client (the app or partner system, from the
internal token), when (the transaction's time), what (per field: label, before, after;
for a creation the values, for a deletion what was deleted) and, for the workflow's
steps, the step's name, reason and details.

Writing: a service takes ``before = KIND.snapshot(obj)``, changes the object, flushes,
then calls `History.record` once; the row is inserted in the request's transaction.
The table refuses UPDATE and DELETE (`kernel.migrations.make_append_only`).

Reading: `History.object_page` (an object, and the objects under it: an action's
sous-actions and suivis, an indicator's values), newest first; `History.feed` one
app's part of a convention's feed, after the feed's cursor (`FeedCursor`), which the
gateway merges across apps (`gateway/historique.py`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, JsonValue
from pydantic_core import to_jsonable_python
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.fields import Auteur, Le
from kernel.pagination import Page, PageParams, after_keyset, decode_cursor, encode_cursor
from kernel.principal import Principal

HISTORY_TABLE = "historique"

CREATION = "création"
MODIFICATION = "modification"
SUPPRESSION = "suppression"


def history_table(metadata: MetaData) -> Table:
    """The app's history, in its own schema (`metadata`'s)."""
    return Table(
        HISTORY_TABLE,
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        # Null for objects of no convention (the organisations' registry).
        Column("convention_id", Uuid),
        Column("objet_type", String(40), nullable=False),
        Column("objet_id", Uuid, nullable=False),
        # The object it belongs to (a sous-action's action, a value's indicator): its
        # history shows this row too.
        Column("parent_id", Uuid),
        Column("objet_libelle", String(300)),
        Column("evenement", String(60), nullable=False),
        Column("changements", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
        Column("motif", Text),
        Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("auteur_id", String(200), nullable=False),
        Column("auteur_nom", String(300)),
        Column("client", String(255)),
        Column("le", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index(None, "convention_id", "le", "id"),
        Index(None, "objet_id", "le", "id"),
        Index(None, "parent_id", "le", "id"),
    )


# --- who -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Author:
    """Who a history row names: an id, the display name at the time, the client used."""

    id: str
    name: str | None
    client: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Author:
        return cls(principal.subject, principal.name, principal.client)


# Scheduled work (a purge, the antivirus' verdict) and the operators' CLI.
SYSTEM = Author("système", "Coopération (traitement automatique)")


# --- what ----------------------------------------------------------------------------

Snapshot = dict[str, JsonValue]


@dataclass(frozen=True)
class Kind:
    """One kind of object the history records: its name (`objet_type`, French), the
    fields it follows with their French labels (in the order shown), and which of its
    attributes name it, hold its convention and its parent."""

    name: str
    fields: Mapping[str, str]
    title: str | None = None
    convention: str | None = "convention_id"
    parent: str | None = None
    # Fields whose changes are recorded without their values (free text erased later:
    # the history is append-only, it must never hold them).
    withheld: frozenset[str] = frozenset()

    def snapshot(self, obj: object) -> Snapshot:
        """The followed fields' values as JSON (an ORM object or a row mapping)."""
        return {name: jsonable(_get(obj, name)) for name in self.fields}


def _get(obj: object, name: str) -> Any:
    return obj[name] if isinstance(obj, Mapping) else getattr(obj, name)


def jsonable(value: object) -> JsonValue:
    """As JSON carries it: decimals and UUIDs as strings, dates in ISO 8601. A decimal
    loses its trailing zeros: 12 sent and 12.00 read back from a NUMERIC column are one
    value, not a change."""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}" if value.is_finite() else str(value)
    result: JsonValue = to_jsonable_python(value)
    return result


def diff(kind: Kind, before: Snapshot | None, after: Snapshot | None) -> list[dict[str, Any]]:
    """Per field: label, before and after. A creation lists what was set, a deletion what
    was there (empty fields left out); a change only what changed. A withheld field
    says that it changed, never its values."""
    out: list[dict[str, Any]] = []
    for name, label in kind.fields.items():
        old = None if before is None else before.get(name)
        new = None if after is None else after.get(name)
        if old != new and not (_empty(old) and _empty(new)):
            if name in kind.withheld:
                old = new = None
            out.append({"champ": name, "libelle": label, "avant": old, "apres": new})
    return out


def _empty(value: JsonValue) -> bool:
    return value is None or value == [] or value == {} or value == ""


# --- the API's view ------------------------------------------------------------------


class Changement(BaseModel):
    champ: str = Field(description="Nom du champ dans l'API.")
    libelle: str = Field(description="Libellé du champ, en français.")
    avant: JsonValue = Field(default=None, description="Valeur avant (null à la création).")
    apres: JsonValue = Field(default=None, description="Valeur après (null à la suppression).")


class EntreeHistorique(BaseModel):
    id: int = Field(description="Numéro de l'entrée dans l'historique de son service.")
    source: str = Field(
        description="Service qui l'a enregistrée : conventions, actions, documents."
    )
    objet_type: str = Field(description="Nature de l'objet : convention, action, document…")
    objet_id: uuid.UUID = Field(description="Identifiant de l'objet concerné.")
    objet_libelle: str | None = Field(description="Titre de l'objet à ce moment-là.")
    parent_id: uuid.UUID | None = Field(
        description="L'objet auquel il appartient (l'action d'une sous-action ou d'un suivi, "
        "l'indicateur d'une valeur, la convention d'un signataire)."
    )
    convention_id: uuid.UUID | None = Field(
        description="La convention de l'objet (null pour un objet hors convention : une "
        "organisation du répertoire)."
    )
    evenement: str = Field(description="création, modification, suppression, ou l'étape.")
    le: Le
    auteur: Auteur
    auteur_nom: str | None = Field(
        description="Nom de l'auteur tel qu'il était à ce moment-là (null s'il n'est pas connu)."
    )
    client: str | None = Field(
        description="Application ou système partenaire utilisé (client OIDC), null s'il "
        "n'est pas connu (entrées antérieures, traitements automatiques)."
    )
    changements: list[Changement] = Field(
        description="Champ par champ : avant, après (à la création les valeurs, à la "
        "suppression ce qui a été supprimé)."
    )
    motif: str | None = Field(description="Motif donné par l'auteur (null s'il n'en a pas donné).")
    details: dict[str, JsonValue] = Field(
        description="Précisions propres à l'événement (par exemple les dates d'une résiliation)."
    )


# --- the feed's cursor ---------------------------------------------------------------


@dataclass(frozen=True)
class FeedCursor:
    """A position in a convention's feed, merged across apps: the feed is ordered by
    (time, source, id), newest first, so one position is meaningful to every app."""

    le: dt.datetime
    source: str
    id: int

    def encode(self) -> str:
        return encode_cursor([self.le, self.source, self.id])

    @classmethod
    def decode(cls, cursor: str | None) -> FeedCursor | None:
        if cursor is None:
            return None
        le, source, id_ = decode_cursor(cursor, [dt.datetime, str, int])
        return cls(le, source, id_)

    @classmethod
    def of(cls, entry: EntreeHistorique) -> FeedCursor:
        return cls(entry.le, entry.source, entry.id)


def feed_key(entry: EntreeHistorique) -> tuple[dt.datetime, str, int]:
    """The feed's sort key (sorted in reverse: newest first)."""
    return (entry.le, entry.source, entry.id)


# --- the recorder --------------------------------------------------------------------

_UNSET: Any = object()


class History:
    """One app's history table, and the app's name as a feed's `source`."""

    def __init__(self, table: Table, source: str) -> None:
        self.table = table
        self.source = source

    async def record(
        self,
        session: AsyncSession,
        who: Principal | Author,
        kind: Kind,
        obj: object,
        before: Snapshot | None,
        *,
        deleted: bool = False,
        evenement: str | None = None,
        motif: str | None = None,
        details: Mapping[str, Any] | None = None,
        objet_id: uuid.UUID | None = None,
        convention_id: uuid.UUID | None = _UNSET,
        parent_id: uuid.UUID | None = _UNSET,
    ) -> bool:
        """One row for one write of `obj` (after the service's changes: `before` was
        taken first; None for a creation); `deleted` for a deletion. Without a named
        `evenement`, a write that changed no followed field records nothing (False)."""
        after = None if deleted else kind.snapshot(obj)
        changes = diff(kind, before, after)
        if evenement is None:
            if not changes:
                return False
            evenement = CREATION if before is None else SUPPRESSION if deleted else MODIFICATION
        author = who if isinstance(who, Author) else Author.of(who)
        title = _get(obj, kind.title) if kind.title else None
        if convention_id is _UNSET:
            convention_id = _get(obj, kind.convention) if kind.convention else None
        if parent_id is _UNSET:
            parent_id = _get(obj, kind.parent) if kind.parent else None
        await session.execute(
            insert(self.table).values(
                convention_id=convention_id,
                objet_type=kind.name,
                objet_id=objet_id if objet_id is not None else _get(obj, "id"),
                parent_id=parent_id,
                objet_libelle=None if title is None else str(title)[:300],
                evenement=evenement,
                changements=changes,
                motif=motif,
                details=jsonable(dict(details or {})),
                auteur_id=author.id,
                auteur_nom=author.name,
                client=author.client,
            )
        )
        return True

    def _entry(self, row: Any) -> EntreeHistorique:
        return EntreeHistorique(
            id=row.id,
            source=self.source,
            objet_type=row.objet_type,
            objet_id=row.objet_id,
            objet_libelle=row.objet_libelle,
            parent_id=row.parent_id,
            convention_id=row.convention_id,
            evenement=row.evenement,
            le=row.le,
            auteur=row.auteur_id,
            auteur_nom=row.auteur_nom,
            client=row.client,
            changements=[Changement.model_validate(c) for c in row.changements],
            motif=row.motif,
            details=row.details,
        )

    async def convention_of(
        self,
        session: AsyncSession,
        objet_id: uuid.UUID,
        objet_types: Collection[str],
        *,
        parent_id: uuid.UUID | None = None,
    ) -> uuid.UUID | None:
        """The convention an object of one of `objet_types` (under `parent_id`, when
        given) was recorded in; None when it has no row. How a reader's scope is found
        for an object deleted since: its history outlives it."""
        t = self.table
        where = [t.c.objet_id == objet_id, t.c.objet_type.in_(objet_types)]
        if parent_id is not None:
            where.append(t.c.parent_id == parent_id)
        stmt = select(t.c.convention_id).where(*where).order_by(t.c.le.desc()).limit(1)
        found: uuid.UUID | None = (await session.execute(stmt)).scalar_one_or_none()
        return found

    async def object_page(
        self,
        session: AsyncSession,
        objet_id: uuid.UUID,
        page: PageParams,
        *,
        objet_type: str | None = None,
        convention_id: uuid.UUID | None = None,
        visible: Any = None,
    ) -> Page[EntreeHistorique]:
        """An object's history and that of the objects under it, newest first (the
        caller checked that the reader sees the object, or its convention: then
        `convention_id` keeps to that convention's rows; `visible`: a further condition
        on the rows, as for `feed`). With `objet_type`, that object's own rows only."""
        t = self.table
        where = [or_(t.c.objet_id == objet_id, t.c.parent_id == objet_id)]
        if objet_type is not None:
            where = [t.c.objet_id == objet_id, t.c.objet_type == objet_type]
        if convention_id is not None:
            where.append(t.c.convention_id == convention_id)
        if visible is not None:
            where.append(visible)
        resume = after_keyset([t.c.le, t.c.id], page.cursor, descending=True)
        if resume is not None:
            where.append(resume)
        stmt = select(t).where(*where).order_by(t.c.le.desc(), t.c.id.desc())
        rows = (await session.execute(stmt.limit(page.limit + 1))).all()
        kept = rows[: page.limit]
        more = len(rows) > page.limit and kept
        return Page[EntreeHistorique](
            items=[self._entry(r) for r in kept],
            next_cursor=encode_cursor([kept[-1].le, kept[-1].id]) if more else None,
        )

    async def feed(
        self,
        session: AsyncSession,
        convention_id: uuid.UUID,
        page: PageParams,
        *,
        visible: Any = None,
    ) -> Page[EntreeHistorique]:
        """This app's part of a convention's feed after the feed's cursor (the caller
        checked the convention's scope; `visible`: a further condition on the rows).
        `next_cursor` only says whether this app has more: the gateway makes the
        feed's own cursor from the entries it keeps."""
        t = self.table
        where: list[Any] = [t.c.convention_id == convention_id]
        after = FeedCursor.decode(page.cursor)
        if after is not None:
            where.append(_after_feed(t, self.source, after))
        if visible is not None:
            where.append(visible)
        stmt = select(t).where(*where).order_by(t.c.le.desc(), t.c.id.desc())
        rows = (await session.execute(stmt.limit(page.limit + 1))).all()
        kept = [self._entry(r) for r in rows[: page.limit]]
        more = len(rows) > page.limit and kept
        return Page[EntreeHistorique](
            items=kept, next_cursor=FeedCursor.of(kept[-1]).encode() if more else None
        )


def _after_feed(t: Table, source: str, after: FeedCursor) -> Any:
    """Rows after `after` in the feed's order (time, source, id), descending, for this
    app's rows (all of one source): an index range on (le, id) in each case."""
    if source < after.source:
        return t.c.le <= after.le
    if source > after.source:
        return t.c.le < after.le
    return tuple_(t.c.le, t.c.id) < tuple_(after.le, after.id)


def merge_feed(parts: Sequence[Page[EntreeHistorique]], limit: int) -> Page[EntreeHistorique]:
    """Apps' parts of a feed (each after the same cursor) as the feed's page: the newest
    `limit` entries, and a cursor when any app has more beyond them."""
    merged = sorted((e for p in parts for e in p.items), key=feed_key, reverse=True)
    kept = merged[:limit]
    more = len(merged) > limit or any(p.next_cursor is not None for p in parts)
    return Page[EntreeHistorique](
        items=kept, next_cursor=FeedCursor.of(kept[-1]).encode() if more and kept else None
    )


__all__ = [
    "CREATION",
    "MODIFICATION",
    "SUPPRESSION",
    "SYSTEM",
    "Author",
    "Changement",
    "EntreeHistorique",
    "FeedCursor",
    "History",
    "Kind",
    "Snapshot",
    "diff",
    "history_table",
    "jsonable",
    "merge_feed",
]
