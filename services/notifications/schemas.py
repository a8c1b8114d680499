"""Request and response bodies of the notifications service (French descriptions)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from kernel.fields import Id
from kernel.input import Input
from kernel.pagination import NextCursor
from services.notifications.models import Famille, ModeEnvoi, StatutEnvoi


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
    personne_nom: str | None = Field(
        description="Nom du destinataire lors de la mise en file d'attente (null : une "
        "invitation, ou un envoi antérieur à ce champ déjà parti)."
    )
    adresse: str = Field(description="Adresse e-mail du destinataire.")
    famille: Famille | None = Field(
        description="Famille de l'événement ; null pour un récapitulatif (il en groupe plusieurs)."
    )
    type: str = Field(
        description="Nature de l'événement (`suivi.soumis`…), ou `recapitulatif.quotidien` / "
        "`recapitulatif.hebdomadaire` pour un récapitulatif."
    )
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

    familles: list[Famille] = Field(description="Familles d'événements dont les e-mails cessent.")
    message: str = Field(description="Confirmation à afficher.")


class PreferenceOut(BaseModel):
    """Comment l'appelant reçoit les e-mails d'une famille d'événements."""

    famille: Famille = Field(description="Famille d'événements.")
    libelle: str = Field(description="Nom de la famille, à afficher.")
    mode: ModeEnvoi = Field(
        description="immédiat (un e-mail par événement), quotidien (un récapitulatif chaque "
        "jour à 7 h, heure de Paris), hebdomadaire (le lundi à 7 h) ou désactivé (aucun "
        "e-mail). Les notifications dans l'application ne changent pas."
    )
    par_defaut: bool = Field(
        description="Vrai si la personne n'a rien choisi : le mode est celui par défaut de "
        "la famille."
    )


class PreferencesOut(BaseModel):
    """Les préférences d'envoi de l'appelant, une par famille d'événements."""

    items: list[PreferenceOut] = Field(description="Chaque famille, avec son mode.")


class PreferencesIn(Input):
    """Les familles à changer ; celles qui ne sont pas nommées restent inchangées."""

    modes: dict[Famille, ModeEnvoi | None] = Field(
        min_length=1,
        description="Le mode voulu par famille (`null` : revenir au mode par défaut).",
        examples=[{"discussions": "hebdomadaire", "suivis": None}],
    )
