"""Signature and after: versions, avenants, résiliation, renouvellement; Annexe 2 and the
AO check."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import StatutConvention
from kernel.errors import Conflict, InvalidPayload, NotFound
from kernel.principal import Principal
from services.conventions import repository as repo
from services.conventions.models import (
    THEMATIQUES_SOCLE,
    Avenant,
    Convention,
    ConventionVersion,
    Equipement,
    ModeResiliation,
    Signataire,
    TitulaireCompetence,
    TypeEquipement,
    TypeOrganisation,
)
from services.conventions.schemas import (
    AvenantIn,
    EquipementIn,
    RenouvellementIn,
    ResiliationIn,
    SchemaAOCommune,
    SchemaAOOut,
    SignataireIn,
)
from services.conventions.service import (
    SigRows,
    add_months,
    check_dates,
    max_date_fin,
    new_signataire,
    record,
    require_preparation,
    signatory_organisations,
    signature_problems,
)
from services.conventions.service_views import snapshot

AO_SEUIL_SCHEMA = 10_000
RPE_OBLIGATOIRE_DEPUIS = dt.date(2026, 1, 1)


def require_running(convention: Convention, today: dt.date, what: str) -> None:
    """Avenants and résiliation only on a signed convention that has not ended."""
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
    motif: str | None,
) -> SigRows:
    """Sign; the signatories read for it (signing does not change them)."""
    require_preparation(convention)
    sigs = await repo.signataires_of_convention(session, convention.id)
    problems = signature_problems(convention, sigs, today)
    if problems:
        raise Conflict(
            "La convention ne peut pas encore être signée.", extra={"manquants": problems}
        )
    convention.statut = StatutConvention.signee.value
    convention.date_signature = max(s.date_signature for s, _ in sigs if s.date_signature)
    convention.numero_version = 1
    await record(
        session,
        convention,
        "signature",
        principal,
        motif=motif,
        details={"date_signature": convention.date_signature.isoformat()},
    )
    await save_version(session, convention, None, sigs)
    return sigs


# --- avenants ----------------------------------------------------------------------------


async def add_avenant(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    data: AvenantIn,
    today: dt.date,
) -> Avenant:
    require_running(convention, today, "Avenant impossible")
    if data.date_avenant > today:
        # An avenant is recorded once signed.
        raise InvalidPayload(
            "La date de l'avenant ne peut pas être dans le futur.",
            errors=[{"pointer": "/date_avenant", "field": "date_avenant"}],
        )
    previous = await repo.avenants_of(session, convention.id)
    modifications: dict[str, Any] = {}
    debut, fin = convention.date_debut, convention.date_fin
    already_prolonged = any(a.modifications.get("prolongation_un_an") for a in previous)
    if data.prolongation_un_an and data.nouvelle_date_fin is not None:
        raise InvalidPayload(
            "Choisir une prolongation d'un an ou une nouvelle date de fin, pas les deux.",
            errors=[{"pointer": "/prolongation_un_an", "field": "prolongation_un_an"}],
        )
    if data.prolongation_un_an:
        if already_prolonged:
            raise Conflict("La convention a déjà été prolongée d'un an par avenant.")
        fin = add_months(fin, 12)
        modifications["prolongation_un_an"] = True
    if data.nouvelle_date_fin is not None:
        fin = data.nouvelle_date_fin
    if data.nouvelle_date_debut is not None:
        debut = data.nouvelle_date_debut
    if (debut, fin) != (convention.date_debut, convention.date_fin):
        # A one-year prolongation may go past the N+4 limit by that year.
        check_dates(
            debut, fin, extra_years=1 if (already_prolonged or data.prolongation_un_an) else 0
        )
        modifications["dates"] = {
            "avant": [convention.date_debut.isoformat(), convention.date_fin.isoformat()],
            "apres": [debut.isoformat(), fin.isoformat()],
        }
    if data.thematiques is not None:
        values = [t.value for t in dict.fromkeys(data.thematiques)]
        missing = [t.value for t in THEMATIQUES_SOCLE if t.value not in values]
        if missing:
            raise Conflict(
                "Un avenant ne peut pas retirer une thématique du socle : " + ", ".join(missing)
            )
        modifications["thematiques"] = {"avant": list(convention.thematiques), "apres": values}
        convention.thematiques = values
    if data.objectifs_partages is not None:
        modifications["objectifs_partages"] = {
            "avant": list(convention.objectifs_partages),
            "apres": list(data.objectifs_partages),
        }
        convention.objectifs_partages = list(data.objectifs_partages)
    current = await repo.signataires_of_convention(session, convention.id)
    current_ids = {s.organisation_id for s, _ in current}
    added: list[SignataireIn] = list(data.ajout_signataires)
    if added:
        await signatory_organisations(session, added, "/ajout_signataires")
        dup = [str(s.organisation_id) for s in added if s.organisation_id in current_ids]
        if dup:
            raise Conflict("Organisation déjà signataire : " + ", ".join(dup))
    parties = current_ids | {s.organisation_id for s in added}
    concerned = list(dict.fromkeys(data.signataires_concernes)) or sorted(parties)
    unknown = [str(o) for o in concerned if o not in parties]
    if unknown:
        raise InvalidPayload(
            "Signataires concernés inconnus de la convention.",
            errors=[{"pointer": "/signataires_concernes", "field": "signataires_concernes"}],
            extra={"inconnus": unknown},
        )
    if not modifications and not added and not data.articles_modifies:
        raise InvalidPayload(
            "Un avenant doit modifier au moins un article, une annexe ou un élément.",
            errors=[{"pointer": "/articles_modifies", "field": "articles_modifies"}],
        )
    numero = (previous[-1].numero if previous else 0) + 1
    if added:
        # A signatory joining by avenant signs that avenant.
        rows = [
            new_signataire(
                convention.id,
                s.model_copy(update={"date_signature": s.date_signature or data.date_avenant}),
                len(current) + i,
            )
            for i, s in enumerate(added)
        ]
        for row in rows:
            row.avenant_numero = numero
        await repo.add(session, *rows)
        modifications["ajout_signataires"] = [str(s.organisation_id) for s in added]
    convention.date_debut, convention.date_fin = debut, fin
    avenant = Avenant(
        id=uuid.uuid4(),
        convention_id=convention.id,
        numero=numero,
        date_avenant=data.date_avenant,
        objet=data.objet,
        articles_modifies=list(data.articles_modifies),
        signataires_concernes=concerned,
        modifications=modifications,
        auteur=principal.subject,
    )
    await repo.add(session, avenant)
    convention.numero_version = convention.numero_version + 1
    await record(
        session,
        convention,
        "avenant",
        principal,
        motif=data.objet,
        details={"numero": numero, "modifications": modifications},
    )
    await save_version(session, convention, avenant.id)
    return avenant


# --- résiliation -------------------------------------------------------------------------


def date_effet(mode: ModeResiliation, notification: dt.date) -> dt.date:
    """Art. 12: one month after the mise en demeure, immediate, or six months' notice."""
    if mode is ModeResiliation.avec_mise_en_demeure:
        return add_months(notification, 1)
    if mode is ModeResiliation.consentement_mutuel:
        return add_months(notification, 6)
    return notification


