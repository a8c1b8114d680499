"""Bilans: point d'étape annuel, bilan intermédiaire, bilan final (art. 9).

Each kind has the sections the article names (`rules.SECTIONS_BILAN`) and a due date
from the convention's dates (`rules.bilans_attendus`); lateness is computed on read.
Caf agents and the signatory collectivités draft them; adoption (a Caf agent or a
signatory's referent, after the COPIL) freezes a snapshot of the actions' statuts and
indicator values; the petite-enfance part becomes transmissible to the CDSF only once
every collectivité concerned has recorded its express agreement (who, when).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ConventionRef
from kernel.errors import Conflict, Forbidden, InvalidPayload, NotFound
from kernel.etag import Preconditions, etag_for
from kernel.json_response import JsonObject, ResponseFields
from kernel.principal import Principal
from services.actions import events, service_rapports
from services.actions import repository as repo
from services.actions import repository_suivis as srepo
from services.actions.dependencies import ActionsContext
from services.actions.history import BILAN, HISTORY
from services.actions.models import AccordCdsf, Bilan
from services.actions.rules import (
    SECTIONS_BILAN,
    ConventionDates,
    EtatArchivage,
    EtatBilan,
    TypeBilan,
    bilan_en_retard,
    bilans_attendus,
    date_attendue_bilan,
    en_retard,
    sections_hors_type,
    sections_vides,
)
from services.actions.schemas import (
    SECTIONS_MODELS,
    AccordOut,
    Adoption,
    ArchivageRapport,
    BilanAttenduOut,
    BilanDetail,
    BilanIn,
    BilanPatch,
    BilansAttendus,
    BilanSummary,
    SectionsIn,
)
from services.actions.service import (
    Travail,
    require_bilan_adopter,
    require_caf_agent,
    require_convention_accepts,
    require_evaluation_writer,
    writable_convention,
)


def _sections(type_bilan: TypeBilan, sent: SectionsIn) -> dict[str, object]:
    """The sections sent, if they all belong to the bilan's kind (422 otherwise)."""
    foreign = sections_hors_type(type_bilan, sorted(sent.model_fields_set))
    if foreign:
        raise InvalidPayload(
            foreign[0][1],
            errors=[
                {"field": f"sections.{name}", "pointer": f"/sections/{name}", "message": why}
                for name, why in foreign
            ],
        )
    return sent.model_dump(include=sent.model_fields_set)


async def avec_syntheses(
    session: AsyncSession,
    bilan_type: TypeBilan,
    convention_id: uuid.UUID,
    kept: Mapping[str, str],
    sent: Mapping[uuid.UUID, str],
    sections_sent: Mapping[str, object],
) -> tuple[dict[str, str], dict[str, object]]:
    """The deprecated `syntheses` per axe, as older clients still send them: `sent` (axes
    of the convention, 422 otherwise) over `kept`, and the kind's first section they
    form, as migration 0004 made it of the existing ones: one paragraph per axe in the
    plan's order, headed by its title (an axe deleted since: its text alone, last)."""
    if not sent and not kept:
        return {}, {}  # `"syntheses": {}`, what older clients send by default
    premiere = next(iter(SECTIONS_BILAN[bilan_type]))
    if premiere in sections_sent:
        raise InvalidPayload(
            f"« syntheses » (obsolète) forme la section « {premiere} » : envoyez l'une ou l'autre.",
            errors=[{"field": "syntheses", "pointer": "/syntheses"}],
        )
    titres = dict(await srepo.axes_titres(session, convention_id))
    unknown = [k for k in sent if str(k) not in titres]
    if unknown:
        raise InvalidPayload(
            "Une synthèse se rattache à un axe de la convention.",
            errors=[
                {"field": f"syntheses.{k}", "pointer": f"/syntheses/{k}", "message": "axe inconnu"}
                for k in unknown
            ],
        )
    syntheses = {**kept, **{str(k): v for k, v in sent.items()}}
    order = [k for k in titres if k in syntheses] + sorted(set(syntheses) - set(titres))
    text = "\n\n".join(
        f"{titres[k]} : {syntheses[k]}" if k in titres else syntheses[k] for k in order
    )
    return syntheses, {premiere: text or None}


class Retard(NamedTuple):
    date_attendue: dt.date
    en_retard: bool


def _retard(
    type_bilan: str, etat: str, periode_fin: dt.date, convention: ConventionDates, today: dt.date
) -> Retard:
    """When a bilan of `convention` is due, and whether it is late."""
    due = date_attendue_bilan(
        TypeBilan(type_bilan), periode_fin, convention.date_debut, convention.date_fin
    )
    return Retard(due, bilan_en_retard(etat, due, today, convention))


