"""An example document, shown in the OpenAPI document (the demo's CTG of Voiron). It is
checked against its schema (`tests/gateway/test_openapi_examples.py`)."""

from __future__ import annotations

from typing import Any

_VERSION: dict[str, Any] = {
    "numero": 1,
    "libelle": "Version signée",
    "nom_fichier": "CTG-Voiron-2025-2029-signee.pdf",
    "taille": 482_113,
    "type_contenu": "application/pdf",
    "sha256": "9f2c0a6d4b1e8f3a7c5d2e9b0a4f6c8d1e3b5a7c9d0f2e4a6b8c1d3e5f7a9b0c",
    "statut": "disponible",
    "signature": None,
    "motif": None,
    "echecs_analyse": 0,
    "depose_par": "3f2e1d0c-9b8a-4765-a432-10fedcba9876",
    "depose_par_nom": "Camille Martin",
    "organisation_id": "8d094957-5421-5c96-821d-34eff69c1c58",
    "organisation_nom": "Caf de l'Isère",
    "depose_le": "2024-12-19T10:02:00Z",
    "analyse_le": "2024-12-19T10:02:03Z",
    "antivirus": "actif",
}

DOCUMENT_OUT: dict[str, Any] = {
    "id": "d1c2b3a4-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "convention_id": "e35f0af2-50f4-5780-8509-f7d2412a4989",
    "action_id": None,
    "bilan_id": None,
    "type": "Convention signée",
    "titre": "CTG de Voiron 2025-2029, signée",
    "description": "Exemplaire signé par la Caf, la ville et le Département.",
    "depose_par": _VERSION["depose_par"],
    "depose_par_nom": _VERSION["depose_par_nom"],
    "organisation_id": _VERSION["organisation_id"],
    "organisation_nom": _VERSION["organisation_nom"],
    "depose_le": _VERSION["depose_le"],
    "modifie_le": "2024-12-19T10:02:03Z",
    "supprime_le": None,
    "systeme": False,
    "restaurable_jusqu_au": None,
    "derniere_version": _VERSION,
    "antivirus": "actif",
}
