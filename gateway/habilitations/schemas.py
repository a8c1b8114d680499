"""API models of the habilitations (French field names, as users say them)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field

from kernel.idempotency import secret_field
from kernel.input import Input
from kernel.principal import OrganisationKind, Role

# Deliberately loose: the identity provider owns e-mail verification.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class Titulaire(BaseModel):
    type: Literal["personne", "client"]
    id: uuid.UUID
    nom: str | None = None
    email: str | None = None
    client_id: str | None = None


class HabilitationOut(BaseModel):
    id: uuid.UUID
    titulaire: Titulaire
    organisation_id: uuid.UUID
    organisation_type: OrganisationKind
    role: Role
    statut: str
    valide_du: dt.datetime
    valide_jusqu_au: dt.datetime
    accordee_par: uuid.UUID | None
    accordee_le: dt.datetime
    version: int


class HabilitationIn(Input):
    """Un rôle accordé à une personne déjà connue de Coopération (connectée une fois)."""

    personne_id: uuid.UUID
    organisation_id: uuid.UUID
    role: Role
    valide_jusqu_au: dt.datetime | None = None
    motif: str | None = Field(default=None, max_length=1000)


class Renouvellement(Input):
    valide_jusqu_au: dt.datetime | None = Field(
        default=None, description="Par défaut : un an de plus (à partir d'aujourd'hui au moins)."
    )
    motif: str | None = Field(default=None, max_length=1000)


class Motif(Input):
    motif: str = Field(min_length=1, max_length=1000)


class MotifOptionnel(Input):
    motif: str | None = Field(default=None, max_length=1000)


class EvenementOut(BaseModel):
    id: int
    evenement: str
    par: uuid.UUID | None
    par_libelle: str = Field(
        description="Qui : le nom affiché de la personne à ce moment-là (« cli », "
        "« système » ou « démo » pour la ligne de commande, les traitements et la démo)."
    )
    par_client: str | None = Field(
        default=None, description="L'application ou le système partenaire utilisé (client OIDC)."
    )
    motif: str | None
    role: Role
    valide_jusqu_au: dt.datetime
    le: dt.datetime


class InvitationIn(Input):
    email: str = Field(max_length=320, pattern=EMAIL_PATTERN)
    organisation_id: uuid.UUID
    role: Role
    expire_dans_jours: int | None = Field(default=None, ge=1, le=30)


class InvitationOut(BaseModel):
    id: uuid.UUID
    email: str | None = Field(
        description=(
            "Adresse invitée ; null une fois l'invitation terminée (acceptée, annulée ou "
            "expirée) depuis la durée de conservation (12 mois par défaut)."
        )
    )
    organisation_id: uuid.UUID
    organisation_type: OrganisationKind
    role: Role
    statut: str
    expire_le: dt.datetime
    creee_par: uuid.UUID | None
    creee_le: dt.datetime
    acceptee_par: uuid.UUID | None
    habilitation_id: uuid.UUID | None


class InvitationCreee(InvitationOut):
    # Returned once, to the inviter: the e-mail itself is sent by the mailer (outbox).
    jeton: str | None = secret_field(
        "Jeton de l'invitation, remis une seule fois, dans cette réponse. Une réponse "
        "rejouée (même Idempotency-Key) ne le contient plus : null, et l'en-tête "
        "X-Coop-Secret-Omis le dit."
    )


class Acceptation(Input):
    jeton: str = Field(min_length=10, max_length=200)


class DemandeIn(Input):
    organisation_id: uuid.UUID
    role: Role = Role.lecteur
    message: str | None = Field(default=None, max_length=2000)


class DemandeOut(BaseModel):
    id: uuid.UUID
    personne_id: uuid.UUID
    personne_nom: str | None
    personne_email: str | None = Field(
        description=(
            "Null une fois effacée : la dernière habilitation de la personne a pris fin "
            "depuis la durée de conservation (12 mois par défaut)."
        )
    )
    organisation_id: uuid.UUID
    role: Role
    message: str | None = Field(
        description="Effacé une fois la demande décidée depuis la durée de conservation."
    )
    statut: str
    creee_le: dt.datetime
    decidee_par: uuid.UUID | None
    decidee_le: dt.datetime | None
    motif: str | None
    habilitation_id: uuid.UUID | None
    version: int


class ClientIn(Input):
    client_id: str = Field(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9._:-]+$")
    nom: str = Field(min_length=1, max_length=300)
    organisation_id: uuid.UUID
    role: Role


class ClientOut(BaseModel):
    id: uuid.UUID
    client_id: str
    nom: str
    organisation_id: uuid.UUID
    organisation_type: OrganisationKind
    role: Role
    enregistre_par: uuid.UUID | None
    enregistre_le: dt.datetime


class ClientCree(ClientOut):
    habilitation: HabilitationOut


class Attribuable(BaseModel):
    organisation_id: uuid.UUID
    organisation_type: OrganisationKind
    roles: list[Role]


class MonHabilitation(HabilitationOut):
    capacites: list[str]


class Moi(BaseModel):
    id: uuid.UUID | None
    type: Literal["personne", "client"]
    emetteur: str
    sujet: str
    email: str | None
    nom: str | None
    habilitations: list[MonHabilitation]
    # What the caller may grant, by organisation.
    peut_attribuer: list[Attribuable]
    habilitations_expirant_bientot: int = Field(
        description="Habilitations que vous pouvez renouveler et qui expirent sous 30 jours."
    )
    demandes_a_traiter: int