BILAN_SUMMARY = ResponseFields(BilanSummary, srepo.BilanRow, derived=("date_attendue", "en_retard"))


def bilan_summary_item(row: srepo.BilanRow, today: dt.date) -> JsonObject:
    """A BilanSummary of the list."""
    retard = _retard(row.type, row.etat, row.periode_fin, row.convention, today)
    return BILAN_SUMMARY(row, date_attendue=retard.date_attendue, en_retard=retard.en_retard)


async def create_bilan(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    data: BilanIn,
) -> tuple[Bilan, ConventionRef]:
    convention = await writable_convention(ctx, session, principal, convention_id)
    require_evaluation_writer(principal, convention, "rédiger un bilan")
    require_convention_accepts(ctx, principal, convention, Travail.evaluation)
    sections = _sections(data.type, data.sections)
    syntheses, premiere = await avec_syntheses(
        session, data.type, convention_id, {}, data.syntheses or {}, sections
    )
    sections.update(premiere)
    bilan = Bilan(
        id=uuid.uuid4(),
        convention_id=convention_id,
        type=data.type.value,
        periode_debut=data.periode_debut,
        periode_fin=data.periode_fin,
        etat=EtatBilan.brouillon.value,
        sections=sections,
        syntheses=syntheses,
        petite_enfance_transmissible=False,
        version=1,
    )
    session.add(bilan)
    await session.flush()
    await HISTORY.record(session, principal, BILAN, bilan, None)
    return bilan, convention


async def load_bilan(
    session: AsyncSession, principal: Principal, bilan_id: uuid.UUID, *, for_update: bool = False
) -> tuple[Bilan, ConventionRef]:
    found = await repo.scoped(session, Bilan, bilan_id, principal, for_update=for_update)
    if found is None:
        raise NotFound("Bilan introuvable.")
    return found


async def concernees(session: AsyncSession, convention: ConventionRef) -> list[uuid.UUID]:
    """Collectivités whose agreement the CDSF transmission needs: the porteurs of the
    petite-enfance actions, or every signatory collectivité when none is tagged."""
    porteurs = await srepo.petite_enfance_porteurs(session, convention.id)
    if not porteurs:
        porteurs = set(convention.signataire_ids) - {convention.caf_id}
    return sorted(porteurs)


async def missing_agreements(
    session: AsyncSession, bilan: Bilan, convention: ConventionRef
) -> list[uuid.UUID]:
    """The collectivités concerned that have not given their agreement yet."""
    agreed = {a.collectivite_id for a in await srepo.accords(session, bilan.id)}
    return [c for c in await concernees(session, convention) if c not in agreed]


async def bilan_detail(
    session: AsyncSession, bilan: Bilan, convention: ConventionRef, today: dt.date
) -> BilanDetail:
    accords = await srepo.accords(session, bilan.id)
    retard = _retard(
        bilan.type,
        bilan.etat,
        bilan.periode_fin,
        convention,
        today,
    )
    return BilanDetail(
        id=bilan.id,
        convention_id=bilan.convention_id,
        type=bilan.type,
        periode_debut=bilan.periode_debut,
        periode_fin=bilan.periode_fin,
        etat=bilan.etat,
        date_adoption=bilan.date_adoption,
        petite_enfance_transmissible=bilan.petite_enfance_transmissible,
        version=bilan.version,
        date_attendue=retard.date_attendue,
        en_retard=retard.en_retard,
        sections=SECTIONS_MODELS[TypeBilan(bilan.type)].model_validate(bilan.sections),
        syntheses=bilan.syntheses,
        adoption_saisie_par=bilan.adoption_saisie_par,
        adoption_saisie_par_nom=bilan.adoption_saisie_par_nom,
        adoption_saisie_le=bilan.adoption_saisie_le,
        instantane=bilan.instantane,
        accords=[
            AccordOut(
                collectivite_id=a.collectivite_id,
                collectivite_nom=convention.noms.get(a.collectivite_id),
                par=a.par,
                par_nom=a.par_nom,
                at=a.at,
            )
            for a in accords
        ],
        collectivites_concernees=await concernees(session, convention),
        accords_demandes_le=bilan.accords_demandes_le,
        archivage_rapport=archivage(bilan),
    )


