"""Every SQL statement of the follow-up: suivis, campaigns, "my work", bilans."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    CTE,
    ColumnElement,
    Date,
    Select,
    String,
    all_,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Uuid

from kernel.convention_ref import (
    SCOPE_CAFS,
    SCOPE_COLLECTIVITES,
    ReadScope,
    ScopeKind,
    name_of,
    readable_replica,
    scope_ids,
)
from kernel.principal import Principal
from kernel.reads import Keyset, KeysetPage, Read, RowType, Slice, columns
from services.actions.models import (
    AccordCdsf,
    Action,
    Axe,
    Bilan,
    Campagne,
    CompteursCampagne,
    CompteursPlan,
    Indicateur,
    RappelAccordCdsf,
    Suivi,
    SuiviEvenement,
    ValeurIndicateur,
    convention_ref,
)
from services.actions.repository import PLAN_ORDER, bury
from services.actions.repository_sync import list_query
from services.actions.rules import THEMATIQUE_PETITE_ENFANCE, EtatSuivi, StatutAction, Trimestre

ref = convention_ref
A_FAIRE = (EtatSuivi.brouillon.value, EtatSuivi.a_completer.value)


# --- suivis ----------------------------------------------------------------------------


async def suivi_of(
    session: AsyncSession, action_id: uuid.UUID, periode: str, *, for_update: bool = False
) -> Suivi | None:
    stmt = select(Suivi).where(Suivi.action_id == action_id, Suivi.periode == periode)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


class SuiviRow(NamedTuple):
    """A suivi as SuiviSummary shows it, and its change number (delta sync)."""

    id: uuid.UUID
    action_id: uuid.UUID
    periode: str
    etat: str
    revision: int
    statut_action: str
    avancement: int | None
    alerte: bool
    version: int
    updated_at: dt.datetime
    seq: int


SUIVIS_LIST = list_query(
    SuiviRow,
    lambda: select(*columns(SuiviRow, Suivi)).where(Suivi.action_id == bindparam("parent_id")),
    order=Keyset((Suivi.periode, Suivi.id)),
    seq=Suivi.seq,
    tombstone_kind="suivi",
)


async def evenements(session: AsyncSession, suivi_id: uuid.UUID) -> list[SuiviEvenement]:
    stmt = (
        select(SuiviEvenement)
        .where(SuiviEvenement.suivi_id == suivi_id)
        .order_by(SuiviEvenement.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def indicateur_ids_of(session: AsyncSession, action_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(Indicateur.id, Indicateur.unite).where(Indicateur.action_id == action_id)
    )
    return {r[0]: r[1] for r in rows}


# --- campaigns -------------------------------------------------------------------------


async def campagne(
    session: AsyncSession, convention_id: uuid.UUID, periode: str, *, for_update: bool = False
) -> Campagne | None:
    stmt = select(Campagne).where(
        Campagne.convention_id == convention_id, Campagne.periode == periode
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def campagnes_of(session: AsyncSession, convention_id: uuid.UUID) -> dict[str, dt.date]:
    rows = await session.execute(
        select(Campagne.periode, Campagne.date_limite).where(
            Campagne.convention_id == convention_id
        )
    )
    return {r[0]: r[1] for r in rows}


class CampagneActionRow(NamedTuple):
    """An action due a suivi this quarter, with its suivi's state (None: no suivi yet)."""

    action_id: uuid.UUID
    titre: str
    etat: str | None
    alerte: bool | None
    alerte_message: str | None


_CAMPAGNE_ACTIONS: Read[CampagneActionRow, None] = Read(
    CampagneActionRow,
    lambda part: (
        select(
            *columns(
                CampagneActionRow,
                Suivi,
                action_id=Action.id,
                titre=Action.titre,
            )
        )
        .join(Axe, Axe.id == Action.axe_id)
        .outerjoin(
            Suivi,
            and_(Suivi.action_id == Action.id, Suivi.periode == bindparam("periode", type_=String)),
        )
        .where(
            Action.convention_id == bindparam("convention_id"),
            Action.statut != StatutAction.abandonnee.value,
        )
        .order_by(*PLAN_ORDER)
    ),
    variants=(None,),
)


