"""Schemas of the import of a plan d'actions (dry run, report, commit)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from kernel.fields import ConventionId, Id, examples
from kernel.input import Input
from services.actions import examples as ex


class PorteurReconnu(BaseModel):
    """Un porteur de la ligne, reconnu parmi les collectivités signataires."""

    saisi: str = Field(description="Ce que la cellule contient pour ce porteur.")
    organisation_id: uuid.UUID = Field(description="La collectivité signataire reconnue.")
    nom: str = Field(description="Son nom.")
    par: str = Field(description="Reconnue par son « nom », son « SIREN » ou son « code INSEE ».")


class ErreurLigne(BaseModel):
    """Pourquoi une ligne est refusée : où, et quoi."""

    ligne: int = Field(description="Numéro de la ligne dans le fichier (comme le tableur).")
    colonne: str | None = Field(description="Lettre de la colonne (A, B…), si une cellule.")
    champ: str | None = Field(description="Libellé du champ concerné.")
    message: str = Field(description="Le motif, en français.")
    suggestions: list[str] = Field(
        default_factory=list,
        description="Pour un porteur non reconnu : les collectivités signataires au nom proche.",
    )


class LigneRapport(BaseModel):
    """Ce que la validation ferait d'une ligne du fichier."""

    ligne: int = Field(description="Numéro de la ligne dans le fichier.")
    reference: str | None = Field(description="Référence de l'action (colonne Référence).")
    titre: str | None = Field(description="Titre de l'action.")
    operation: str = Field(
        description="« création », « modification », « inchangée » ou « refusée »."
    )
    action_parente: str | None = Field(
        description="Pour une sous-action : la référence de son action (colonne « Action "
        "parente ») ; null pour une action de l'axe."
    )
    axe: str | None = Field(
        description="L'axe de l'action (titre ; celui de son action pour une sous-action)."
    )
    axe_nouveau: bool = Field(description="L'axe n'existe pas encore : il sera créé.")
    action_id: uuid.UUID | None = Field(description="L'action existante qu'elle met à jour.")
    changements: list[str] = Field(description="Les champs qui changeraient (libellés).")
    porteurs: list[PorteurReconnu] = Field(description="Les porteurs reconnus.")
    erreurs: list[ErreurLigne] = Field(description="Les motifs de refus (vide sinon).")
    avertissements: list[str] = Field(
        description="Ce qui n'empêche pas la ligne d'être importée mais mérite d'être lu "
        "(ex. l'axe d'une sous-action, qui est toujours celui de son action)."
    )


class Colonne(BaseModel):
    """Une colonne attendue et celle du fichier qui lui correspond."""

    champ: str = Field(description="Clé du champ (reference, titre, porteurs…).")
    libelle: str = Field(description="Libellé de la colonne dans le modèle.")
    obligatoire: bool = Field(description="La colonne est indispensable à l'import.")
    colonne: str | None = Field(description="Lettre de la colonne du fichier (null : aucune).")
    entete: str | None = Field(description="L'en-tête du fichier dans cette colonne.")
    certitude: float | None = Field(description="Confiance de la correspondance devinée (0 à 1).")


class Correspondance(BaseModel):
    """Quelle colonne du fichier alimente chaque champ."""

    colonnes: list[Colonne] = Field(description="Chaque champ attendu, dans l'ordre du modèle.")
    confirmee: bool = Field(
        description="La correspondance a été confirmée par l'utilisateur (ou est exacte)."
    )
    a_confirmer: bool = Field(
        description="Des en-têtes ont été devinés ou manquent : vérifiez avant de valider."
    )
    colonnes_ignorees: list[str] = Field(description="En-têtes du fichier qui ne servent pas.")


class Totaux(BaseModel):
    """Le nombre de lignes par opération."""

    creation: int = Field(description="Actions qui seraient créées.")
    modification: int = Field(description="Actions qui seraient modifiées.")
    inchangee: int = Field(description="Lignes identiques au plan actuel.")
    refusee: int = Field(description="Lignes refusées.")


class RapportImport(BaseModel):
    """Le rapport d'un import de plan d'actions : essai, puis validation."""

    model_config = examples(ex.RAPPORT_IMPORT)

    id: Id
    convention_id: ConventionId
    nom_fichier: str = Field(description="Nom du fichier déposé.")
    etat: str = Field(description="« essai » (rien n'est écrit) ou « validé ».")
    valide: bool = Field(
        description="Le fichier peut être validé : aucune ligne refusée, colonnes obligatoires "
        "présentes."
    )
    correspondance: Correspondance = Field(
        description="Quelle colonne du fichier alimente chaque champ (devinée, puis confirmée)."
    )
    colonnes_manquantes: list[str] = Field(
        description="Colonnes obligatoires qu'aucune colonne du fichier n'alimente."
    )
    axes_nouveaux: list[str] = Field(description="Axes qui seraient créés.")
    totaux: Totaux = Field(
        description="Combien de lignes seraient créées, modifiées, inchangées, refusées."
    )
    lignes: list[LigneRapport] = Field(description="Chaque ligne du fichier, dans l'ordre.")
    cree_le: dt.datetime = Field(description="Date du dépôt.")
    expire_le: dt.datetime = Field(description="Après cette date, l'import est effacé.")


class CorrespondanceIn(Input):
    """Pour chaque champ, la lettre de la colonne du fichier qui l'alimente (null : aucune).
    Les champs omis gardent la correspondance actuelle."""

    colonnes: dict[str, str | None] = Field(
        description="Clé du champ → lettre de colonne (« A », « B »…) ou null.",
        examples=[{"reference": "A", "titre": "C", "porteurs": "D", "thematique": None}],
    )