def archivage(bilan: Bilan) -> ArchivageRapport | None:
    """Where the adopted bilan's report stands among the convention's documents
    (archive_rapports.py keeps it)."""
    if bilan.etat != EtatBilan.adopte.value:
        return None
    if bilan.rapport_archive_le is not None:
        return ArchivageRapport(
            etat=EtatArchivage.conserve, le=bilan.rapport_archive_le, motif=None
        )
    if bilan.rapport_archivage_echec_le is not None:
        return ArchivageRapport(
            etat=EtatArchivage.echec,
            le=bilan.rapport_archivage_echec_le,
            motif=bilan.rapport_archivage_motif,
        )
    return ArchivageRapport(etat=EtatArchivage.en_attente, le=None, motif=None)


async def attendus(
    ctx: ActionsContext, session: AsyncSession, principal: Principal, convention_id: uuid.UUID
) -> BilansAttendus:
    """The bilans the convention owes, each with the one written for it (the adopted one
    first, else the latest) and whether it is late."""
    convention = await ctx.replica.readable(session, convention_id, principal)
    today = ctx.today()
    written: dict[tuple[str, int | None], srepo.BilanWritten] = {}
    # Oldest first: a later draft replaces an earlier one, never an adopted one.
    for row in await srepo.bilans_of(session, convention_id):
        key = (row.type, row.periode_fin.year if row.type == TypeBilan.point_etape else None)
        kept = written.get(key)
        if kept is None or kept.etat != EtatBilan.adopte:
            written[key] = row
    items = []
    for due in bilans_attendus(
        convention.date_debut, convention.date_fin, convention.date_effet_resiliation
    ):
        bilan = written.get((due.type.value, due.annee))
        etat = bilan.etat if bilan is not None else None
        items.append(
            BilanAttenduOut(
                type=due.type,
                annee=due.annee,
                date_attendue=due.date_attendue,
                en_retard=bilan_en_retard(
                    etat or EtatBilan.brouillon, due.date_attendue, today, convention
                ),
                bilan_id=bilan.id if bilan is not None else None,
                etat=etat,
            )
        )
    return BilansAttendus(convention_id=convention.id, items=items)


def _not_adopted(bilan: Bilan) -> None:
    if bilan.etat == EtatBilan.adopte:
        raise Conflict("Un bilan adopté est figé.", extra={"code": "bilan-adopte"})


async def update_bilan(
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    bilan_id: uuid.UUID,
    data: BilanPatch,
) -> tuple[Bilan, ConventionRef]:
    bilan, convention = await load_bilan(session, principal, bilan_id, for_update=True)
    require_evaluation_writer(principal, convention, "modifier un bilan")
    preconditions.check(etag_for(bilan.id, bilan.version))
    _not_adopted(bilan)
    before = BILAN.snapshot(bilan)
    changes = {name: getattr(data, name) for name in data.model_fields_set}
    required = ("periode_debut", "periode_fin", "sections", "syntheses")
    if any(changes.get(k, 1) is None for k in required):
        raise InvalidPayload("Champ obligatoire vide.")
    type_bilan = TypeBilan(bilan.type)
    sent = _sections(type_bilan, changes["sections"]) if "sections" in changes else {}
    if "syntheses" in changes:
        changes["syntheses"], premiere = await avec_syntheses(
            session, type_bilan, bilan.convention_id, bilan.syntheses, changes["syntheses"], sent
        )
        sent.update(premiere)
    elif next(iter(SECTIONS_BILAN[type_bilan])) in sent:
        # The first section written as such: it no longer comes from the syntheses.
        changes["syntheses"] = {}
    if sent:
        changes["sections"] = {**bilan.sections, **sent}
    start = changes.get("periode_debut", bilan.periode_debut)
    end = changes.get("periode_fin", bilan.periode_fin)
    if end < start:
        raise InvalidPayload(
            "La fin de la période précède son début.", errors=[{"field": "periode_fin"}]
        )
    for name, value in changes.items():
        setattr(bilan, name, value)
    await repo.touch(session, bilan)
    await session.flush()
    await HISTORY.record(session, principal, BILAN, bilan, before)
    return bilan, convention


async def delete_bilan(
    session: AsyncSession, principal: Principal, preconditions: Preconditions, bilan_id: uuid.UUID
) -> None:
    """A draft written by mistake may go; an adopted bilan is the COPIL's record and stays."""
    bilan, convention = await load_bilan(session, principal, bilan_id, for_update=True)
    require_caf_agent(principal, convention, "supprimer un bilan")
    preconditions.check(etag_for(bilan.id, bilan.version))
    if bilan.etat == EtatBilan.adopte:
        raise Conflict(
            "Un bilan adopté est figé : il ne peut plus être supprimé.",
            extra={"code": "bilan-adopte"},
        )
    before = BILAN.snapshot(bilan)
    await srepo.delete_bilan(session, bilan)
    await HISTORY.record(session, principal, BILAN, bilan, before, deleted=True)