async def campaign_rows(
    session: AsyncSession, convention_id: uuid.UUID, periode: str
) -> list[CampagneActionRow]:
    """Each action due a suivi this quarter, with its suivi (if any)."""
    params = {"convention_id": convention_id, "periode": periode}
    return await _CAMPAGNE_ACTIONS.all(session, None, params)


def _active_during() -> ColumnElement[bool]:
    """Conventions in force during the quarter of the bind parameters ``t_debut`` and
    ``t_fin``."""
    return in_force_during(bindparam("t_debut", type_=Date), bindparam("t_fin", type_=Date))


def in_force_during(
    debut: ColumnElement[dt.date], fin_t: ColumnElement[dt.date]
) -> ColumnElement[bool]:
    """Conventions in force at some day of [debut, fin_t] (signed, begun, not ended nor
    résiliée before it: `rules.fin_effective`)."""
    fin = func.least(
        ref.c.date_fin,
        func.coalesce(ref.c.date_effet_resiliation - literal(1), ref.c.date_fin),
    )
    return and_(
        ref.c.statut != "en préparation",
        ref.c.date_debut <= fin_t,
        fin >= debut,
    )


class CompteursRow(NamedTuple):
    """A campaign's counters (Compteurs)."""

    actions: int
    brouillon: int
    soumis: int
    valide: int
    a_completer: int
    manquant: int
    en_retard: int
    alertes: int


COUNTERS = CompteursRow._fields


def _per_convention(kind: ScopeKind) -> Select[Any]:
    """Counters per convention of a scope for one quarter, as the campaign counters
    hold them (kept by triggers as suivis and actions change, migration 0006: no scan of
    the suivis). Missing and late are derived here: late depends on the due date and
    the day. Values as bind parameters (``periode``, ``default_due``, ``today``,
    ``t_debut``, ``t_fin`` and the scope's)."""
    due = func.coalesce(Campagne.date_limite, bindparam("default_due", type_=Date))
    actions = func.coalesce(CompteursPlan.actions, 0)
    etats = {
        name: func.coalesce(getattr(CompteursCampagne, name), 0)
        for name in ("brouillon", "soumis", "valide", "a_completer")
    }
    suivis = etats["brouillon"] + etats["soumis"] + etats["valide"] + etats["a_completer"]
    manquant = actions - suivis
    a_faire = manquant + etats["brouillon"] + etats["a_completer"]
    periode = bindparam("periode", type_=String)
    return (
        select(
            ref.c.id.label("convention_id"),
            ref.c.titre,
            ref.c.caf_id,
            name_of(ref, ref.c.caf_id).label("caf_nom"),
            due.label("date_limite"),
            actions.label("actions"),
            *[value.label(name) for name, value in etats.items()],
            manquant.label("manquant"),
            case((due < bindparam("today", type_=Date), a_faire), else_=0).label("en_retard"),
            func.coalesce(CompteursCampagne.alertes, 0).label("alertes"),
        )
        .select_from(ref)
        .outerjoin(CompteursPlan, CompteursPlan.convention_id == ref.c.id)
        .outerjoin(
            CompteursCampagne,
            and_(CompteursCampagne.convention_id == ref.c.id, CompteursCampagne.periode == periode),
        )
        .outerjoin(Campagne, and_(Campagne.convention_id == ref.c.id, Campagne.periode == periode))
        .where(readable_replica(ref, kind), _active_during())
    )


class CampagneConventionLigne(NamedTuple):
    convention_id: uuid.UUID
    titre: str
    caf_id: uuid.UUID
    caf_nom: str | None
    date_limite: dt.date
    compteurs: CompteursRow


class CampagneCafLigne(NamedTuple):
    caf_id: uuid.UUID
    caf_nom: str | None
    conventions: int
    compteurs: CompteursRow


