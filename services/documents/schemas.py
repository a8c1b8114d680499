"""API models of the documents service."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kernel.input import Input
from kernel.pagination import Page
from services.documents.models import StatutAnalyse, TypeDocument

Antivirus = Literal["actif", "désactivé"]


class DocumentFields(Input):
    """Metadata sent as form fields with the first upload."""

    model_config = ConfigDict(str_strip_whitespace=True)

    convention_id: uuid.UUID
    type: TypeDocument
    titre: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=4000)
    action_id: uuid.UUID | None = None
    bilan_id: uuid.UUID | None = None
    libelle: str | None = Field(default=None, max_length=200, description="Libellé de la version")


class VersionFields(Input):
    model_config = ConfigDict(str_strip_whitespace=True)

    libelle: str | None = Field(default=None, max_length=200)


class DocumentPatch(Input):
    """Les changements de métadonnées (If-Match obligatoire). Les champs absents restent
    inchangés."""

    model_config = ConfigDict(str_strip_whitespace=True)

    type: TypeDocument | None = None
    titre: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=4000)
    action_id: uuid.UUID | None = None
    bilan_id: uuid.UUID | None = None


class VersionOut(BaseModel):
    numero: int
    libelle: str | None
    nom_fichier: str
    taille: int
    type_contenu: str
    sha256: str
    statut: StatutAnalyse
    signature: str | None = Field(
        default=None, description="Signature trouvée par l'antivirus (statut rejeté)"
    )
    motif: str | None = Field(
        default=None,
        description=(
            "Pourquoi la version n'est pas téléchargeable : menace détectée, ou analyse "
            "impossible (réponse d'erreur de l'antivirus, nouvel essai tant que le statut "
            "est en_analyse)"
        ),
    )
    echecs_analyse: int = Field(
        default=0, description="Réponses d'erreur de l'antivirus reçues pour cette version"
    )
    depose_par: str
    organisation_id: uuid.UUID
    depose_le: dt.datetime
    analyse_le: dt.datetime | None
    antivirus: Antivirus


class DocumentOut(BaseModel):
    id: uuid.UUID
    convention_id: uuid.UUID
    action_id: uuid.UUID | None
    bilan_id: uuid.UUID | None
    type: TypeDocument
    titre: str
    description: str | None
    depose_par: str
    organisation_id: uuid.UUID
    depose_le: dt.datetime
    modifie_le: dt.datetime
    supprime_le: dt.datetime | None
    restaurable_jusqu_au: dt.datetime | None = None
    derniere_version: VersionOut | None
    antivirus: Antivirus


class DocumentPage(BaseModel):
    items: list[DocumentOut]
    next_cursor: str | None = None
    antivirus: Antivirus


class VersionPage(Page[VersionOut]):
    """La plus récente d'abord ; ``next_cursor`` est renseigné tant qu'il reste des versions
    plus anciennes."""

    antivirus: Antivirus
