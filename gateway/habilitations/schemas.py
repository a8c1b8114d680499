"""API models of the habilitations (French field names, as users say them)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from gateway.habilitations import examples as ex
from kernel.deprecation import Deprecation
from kernel.fields import CreeLe, Id, Le, Version, examples
from kernel.idempotency import secret_field
from kernel.input import Input
from kernel.principal import OrganisationKind, Role

# Deliberately loose: the identity provider owns e-mail verification.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# The descriptions of the fields the habilitations' schemas share.
Organisation = Annotated[
    uuid.UUID,
    Field(description="L'organisation (Caf, collectivité ou Cnaf) pour laquelle le rôle vaut."),
]
OrganisationNom = Annotated[
    str | None,
    Field(
        description="Nom de l'organisation, tel que le nomme une convention (null : aucune "
        "convention ne la nomme encore)."
    ),
]
TypeOrganisation = Annotated[
    OrganisationKind, Field(description="Type de l'organisation : caf, collectivite, national.")
]
RoleAccorde = Annotated[
    Role,
    Field(
        description="Rôle : lecteur, contributeur ou referent (collectivité), agent ou "
        "administrateur (Caf), lecteur_national (Cnaf)."
    ),
]
ValideJusquAu = Annotated[
    dt.datetime, Field(description="Fin de validité de l'habilitation (ISO 8601).")
]
_VALIDE_JUSQU_AU_IN = "Fin de validité ; par défaut un an après aujourd'hui."
_MOTIF = "Motif de la décision (1 000 caractères au plus), gardé dans l'historique."
PersonneId = Annotated[
    uuid.UUID | None,
    Field(description="La personne qui l'a fait (null : la ligne de commande ou un traitement)."),
]
PersonneNom = Annotated[
    str | None,
    Field(
        description="Nom affiché de cette personne, à côté de son identifiant (null : pas "
        "de personne, ou pas de nom connu)."
    ),
]


class Titulaire(BaseModel):
    """Qui détient l'habilitation : une personne, ou un client machine."""

    type: Literal["personne", "client"] = Field(description="personne ou client (machine).")
    id: Id
    nom: str | None = Field(default=None, description="Nom affiché de la personne ou du client.")
    email: str | None = Field(default=None, description="Adresse électronique de la personne.")
    client_id: str | None = Field(
        default=None, description="Pour un client machine : son identifiant OIDC (client_id)."
    )


class HabilitationOut(BaseModel):
    model_config = examples(ex.HABILITATION_OUT)

    id: Id
    titulaire: Titulaire = Field(description="Qui détient l'habilitation.")
    organisation_id: Organisation
    organisation_nom: OrganisationNom
    organisation_type: TypeOrganisation
    role: RoleAccorde
    statut: str = Field(description="active, suspendue, révoquée ou expirée.")
    valide_du: dt.datetime = Field(description="Début de validité (ISO 8601).")
    valide_jusqu_au: ValideJusquAu
    accordee_par: PersonneId
    accordee_par_nom: PersonneNom
    accordee_le: dt.datetime = Field(description="Date et heure de l'accord (ISO 8601).")
    version: Version


class HabilitationIn(Input):
    """Un rôle accordé à une personne déjà connue de Coopération (connectée une fois)."""

    model_config = examples(ex.HABILITATION_IN)

    personne_id: uuid.UUID = Field(description="La personne (son identifiant dans Coopération).")
    organisation_id: Organisation
    role: RoleAccorde
    valide_jusqu_au: dt.datetime | None = Field(default=None, description=_VALIDE_JUSQU_AU_IN)
    motif: str | None = Field(default=None, max_length=1000, description=_MOTIF)


class Renouvellement(Input):
    valide_jusqu_au: dt.datetime | None = Field(
        default=None, description="Par défaut : un an de plus (à partir d'aujourd'hui au moins)."
    )
    motif: str | None = Field(default=None, max_length=1000, description=_MOTIF)


class Motif(Input):
    motif: str = Field(min_length=1, max_length=1000, description=_MOTIF)


class MotifOptionnel(Input):
    motif: str | None = Field(default=None, max_length=1000, description=_MOTIF)


class EvenementOut(BaseModel):
    id: int = Field(description="Numéro de l'événement.")
    evenement: str = Field(
        description="accordée, renouvelée, suspendue, réactivée, révoquée ou expirée."
    )
    par: PersonneId
    par_libelle: str = Field(
        description="Qui : le nom affiché de la personne à ce moment-là (« cli », "
        "« système » ou « démo » pour la ligne de commande, les traitements et la démo)."
    )
    par_client: str | None = Field(
        default=None, description="L'application ou le système partenaire utilisé (client OIDC)."
    )
    motif: str | None = Field(description=_MOTIF)
    role: RoleAccorde
    valide_jusqu_au: ValideJusquAu
    le: Le


class InvitationIn(Input):
    model_config = examples(ex.INVITATION_IN)

    email: str = Field(
        max_length=320, pattern=EMAIL_PATTERN, description="Adresse électronique de l'invité."
    )
    organisation_id: Organisation
    role: RoleAccorde
    expire_dans_jours: int | None = Field(
        default=None, ge=1, le=30, description="Durée de validité, en jours (1 à 30)."
    )