class CampagneConventions(NamedTuple):
    """A line of a page of the campaign per convention, beside the totals over the whole
    scope (repeated on each line; the line is None on an empty page)."""

    total: CompteursRow
    ligne: CampagneConventionLigne | None


class CampagneCafs(NamedTuple):
    """The same, per Caf (national readers)."""

    total: CompteursRow
    ligne: CampagneCafLigne | None


def _with_totals(per: CTE, page: Select[Any], row: RowType, key: str) -> Select[Any]:
    """Totals over every row of `per` next to one page of it (ordered on its `key`), in a
    single statement; `row`: totals, then a line.

    `per` is a CTE referenced twice, so PostgreSQL computes it once (one row per
    convention of the scope); the LEFT JOIN keeps the totals row when the page is empty.
    """
    totals = select(*[func.coalesce(func.sum(per.c[c]), 0).label(c) for c in COUNTERS]).subquery(
        "totals"
    )
    lines = page.subquery("page")
    return (
        select(*columns(row, total=totals, ligne=lines))
        .select_from(totals.outerjoin(lines, true()))
        .order_by(lines.c[key])
    )


def _campaign_per_convention(part: Slice[ScopeKind]) -> Select[Any]:
    per = part.filtered(_per_convention(part.variant)).cte("per")
    page = part.paged(select(per), [per.c.convention_id])
    return _with_totals(per, page, CampagneConventions, "convention_id")


def _campaign_per_caf(part: Slice[ScopeKind]) -> Select[Any]:
    per = _per_convention(part.variant).cte("per")
    key = per.c.caf_id
    lines = select(
        key,
        # Every replica row of one Caf names it alike (a rename renumbers them all).
        func.max(per.c.caf_nom).label("caf_nom"),
        func.count().label("conventions"),
        *[func.sum(per.c[c]).label(c) for c in COUNTERS],
    ).group_by(key)
    # Resumed on the group's key: WHERE before grouping, as HAVING would after.
    return _with_totals(per, part.paged(lines, [key]), CampagneCafs, "caf_id")


# Built and compiled once per scope kind: building this statement cost the service more
# CPU than PostgreSQL took to run it (the Caf's campaign view at each quarter's end).
CAMPAGNE_CONVENTIONS: Read[CampagneConventions, ScopeKind] = Read(
    CampagneConventions,
    _campaign_per_convention,
    variants=ScopeKind,
    filters={"caf_id": lambda value: ref.c.caf_id == value},
    keyset=Keyset((ref.c.id,), key=lambda row: (row.ligne.convention_id,)),
)
CAMPAGNE_CAFS: Read[CampagneCafs, ScopeKind] = Read(
    CampagneCafs,
    _campaign_per_caf,
    variants=ScopeKind,
    keyset=Keyset((ref.c.caf_id,), key=lambda row: (row.ligne.caf_id,)),
)