async def snapshot(
    session: AsyncSession, convention_id: uuid.UUID, at: dt.date
) -> dict[str, object]:
    actions, indicateurs, valeurs = await srepo.snapshot_rows(session, convention_id)
    derniers = await srepo.derniers_suivis(session, [a.id for a in actions])
    return {
        "date": at.isoformat(),
        "actions": [
            {
                "id": str(a.id),
                "axe_id": str(a.axe_id),
                "parent_id": str(a.parent_id) if a.parent_id else None,
                "titre": a.titre,
                "thematique": a.thematique,
                "statut": a.statut,
                "en_retard": en_retard(a.statut, a.date_echeance, at),
                "dernier_suivi_valide": (
                    {
                        "periode": derniers[a.id].periode,
                        "revision": derniers[a.id].revision,
                        "avancement": derniers[a.id].avancement,
                    }
                    if a.id in derniers
                    else None
                ),
            }
            for a in actions
        ],
        "indicateurs": [
            {
                "id": str(i.id),
                "action_id": str(i.action_id) if i.action_id else None,
                "axe_id": str(i.axe_id) if i.axe_id else None,
                "libelle": i.libelle,
                "nature": i.nature,
                "unite": i.unite,
                "valeur_reference": str(i.valeur_reference)
                if i.valeur_reference is not None
                else None,
                "cibles": i.cibles,
                "valeurs": {v.periode: str(v.valeur) for v in valeurs[i.id]},
            }
            for i in indicateurs
        ],
    }


def require_sections(bilan: Bilan) -> None:
    """Art. 9 (003) names what each bilan covers (point d'étape: "présenter l'état
    d'avancement du plan d'action et procéder à des ajustements mineurs"; intermédiaire:
    "examiner les avancées et les difficultés, et de décider d'éventuels ajustements ...
    qui pourraient nécessiter un avenant"; final: "analyser les résultats obtenus, évaluer
    le fonctionnement de la démarche CTG et préparer le renouvellement"): the COPIL adopts
    a bilan with every section of its kind written, 409 naming those left empty."""
    type_bilan = TypeBilan(bilan.type)
    vides = sections_vides(type_bilan, bilan.sections)
    if not vides:
        return
    libelles = SECTIONS_BILAN[type_bilan]
    raise Conflict(
        f"Le {type_bilan.value} ne peut pas être adopté : "
        + ("une section est vide : " if len(vides) == 1 else "des sections sont vides : ")
        + ", ".join(f"« {libelles[nom]} »" for nom in vides)
        + ". Complétez-les avant de saisir l'adoption.",
        extra={
            "code": "sections-manquantes",
            "manquants": [
                {
                    "code": "section_vide",
                    "section": nom,
                    "message": f"Section « {libelles[nom]} » vide.",
                }
                for nom in vides
            ],
        },
    )


async def adopter(
    session: AsyncSession,
    principal: Principal,
    preconditions: Preconditions,
    bilan_id: uuid.UUID,
    data: Adoption,
    today: dt.date,
) -> tuple[Bilan, ConventionRef]:
    """Record that the COPIL adopted the bilan on `data.date_adoption` (a COPIL already
    held, within or after the bilan's period): who entered it and when are kept."""
    bilan, convention = await load_bilan(session, principal, bilan_id, for_update=True)
    require_bilan_adopter(principal, convention)
    preconditions.check(etag_for(bilan.id, bilan.version))
    _not_adopted(bilan)
    if data.date_adoption > today:
        raise InvalidPayload(
            "La date d'adoption est celle du COPIL qui a adopté le bilan : elle ne peut "
            "pas être dans le futur.",
            errors=[{"field": "date_adoption", "pointer": "/date_adoption"}],
        )
    if data.date_adoption < bilan.periode_debut:
        raise InvalidPayload(
            "Le COPIL ne peut pas adopter un bilan avant le début de la période qu'il couvre.",
            errors=[{"field": "date_adoption", "pointer": "/date_adoption"}],
        )
    require_sections(bilan)
    before = BILAN.snapshot(bilan)
    bilan.etat = EtatBilan.adopte.value
    bilan.date_adoption = data.date_adoption
    bilan.adoption_saisie_par = principal.subject
    bilan.adoption_saisie_par_nom = principal.name
    bilan.adoption_saisie_le = repo.utcnow()
    bilan.instantane = await snapshot(session, bilan.convention_id, data.date_adoption)
    bilan.rapport = await service_rapports.at_adoption(
        session, bilan, convention, bilan.adoption_saisie_le
    )
    await repo.touch(session, bilan)
    await session.flush()
    await HISTORY.record(session, principal, BILAN, bilan, before, evenement="adoption")
    await events.bilan_adopte(session, principal, convention, bilan)
    return bilan, convention