async def resilier(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    data: ResiliationIn,
    today: dt.date,
) -> None:
    require_running(convention, today, "Résiliation impossible")
    notification = data.date_notification or today
    if notification > today:
        raise InvalidPayload(
            "La date de notification ne peut pas être dans le futur.",
            errors=[{"pointer": "/date_notification", "field": "date_notification"}],
        )
    effet = date_effet(data.mode, notification)
    if effet > convention.date_fin:
        raise Conflict(
            f"La résiliation prendrait effet le {effet.isoformat()}, après la fin de la "
            f"convention ({convention.date_fin.isoformat()})."
        )
    convention.statut = StatutConvention.resiliee.value
    convention.resiliation_mode = data.mode.value
    convention.resiliation_date_notification = notification
    convention.resiliation_motif = data.motif
    convention.date_effet_resiliation = effet
    await record(
        session,
        convention,
        "résiliation",
        principal,
        motif=data.motif,
        details={
            "mode": data.mode.value,
            "date_notification": notification.isoformat(),
            "date_effet": effet.isoformat(),
        },
    )


# --- renouvellement ----------------------------------------------------------------------


async def renouveler(
    session: AsyncSession,
    principal: Principal,
    convention: Convention,
    data: RenouvellementIn,
) -> Convention:
    if convention.statut != StatutConvention.signee:
        raise Conflict("Seule une convention signée (non résiliée) peut être renouvelée.")
    if await repo.successors(session, [convention.id]):
        raise Conflict("Cette convention a déjà été renouvelée.")
    debut = data.date_debut or (convention.date_fin + dt.timedelta(days=1))
    fin = data.date_fin or max_date_fin(debut)
    check_dates(debut, fin)
    new = Convention(
        id=uuid.uuid4(),
        caf_id=convention.caf_id,
        echelon=convention.echelon,
        titre=data.titre or f"{convention.titre} (renouvellement)",
        date_debut=debut,
        date_fin=fin,
        thematiques=list(convention.thematiques),
        objectifs_partages=list(convention.objectifs_partages),
        copil_presidence=convention.copil_presidence,
        copil_secretariat=convention.copil_secretariat,
        copil_reunions_par_an=convention.copil_reunions_par_an,
        copil_commissions=list(convention.copil_commissions),
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
            for i, (s, _) in enumerate(sigs)
        ],
    )
    await record(
        session,
        new,
        "création par renouvellement",
        principal,
        details={"precedente_id": str(convention.id)},
    )
    await record(
        session, convention, "renouvellement", principal, details={"suivante_id": str(new.id)}
    )
    return new


