"""Request and response bodies of the notifications service (French descriptions)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from kernel.fields import Id
from kernel.pagination import NextCursor
from services.notifications.models import Famille, StatutEnvoi


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class NotificationOut(Output):
    """Une notification : ce qui s'est passé, pour qui, et le lien vers l'objet."""

    id: Id
    type: str = Field(description="Nature de l'événement (`suivi.soumis`…).")
    famille: Famille = Field(description="Famille de l'événement (préférences, désabonnement).")
    titre: str = Field(description="Ce qui s'est passé, en une ligne.")
    texte: str = Field(description="Le détail (un commentaire de renvoi y figure).")
    lien: str | None = Field(description="Adresse de l'objet dans l'application.")
    convention_id: uuid.UUID | None = Field(
        description="Convention concernée ; null pour une demande d'accès."
    )
    cree_le: dt.datetime = Field(description="Moment de l'événement.")
    lue_le: dt.datetime | None = Field(description="Moment où la personne l'a marquée lue.")


class Supprime(BaseModel):
    """Un élément supprimé depuis le jeton de synchronisation (aucun pour l'instant)."""

    id: uuid.UUID = Field(description="Identifiant de l'élément supprimé.")
    kind: str = Field(description="Nature de l'élément supprimé.")


class NotificationsPage(BaseModel):
    """Les notifications de l'appelant, les plus récentes d'abord ; avec
    `updated_since` : celles créées ou modifiées depuis, dans l'ordre des changements."""

    items: list[NotificationOut] = Field(description="Les notifications de la page.")
    next_cursor: NextCursor = None
    deleted: list[Supprime] = Field(
        default_factory=list, description="Supprimées depuis le jeton (aucune à ce jour)."
    )
    sync_token: str = Field(description="À renvoyer en `updated_since` pour la suite.")
    non_lues: int = Field(description="Nombre de notifications non lues de l'appelant.")


class LectureOut(BaseModel):
    """Le résultat du marquage de toutes les notifications comme lues."""

    marquees: int = Field(description="Notifications marquées lues par cet appel.")
    non_lues: int = Field(description="Notifications restant non lues.")


class EnvoiOut(Output):
    """Une ligne du journal d'envoi des e-mails : à qui, quoi, quand, avec quel résultat."""

    id: Id
    cree_le: dt.datetime = Field(description="Mise en file d'attente.")
    personne_id: uuid.UUID | None = Field(description="Destinataire (null : une invitation).")
    adresse: str = Field(description="Adresse e-mail du destinataire.")
    famille: Famille = Field(description="Famille de l'événement.")
    type: str = Field(description="Nature de l'événement (`suivi.soumis`…).")
    sujet: str = Field(description="Objet du message.")
    statut: StatutEnvoi = Field(description="en attente, envoyé, ou échec après plusieurs essais.")
    tentatives: int = Field(description="Nombre d'essais d'envoi.")
    raison: str | None = Field(description="Dernière erreur du serveur d'envoi ; null sinon.")
    envoye_le: dt.datetime | None = Field(description="Moment de l'envoi ; null sinon.")


class EnvoisPage(BaseModel):
    """Le journal d'envoi, les plus récents d'abord."""

    items: list[EnvoiOut] = Field(description="Les envois de la page.")
    next_cursor: NextCursor = None


class DesabonnementOut(BaseModel):
    """Le désabonnement enregistré."""

    famille: Famille = Field(description="Famille d'événements dont les e-mails cessent.")
    message: str = Field(description="Confirmation à afficher.")
