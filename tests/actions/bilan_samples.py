"""A bilan report's input as the bilans service would build it from a frozen snapshot."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from services.actions.report_bilan import (
    ActionRapport,
    AxeRapport,
    BilanRapport,
    ConventionRapport,
    IndicateurRapport,
    SectionRapport,
    SignataireRapport,
    SuiviRapport,
    ValeurIndicateur,
)
from services.actions.rules import StatutAction

PLACES = IndicateurRapport(
    libelle="Places d’accueil du jeune enfant créées",
    unite="places",
    nature="réalisation",
    valeur_reference=Decimal(0),
    cibles={2025: Decimal(20), 2026: Decimal(40)},
    valeurs=[
        ValeurIndicateur(periode="2025-T2", valeur=Decimal(8)),
        ValeurIndicateur(periode="2025-T4", valeur=Decimal(18)),
        ValeurIndicateur(periode="2026-T1", valeur=Decimal(27)),
    ],
)
ETP = IndicateurRapport(
    libelle="ETP du relais petite enfance",
    unite="ETP",
    nature="réalisation",
    cibles={2026: Decimal("2.5")},
    valeurs=[ValeurIndicateur(periode="2026", valeur=Decimal("1.5"))],
)

# Indicators of an axe and of the whole convention (art. 9: "les effets de l'ensemble").
EAJE = IndicateurRapport(
    libelle="Taux de couverture en accueil du jeune enfant",
    unite="%",
    nature="changement territorial",
    cibles={2026: Decimal(60)},
    valeurs=[ValeurIndicateur(periode="2026-T1", valeur=Decimal("57.5"))],
)
FAMILLES = IndicateurRapport(
    libelle="Familles accompagnées",
    unite="familles",
    nature="changement territorial",
    cibles={2025: Decimal(300), 2026: Decimal(350)},
    valeurs=[
        ValeurIndicateur(periode="2025", valeur=Decimal(310)),
        ValeurIndicateur(periode="2026-T1", valeur=Decimal(120)),
    ],
)


def bilan_rapport() -> BilanRapport:
    return BilanRapport(
        titre="Bilan intermédiaire 2026 — CTG du Pays Voironnais",
        type_bilan="bilan intermédiaire",
        etat="adopté",
        convention=ConventionRapport(
            titre="Convention territoriale globale du Pays Voironnais 2024-2028",
            caf="Caf de l’Isère",
            date_debut=dt.date(2024, 1, 1),
            date_fin=dt.date(2028, 12, 31),
        ),
        signataires=[
            SignataireRapport(nom="Caf de l’Isère", type="Caf", date_signature=dt.date(2024, 2, 1)),
            SignataireRapport(
                nom="Communauté d’agglomération du Pays Voironnais",
                type="EPCI",
                date_signature=dt.date(2024, 2, 12),
            ),
            SignataireRapport(nom="Commune de Saint-Étienne-de-Crossey", type="Commune"),
        ],
        periode_debut=dt.date(2024, 1, 1),
        periode_fin=dt.date(2026, 3, 31),
        date_adoption=dt.date(2026, 5, 12),
        sections=[
            SectionRapport(
                titre="Avancées",
                texte="Le COPIL du 12 mai 2026 a examiné l’avancement du plan.\n"
                "Deux communes ont rejoint la démarche.",
            ),
            SectionRapport(titre="Difficultés", texte="Le recrutement reste difficile."),
        ],
        indicateurs=[FAMILLES],
        axes=[
            AxeRapport(
                titre="Axe 1 — Répondre aux besoins d’accueil des jeunes enfants",
                indicateurs=[EAJE],
                actions=[
                    ActionRapport(
                        reference="1.1",
                        titre="Créer un multi-accueil à Voiron",
                        statut=StatutAction.en_cours,
                        en_retard=True,
                        porteurs=["Commune de Voiron"],
                        dernier_suivi=SuiviRapport(
                            periode="2026-T1",
                            avancement=65,
                            realisations="Ouverture de 12 places supplémentaires.",
                            difficultes="Recrutement d’auxiliaires de puériculture.",
                            valide_le=dt.date(2026, 4, 10),
                        ),
                        indicateurs=[PLACES],
                    ),
                    ActionRapport(
                        reference="1.2",
                        titre="Renforcer le relais petite enfance",
                        statut=StatutAction.realisee,
                        porteurs=["Communauté d’agglomération du Pays Voironnais"],
                        indicateurs=[ETP],
                    ),
                ],
            ),
            AxeRapport(
                titre="Axe 4 — Soutenir les parents",
                actions=[
                    ActionRapport(
                        reference="4.1",
                        titre="Ouvrir un lieu d’accueil enfants-parents",
                        statut=StatutAction.abandonnee,
                    )
                ],
            ),
        ],
        genere_le=dt.datetime(2026, 5, 12, 16, 30, tzinfo=dt.UTC),
    )
