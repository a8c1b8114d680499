"""Demo data of the actions service: plans d'actions of Voiron, the Grésivaudan and Vienne.

Real-looking plans on the model convention's axes, indicators with values, suivis
over the last quarters in every workflow state (with an alert to the COPIL), an
adopted bilan intermédiaire (the Grésivaudan) and Vienne's adopted bilan final, which
its renewal requires (002: "L'évaluation est un préalable à tout renouvellement").
The convention replica is filled with references consistent with the conventions demo
data (seq 0: the real feed overrides them).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from coop.demo_ids import (
    BILAN_FINAL_VIENNE,
    BILAN_GRESIVAUDAN,
    CAF_ISERE_AGENT,
    CAF_ISERE_AGENT_NOM,
    CONVENTION_GRESIVAUDAN,
    CONVENTION_VIENNE_2022,
    CONVENTION_VOIRON,
    CROLLES,
    GRESIVAUDAN,
    LE_TOUVET,
    PONTCHARRA,
    VIENNE,
    VOIRON,
    demo_id,
    replica_refs,
)
from kernel.convention_ref import ConventionRef, upsert_refs
from services.actions.models import (
    Action,
    Axe,
    Bilan,
    Indicateur,
    Suivi,
    SuiviEvenement,
    ValeurIndicateur,
    convention_ref,
)
from services.actions.rules import Trimestre, campagne_courante
from services.actions.service_bilans import snapshot

AGENT = CAF_ISERE_AGENT
AGENT_NOM = CAF_ISERE_AGENT_NOM


# (axe title, [(action title, thématique, porteurs, statut, indicator (libellé, nature, unité,
#  reference, cible par an))])
Plan = list[tuple[str, list[tuple[str, str, list[uuid.UUID], str, tuple[Any, ...] | None]]]]

PLANS: dict[uuid.UUID, Plan] = {
    CONVENTION_VOIRON: [
        (
            "Répondre aux besoins d'accueil diversifiés des jeunes enfants",
            [
                (
                    "Ouvrir une micro-crèche de 12 places au quartier Baltiss",
                    "petite enfance",
                    [VOIRON],
                    "en cours",
                    ("Places d'accueil créées", "réalisation", "places", 0, 12),
                ),
                (
                    "Créer un relais petite enfance itinérant",
                    "petite enfance",
                    [VOIRON],
                    "à venir",
                    ("ETP d'animatrice RPE", "réalisation", "ETP", 0, 1),
                ),
            ],
        ),
        (
            "Renforcer l'accès des enfants et adolescents aux activités péri et extrascolaires",
            [
                (
                    "Étendre l'accueil de loisirs aux mercredis matin",
                    "enfance",
                    [VOIRON],
                    "en cours",
                    ("Enfants accueillis le mercredi", "changement territorial", "enfants", 45, 80),
                ),
            ],
        ),
        (
            "Soutenir les parents dans leur rôle éducatif",
            [
                (
                    "Ouvrir un lieu d'accueil enfants-parents (LAEP)",
                    "parentalité",
                    [VOIRON],
                    "bloquée",
                    ("Familles reçues au LAEP", "réalisation", "familles", 0, 60),
                ),
                (
                    "Cafés des parents dans les écoles",
                    "parentalité",
                    [VOIRON],
                    "réalisée",
                    None,
                ),
            ],
        ),
        (
            "Renforcer les coopérations avec les partenaires locaux",
            [
                (
                    "Réunir un comité technique trimestriel Caf-Ville-CCAS",
                    "accès aux droits et aux services",
                    [VOIRON],
                    "en cours",
                    None,
                ),
            ],
        ),
    ],
    CONVENTION_GRESIVAUDAN: [
        (
            "Répondre aux besoins d'accueil diversifiés des jeunes enfants",
            [
                (
                    "Maison d'assistants maternels à Pontcharra",
                    "petite enfance",
                    [PONTCHARRA, GRESIVAUDAN],
                    "en cours",
                    ("Places en MAM", "réalisation", "places", 0, 16),
                ),
                (
                    "Passerelle crèche-école à Crolles",
                    "petite enfance",
                    [CROLLES],
                    "en pause",
                    None,
                ),
            ],
        ),
        (
            "Favoriser l'autonomie et l'accès aux droits des adolescents et des jeunes adultes",
            [
                (
                    "Point information jeunesse intercommunal",
                    "jeunesse",
                    [GRESIVAUDAN],
                    "en cours",
                    ("Jeunes accompagnés", "réalisation", "jeunes", 120, 200),
                ),
            ],
        ),
        (
            "Favoriser l'accès et le maintien dans le logement",
            [
                (
                    "Permanences logement au Touvet",
                    "logement",
                    [LE_TOUVET],
                    "à venir",
                    None,
                ),
            ],
        ),
        (
            "Sécuriser et accompagner les habitants allocataires dans leurs démarches",
            [
                (
                    "Conseillers numériques itinérants",
                    "inclusion numérique",
                    [GRESIVAUDAN, CROLLES, PONTCHARRA, LE_TOUVET],
                    "en cours",
                    (
                        "Part des usagers autonomes après accompagnement",
                        "changement territorial",
                        "%",
                        30,
                        60,
                    ),
                ),
            ],
        ),
    ],
    CONVENTION_VIENNE_2022: [
        (
            "Renforcer l'accès des enfants et adolescents aux activités péri et extrascolaires",
            [
                (
                    "Accueil de loisirs ouvert pendant toutes les vacances scolaires",
                    "enfance",
                    [VIENNE],
                    "réalisée",
                    ("Semaines d'ouverture par an", "réalisation", "semaines", 9, 14),
                ),
                (
                    "Chantiers jeunes d'été",
                    "jeunesse",
                    [VIENNE],
                    "réalisée",
                    None,
                ),
            ],
        ),
        (
            "Soutenir les parents dans leur rôle éducatif",
            [
                (
                    "Ateliers parents-enfants au centre social",
                    "parentalité",
                    [VIENNE],
                    "en cours",
                    ("Familles participantes", "changement territorial", "familles", 40, 90),
                ),
            ],
        ),
    ],
}

# Latest campaign: one action in each state (None = missing), the rest validated before.
LATEST_STATES = ["validé", "soumis", "à compléter", "brouillon", None]
TRANSITIONS: dict[str, list[tuple[str, str | None, str]]] = {
    "brouillon": [("création", None, "brouillon")],
    "soumis": [("création", None, "brouillon"), ("soumission", "brouillon", "soumis")],
    "validé": [
        ("création", None, "brouillon"),
        ("soumission", "brouillon", "soumis"),
        ("validation", "soumis", "validé"),
    ],
    "à compléter": [
        ("création", None, "brouillon"),
        ("soumission", "brouillon", "soumis"),
        ("renvoi à compléter", "soumis", "à compléter"),
    ],
}


def _quarters(debut: dt.date, today: dt.date) -> list[Trimestre]:
    """The current campaign and the two before it, within the convention."""
    current = campagne_courante(today, 15)
    out = [current.precedent().precedent(), current.precedent(), current]
    return [t for t in out if t.fin >= debut]


def _suivi(
    session: AsyncSession,
    action: Action,
    indicateur: Indicateur | None,
    t: Trimestre,
    etat: str,
    step: int,
    alerte: str | None,
) -> None:
    sid = demo_id(f"actions:suivi:{action.id}:{t}")
    valeurs: list[dict[str, Any]] = []
    if indicateur is not None:
        cible = Decimal(str(next(iter(indicateur.cibles.values()), "0")))
        base = indicateur.valeur_reference or Decimal(0)
        value = (base + (cible - base) * Decimal(step) / Decimal(6)).quantize(Decimal(1))
        valeurs = [{"indicateur_id": str(indicateur.id), "valeur": str(value), "source": "Ville"}]
    suivi = Suivi(
        id=sid,
        action_id=action.id,
        convention_id=action.convention_id,
        periode=str(t),
        etat=etat,
        revision=1,
        statut_action=action.statut,
        avancement=min(100, 15 * step),
        realisations=f"{action.titre} : étape {step} menée avec les partenaires.",
        difficultes="Recrutement difficile" if etat == "à compléter" else None,
        alerte=alerte is not None,
        alerte_message=alerte,
        valeurs=valeurs,
        commentaire_validation="Merci de chiffrer l'avancement." if etat == "à compléter" else None,
        auteur=AGENT,
        auteur_nom=AGENT_NOM,
        version=len(TRANSITIONS[etat]),
    )
    session.add(suivi)
    for evenement, avant, apres in TRANSITIONS[etat]:
        session.add(
            SuiviEvenement(
                suivi_id=sid,
                revision=1,
                evenement=evenement,
                etat_avant=avant,
                etat_apres=apres,
                commentaire=suivi.commentaire_validation
                if evenement.startswith("renvoi")
                else None,
                auteur=AGENT,
                auteur_nom=AGENT_NOM,
                contenu={"statut_action": action.statut, "avancement": suivi.avancement},
            )
        )
    if etat == "validé" and indicateur is not None and valeurs:
        session.add(
            ValeurIndicateur(
                id=demo_id(f"actions:valeur:{indicateur.id}:{t}"),
                indicateur_id=indicateur.id,
                periode=str(t),
                valeur=Decimal(valeurs[0]["valeur"]),
                source="Ville",
                auteur=AGENT,
                auteur_nom=AGENT_NOM,
            )
        )


async def _plan(session: AsyncSession, ref: ConventionRef, today: dt.date) -> int:
    actions: list[tuple[Action, Indicateur | None]] = []
    for a_pos, (axe_titre, fiches) in enumerate(PLANS[ref.id], start=1):
        axe = Axe(
            id=demo_id(f"actions:axe:{ref.id}:{a_pos}"),
            convention_id=ref.id,
            titre=axe_titre,
            position=a_pos,
            version=1,
        )
        session.add(axe)
        for f_pos, (titre, thematique, porteurs, statut, ind) in enumerate(fiches, start=1):
            action = Action(
                id=demo_id(f"actions:action:{ref.id}:{a_pos}:{f_pos}"),
                convention_id=ref.id,
                axe_id=axe.id,
                position=f_pos,
                titre=titre,
                thematique=thematique,
                statut=statut,
                priorite="haute" if f_pos == 1 else "moyenne",
                date_debut=ref.date_debut,
                date_echeance=dt.date(ref.date_debut.year + 2, 6, 30),
                porteur_ids=porteurs,
                referent="Chargée de coopération CTG",
                diagnostic_initial="Constat partagé lors du diagnostic de la CTG.",
                public_cible="Familles du territoire",
                objectifs_operationnels=titre,
                modalites_mise_en_oeuvre="Groupe de travail mensuel, appui de la Caf.",
                echeances_realisation=f"{ref.date_debut.year + 2}",
                services_mobilises="Service enfance-jeunesse de la collectivité",
                resultats_attendus="Une offre adaptée aux besoins repérés",
                partenaires_sollicites="PMI, CCAS, associations de parents",
                version=1,
            )
            indicateur = None
            if ind is not None:
                libelle, nature, unite, reference, cible = ind
                years = range(ref.date_debut.year, ref.date_fin.year + 1)
                indicateur = Indicateur(
                    id=demo_id(f"actions:indicateur:{action.id}"),
                    action_id=action.id,
                    convention_id=ref.id,
                    libelle=libelle,
                    nature=nature,
                    unite=unite,
                    valeur_reference=Decimal(reference),
                    date_reference=ref.date_debut - dt.timedelta(days=1),
                    cibles={str(y): str(cible) for y in years},
                    version=1,
                )
            actions.append((action, indicateur))
    await session.flush()
    session.add_all([a for a, _ in actions])
    await session.flush()
    session.add_all([i for _, i in actions if i is not None])
    await session.flush()
    quarters = _quarters(ref.date_debut, today)
    for q_index, t in enumerate(quarters):
        latest = q_index == len(quarters) - 1
        for a_index, (action, indicateur) in enumerate(actions):
            if action.statut == "abandonnée":
                continue
            etat = LATEST_STATES[a_index % len(LATEST_STATES)] if latest else "validé"
            if etat is None:
                continue
            alerte = (
                "Le local prévu n'est plus disponible : arbitrage du COPIL nécessaire."
                if latest and etat == "à compléter"
                else None
            )
            _suivi(session, action, indicateur, t, etat, q_index + 1, alerte)
    await session.flush()
    return len(actions)


async def demo_step(session: AsyncSession) -> str:
    refs = replica_refs()
    await upsert_refs(session, convention_ref, refs)
    marker = demo_id(f"actions:axe:{CONVENTION_VOIRON}:1")
    if (await session.execute(select(Axe.id).where(Axe.id == marker))).first() is not None:
        return "déjà chargées"
    today = dt.datetime.now(dt.UTC).date()
    count = 0
    for ref in refs:
        count += await _plan(session, ref, today)
    bilan_id = BILAN_GRESIVAUDAN
    gres = refs[1]
    sections = {
        "avancees": "La MAM de Pontcharra est ouverte ; le PIJ intercommunal a accompagné "
        "160 jeunes en 2025.",
        "difficultes": "La passerelle de Crolles est en pause faute de locaux.",
        "ajustements": "Reporter la passerelle à la rentrée 2027.",
        "avenant_necessaire": False,
    }
    session.add(
        Bilan(
            id=bilan_id,
            convention_id=gres.id,
            type="bilan intermédiaire",
            periode_debut=dt.date(2024, 1, 1),
            periode_fin=dt.date(2026, 6, 30),
            etat="adopté",
            sections=sections,
            date_adoption=dt.date(2026, 7, 3),
            instantane=await snapshot(session, gres.id, dt.date(2026, 7, 3)),
            petite_enfance_transmissible=False,
            version=2,
        )
    )
    await session.flush()
    await _bilan_final_vienne(session)
    return f"{count} actions, suivis sur 3 trimestres, 1 bilan intermédiaire, 1 bilan final"


async def _bilan_final_vienne(session: AsyncSession) -> None:
    """Adopted by the COPIL of 12 November 2026: Vienne's CTG may be renewed."""
    adopted = dt.date(2026, 11, 12)
    session.add(
        Bilan(
            id=BILAN_FINAL_VIENNE,
            convention_id=CONVENTION_VIENNE_2022,
            type="bilan final",
            periode_debut=dt.date(2022, 1, 1),
            periode_fin=dt.date(2026, 12, 31),
            etat="adopté",
            sections={
                "resultats": "L'accueil de loisirs ouvre toutes les vacances (14 semaines "
                "contre 9) ; 70 familles aux ateliers parents-enfants.",
                "fonctionnement_demarche": "Deux COPIL par an, un comité technique "
                "trimestriel Caf-Ville-MSA.",
                "plus_value": "Un diagnostic et un plan communs aux trois signataires.",
                "preparation_renouvellement": "Intégrer la petite enfance (socle 2026) et "
                "le handicap dans la CTG 2027-2031.",
            },
            syntheses={},
            date_adoption=adopted,
            adoption_saisie_par=AGENT,
            adoption_saisie_par_nom=AGENT_NOM,
            adoption_saisie_le=dt.datetime(2026, 11, 13, 9, tzinfo=dt.UTC),
            instantane=await snapshot(session, CONVENTION_VIENNE_2022, adopted),
            petite_enfance_transmissible=False,
            version=2,
        )
    )
    await session.flush()