# --- Annexe 2 ----------------------------------------------------------------------------


async def add_equipement(
    session: AsyncSession, principal: Principal, convention: Convention, data: EquipementIn
) -> Equipement:
    require_preparation(convention)
    if await repo.get_signataire(session, convention.id, data.organisation_id) is None:
        raise InvalidPayload(
            "L'Annexe 2 liste les équipements d'un signataire de la convention.",
            errors=[{"pointer": "/organisation_id", "field": "organisation_id"}],
        )
    equipement = Equipement(
        id=uuid.uuid4(),
        convention_id=convention.id,
        organisation_id=data.organisation_id,
        type=data.type.value,
        nom=data.nom,
        adresse=data.adresse,
    )
    await repo.add(session, equipement)
    await record(
        session,
        convention,
        "ajout d'équipement",
        principal,
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
    await repo.delete(session, equipement)
    await record(
        session,
        convention,
        "retrait d'équipement",
        principal,
        details={"equipement_id": str(equipement_id)},
    )


# --- vaut schéma d'AO --------------------------------------------------------------------


async def schema_ao(session: AsyncSession, convention: Convention, today: dt.date) -> SchemaAOOut:
    """Can the CTG stand for the schéma pluriannuel of each AO above 10 000 inhabitants?

    It requires the signature of whoever holds the planification competence (the commune
    or its EPCI) and, from 1 January 2026, an RPE in Annexe 2."""
    sigs = await repo.signataires_of_convention(session, convention.id)
    signed = {s.organisation_id for s, _ in sigs if s.date_signature is not None}
    listed = {s.organisation_id for s, _ in sigs}
    communes = {o.id: o for _, o in sigs if o.type == TypeOrganisation.commune}
    epcis = [o.id for _, o in sigs if o.type == TypeOrganisation.epci]
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
        if THEMATIQUES_SOCLE[0].value not in convention.thematiques:
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
