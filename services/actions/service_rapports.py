"""The bilan's report (ODT, PDF) as it is served and kept.

A draft's report is built from the bilan and the plan as they stand, on each request.
An adopted bilan's is built once, in the adoption's transaction, from the same rows
its `instantane` freezes, and stored (`Bilan.rapport`, the `BilanRapport` as JSON):
both renderings read only it, so the adopted report never changes. Bilans adopted
before reports existed have none stored: theirs is built from their `instantane`
(statuts, lateness, avancement, indicator values) and the suivis validated before the
adoption was entered, and stored the first time the archiving job sees it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import Uuid, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef
from kernel.sniffing import name_from_title
from services.actions import repository_suivis as srepo
from services.actions.models import Action, Bilan, Indicateur, Suivi, SuiviEvenement
from services.actions.report_bilan import (
    ODT_MEDIA_TYPE,
    PDF_MEDIA_TYPE,
    ActionRapport,
    AxeRapport,
    BilanRapport,
    ConventionRapport,
    IndicateurRapport,
    SectionRapport,
    SignataireRapport,
    SuiviRapport,
    ValeurIndicateur,
    render_odt,
    render_pdf,
)
from services.actions.rules import (
    SECTIONS_BILAN,
    EtatBilan,
    EtatSuivi,
    StatutAction,
    TypeBilan,
    en_retard,
)


class FormatRapport(StrEnum):
    odt = "odt"
    pdf = "pdf"

    @property
    def media_type(self) -> str:
        return ODT_MEDIA_TYPE if self is FormatRapport.odt else PDF_MEDIA_TYPE


class DernierSuiviTexte(NamedTuple):
    action_id: uuid.UUID
    periode: str
    contenu: dict[str, Any]
    at: dt.datetime


async def _derniers_suivis(
    session: AsyncSession, action_ids: list[uuid.UUID], before: dt.datetime | None
) -> dict[uuid.UUID, DernierSuiviTexte]:
    """Per action, the content of its last validated revision (validated before
    `before` when given): a validated revision never changes."""
    if not action_ids:
        return {}
    stmt = (
        select(Suivi.action_id, Suivi.periode, SuiviEvenement.contenu, SuiviEvenement.at)
        .join(SuiviEvenement, SuiviEvenement.suivi_id == Suivi.id)
        .where(
            Suivi.action_id == any_(bindparam("ids", type_=ARRAY(Uuid))),
            SuiviEvenement.etat_apres == EtatSuivi.valide.value,
        )
        .ext(distinct_on(Suivi.action_id))
        .order_by(Suivi.action_id, Suivi.periode.desc(), SuiviEvenement.id.desc())
    )
    if before is not None:
        stmt = stmt.where(SuiviEvenement.at <= before)
    rows = await session.execute(stmt, {"ids": action_ids})
    return {r.action_id: DernierSuiviTexte(*r) for r in rows}


def _texte(value: object) -> str:
    if isinstance(value, bool):
        return "Oui" if value else "Non"
    return "—" if value is None else str(value)


def _signataires(convention: ConventionRef) -> list[SignataireRapport]:
    """The Caf first, then the other signatories, by their names."""
    ids = sorted(
        convention.signataire_ids, key=lambda i: (i != convention.caf_id, convention.noms.get(i))
    )
    return [
        SignataireRapport(
            nom=convention.noms.get(i, str(i)),
            type="Caf" if i == convention.caf_id else "Collectivité",
        )
        for i in ids
    ]


async def build(
    session: AsyncSession,
    bilan: Bilan,
    convention: ConventionRef,
    today: dt.date,
    now: dt.datetime,
    *,
    frozen: Mapping[str, Any] | None = None,
) -> BilanRapport:
    """The report of `bilan`: the plan as it stands on `today` (a draft, or an adoption
    being recorded), or as `frozen` (an adopted bilan's `instantane`) holds it."""
    actions, indicateurs, valeurs = await srepo.snapshot_rows(session, bilan.convention_id)
    before = bilan.adoption_saisie_le if frozen is not None else None
    suivis = await _derniers_suivis(session, [a.id for a in actions], before)
    gel_actions = {a["id"]: a for a in frozen["actions"]} if frozen else {}
    gel_indicateurs = {i["id"]: i for i in frozen["indicateurs"]} if frozen else {}

    def indicateur(i: Indicateur) -> IndicateurRapport:
        gel = gel_indicateurs.get(str(i.id))
        vals = (
            sorted(gel["valeurs"].items())
            if gel is not None
            else [(v.periode, v.valeur) for v in valeurs[i.id]]
        )
        return IndicateurRapport(
            libelle=i.libelle,
            unite=i.unite,
            nature=i.nature,
            valeur_reference=i.valeur_reference,
            cibles={int(k): Decimal(str(v)) for k, v in i.cibles.items() if v is not None},
            valeurs=[ValeurIndicateur(periode=p, valeur=Decimal(str(v))) for p, v in vals],
        )

    def action(a: Action) -> ActionRapport:
        gel = gel_actions.get(str(a.id))
        suivi = suivis.get(a.id)
        if frozen is not None and (gel is None or gel.get("dernier_suivi_valide") is None):
            suivi = None
        dernier = None
        if suivi is not None:
            avancement = suivi.contenu.get("avancement")
            if gel is not None:
                avancement = gel["dernier_suivi_valide"].get("avancement")
            dernier = SuiviRapport(
                periode=suivi.periode,
                avancement=avancement,
                realisations=suivi.contenu.get("realisations"),
                difficultes=suivi.contenu.get("difficultes"),
                valide_le=suivi.at.date(),
            )
        return ActionRapport(
            reference=a.reference,
            titre=a.titre,
            statut=StatutAction(gel["statut"] if gel else a.statut),
            en_retard=gel["en_retard"] if gel else en_retard(a.statut, a.date_echeance, today),
            porteurs=[convention.noms.get(p, str(p)) for p in a.porteur_ids],
            dernier_suivi=dernier,
            indicateurs=[indicateur(i) for i in indicateurs if i.action_id == a.id],
        )

    axes = [
        AxeRapport(
            titre=titre,
            actions=[action(a) for a in actions if str(a.axe_id) == axe_id],
            indicateurs=[
                indicateur(i)
                for i in indicateurs
                if i.action_id is None and str(i.axe_id) == axe_id
            ],
        )
        for axe_id, titre in await srepo.axes_titres(session, bilan.convention_id)
    ]
    type_bilan = TypeBilan(bilan.type)
    libelle = type_bilan.value[0].upper() + type_bilan.value[1:]
    return BilanRapport(
        titre=f"{libelle} — {convention.titre}",
        type_bilan=libelle,
        etat=bilan.etat,
        convention=ConventionRapport(
            titre=convention.titre,
            caf=convention.noms.get(convention.caf_id, "Caf"),
            date_debut=convention.date_debut,
            date_fin=convention.date_fin,
        ),
        signataires=_signataires(convention),
        periode_debut=bilan.periode_debut,
        periode_fin=bilan.periode_fin,
        date_adoption=bilan.date_adoption,
        sections=[
            SectionRapport(titre=titre, texte=_texte(bilan.sections.get(nom)))
            for nom, titre in SECTIONS_BILAN[type_bilan].items()
        ],
        indicateurs=[
            indicateur(i) for i in indicateurs if i.action_id is None and i.axe_id is None
        ],
        axes=axes,
        genere_le=now,
    )


async def rapport_of(
    session: AsyncSession, bilan: Bilan, convention: ConventionRef, now: dt.datetime
) -> BilanRapport:
    """The report as served: an adopted bilan's stored one, else built now."""
    if bilan.rapport is not None:
        return BilanRapport.model_validate(bilan.rapport)
    if bilan.etat == EtatBilan.adopte and bilan.instantane is not None:
        at = bilan.adoption_saisie_le or now
        return await build(session, bilan, convention, at.date(), at, frozen=bilan.instantane)
    return await build(session, bilan, convention, now.date(), now)


async def at_adoption(
    session: AsyncSession, bilan: Bilan, convention: ConventionRef, now: dt.datetime
) -> dict[str, object]:
    """The report fixed at adoption, from the plan as the snapshot froze it, as stored."""
    assert bilan.date_adoption is not None
    rapport = await build(session, bilan, convention, bilan.date_adoption, now)
    return rapport.model_dump(mode="json")


def etag(bilan: Bilan, rapport: BilanRapport, fmt: FormatRapport) -> str:
    """Strong for an adopted bilan's fixed report; weak for a draft's, whose bytes differ
    by their generation time only when nothing it shows changed."""
    draft = bilan.etat != EtatBilan.adopte
    shown = rapport.model_dump_json(exclude={"genere_le"} if draft else None)
    digest = hashlib.sha256(f"{fmt.value}\n{shown}".encode()).hexdigest()[:32]
    return f'W/"{digest}"' if draft else f'"{digest}"'


async def render(rapport: BilanRapport, fmt: FormatRapport) -> bytes:
    """The file, rendered in a worker thread (WeasyPrint takes about a second)."""
    renderer = render_pdf if fmt is FormatRapport.pdf else render_odt
    return await asyncio.to_thread(renderer, rapport)


def nom_fichier(rapport: BilanRapport, fmt: FormatRapport) -> str:
    """The report's file name, downloaded or kept by the documents service alike."""
    return name_from_title(f"{rapport.titre}.{fmt.value}")
