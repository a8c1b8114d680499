"""Examples of the plan d'actions' main payloads, shown in the OpenAPI document (the
demo's plan of Voiron, coop/demo_actions.py). Each is checked against its schema
(`tests/gateway/test_openapi_examples.py`)."""

from __future__ import annotations

from typing import Any

CONVENTION_VOIRON = "e35f0af2-50f4-5780-8509-f7d2412a4989"
VOIRON = "c3a3b48d-cba4-5e9b-88c6-fc327cb11856"
AXE = "5f0c7a52-8d43-4e0b-9a51-2f6f0b8c1d21"
ACTION = "a3c1e7d4-6b2f-4f8e-9d0a-1c2b3d4e5f60"
INDICATEUR = "7e9d2c41-3b5a-4c6d-8e7f-9a0b1c2d3e4f"
SUIVI = "c8d7e6f5-4a3b-4c2d-9e1f-0a1b2c3d4e5f"
BILAN = "2b4d6f80-1a3c-4e5f-8a9b-0c1d2e3f4a5b"
VALEUR = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
AGENT = "3f2e1d0c-9b8a-4765-a432-10fedcba9876"
AGENT_NOM = "Camille Martin"

ACTION_IN: dict[str, Any] = {
    "axe_id": AXE,
    "reference": "1.2",
    "titre": "Ouvrir une micro-crèche de 12 places au quartier Baltiss",
    "thematique": "petite enfance",
    "priorite": "haute",
    "statut": "en cours",
    "porteur_ids": [VOIRON],
    "referent": "Directrice de la petite enfance, ville de Voiron",
    "date_debut": "2025-03-01",
    "date_echeance": "2026-09-01",
    "public_cible": "Familles du quartier Baltiss avec un enfant de moins de 3 ans.",
    "resultats_attendus": "12 places d'accueil ouvertes en septembre 2026.",
}

_FICHE = [
    "diagnostic_initial",
    "public_cible",
    "objectifs_operationnels",
    "modalites_mise_en_oeuvre",
    "echeances_realisation",
    "services_mobilises",
    "resultats_attendus",
    "partenaires_sollicites",
    "indicateurs_evaluation",
    "specificites_ao",
]

ACTION_DETAIL: dict[str, Any] = {
    "id": ACTION,
    "convention_id": CONVENTION_VOIRON,
    "axe_id": AXE,
    "parent_id": None,
    "position": 0,
    "reference": "1.2",
    "titre": ACTION_IN["titre"],
    "statut": "en cours",
    "en_retard": False,
    "date_echeance": "2026-09-01",
    "porteur_ids": [VOIRON],
    "porteur_noms": ["Voiron"],
    "version": 3,
    "thematique": "petite enfance",
    "date_debut": "2025-03-01",
    "priorite": "haute",
    "referent": ACTION_IN["referent"],
    **{champ: ACTION_IN.get(champ) for champ in _FICHE},
    "fiche": [
        {
            "champ": "public_cible",
            "libelle": "Public cible",
            "valeur": ACTION_IN["public_cible"],
        }
    ],
    "sous_actions": [],
    "created_at": "2025-02-10T10:00:00Z",
    "updated_at": "2026-04-08T15:30:00Z",
}

INDICATEUR_IN: dict[str, Any] = {
    "libelle": "Places d'accueil créées",
    "nature": "réalisation",
    "unite": "places",
    "valeur_reference": 0,
    "date_reference": "2025-01-01",
    "cibles": {"2025": 0, "2026": 12},
}

VALEUR_IN: dict[str, Any] = {
    "valeur": 6,
    "commentaire": "Première tranche de travaux livrée.",
    "source": "Service petite enfance",
}

INDICATEUR_OUT: dict[str, Any] = {
    "id": INDICATEUR,
    "convention_id": CONVENTION_VOIRON,
    "action_id": ACTION,
    "axe_id": None,
    "libelle": "Places d'accueil créées",
    "nature": "réalisation",
    "unite": "places",
    "valeur_reference": "0.00",
    "date_reference": "2025-01-01",
    "cibles": {"2025": "0.00", "2026": "12.00"},
    "version": 2,
    "valeurs": [
        {
            "id": VALEUR,
            "periode": "2026-T1",
            "version": 1,
            "valeur": "6.00",
            "commentaire": VALEUR_IN["commentaire"],
            "source": VALEUR_IN["source"],
            "auteur": AGENT,
            "auteur_nom": AGENT_NOM,
            "updated_at": "2026-04-08T15:30:00Z",
        }
    ],
    "progression": {
        "periode": "2026-T1",
        "derniere_valeur": "6.00",
        "cible": "12.00",
        "pourcentage_de_la_cible": "50.0",
        "tendance": None,
    },
}

SUIVI_IN: dict[str, Any] = {
    "periode": "2026-T1",
    "statut_action": "en cours",
    "avancement": 60,
    "realisations": "Permis de construire obtenu, gros œuvre terminé.",
    "difficultes": "Recrutement de l'auxiliaire de puériculture encore en cours.",
    "alerte": False,
    "valeurs": [{"indicateur_id": INDICATEUR, "valeur": 6}],
}

