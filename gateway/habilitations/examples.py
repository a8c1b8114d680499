"""Examples of the habilitations' and invitations' payloads, shown in the OpenAPI
document (the demo's Voiron). Each is checked against its schema
(`tests/gateway/test_openapi_examples.py`)."""

from __future__ import annotations

from typing import Any

VOIRON = "c3a3b48d-cba4-5e9b-88c6-fc327cb11856"
ADMIN = "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d"

HABILITATION_IN: dict[str, Any] = {
    "personne_id": "0f1e2d3c-4b5a-4968-8776-655443322110",
    "organisation_id": VOIRON,
    "role": "contributeur",
    "valide_jusqu_au": "2027-06-30T23:59:59Z",
    "motif": "Chargée de mission petite enfance de la ville.",
}

HABILITATION_OUT: dict[str, Any] = {
    "id": "1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9",
    "titulaire": {
        "type": "personne",
        "id": HABILITATION_IN["personne_id"],
        "nom": "Camille Martin",
        "email": "camille.martin@ville-voiron.fr",
        "client_id": None,
    },
    "organisation_id": VOIRON,
    "organisation_nom": "Commune de Voiron",
    "organisation_type": "collectivite",
    "role": "contributeur",
    "statut": "active",
    "valide_du": "2026-07-01T08:00:00Z",
    "valide_jusqu_au": "2027-06-30T23:59:59Z",
    "accordee_par": ADMIN,
    "accordee_par_nom": "Sophie Bernard",
    "accordee_le": "2026-07-01T08:00:00Z",
    "version": 1,
}

MON_HABILITATION: dict[str, Any] = {
    **HABILITATION_OUT,
    "capacites": ["lire", "contribuer_actions_portees", "deposer_documents"],
}

INVITATION_IN: dict[str, Any] = {
    "email": "camille.martin@ville-voiron.fr",
    "organisation_id": VOIRON,
    "role": "contributeur",
    "expire_dans_jours": 14,
}

INVITATION_CREEE: dict[str, Any] = {
    "id": "4d3c2b1a-6f5e-4b7a-9c8d-e0f1a2b3c4d5",
    "email": "camille.martin@ville-voiron.fr",
    "organisation_id": VOIRON,
    "organisation_nom": HABILITATION_OUT["organisation_nom"],
    "organisation_type": "collectivite",
    "role": "contributeur",
    "statut": "en attente",
    "expire_le": "2026-07-15T08:00:00Z",
    "creee_par": ADMIN,
    "creee_par_nom": "Sophie Bernard",
    "creee_le": "2026-07-01T08:00:00Z",
    "acceptee_par": None,
    "acceptee_par_nom": None,
    "habilitation_id": None,
    "jeton": "k3J9x_Qm2vT8sLw4ZpR7yN1cF6hD0aEu",
}
