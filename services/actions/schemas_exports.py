"""Schemas of the large exports run as jobs (`/api/v1/exports`)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, Field

from kernel.fields import CreeLe, Id, examples
from services.actions.export_genres import TypeExport
from services.actions.service_exports import FormatExport

EXPORT = "0b6f3c2e-8d41-4a7b-9c5e-2f1a0d9e8b7c"
CAF_ISERE = "5d3a1f20-7c4b-4e8a-9f6d-1b2c3d4e5f6a"


class EtatExport(StrEnum):
    """L'état d'un export volumineux."""

    en_attente = "en attente"
    en_cours = "en cours"
    pret = "prêt"
    echec = "échec"


class ExportOut(BaseModel):
    """Un export volumineux demandé : son état, puis son fichier, téléchargeable par son
    seul demandeur jusqu'à son expiration."""

    model_config = examples(
        {
            "id": EXPORT,
            "type": "campagne-caf",
            "format": "xlsx",
            "parametres": {"caf_id": CAF_ISERE, "periode": "2026-T3"},
            "etat": "prêt",
            "message": None,
            "nom_fichier": "campagne-2026-T3-Caf de l'Isère-2026-10-02.xlsx",
            "taille": 1843211,
            "fichier": f"/api/v1/exports/{EXPORT}/fichier",
            "cree_le": "2026-10-02T08:15:00Z",
            "fini_le": "2026-10-02T08:15:04Z",
            "expire_le": "2026-10-03T08:15:04Z",
        }
    )

    id: Id
    type: TypeExport = Field(description="Le genre d'export (campagne-caf…).")
    format: FormatExport = Field(description="Format du fichier : ods, xlsx ou csv.")
    parametres: dict[str, object] = Field(
        description="Les paramètres du genre d'export, complétés (la Caf par défaut…)."
    )
    etat: EtatExport = Field(
        description="« en attente » (pas encore commencé), « en cours », « prêt » (le "
        "fichier se télécharge) ou « échec » (voir `message`)."
    )
    message: str | None = Field(description="Pourquoi l'export a échoué (null sinon).")
    nom_fichier: str = Field(description="Le nom du fichier, tel que le téléchargement le donne.")
    taille: int | None = Field(description="Taille du fichier en octets, une fois prêt.")
    fichier: str | None = Field(
        description="Le chemin du téléchargement du fichier, une fois prêt (null sinon)."
    )
    cree_le: CreeLe
    fini_le: dt.datetime | None = Field(
        description="Date et heure de la fin de l'export, prêt ou en échec (ISO 8601)."
    )
    expire_le: dt.datetime = Field(
        description="Date et heure à partir desquelles l'export et son fichier sont effacés "
        "(24 heures après sa fin) ; il répond alors 404."
    )
