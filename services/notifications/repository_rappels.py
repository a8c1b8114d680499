"""The SQL of the campaigns' reminders (services/notifications/rappels.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    String,
    Table,
    TableValuedAlias,
    Text,
    Uuid,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from kernel.people_ref import PersonneRef
from kernel.rappels_ref import RappelConvention
from services.notifications.models import Rappel
from services.notifications.repository import add

__all__ = [
    "add",
    "insert_new",
    "lock_grouping",
    "mark_grouped",
    "pending",
    "purge",
]

GROUPING_LOCK = "coop.notifications.rappels"


@dataclass
class Lines:
    """What a page of reminders is about, by organisation, column by column (one
    INSERT ... SELECT of unnest(...) per page, whatever its size)."""

    objet_id: list[uuid.UUID] = field(default_factory=list)
    org: list[uuid.UUID] = field(default_factory=list)
    periode: list[str] = field(default_factory=list)
    etape: list[str] = field(default_factory=list)
    destinataire: list[str] = field(default_factory=list)
    convention_id: list[uuid.UUID] = field(default_factory=list)
    convention_titre: list[str] = field(default_factory=list)
    titre: list[str] = field(default_factory=list)
    nombre: list[int | None] = field(default_factory=list)
    date_limite: list[dt.date] = field(default_factory=list)
    caf_id: list[uuid.UUID] = field(default_factory=list)

    def add(
        self,
        item: RappelConvention,
        objet_id: uuid.UUID,
        org: uuid.UUID,
        destinataire: str,
        titre: str,
        nombre: int | None,
    ) -> None:
        self.objet_id.append(objet_id)
        self.org.append(org)
        self.periode.append(item.periode)
        self.etape.append(item.etape)
        self.destinataire.append(destinataire)
        self.convention_id.append(item.convention_id)
        self.convention_titre.append(item.convention_titre)
        self.titre.append(titre)
        self.nombre.append(nombre)
        self.date_limite.append(item.date_limite)
        self.caf_id.append(item.caf_id)


@dataclass
class People:
    """The persons of the organisations a page names (one per grant)."""

    org: list[uuid.UUID] = field(default_factory=list)
    personne_id: list[uuid.UUID] = field(default_factory=list)
    nom: list[str | None] = field(default_factory=list)
    adresse: list[str | None] = field(default_factory=list)

    def add(self, org: uuid.UUID, person: PersonneRef) -> None:
        self.org.append(org)
        self.personne_id.append(person.id)
        self.nom.append(person.nom)
        self.adresse.append(person.email.lower() if person.email else None)


def _unnest(name: str, columns: dict[str, TypeEngine[Any]]) -> TableValuedAlias:
    arrays = [bindparam(f"{name}_{c}", type_=ARRAY(t)) for c, t in columns.items()]
    return func.unnest(*arrays).table_valued(*columns).render_derived(name=name)


_LINE_TYPES: dict[str, TypeEngine[Any]] = {
    "objet_id": Uuid(),
    "org": Uuid(),
    "periode": String(),
    "etape": String(),
    "destinataire": String(),
    "convention_id": Uuid(),
    "convention_titre": Text(),
    "titre": Text(),
    "nombre": Integer(),
    "date_limite": Date(),
    "caf_id": Uuid(),
}
_PEOPLE_TYPES: dict[str, TypeEngine[Any]] = {
    "org": Uuid(),
    "personne_id": Uuid(),
    "nom": String(),
    "adresse": String(),
}
_l = _unnest("l", _LINE_TYPES)
_p = _unnest("p", _PEOPLE_TYPES)
_FROM_PAGE = select(
    _p.c.personne_id,
    *(_l.c[c] for c in _LINE_TYPES if c != "org"),
    _p.c.nom,
    _p.c.adresse,
    bindparam("cree_le", type_=DateTime(timezone=True)),
).select_from(_l.join(_p, _p.c.org == _l.c.org))
_INSERT = (
    insert(cast(Table, Rappel.__table__))
    .from_select(
        ["personne_id", *(c for c in _LINE_TYPES if c != "org"), "nom", "adresse", "cree_le"],
        _FROM_PAGE,
    )
    .on_conflict_do_nothing()
)


async def insert_new(
    session: AsyncSession, lines: Lines, people: People, cree_le: dt.datetime
) -> int:
    """Each line for each person of its organisation, unless already recorded (the key
    decides; a person twice on a line is once); how many were new."""
    if not lines.org or not people.org:
        return 0
    params: dict[str, object] = {"cree_le": cree_le}
    params.update({f"l_{c}": v for c, v in vars(lines).items()})
    params.update({f"p_{c}": v for c, v in vars(people).items()})
    result = await session.execute(_INSERT, params)
    return int(getattr(result, "rowcount", 0))


class RappelRow(NamedTuple):
    """A pending reminder, as its message is written from it."""

    personne_id: uuid.UUID
    objet_id: uuid.UUID
    periode: str
    etape: str
    destinataire: str
    convention_id: uuid.UUID
    convention_titre: str
    titre: str
    nombre: int | None
    date_limite: dt.date
    caf_id: uuid.UUID
    nom: str | None
    adresse: str | None


_ROW = [getattr(Rappel, f) for f in RappelRow._fields]


async def lock_grouping(session: AsyncSession) -> None:
    """Held until the transaction ends: one grouper at a time."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(GROUPING_LOCK))))


async def pending(session: AsyncSession, persons: int) -> list[RappelRow]:
    """The pending reminders of up to `persons` persons (plain rows: a national run
    reads a hundred thousand of them)."""
    who = (
        select(Rappel.personne_id)
        .where(Rappel.notification_id.is_(None))
        .group_by(Rappel.personne_id)
        .order_by(Rappel.personne_id)
        .limit(persons)
    )
    stmt = select(*_ROW).where(
        Rappel.notification_id.is_(None), Rappel.personne_id.in_(who.scalar_subquery())
    )
    return [RappelRow._make(r) for r in await session.execute(stmt)]


async def mark_grouped(session: AsyncSession, grouped: Mapping[uuid.UUID, uuid.UUID]) -> None:
    """Each person's pending reminders, grouped into their message (person -> its id)."""
    if not grouped:
        return
    m = (
        func.unnest(
            bindparam("pids", list(grouped), type_=ARRAY(Uuid)),
            bindparam("nids", list(grouped.values()), type_=ARRAY(Uuid)),
        )
        .table_valued("pid", "nid")
        .render_derived()
    )
    await session.execute(
        update(Rappel)
        .where(Rappel.personne_id == m.c.pid, Rappel.notification_id.is_(None))
        .values(notification_id=m.c.nid)
        .execution_options(synchronize_session=False)
    )


async def purge(session: AsyncSession, before: dt.datetime) -> int:
    """Hourly, a scan (an index on `cree_le` would slow every run's inserts more)."""
    result = await session.execute(delete(Rappel).where(Rappel.cree_le < before))
    return int(getattr(result, "rowcount", 0))
