"""The API's models of the discussions: comments of an action's or a suivi's thread."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from kernel.fields import Auteur, ConventionId, Id, Version
from kernel.input import Input
from kernel.principal import OrganisationKind, Role
from services.actions.schemas import ActionId

# Limits of a comment: a message, not a report (a suivi's narrative is its place).
TEXTE_MAX = 5_000
MENTIONS_MAX = 20

TexteCommentaire = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXTE_MAX)
]
Mentions = Annotated[
    list[uuid.UUID],
    Field(
        max_length=MENTIONS_MAX,
        description=f"Identifiants des personnes mentionnées (au plus {MENTIONS_MAX}), pris "
        "dans `GET /api/v1/actions/{id}/mentionnables` : chacune doit lire la convention, "
        "sinon 422 et rien n'est publié. Le texte les nomme comme il veut.",
    ),
]


class OrdreFil(StrEnum):
    """Ordre d'un fil : du plus ancien au plus récent, ou l'inverse."""

    chronologique = "chronologique"
    antechronologique = "antechronologique"


class SupprimePar(StrEnum):
    """Qui a supprimé un commentaire : son auteur, ou un agent de la Caf (modération)."""

    auteur = "auteur"
    moderation = "modération"


class CommentaireIn(Input):
    """Un nouveau commentaire : son texte et les personnes qu'il mentionne."""

    texte: TexteCommentaire = Field(
        description=f"Texte du commentaire, {TEXTE_MAX} caractères au plus."
    )
    mentions: Mentions = Field(default_factory=list)


class CommentairePatch(Input):
    """La correction d'un commentaire par son auteur, dans les 15 minutes qui suivent sa
    publication : le texte, les mentions (la liste complète), ou les deux."""

    texte: TexteCommentaire | None = Field(
        default=None, description=f"Nouveau texte, {TEXTE_MAX} caractères au plus."
    )
    mentions: Mentions | None = Field(
        default=None,
        description="La nouvelle liste complète des personnes mentionnées, vérifiée de "
        "nouveau ; absente, les mentions restent.",
    )


class Mention(BaseModel):
    """Une personne mentionnée, avec son nom au moment de la mention."""

    id: uuid.UUID = Field(description="Identifiant de la personne.")
    nom: str | None = Field(description="Nom affiché de la personne lors de la mention.")


class CommentaireOut(BaseModel):
    """Un commentaire d'un fil. Supprimé, il reste à sa place (« commentaire supprimé ») :
    son auteur et ses dates demeurent, son texte et ses mentions ont disparu."""

    id: Id
    convention_id: ConventionId
    action_id: ActionId
    suivi_id: uuid.UUID | None = Field(
        description="Le suivi dont c'est le fil ; null pour le fil de la fiche-action."
    )
    periode: str | None = Field(description="Trimestre du suivi, null pour la fiche-action.")
    auteur_id: Auteur
    auteur_nom: str | None = Field(description="Nom de l'auteur lors de la publication.")
    texte: str | None = Field(description="Texte du commentaire ; null une fois supprimé.")
    mentions: list[Mention] = Field(description="Personnes mentionnées ; vide une fois supprimé.")
    created_at: dt.datetime = Field(description="Date de publication.")
    modifie_le: dt.datetime | None = Field(description="Date de la dernière correction.")
    modifiable_jusqu_au: dt.datetime = Field(
        description="Limite de correction par son auteur : 15 minutes après la publication."
    )
    supprime: bool = Field(description="Vrai pour un commentaire supprimé.")
    supprime_le: dt.datetime | None = Field(description="Date de la suppression.")
    supprime_par: SupprimePar | None = Field(
        description="« auteur », ou « modération » (un agent de la Caf de la convention)."
    )
    version: Version


class Mentionnable(BaseModel):
    """Une personne qu'un commentaire peut mentionner : elle lit la convention par une
    habilitation active (l'une d'elles si elle en a plusieurs)."""

    id: uuid.UUID = Field(description="Identifiant de la personne, à citer dans `mentions`.")
    nom: str | None = Field(description="Nom affiché de la personne, s'il est connu.")
    organisation_id: uuid.UUID = Field(description="Organisation de son habilitation.")
    organisation_type: OrganisationKind = Field(description="Type de cette organisation.")
    role: Role = Field(description="Rôle de son habilitation.")


class Mentionnables(BaseModel):
    """Les personnes qu'un commentaire de cette action peut mentionner, par nom."""

    items: list[Mentionnable] = Field(description="Les personnes, par ordre alphabétique.")
