"""API models of the documents service."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from kernel.fields import AuteurNom, ConventionId, Id, ModifieLe, examples
from kernel.input import Input
from kernel.pagination import Page
from services.documents import examples as ex
from services.documents.models import StatutAnalyse, TypeDocument

Antivirus = Annotated[
    Literal["actif", "désactivé"],
    Field(
        description="Si l'antivirus analyse les dépôts : « désactivé » seulement en "
        "développement, où une version est téléchargeable sans analyse."
    ),
]
TypeDoc = Annotated[
    TypeDocument, Field(description="Type du document (Convention signée, Avenant, Bilan…).")
]
_TITRE = "Titre du document (300 caractères au plus)."
_DESCRIPTION = "Description libre du document (4 000 caractères au plus)."
_ACTION = "L'action de la convention à laquelle le document se rattache (facultatif)."
_BILAN = "Le bilan de la convention auquel le document se rattache (facultatif)."
_LIBELLE = "Libellé de la version (200 caractères au plus), par exemple « version signée »."
DeposePar = Annotated[
    str, Field(description="Identifiant de qui a déposé (personne ou client machine).")
]
OrganisationDeposante = Annotated[
    uuid.UUID, Field(description="L'organisation au nom de laquelle le dépôt a été fait.")
]
DeposeLe = Annotated[dt.datetime, Field(description="Date et heure du dépôt (ISO 8601).")]


class DocumentFields(Input):
    """Metadata sent as form fields with the first upload."""

    model_config = ConfigDict(str_strip_whitespace=True)

    convention_id: ConventionId
    type: TypeDoc
    titre: str = Field(min_length=1, max_length=300, description=_TITRE)
    description: str | None = Field(default=None, max_length=4000, description=_DESCRIPTION)
    action_id: uuid.UUID | None = Field(default=None, description=_ACTION)
    bilan_id: uuid.UUID | None = Field(default=None, description=_BILAN)
    libelle: str | None = Field(default=None, max_length=200, description=_LIBELLE)


class VersionFields(Input):
    model_config = ConfigDict(str_strip_whitespace=True)

    libelle: str | None = Field(default=None, max_length=200, description=_LIBELLE)


class DocumentPatch(Input):
    """Les changements de métadonnées (If-Match obligatoire). Les champs absents restent
    inchangés."""

    model_config = ConfigDict(str_strip_whitespace=True)

    type: TypeDocument | None = Field(default=None, description="Nouveau type du document.")
    titre: str | None = Field(default=None, min_length=1, max_length=300, description=_TITRE)
    description: str | None = Field(default=None, max_length=4000, description=_DESCRIPTION)
    action_id: uuid.UUID | None = Field(default=None, description=_ACTION)
    bilan_id: uuid.UUID | None = Field(default=None, description=_BILAN)


class VersionOut(BaseModel):
    numero: int = Field(description="Numéro de la version (1 pour le premier dépôt).")
    libelle: str | None = Field(description=_LIBELLE)
    nom_fichier: str = Field(description="Nom du fichier déposé (rendu sûr).")
    taille: int = Field(description="Taille du fichier, en octets.")
    type_contenu: str = Field(
        description="Type du contenu, reconnu à ses premiers octets (application/pdf…)."
    )
    sha256: str = Field(description="Empreinte SHA-256 du contenu, en hexadécimal.")
    statut: StatutAnalyse = Field(
        description="Où en est l'analyse antivirus ; seule une version saine se télécharge."
    )
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
    depose_par: DeposePar
    depose_par_nom: AuteurNom
    organisation_id: OrganisationDeposante
    organisation_nom: str | None = Field(
        description="Nom de l'organisation qui l'a déposé (null : un nom que ce service ne "
        "connaît pas encore)."
    )
    depose_le: DeposeLe
    analyse_le: dt.datetime | None = Field(
        description="Date et heure de la fin de l'analyse (null : pas encore analysée)."
    )
    antivirus: Antivirus


class DocumentOut(BaseModel):
    model_config = examples(ex.DOCUMENT_OUT)

    id: Id
    convention_id: ConventionId
    action_id: uuid.UUID | None = Field(description=_ACTION)
    bilan_id: uuid.UUID | None = Field(description=_BILAN)
    type: TypeDoc
    titre: str = Field(description=_TITRE)
    description: str | None = Field(description=_DESCRIPTION)
    depose_par: DeposePar
    depose_par_nom: AuteurNom
    organisation_id: OrganisationDeposante
    organisation_nom: str | None = Field(
        description="Nom de l'organisation qui l'a déposé (null : un nom que ce service ne "
        "connaît pas encore)."
    )
    depose_le: DeposeLe
    modifie_le: ModifieLe
    supprime_le: dt.datetime | None = Field(
        description="Date et heure de sa mise à la corbeille (null : pas à la corbeille)."
    )
    systeme: bool = Field(
        description="Produit par Coopération (le rapport d'un bilan adopté) : lisible et "
        "téléchargeable, ni modifiable, ni remplaçable, ni supprimable."
    )
    restaurable_jusqu_au: dt.datetime | None = Field(
        default=None,
        description="À la corbeille : la date jusqu'à laquelle il peut être restauré, avant "
        "sa purge.",
    )
    derniere_version: VersionOut | None = Field(
        description="La dernière version déposée (null si aucune ne l'est encore)."
    )
    antivirus: Antivirus


class DocumentPage(Page[DocumentOut]):
    antivirus: Antivirus


class VersionPage(Page[VersionOut]):
    """La plus récente d'abord ; ``next_cursor`` est renseigné tant qu'il reste des versions
    plus anciennes."""

    antivirus: Antivirus