async def relancer_archivage(
    session: AsyncSession, principal: Principal, bilan_id: uuid.UUID
) -> tuple[Bilan, ConventionRef]:
    """Once the cause of a refusal for good is fixed (archive_rapports.py: the job no
    longer sends the report), those who adopt the bilan clear the failure: the job
    sends the report again on its next run. Only a failure is relaunched (409 else)."""
    bilan, convention = await load_bilan(session, principal, bilan_id, for_update=True)
    require_bilan_adopter(principal, convention)
    etat = archivage(bilan)
    if etat is None:
        raise Conflict(
            "Seul le rapport d'un bilan adopté est archivé parmi les documents de la convention.",
            extra={"code": "archivage-pas-en-echec"},
        )
    if etat.etat != EtatArchivage.echec:
        raise Conflict(
            "L'archivage du rapport n'est pas en échec : "
            + (
                "il est déjà conservé parmi les documents de la convention."
                if etat.etat == EtatArchivage.conserve
                else "il est en attente, le rapport sera envoyé sans autre action."
            ),
            extra={"code": "archivage-pas-en-echec"},
        )
    before = BILAN.snapshot(bilan)
    motif = bilan.rapport_archivage_motif
    bilan.rapport_archivage_echec_le = None
    bilan.rapport_archivage_motif = None
    await repo.touch(session, bilan)
    await session.flush()
    await HISTORY.record(
        session,
        principal,
        BILAN,
        bilan,
        before,
        evenement="relance de l'archivage du rapport",
        details={"motif_refus": motif},
    )
    return bilan, convention


async def accorder(
    session: AsyncSession,
    principal: Principal,
    bilan_id: uuid.UUID,
    collectivite_id: uuid.UUID | None,
) -> tuple[Bilan, ConventionRef]:
    bilan, convention = await load_bilan(session, principal, bilan_id, for_update=True)
    mine = principal.collectivite_write_ids()
    concerned = set(await concernees(session, convention))
    candidates = sorted(mine & concerned) if collectivite_id is None else [collectivite_id]
    if not candidates or candidates[0] not in mine:
        raise Forbidden(
            "Seule une collectivité concernée (contributeur ou référent) donne son accord."
        )
    if len(candidates) > 1:
        raise InvalidPayload(
            "Précisez la collectivité qui donne son accord.", errors=[{"field": "collectivite_id"}]
        )
    if candidates[0] not in concerned:
        raise Conflict("Cette collectivité n'est pas concernée par la partie petite enfance.")
    existing = {a.collectivite_id for a in await srepo.accords(session, bilan.id)}
    if candidates[0] not in existing:
        session.add(
            AccordCdsf(
                bilan_id=bilan.id,
                collectivite_id=candidates[0],
                par=principal.subject,
                par_nom=principal.name,
            )
        )
        await repo.touch(session, bilan)
        await session.flush()
        await HISTORY.record(
            session,
            principal,
            BILAN,
            bilan,
            BILAN.snapshot(bilan),
            evenement="accord CDSF",
            details={"collectivite_id": str(candidates[0])},
        )
    return bilan, convention


async def transmettre(
    session: AsyncSession, principal: Principal, preconditions: Preconditions, bilan_id: uuid.UUID
) -> tuple[Bilan, ConventionRef]:
    bilan, convention = await load_bilan(session, principal, bilan_id, for_update=True)
    require_caf_agent(principal, convention, "transmettre un bilan à la CDSF")
    preconditions.check(etag_for(bilan.id, bilan.version))
    if bilan.etat != EtatBilan.adopte:
        raise Conflict("Seul un bilan adopté peut être transmis à la CDSF.")
    missing = await missing_agreements(session, bilan, convention)
    if missing:
        raise Conflict(
            "La partie petite enfance ne peut être transmise à la CDSF qu'avec l'accord exprès "
            "de chaque collectivité concernée.",
            extra={"code": "accords-manquants", "manquants": [str(m) for m in missing]},
        )
    if not bilan.petite_enfance_transmissible:
        before = BILAN.snapshot(bilan)
        bilan.petite_enfance_transmissible = True
        await repo.touch(session, bilan)
        await session.flush()
        await HISTORY.record(
            session, principal, BILAN, bilan, before, evenement="transmission CDSF"
        )
    return bilan, convention