async def campaign_view(
    session: AsyncSession,
    principal: Principal,
    t: Trimestre,
    default_due: dt.date,
    today: dt.date,
    *,
    by_caf: bool,
    caf_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[KeysetPage[CampagneConventions] | KeysetPage[CampagneCafs], CompteursRow]:
    """One keyset page of the campaign per convention (or per Caf: `by_caf`) of the
    principal's scope, and the totals over the whole scope."""
    scope = ReadScope.of(principal)
    params = {
        **scope.params,
        "periode": str(t),
        "default_due": default_due,
        "today": today,
        "t_debut": t.debut,
        "t_fin": t.fin,
        "caf_id": caf_id,
    }
    read = CAMPAGNE_CAFS if by_caf else CAMPAGNE_CONVENTIONS
    found = await read.page(session, scope.kind, params, limit=limit, cursor=cursor)
    total = found.rows[0].total if found.rows else CompteursRow(0, 0, 0, 0, 0, 0, 0, 0)
    return found, total


class ARenseignerRow(NamedTuple):
    """An action to fill in (ARenseigner, its quarter apart)."""

    action_id: uuid.UUID
    convention_id: uuid.UUID
    convention_titre: str
    caf_id: uuid.UUID
    caf_nom: str | None
    titre: str
    etat_suivi: str | None
    date_limite: dt.date


def _may_update(kind: ScopeKind) -> ColumnElement[bool]:
    """Actions the caller may update: its Cafs' (Caf agents), or those its collectivités
    carry (contributeurs, referents); `kind` of its write grants."""
    conditions = []
    if kind.by_caf:
        conditions.append(ref.c.caf_id == any_(scope_ids(SCOPE_CAFS)))
    if kind.by_signature:
        conditions.append(Action.porteur_ids.bool_op("&&")(scope_ids(SCOPE_COLLECTIVITES)))
    return or_(*conditions)


def _texts(*values: str) -> ColumnElement[list[str]]:
    return literal(list(values), ARRAY(String))


def _a_renseigner(part: Slice[ScopeKind]) -> Select[Any]:
    periode = bindparam("periode", type_=String)
    due = func.coalesce(Campagne.date_limite, bindparam("default_due", type_=Date))
    return part.apply(
        select(
            *columns(
                ARenseignerRow,
                action_id=Action.id,
                convention_id=Action.convention_id,
                convention_titre=ref.c.titre,
                caf_id=ref.c.caf_id,
                caf_nom=name_of(ref, ref.c.caf_id),
                titre=Action.titre,
                etat_suivi=Suivi.etat,
                date_limite=due,
            )
        )
        .join(ref, ref.c.id == Action.convention_id)
        .outerjoin(Suivi, and_(Suivi.action_id == Action.id, Suivi.periode == periode))
        .outerjoin(
            Campagne,
            and_(Campagne.convention_id == Action.convention_id, Campagne.periode == periode),
        )
        .where(
            _may_update(part.variant),
            _active_during(),
            # Constant lists as arrays: an IN list would be expanded at each call.
            Action.statut
            != all_(_texts(StatutAction.abandonnee.value, StatutAction.realisee.value)),
            or_(Suivi.id.is_(None), Suivi.etat == any_(_texts(*A_FAIRE))),
        )
    )


# The mobile app's hot path: compiled once per kind of write scope.
A_RENSEIGNER: Read[ARenseignerRow, ScopeKind] = Read(
    ARenseignerRow,
    _a_renseigner,
    variants=(ScopeKind.caf, ScopeKind.collectivite, ScopeKind.caf_et_collectivite),
    keyset=Keyset(
        (Action.convention_id, Action.id), key=lambda row: (row.convention_id, row.action_id)
    ),
)


async def a_renseigner(
    session: AsyncSession,
    principal: Principal,
    t: Trimestre,
    default_due: dt.date,
    *,
    limit: int,
    cursor: str | None,
) -> KeysetPage[ARenseignerRow]:
    """Actions the principal may update whose suivi for `t` is missing or still to do."""
    cafs = sorted(principal.caf_write_ids())
    colls = sorted(principal.collectivite_write_ids())
    kind = ScopeKind.of(bool(cafs), bool(colls))
    if kind is ScopeKind.aucune:
        return KeysetPage([], None)
    params = {
        SCOPE_CAFS: cafs,
        SCOPE_COLLECTIVITES: colls,
        "periode": str(t),
        "default_due": default_due,
        "t_debut": t.debut,
        "t_fin": t.fin,
    }
    return await A_RENSEIGNER.page(session, kind, params, limit=limit, cursor=cursor)


# --- bilans ----------------------------------------------------------------------------


class ConventionDatesRow(NamedTuple):
    """A convention's dates as its bilans read them (rules.ConventionDates)."""

    date_debut: dt.date
    date_fin: dt.date
    date_effet_resiliation: dt.date | None
    suivie_depuis: dt.date | None


class BilanRow(NamedTuple):
    """A bilan as BilanSummary shows it (its due date and lateness apart, derived from
    its convention's dates, which ride along), and its change number (delta sync)."""

    id: uuid.UUID
    convention_id: uuid.UUID
    type: str
    periode_debut: dt.date
    periode_fin: dt.date
    etat: str
    date_adoption: dt.date | None
    petite_enfance_transmissible: bool
    version: int
    seq: int
    # What its due date and lateness read of the convention (the replica's columns).
    convention: ConventionDatesRow


BILANS_LIST = list_query(
    BilanRow,
    lambda: (
        select(
            *columns(
                BilanRow,
                Bilan,
                convention=ref,
            )
        )
        .join(ref, ref.c.id == Bilan.convention_id)
        .where(Bilan.convention_id == bindparam("parent_id"))
    ),
    order=Keyset((Bilan.periode_debut, Bilan.id)),
    seq=Bilan.seq,
    tombstone_kind="bilan",
)


async def delete_bilan(session: AsyncSession, bilan: Bilan) -> None:
    """Its CDSF agreements go with it (cascade); delta sync reports a tombstone."""
    await bury(session, "bilan", [bilan.id], bilan.convention_id, None)
    await session.execute(delete(Bilan).where(Bilan.id == bilan.id))


class BilanWritten(NamedTuple):
    id: uuid.UUID
    type: str
    etat: str
    periode_fin: dt.date


_BILANS_OF: Read[BilanWritten, None] = Read(
    BilanWritten,
    lambda part: (
        select(*columns(BilanWritten, Bilan))
        .where(Bilan.convention_id == bindparam("convention_id"))
        .order_by(Bilan.periode_fin, Bilan.created_at, Bilan.id)
    ),
    variants=(None,),
)


async def bilans_of(session: AsyncSession, convention_id: uuid.UUID) -> list[BilanWritten]:
    """A convention's bilans, oldest period first."""
    return await _BILANS_OF.all(session, None, {"convention_id": convention_id})


async def axes_titres(session: AsyncSession, convention_id: uuid.UUID) -> list[tuple[str, str]]:
    """(id as text, titre) of a convention's axes, in the plan's order."""
    stmt = (
        select(Axe.id, Axe.titre)
        .where(Axe.convention_id == convention_id)
        .order_by(Axe.position, Axe.id)
    )
    return [(str(i), t) for i, t in (await session.execute(stmt)).all()]


async def accords(session: AsyncSession, bilan_id: uuid.UUID) -> list[AccordCdsf]:
    stmt = select(AccordCdsf).where(AccordCdsf.bilan_id == bilan_id).order_by(AccordCdsf.at)
    return list((await session.execute(stmt)).scalars().all())


async def petite_enfance_porteurs(
    session: AsyncSession, convention_id: uuid.UUID
) -> set[uuid.UUID]:
    stmt = select(func.unnest(Action.porteur_ids)).where(
        Action.convention_id == convention_id,
        func.lower(Action.thematique) == THEMATIQUE_PETITE_ENFANCE,
    )
    return set((await session.execute(stmt)).scalars())


async def snapshot_rows(
    session: AsyncSession, convention_id: uuid.UUID
) -> tuple[list[Action], list[Indicateur], dict[uuid.UUID, list[ValeurIndicateur]]]:
    actions = list(
        (
            await session.execute(
                select(Action)
                .join(Axe, Axe.id == Action.axe_id)
                .where(Action.convention_id == convention_id)
                .order_by(*PLAN_ORDER)
            )
        ).scalars()
    )
    indicateurs = list(
        (
            await session.execute(
                select(Indicateur)
                .where(Indicateur.convention_id == convention_id)
                .order_by(
                    Indicateur.action_id.nulls_first(),
                    Indicateur.axe_id.nulls_first(),
                    Indicateur.created_at,
                    Indicateur.id,
                )
            )
        ).scalars()
    )
    valeurs: dict[uuid.UUID, list[ValeurIndicateur]] = {i.id: [] for i in indicateurs}
    if indicateurs:
        for v in (
            await session.execute(
                select(ValeurIndicateur)
                .where(ValeurIndicateur.indicateur_id.in_(list(valeurs)))
                .order_by(ValeurIndicateur.periode)
            )
        ).scalars():
            valeurs[v.indicateur_id].append(v)
    return actions, indicateurs, valeurs


class DernierSuivi(NamedTuple):
    """An action's last validated revision."""

    action_id: uuid.UUID
    periode: str
    revision: int
    avancement: int | None


_DERNIERS_SUIVIS: Read[DernierSuivi, None] = Read(
    DernierSuivi,
    lambda part: (
        select(
            *columns(
                DernierSuivi,
                Suivi,
                revision=SuiviEvenement.revision,
                avancement=SuiviEvenement.contenu["avancement"].as_integer(),
            )
        )
        .join(SuiviEvenement, SuiviEvenement.suivi_id == Suivi.id)
        .where(
            Suivi.action_id == any_(bindparam("action_ids", type_=ARRAY(Uuid))),
            SuiviEvenement.etat_apres == EtatSuivi.valide.value,
        )
        .ext(distinct_on(Suivi.action_id))
        .order_by(Suivi.action_id, Suivi.periode.desc(), SuiviEvenement.id.desc())
    ),
    variants=(None,),
)


async def derniers_suivis(
    session: AsyncSession, action_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, DernierSuivi]:
    """Per action, its last validated revision: from the history, since a validated suivi
    being corrected is in brouillon again while its validated revision still stands."""
    if not action_ids:
        return {}
    rows = await _DERNIERS_SUIVIS.all(session, None, {"action_ids": list(action_ids)})
    return {r.action_id: r for r in rows}


class BilanRefRow(NamedTuple):
    """A bilan as the other services know it (kernel.bilan_ref.BilanRef)."""

    id: uuid.UUID
    type: str
    etat: str
    date_adoption: dt.date | None


_BILAN_REFS: Read[BilanRefRow, None] = Read(
    BilanRefRow,
    lambda part: (
        select(*columns(BilanRefRow, Bilan))
        .where(Bilan.convention_id == bindparam("convention_id"))
        .order_by(Bilan.periode_debut, Bilan.id)
    ),
    variants=(None,),
)


async def bilan_refs(session: AsyncSession, convention_id: uuid.UUID) -> list[BilanRefRow]:
    """A convention's bilans as the internal route shows them to the other services."""
    return await _BILAN_REFS.all(session, None, {"convention_id": convention_id})


# --- the CDSF agreements asked (service_cdsf) -----------------------------------------------


async def bilans_awaiting_agreement(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> list[Bilan]:
    """Bilans whose agreements the Caf asked and that are not transmissible yet, by id."""
    stmt = select(Bilan).where(
        Bilan.accords_demandes_le.is_not(None), Bilan.petite_enfance_transmissible.is_(False)
    )
    if after is not None:
        stmt = stmt.where(Bilan.id > after)
    return list((await session.execute(stmt.order_by(Bilan.id).limit(limit))).scalars())


async def add_rappel(
    session: AsyncSession,
    bilan_id: uuid.UUID,
    collectivite_ids: Sequence[uuid.UUID],
    semaine: int,
    at: dt.datetime,
) -> list[uuid.UUID]:
    """Record the week's reminder of each collectivité; those not recorded before."""
    if not collectivite_ids:
        return []
    inserted = await session.execute(
        insert(RappelAccordCdsf)
        .values(
            [
                {"bilan_id": bilan_id, "collectivite_id": c, "semaine": semaine, "at": at}
                for c in collectivite_ids
            ]
        )
        .on_conflict_do_nothing()
        .returning(RappelAccordCdsf.collectivite_id)
    )
    return sorted(inserted.scalars())


async def drop_rappels(session: AsyncSession, bilan_id: uuid.UUID) -> None:
    """A request withdrawn: its weeks start again with the next one."""
    await session.execute(delete(RappelAccordCdsf).where(RappelAccordCdsf.bilan_id == bilan_id))
