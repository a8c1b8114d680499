"""Signature (a new CTG, or one signed before the product) and versions, renouvellement;
Annexe 2 before signature and the AO check. Avenants: service_avenants; the end of the
convention (art. 12): service_resiliation."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.bilan_ref import ETAT_ADOPTE, TYPE_BILAN_FINAL, BilanRefClient
from kernel.convention_ref import StatutConvention
from kernel.errors import Conflict, InvalidPayload, NotFound
from kernel.principal import Principal
from services.conventions import repository as repo
from services.conventions.history import CONVENTION, EQUIPEMENT
from services.conventions.models import (
    Convention,
    ConventionVersion,
    Equipement,
    Signataire,
    Thematique,
    TitulaireCompetence,
    TypeEquipement,
    TypeOrganisation,
)
from services.conventions.schemas import (
    EquipementIn,
    RenouvellementIn,
    SchemaAOCommune,
    SchemaAOOut,
    SignatureIn,
)
from services.conventions.service import (
    SigRows,
    check_dates,
    max_date_fin,
    record,
    record_part,
    require_preparation,
    signature_problems,
    socle_manquant,
)
from services.conventions.service_views import snapshot

AO_SEUIL_SCHEMA = 10_000
RPE_OBLIGATOIRE_DEPUIS = dt.date(2026, 1, 1)


def require_running(convention: Convention, today: dt.date, what: str) -> None:
    """Art. 12's acts only on a signed convention that has not ended."""
    if convention.statut == StatutConvention.en_preparation:
        raise Conflict(f"{what} : la convention n'est pas encore signée.")
    if convention.statut == StatutConvention.resiliee:
        raise Conflict(f"{what} : la convention est résiliée.")
    if today > convention.date_fin:
        raise Conflict(f"{what} : la convention est échue.")


# --- signature and versions --------------------------------------------------------------


async def save_version(
    session: AsyncSession,
    convention: Convention,
    avenant_id: uuid.UUID | None,
    sigs: SigRows | None = None,
) -> None:
    await repo.add(
        session,
        ConventionVersion(
            convention_id=convention.id,
            numero=convention.numero_version,
            avenant_id=avenant_id,
            contenu=await snapshot(session, convention, sigs),
        ),
    )


async def sign(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    today: dt.date,
    data: SignatureIn,
) -> SigRows:
    """Sign; the signatories read for it (signing does not change them).

    `ctg_existante`: the Caf records a CTG signed before the product (000: *intégrer les
    CTG signées*), perhaps before the 2026 model and without its socle minimum of
    thématiques: recorded, with a warning (`service_views.avertissements`). A new CTG
    signed in the product needs the socle."""
    require_preparation(convention)
    before = CONVENTION.snapshot(convention)
    sigs = await repo.signataires_of_convention(session, convention.id)
    problems = signature_problems(convention, sigs, today, socle=not data.ctg_existante)
    if problems:
        raise Conflict(
            "La convention ne peut pas encore être signée.", extra={"manquants": problems}
        )
    convention.statut = StatutConvention.signee.value
    convention.date_signature = max(s.date_signature for s in sigs if s.date_signature)
    convention.numero_version = 1
    convention.ctg_existante = data.ctg_existante
    details: dict[str, object] = {"date_signature": convention.date_signature.isoformat()}
    if data.ctg_existante:
        details["ctg_existante"] = True
        details["socle_manquant"] = socle_manquant(convention.thematiques)
    await record(
        session,
        convention,
        "signature",
        principal,
        before=before,
        motif=data.motif,
        details=details,
    )
    await save_version(session, convention, None, sigs)
    return sigs


# --- renouvellement ----------------------------------------------------------------------


async def require_bilan_final(bilans: BilanRefClient, convention: Convention) -> None:
    """002: "L'évaluation est un préalable à tout renouvellement": the bilan final,
    adopted in COPIL, is asked of the actions service (503 when it cannot answer)."""
    finals = [b for b in await bilans.bilans_of(convention.id) if b.type == TYPE_BILAN_FINAL]
    if any(b.etat == ETAT_ADOPTE for b in finals):
        return
    missing = (
        "le bilan final est rédigé mais pas encore adopté en COPIL"
        if finals
        else "aucun bilan final n'a été rédigé"
    )
    raise Conflict(
        f"Renouvellement impossible : {missing}. L'évaluation est un préalable à tout "
        "renouvellement : le bilan final doit être adopté.",
        extra={
            "manquants": [
                {
                    "code": "bilan_final_adopte",
                    "message": f"Bilan final adopté manquant : {missing}.",
                    "bilans_finals": [{"id": str(b.id), "etat": b.etat} for b in finals],
                }
            ]
        },
    )


async def renouveler(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    data: RenouvellementIn,
    bilans: BilanRefClient,
) -> Convention:
    if convention.statut != StatutConvention.signee:
        raise Conflict("Seule une convention signée (non résiliée) peut être renouvelée.")
    if await repo.successors(session, [convention.id]):
        raise Conflict("Cette convention a déjà été renouvelée.")
    debut = data.date_debut or (convention.date_fin + dt.timedelta(days=1))
    fin = data.date_fin or max_date_fin(debut)
    check_dates(debut, fin)
    await require_bilan_final(bilans, convention)
    new = Convention(
        id=uuid.uuid4(),
        caf_id=convention.caf_id,
        echelon=convention.echelon,
        titre=data.titre or f"{convention.titre} (renouvellement)",
        date_debut=debut,
        date_fin=fin,
        thematiques=list(convention.thematiques),
        objectifs_partages=list(convention.objectifs_partages),
        copil=convention.copil._replace(commissions=list(convention.copil.commissions)),
        statut=StatutConvention.en_preparation.value,
        precedente_id=convention.id,
        numero_version=1,
        version=0,
        seq=await repo.next_seq(session),
    )
    await repo.add(session, new)
    sigs = await repo.signataires_of_convention(session, convention.id)
    # Signatories carried over; each signs the new convention again.
    await repo.add(
        session,
        *[
            Signataire(
                convention_id=new.id,
                organisation_id=s.organisation_id,
                representant=s.representant,
                ordre=i,
            )
            for i, s in enumerate(sigs)
        ],
    )
    await record(
        session,
        new,
        "création par renouvellement",
        principal,
        creation=True,
        details={"precedente_id": str(convention.id)},
    )
    await record(
        session, convention, "renouvellement", principal, details={"suivante_id": str(new.id)}
    )
    return new