class InvitationOut(BaseModel):
    id: Id
    email: str | None = Field(
        description=(
            "Adresse invitée ; null une fois l'invitation terminée (acceptée, annulée ou "
            "expirée) depuis la durée de conservation (12 mois par défaut)."
        )
    )
    organisation_id: Organisation
    organisation_nom: OrganisationNom
    organisation_type: TypeOrganisation
    role: RoleAccorde
    statut: str = Field(description="en attente, acceptée ou annulée.")
    expire_le: dt.datetime = Field(description="Date et heure d'expiration (ISO 8601).")
    creee_par: PersonneId
    creee_par_nom: PersonneNom
    creee_le: CreeLe
    acceptee_par: uuid.UUID | None = Field(
        description="La personne qui l'a acceptée (null : pas encore acceptée)."
    )
    acceptee_par_nom: PersonneNom
    habilitation_id: uuid.UUID | None = Field(
        description="L'habilitation créée à l'acceptation (null avant)."
    )


# Since the notifications service e-mails the invitee the link (no sunset: a field of
# /api/v1 stays served).
JETON_INVITATION_OBSOLETE = Deprecation(dt.date(2026, 12, 5))


class InvitationCreee(InvitationOut):
    model_config = examples(ex.INVITATION_CREEE)

    # Returned once, to the inviter, for the clients written before the notifications
    # service e-mailed the invitee the link (issue 25): deprecated, and its answers say
    # so (kernel.deprecation).
    jeton: Annotated[str | None, JETON_INVITATION_OBSOLETE] = secret_field(
        "Obsolète : l'invité reçoit désormais le lien d'acceptation par e-mail. Jeton de "
        "l'invitation, remis une seule fois, dans cette réponse. Une réponse rejouée (même "
        "Idempotency-Key) ne le contient plus : null, et l'en-tête X-Coop-Secret-Omis le "
        "dit."
    )


class Acceptation(Input):
    jeton: str = Field(
        min_length=10, max_length=200, description="Le jeton reçu dans l'invitation."
    )


class DemandeIn(Input):
    organisation_id: Organisation
    role: RoleAccorde = Role.lecteur
    message: str | None = Field(
        default=None, max_length=2000, description="Message aux administrateurs (facultatif)."
    )


class DemandeOut(BaseModel):
    id: Id
    personne_id: uuid.UUID = Field(description="La personne qui demande l'accès.")
    personne_nom: str | None = Field(description="Son nom affiché (null s'il n'est pas connu).")
    personne_email: str | None = Field(
        description=(
            "Null une fois effacée : la dernière habilitation de la personne a pris fin "
            "depuis la durée de conservation (12 mois par défaut)."
        )
    )
    organisation_id: Organisation
    organisation_nom: OrganisationNom
    role: RoleAccorde
    message: str | None = Field(
        description="Effacé une fois la demande décidée depuis la durée de conservation."
    )
    statut: str = Field(description="en attente, approuvée ou refusée.")
    creee_le: CreeLe
    decidee_par: uuid.UUID | None = Field(
        description="La personne qui l'a décidée (null : pas encore décidée)."
    )
    decidee_par_nom: PersonneNom
    decidee_le: dt.datetime | None = Field(description="Date et heure de la décision.")
    motif: str | None = Field(description=_MOTIF)
    habilitation_id: uuid.UUID | None = Field(
        description="L'habilitation accordée par l'approbation (null sinon)."
    )
    version: Version


_CLIENT_ID = "Identifiant OIDC du client (client_id), tel que le fournisseur d'identité le donne."
_CLIENT_NOM = "Nom du système partenaire, affiché dans les historiques."


class ClientIn(Input):
    client_id: str = Field(
        min_length=3, max_length=255, pattern=r"^[A-Za-z0-9._:-]+$", description=_CLIENT_ID
    )
    nom: str = Field(min_length=1, max_length=300, description=_CLIENT_NOM)
    organisation_id: Organisation
    role: RoleAccorde


class ClientOut(BaseModel):
    id: Id
    client_id: str = Field(description=_CLIENT_ID)
    nom: str = Field(description=_CLIENT_NOM)
    organisation_id: Organisation
    organisation_nom: OrganisationNom
    organisation_type: TypeOrganisation
    role: RoleAccorde
    enregistre_par: PersonneId
    enregistre_par_nom: PersonneNom
    enregistre_le: dt.datetime = Field(description="Date et heure de l'enregistrement.")


class ClientCree(ClientOut):
    habilitation: HabilitationOut = Field(description="L'habilitation accordée au client.")


class Attribuable(BaseModel):
    organisation_id: Organisation
    organisation_type: TypeOrganisation
    roles: list[Role] = Field(description="Les rôles que vous pouvez y accorder.")


class MonHabilitation(HabilitationOut):
    model_config = examples(ex.MON_HABILITATION)

    capacites: list[str] = Field(description="Ce que ce rôle vous permet d'y faire.")


class Moi(BaseModel):
    id: uuid.UUID | None = Field(
        description="Votre identifiant dans Coopération, personne ou client machine (null "
        "s'il n'y en a pas)."
    )
    type: Literal["personne", "client"] = Field(description="personne ou client (machine).")
    emetteur: str = Field(description="Le fournisseur d'identité qui a émis votre jeton (iss).")
    sujet: str = Field(description="Votre identifiant chez ce fournisseur (sub).")
    email: str | None = Field(description="Votre adresse électronique, si le jeton la donne.")
    nom: str | None = Field(description="Votre nom affiché, si le jeton le donne.")
    habilitations: list[MonHabilitation] = Field(description="Vos habilitations en cours.")
    peut_attribuer: list[Attribuable] = Field(
        description="Les rôles que vous pouvez accorder, par organisation."
    )
    habilitations_expirant_bientot: int = Field(
        description="Habilitations que vous pouvez renouveler et qui expirent sous 30 jours."
    )
    demandes_a_traiter: int = Field(
        description="Demandes d'accès en attente que vous pouvez décider."
    )
