"""Examples of the conventions API's main payloads, shown in the OpenAPI document (the
demo's CTG of Voiron, coop/demo_conventions.py). Each is checked against its schema
(`tests/gateway/test_openapi_examples.py`)."""

from __future__ import annotations

from typing import Any

CAF_ISERE = "8d094957-5421-5c96-821d-34eff69c1c58"
VOIRON = "c3a3b48d-cba4-5e9b-88c6-fc327cb11856"
CD_ISERE = "18c67977-f745-59b2-a2d3-67263911d246"
CONVENTION_VOIRON = "e35f0af2-50f4-5780-8509-f7d2412a4989"

SIGNATAIRE_IN: dict[str, Any] = {
    "organisation_id": VOIRON,
    "representant": "Maire de Voiron",
    "deliberation_reference": "DCM-2024-112",
    "deliberation_date": "2024-11-25",
    "date_signature": "2024-12-18",
}

SIGNATAIRE_OUT: dict[str, Any] = {
    "organisation_id": VOIRON,
    "type": "Commune",
    "nom": "Voiron",
    "code_insee": "38563",
    "siren": "213805633",
    "population": 20_000,
    "representant": "Maire de Voiron",
    "deliberation_reference": "DCM-2024-112",
    "deliberation_date": "2024-11-25",
    "date_signature": "2024-12-18",
    "avenant_numero": None,
}

_COPIL = {
    "presidence": "alternée",
    "secretariat": "Caf de l'Isère",
    "reunions_par_an": 2,
    "commissions": ["Petite enfance", "Jeunesse et parentalité"],
}
_THEMATIQUES = ["petite enfance", "enfance", "jeunesse", "parentalité"]
_OBJECTIFS = [
    "Développer une offre d'accueil du jeune enfant adaptée aux besoins des familles.",
    "Soutenir les parents dans leur rôle éducatif.",
]

_CONVENTION: dict[str, Any] = {
    "caf_id": CAF_ISERE,
    "echelon": "commune",
    "titre": "CTG de Voiron 2025-2029",
    "date_debut": "2025-01-01",
    "date_fin": "2029-12-31",
    "thematiques": _THEMATIQUES,
    "objectifs_partages": _OBJECTIFS,
    "copil": _COPIL,
}

CONVENTION_CREATE: dict[str, Any] = {
    **_CONVENTION,
    "signataires": [
        {"organisation_id": CAF_ISERE, "representant": "Directrice de la Caf de l'Isère"},
        SIGNATAIRE_IN,
    ],
}

CONVENTION_OUT: dict[str, Any] = {
    "id": CONVENTION_VOIRON,
    **_CONVENTION,
    "caf_nom": "Caf de l'Isère",
    "statut": "signée",
    "etat": "active",
    "date_signature": "2024-12-18",
    "ctg_existante": False,
    "avertissements": [],
    "resiliation": None,
    "precedente_id": None,
    "suivante_id": None,
    "numero_version": 1,
    "signataires": [SIGNATAIRE_OUT],
    "transitions_disponibles": ["avenant", "mettre en demeure", "résilier", "renouveler"],
    "cree_le": "2024-10-02T09:14:00Z",
    "modifie_le": "2024-12-18T16:40:00Z",
}