# --- Annexe 2 ----------------------------------------------------------------------------


def new_equipement(convention_id: uuid.UUID, data: EquipementIn) -> Equipement:
    return Equipement(
        id=uuid.uuid4(),
        convention_id=convention_id,
        organisation_id=data.organisation_id,
        type=data.type.value,
        nom=data.nom,
        adresse=data.adresse,
    )


async def add_equipement(
    session: AsyncSession, principal: Principal, convention: Convention, data: EquipementIn
) -> Equipement:
    require_preparation(convention)
    if await repo.get_signataire(session, convention.id, data.organisation_id) is None:
        raise InvalidPayload(
            "L'Annexe 2 liste les équipements d'un signataire de la convention.",
            errors=[{"pointer": "/organisation_id", "field": "organisation_id"}],
        )
    equipement = new_equipement(convention.id, data)
    await repo.add(session, equipement)
    await record_part(
        session,
        convention,
        "ajout d'équipement",
        principal,
        EQUIPEMENT,
        equipement,
        None,
        details={"equipement_id": str(equipement.id), "type": data.type.value},
    )
    return equipement


async def remove_equipement(
    session: AsyncSession, principal: Principal, convention: Convention, equipement_id: uuid.UUID
) -> None:
    require_preparation(convention)
    equipement = await repo.get_equipement(session, convention.id, equipement_id)
    if equipement is None:
        raise NotFound("Équipement introuvable.")
    before = EQUIPEMENT.snapshot(equipement)
    await repo.delete(session, equipement)
    await record_part(
        session,
        convention,
        "retrait d'équipement",
        principal,
        EQUIPEMENT,
        equipement,
        before,
        deleted=True,
        details={"equipement_id": str(equipement_id)},
    )


# --- vaut schéma d'AO --------------------------------------------------------------------


async def schema_ao(session: AsyncSession, convention: Convention, today: dt.date) -> SchemaAOOut:
    """Can the CTG stand for the schéma pluriannuel of each AO above 10 000 inhabitants?

    It requires the signature of whoever holds the planification competence (the commune
    or its EPCI) and, from 1 January 2026, an RPE in Annexe 2."""
    sigs = await repo.signataires_of_convention(session, convention.id)
    signed = {s.organisation_id for s in sigs if s.date_signature is not None}
    listed = {s.organisation_id for s in sigs}
    communes = await repo.get_organisations(
        session, (s.organisation_id for s in sigs if s.type == TypeOrganisation.commune)
    )
    epcis = [s.organisation_id for s in sigs if s.type == TypeOrganisation.epci]
    for member in await repo.member_communes(session, epcis):
        communes.setdefault(member.id, member)
    equipements = await repo.equipements_of(session, convention.id)
    rpe_holders = {e.organisation_id for e in equipements if e.type == TypeEquipement.rpe}
    out: list[SchemaAOCommune] = []
    for commune in sorted(communes.values(), key=lambda o: o.nom):
        if commune.population is None or commune.population <= AO_SEUIL_SCHEMA:
            continue
        titulaire = TitulaireCompetence(commune.ao_planifier or TitulaireCompetence.commune)
        holder = commune.epci_id if titulaire is TitulaireCompetence.epci else commune.id
        raisons: list[str] = []
        if convention.statut == StatutConvention.en_preparation:
            raisons.append("La convention n'est pas signée.")
        elif convention.statut == StatutConvention.resiliee:
            raisons.append("La convention est résiliée.")
        if holder is None:
            raisons.append("La compétence planification est transférée à un EPCI non renseigné.")
        elif holder not in listed:
            who = "l'EPCI" if titulaire is TitulaireCompetence.epci else "la commune"
            raisons.append(
                f"Le titulaire de la compétence planification ({who}) n'est pas signataire."
            )
        elif holder not in signed:
            raisons.append("Signature manquante du titulaire de la compétence planification.")
        if not equipements:
            raisons.append("Annexe 2 (liste des équipements et services) manquante.")
        if today >= RPE_OBLIGATOIRE_DEPUIS and not (rpe_holders & {commune.id, holder}):
            raisons.append("Aucun RPE dans l'Annexe 2 (obligatoire depuis le 1er janvier 2026).")
        if Thematique.petite_enfance.value not in convention.thematiques:
            raisons.append("La thématique petite enfance n'est pas couverte.")
        out.append(
            SchemaAOCommune(
                organisation_id=commune.id,
                nom=commune.nom,
                population=commune.population,
                titulaire_planification=titulaire,
                titulaire_id=holder,
                vaut_schema=not raisons,
                raisons=raisons,
            )
        )
    return SchemaAOOut(
        convention_id=convention.id,
        vaut_schema_ao=bool(out) and all(c.vaut_schema for c in out),
        communes=out,
    )