SUIVI_DETAIL: dict[str, Any] = {
    "id": SUIVI,
    "action_id": ACTION,
    "periode": "2026-T1",
    "etat": "validé",
    "revision": 1,
    "statut_action": "en cours",
    "avancement": 60,
    "alerte": False,
    "version": 4,
    "updated_at": "2026-04-10T09:12:00Z",
    "convention_id": CONVENTION_VOIRON,
    "realisations": SUIVI_IN["realisations"],
    "difficultes": SUIVI_IN["difficultes"],
    "alerte_message": None,
    "valeurs": [
        {"indicateur_id": INDICATEUR, "valeur": "6.00", "commentaire": None, "source": None}
    ],
    "commentaire_validation": "Merci, bon avancement.",
    "auteur": AGENT,
    "auteur_nom": AGENT_NOM,
    "created_at": "2026-04-02T14:05:00Z",
}

BILAN_IN: dict[str, Any] = {
    "type": "point d'étape annuel",
    "periode_debut": "2025-01-01",
    "periode_fin": "2025-12-31",
    "sections": {
        "etat_avancement": "Sept actions sur douze engagées ; la micro-crèche ouvrira en 2026.",
        "ajustements_mineurs": "Le relais petite enfance itinérant est reporté au second semestre.",
    },
}

BILAN_DETAIL: dict[str, Any] = {
    "id": BILAN,
    "convention_id": CONVENTION_VOIRON,
    "type": "point d'étape annuel",
    "periode_debut": "2025-01-01",
    "periode_fin": "2025-12-31",
    "etat": "adopté",
    "date_adoption": "2026-02-12",
    "petite_enfance_transmissible": False,
    "version": 3,
    "date_attendue": "2026-03-31",
    "en_retard": False,
    "sections": BILAN_IN["sections"],
    "syntheses": {},
    "adoption_saisie_par": AGENT,
    "adoption_saisie_par_nom": AGENT_NOM,
    "adoption_saisie_le": "2026-02-13T08:45:00Z",
    "instantane": {"actions": []},
    "accords": [],
    "collectivites_concernees": [VOIRON],
}

IMPORT = "4c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f"
_COLONNES_IMPORT = [
    ("reference", "Référence", True, "A", "N°", 0.95),
    ("axe", "Axe", True, "B", "Axe", 1.0),
    ("titre", "Titre", True, "C", "Intitulé de l'action", 0.95),
    ("porteurs", "Porteurs", True, "D", "Porteurs", 1.0),
    ("public_cible", "Public cible", False, "E", "Public cible", 1.0),
]
RAPPORT_IMPORT: dict[str, Any] = {
    "id": IMPORT,
    "convention_id": CONVENTION_VOIRON,
    "nom_fichier": "plan-actions-voiron.xlsx",
    "etat": "essai",
    "valide": False,
    "correspondance": {
        "colonnes": [
            {
                "champ": champ,
                "libelle": libelle,
                "obligatoire": obligatoire,
                "colonne": colonne,
                "entete": entete,
                "certitude": certitude,
            }
            for champ, libelle, obligatoire, colonne, entete, certitude in _COLONNES_IMPORT
        ],
        "confirmee": False,
        "a_confirmer": True,
        "colonnes_ignorees": ["Commentaire"],
    },
    "colonnes_manquantes": [],
    "axes_nouveaux": [],
    "totaux": {"creation": 1, "modification": 0, "inchangee": 0, "refusee": 1},
    "lignes": [
        {
            "ligne": 2,
            "reference": "1.2",
            "titre": ACTION_IN["titre"],
            "operation": "création",
            "action_parente": None,
            "axe": "Répondre aux besoins d'accueil diversifiés des jeunes enfants",
            "axe_nouveau": False,
            "action_id": None,
            "changements": [],
            "porteurs": [
                {"saisi": "Voiron", "organisation_id": VOIRON, "nom": "Voiron", "par": "nom"}
            ],
            "erreurs": [],
            "avertissements": [],
        },
        {
            "ligne": 3,
            "reference": "1.3",
            "titre": "Créer un relais petite enfance",
            "operation": "refusée",
            "action_parente": "1.2",
            "axe": "Répondre aux besoins d'accueil diversifiés des jeunes enfants",
            "axe_nouveau": False,
            "action_id": None,
            "changements": [],
            "porteurs": [],
            "erreurs": [
                {
                    "ligne": 3,
                    "colonne": "D",
                    "champ": "Porteurs",
                    "message": "« Ville de Voiron » (nom) n'est pas une collectivité signataire "
                    "de la convention. Vouliez-vous dire « Voiron » ?",
                    "suggestions": ["Voiron"],
                }
            ],
            "avertissements": [],
        },
    ],
    "cree_le": "2026-04-10T09:30:00Z",
    "expire_le": "2026-04-11T09:30:00Z",
}
