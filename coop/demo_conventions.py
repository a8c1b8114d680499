"""Demo data of the conventions service (Isère and Drôme, around November 2026).

Caf Isère: Voiron (commune-level, co-signed by the CD Isère), the Grésivaudan
(intercommunal: the EPCI and three member communes; the MSA joined by avenant n°1,
avenant n°2 adds a micro-crèche to Crolles' Annexe 2 only; a mise en demeure sent to
Le Touvet is pending), Vienne 2022-2026 (signed in 2021, recorded after the fact
without the 2026 model's socle: its warning shows; its bilan final is adopted in the
actions demo, so the README tour renews it). Caf Drôme: Valence.
Idempotent: organisations and conventions already present are left alone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from coop import demo_ids as ids
from kernel.history import Author
from kernel.principal import Grant, OrganisationKind, Principal, PrincipalKind, Role
from services.conventions import repository as repo
from services.conventions.history import CONVENTION, HISTORY
from services.conventions.models import (
    Avenant,
    Convention,
    Equipement,
    Signataire,
    TypeEquipement,
)
from services.conventions.schemas import AvenantIn, EquipementIn, MiseEnDemeureIn
from services.conventions.service import socle_manquant
from services.conventions.service_avenants import add_avenant
from services.conventions.service_lifecycle import save_version
from services.conventions.service_resiliation import mettre_en_demeure

AUTEUR = "demo"
# How the histories name what the demo data loaded directly (not through the service).
DEMO = Author(AUTEUR, "Données de démonstration")
# The Caf de l'Isère's agent, for the acts entered through the service's own rules.
AGENT_ISERE = Principal(
    subject=AUTEUR,
    name=DEMO.name,
    kind=PrincipalKind.person,
    grants=(
        Grant(
            organisation_id=ids.CAF_ISERE, organisation_kind=OrganisationKind.caf, role=Role.agent
        ),
    ),
)
SOCLE = ["petite enfance", "enfance", "jeunesse", "parentalité"]
ALL_COMMUNE = dict.fromkeys(("ao_recenser", "ao_informer", "ao_planifier", "ao_qualite"), "commune")


def _org(oid: uuid.UUID, type_: str, **values: Any) -> dict[str, Any]:
    return {"id": oid, "type": type_, "nom": ids.NOMS[oid], **values}


ORGANISATIONS = [
    _org(ids.CNAF, "National"),
    _org(ids.CAF_ISERE, "Caf", departement="38", code_caf="381"),
    _org(ids.CAF_DROME, "Caf", departement="26", code_caf="261"),
    _org(
        ids.GRESIVAUDAN,
        "EPCI",
        departement="38",
        siren="200018166",
    ),
    _org(
        ids.VOIRON,
        "Commune",
        departement="38",
        code_insee="38563",
        siren="213805639",
        population=20_300,
        **ALL_COMMUNE,
    ),
    _org(
        ids.CROLLES,
        "Commune",
        departement="38",
        code_insee="38140",
        population=8_600,
        epci_id=ids.GRESIVAUDAN,
        ao_recenser="commune",
        ao_informer="commune",
        ao_planifier="EPCI",
        ao_qualite="EPCI",
    ),
    _org(
        ids.PONTCHARRA,
        "Commune",
        departement="38",
        code_insee="38314",
        population=7_600,
        epci_id=ids.GRESIVAUDAN,
        ao_recenser="commune",
        ao_informer="commune",
        ao_planifier="EPCI",
        ao_qualite="EPCI",
    ),
    _org(
        ids.LE_TOUVET,
        "Commune",
        departement="38",
        code_insee="38511",
        population=3_300,
        epci_id=ids.GRESIVAUDAN,
        ao_recenser="commune",
        ao_informer="commune",
        ao_planifier="EPCI",
        ao_qualite="EPCI",
    ),
    _org(
        ids.VIENNE,
        "Commune",
        departement="38",
        code_insee="38544",
        population=30_000,
        **ALL_COMMUNE,
    ),
    _org(
        ids.VALENCE,
        "Commune",
        departement="26",
        code_insee="26362",
        population=64_700,
        **ALL_COMMUNE,
    ),
    _org(ids.CD_ISERE, "Conseil départemental", departement="38"),
    _org(ids.MSA_ALPES, "MSA", departement="73"),
]


async def _convention(
    session: AsyncSession,
    cid: uuid.UUID,
    *,
    caf: uuid.UUID,
    titre: str,
    echelon: str,
    debut: dt.date,
    fin: dt.date,
    signataires: list[tuple[uuid.UUID, str]],
    signee_le: dt.date | None,
    thematiques: list[str],
    equipements: Sequence[tuple[uuid.UUID, str, str, str | None]] = (),
    precedente: uuid.UUID | None = None,
    enregistree_le: dt.date | None = None,
) -> Convention:
    """`enregistree_le`: a CTG signed before the product (`ctg_existante`), recorded in
    it that day."""
    ctg_existante = enregistree_le is not None
    conv = Convention(
        id=cid,
        caf_id=caf,
        echelon=echelon,
        titre=titre,
        date_debut=debut,
        date_fin=fin,
        thematiques=thematiques,
        objectifs_partages=[
            "Répondre aux besoins d'accueil diversifiés des jeunes enfants",
            "Soutenir les parents dans leur rôle éducatif",
        ],
        copil_presidence="alternée",
        copil_secretariat="Caf",
        copil_reunions_par_an=2,
        copil_commissions=["Petite enfance", "Jeunesse"],
        statut="signée" if signee_le else "en préparation",
        date_signature=signee_le,
        precedente_id=precedente,
        ctg_existante=ctg_existante,
        numero_version=1,
        version=1,
        seq=await repo.next_seq(session),
    )
    if enregistree_le is not None:
        conv.cree_le = dt.datetime.combine(enregistree_le, dt.time(9), dt.UTC)
    session.add(conv)
    await session.flush()
    session.add_all(
        Signataire(
            convention_id=cid,
            organisation_id=org,
            representant=rep,
            deliberation_reference=f"DEL-{debut.year - 1}-{i + 1:02d}" if i else None,
            deliberation_date=(signee_le - dt.timedelta(days=20)) if signee_le and i else None,
            date_signature=signee_le,
            ordre=i,
        )
        for i, (org, rep) in enumerate(signataires)
    )
    session.add_all(
        Equipement(convention_id=cid, organisation_id=org, type=t, nom=nom, adresse=adresse)
        for org, t, nom, adresse in equipements
    )
    await session.flush()
    await HISTORY.record(session, DEMO, CONVENTION, conv, None, evenement="création")
    if signee_le:
        details: dict[str, Any] = {"date_signature": signee_le.isoformat()}
        if ctg_existante:
            details.update(ctg_existante=True, socle_manquant=socle_manquant(thematiques))
        await HISTORY.record(
            session,
            DEMO,
            CONVENTION,
            conv,
            CONVENTION.snapshot(conv),
            evenement="signature",
            details=details,
        )
    if signee_le:
        await save_version(session, conv, None)
    return conv


# Vienne's CTG as signed in 2021: enfance-jeunesse, parentalité, no petite enfance.
VIENNE_2021 = ["enfance", "jeunesse", "parentalité", "accès aux droits et aux services"]
# The demo's "today" for the acts entered through the service: after them all.
ACTS_DATE = dt.date(2026, 11, 20)


async def _gresivaudan_since(session: AsyncSession, conv: Convention) -> None:
    """What happened to the Grésivaudan's CTG since, through the service's own rules:
    avenant n°2 (Crolles' Annexe 2 only: 001 "uniquement l'annexe des signataires
    concernés"), and a mise en demeure sent to Le Touvet, pending (003 art. 12)."""
    await add_avenant(
        session,
        AGENT_ISERE,
        conv,
        AvenantIn(
            date_avenant=dt.date(2026, 3, 10),
            objet="Ouverture d'une micro-crèche à Crolles",
            articles_modifies=["Annexe 2"],
            signataires_concernes=[ids.CAF_ISERE, ids.CROLLES],
            equipements_ajoutes=[
                EquipementIn(
                    organisation_id=ids.CROLLES,
                    type=TypeEquipement.micro_creche_paje,
                    nom="Micro-crèche Les Petits Pas",
                    adresse="Crolles",
                )
            ],
        ),
        ACTS_DATE,
    )
    sigs = await repo.signataires_of_convention(session, conv.id)
    await mettre_en_demeure(
        session,
        AGENT_ISERE,
        conv,
        sigs,
        {ids.CAF_ISERE},
        MiseEnDemeureIn(
            date_envoi=dt.date(2026, 11, 16),
            emetteur_id=ids.CAF_ISERE,
            destinataire_id=ids.LE_TOUVET,
            obligations=(
                "Mettre en place les permanences logement inscrites au plan d'actions "
                "et en transmettre le calendrier au COPIL."
            ),
            lettre_document_id=ids.DOCUMENT_MISE_EN_DEMEURE,
        ),
        ACTS_DATE,
    )


async def demo_step(session: AsyncSession) -> str:
    added_orgs = await repo.insert_organisations(session, ORGANISATIONS, skip_existing=True)
    existing = set(
        (
            await session.scalars(
                select(Convention.id).where(
                    Convention.id.in_(
                        [
                            ids.CONVENTION_VOIRON,
                            ids.CONVENTION_GRESIVAUDAN,
                            ids.CONVENTION_VIENNE_2022,
                            ids.CONVENTION_VALENCE,
                        ]
                    )
                )
            )
        ).all()
    )
    created = 0
    if ids.CONVENTION_VOIRON not in existing:
        await _convention(
            session,
            ids.CONVENTION_VOIRON,
            caf=ids.CAF_ISERE,
            titre="CTG de Voiron 2025-2029",
            echelon="commune",
            debut=dt.date(2025, 1, 1),
            fin=dt.date(2029, 12, 31),
            signataires=[
                (ids.CAF_ISERE, "Directrice de la Caf de l'Isère"),
                (ids.VOIRON, "Maire de Voiron"),
                (ids.CD_ISERE, "Président du Département de l'Isère"),
            ],
            signee_le=dt.date(2024, 12, 18),
            thematiques=[*SOCLE, "accès aux droits et aux services", "animation de la vie sociale"],
            equipements=[
                (
                    ids.VOIRON,
                    "RPE",
                    "Relais petite enfance de Voiron",
                    "2 place Stalingrad, Voiron",
                ),
                (
                    ids.VOIRON,
                    "EAJE PSU",
                    "Multi-accueil Les Lutins",
                    "12 rue de la Brunerie, Voiron",
                ),
                (
                    ids.VOIRON,
                    "Centres sociaux / Espace de vie sociale",
                    "Centre social Charles Béraudier",
                    None,
                ),
            ],
        )
        created += 1
    if ids.CONVENTION_GRESIVAUDAN not in existing:
        conv = await _convention(
            session,
            ids.CONVENTION_GRESIVAUDAN,
            caf=ids.CAF_ISERE,
            titre="CTG du Grésivaudan 2024-2028",
            echelon="intercommunal",
            debut=dt.date(2024, 1, 1),
            fin=dt.date(2028, 12, 31),
            signataires=[
                (ids.CAF_ISERE, "Directrice de la Caf de l'Isère"),
                (ids.GRESIVAUDAN, "Président de la communauté de communes"),
                (ids.CROLLES, "Maire de Crolles"),
                (ids.PONTCHARRA, "Maire de Pontcharra"),
                (ids.LE_TOUVET, "Maire du Touvet"),
            ],
            signee_le=dt.date(2023, 12, 15),
            thematiques=[*SOCLE, "logement", "inclusion numérique"],
            equipements=[
                (ids.GRESIVAUDAN, "RPE", "RPE intercommunal du Grésivaudan", "Crolles"),
                (ids.CROLLES, "EAJE PSU", "Crèche Les Coccinelles", "Crolles"),
                (ids.PONTCHARRA, "Accueils de jeunes", "Espace jeunes de Pontcharra", None),
            ],
        )
        # Avenant n°1: the MSA joins the convention.
        session.add(
            Signataire(
                convention_id=conv.id,
                organisation_id=ids.MSA_ALPES,
                representant="Directeur de la MSA Alpes du Nord",
                date_signature=dt.date(2025, 6, 12),
                avenant_numero=1,
                ordre=5,
            )
        )
        avenant = Avenant(
            id=ids.demo_id("avenant:gresivaudan-1"),
            convention_id=conv.id,
            numero=1,
            date_avenant=dt.date(2025, 6, 12),
            objet="Entrée de la MSA Alpes du Nord dans la convention",
            articles_modifies=["Article 2", "Article 4"],
            signataires_concernes=[ids.CAF_ISERE, ids.GRESIVAUDAN, ids.MSA_ALPES],
            modifications={"ajout_signataires": [str(ids.MSA_ALPES)]},
            auteur=AUTEUR,
            auteur_nom=DEMO.name,
        )
        session.add(avenant)
        before = CONVENTION.snapshot(conv)
        conv.numero_version = 2
        await session.flush()
        await HISTORY.record(
            session,
            DEMO,
            CONVENTION,
            conv,
            before,
            evenement="avenant",
            motif=avenant.objet,
            details={"numero": 1},
        )
        await save_version(session, conv, avenant.id)
        await _gresivaudan_since(session, conv)
        created += 1
    if ids.CONVENTION_VIENNE_2022 not in existing:
        # Signed in 2021 (an "enfance jeunesse" CTG, before the product and the 2026
        # model), recorded by the Caf: no petite enfance, the socle's warning shows.
        await _convention(
            session,
            ids.CONVENTION_VIENNE_2022,
            caf=ids.CAF_ISERE,
            titre="CTG de Vienne 2022-2026",
            echelon="commune",
            debut=dt.date(2022, 1, 1),
            fin=dt.date(2026, 12, 31),
            signataires=[
                (ids.CAF_ISERE, "Directeur de la Caf de l'Isère"),
                (ids.VIENNE, "Maire de Vienne"),
                (ids.MSA_ALPES, "Directeur de la MSA Alpes du Nord"),
            ],
            signee_le=dt.date(2021, 12, 14),
            thematiques=VIENNE_2021,
            equipements=[(ids.VIENNE, "RPE", "RPE de Vienne", "Vienne")],
            enregistree_le=ids.VIENNE_2022_ENREGISTREE_LE,
        )
        created += 1
    if ids.CONVENTION_VALENCE not in existing:
        await _convention(
            session,
            ids.CONVENTION_VALENCE,
            caf=ids.CAF_DROME,
            titre="CTG de Valence 2025-2029",
            echelon="commune",
            debut=dt.date(2025, 1, 1),
            fin=dt.date(2029, 12, 31),
            signataires=[
                (ids.CAF_DROME, "Directeur de la Caf de la Drôme"),
                (ids.VALENCE, "Maire de Valence"),
            ],
            signee_le=dt.date(2025, 2, 3),
            thematiques=[*SOCLE, "animation de la vie sociale", "lutte contre la pauvreté"],
            equipements=[(ids.VALENCE, "RPE", "RPE de Valence", "Valence")],
        )
        created += 1
    return f"{added_orgs} organisations, {created} conventions ajoutées"
