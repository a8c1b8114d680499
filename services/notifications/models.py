"""SQLAlchemy models of the notifications schema: where each feed was read to, which
events were acted on, the in-app notifications, the e-mails and their delivery log,
each person's preferences per family and the items waiting for their digest."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.commit_order import CommitOrder
from kernel.database import make_metadata
from kernel.idempotency import idempotency_table

SCHEMA = "notifications"


class Base(DeclarativeBase):
    metadata = make_metadata(SCHEMA)


metadata = Base.metadata
idempotency_keys = idempotency_table(metadata)
# A person's notifications change numbers (delta sync), visible in commit order
# (kernel.commit_order), drawn by the schema's next_change_seq() (migration 0001).
CHANGES = CommitOrder("coop.notifications.change_seq", function="notifications.next_change_seq")


class Famille(StrEnum):
    """Families of events: a person sets a preference for (or unsubscribes from) a
    family, never for one message. The preferences list every member."""

    suivis = "suivis"
    habilitations = "habilitations"
    invitations = "invitations"
    discussions = "discussions"
    bilans = "bilans"
    rappels = "rappels"


class ModeEnvoi(StrEnum):
    """How a person receives a family's e-mails (services/notifications/preferences.py)."""

    immediat = "immédiat"
    quotidien = "quotidien"
    hebdomadaire = "hebdomadaire"
    desactive = "désactivé"


class StatutEnvoi(StrEnum):
    en_attente = "en attente"
    envoye = "envoyé"
    echec = "échec"


def _now() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Curseur(Base):
    """How far a source's event feed has been read (kernel.outbox)."""

    __tablename__ = "curseurs"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    apres: Mapped[int] = mapped_column(BigInteger, nullable=False)


class EvenementTraite(Base):
    """An event acted on: the key that makes a feed read twice act once."""

    __tablename__ = "evenements_traites"
    __table_args__ = (PrimaryKeyConstraint("source", "evenement_id"),)

    source: Mapped[str] = mapped_column(String(40))
    evenement_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    traite_le: Mapped[dt.datetime] = _now()


class Notification(Base):
    """What a person sees in the app (`/api/v1/moi/notifications`)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("personne_id", "source", "evenement_id"),
        Index(None, "personne_id", "cree_le", "id"),
        Index(None, "personne_id", "seq"),
        Index(
            "ix_notifications_non_lues",
            "personne_id",
            postgresql_where=text("lue_le IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    personne_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    famille: Mapped[str] = mapped_column(String(40), nullable=False)
    type: Mapped[str] = mapped_column(String(60), nullable=False)
    titre: Mapped[str] = mapped_column(String(300), nullable=False)
    texte: Mapped[str] = mapped_column(Text, nullable=False)
    lien: Mapped[str | None] = mapped_column(String(1000))
    convention_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    source: Mapped[str] = mapped_column(String(40), nullable=False)
    evenement_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    cree_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    lue_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Delta sync: numbered at each change in commit order (CHANGES, the default).
    seq: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("notifications.next_change_seq()")
    )


class Envoi(Base):
    """One e-mail and its state: the delivery log (kept COOP_DELIVERY_LOG_RETENTION_DAYS)."""

    __tablename__ = "envois"
    __table_args__ = (
        # Never two messages for one event to one address.
        UniqueConstraint("source", "evenement_id", "adresse"),
        # Never two digests for one person and one digest time (NULLs are distinct:
        # only digests carry an `echeance`).
        UniqueConstraint("personne_id", "echeance"),
        Index(None, "cree_le"),
        Index(
            "ix_envois_a_envoyer",
            "prochain_essai",
            postgresql_where=text("statut = 'en attente'"),
        ),
        Index(None, "caf_ids", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    cree_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # None for an invitee (no account yet): the address comes from the invitation.
    personne_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The recipient's display name when the message was queued (the log names people).
    personne_nom: Mapped[str | None] = mapped_column(String(300))
    adresse: Mapped[str] = mapped_column(String(320), nullable=False)
    # None for a digest, which groups several families.
    famille: Mapped[str | None] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(60), nullable=False)
    source: Mapped[str] = mapped_column(String(40), nullable=False)
    evenement_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    # A digest's time (07:00 Europe/Paris of its day): its exactly-once key.
    echeance: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    sujet: Mapped[str] = mapped_column(String(300), nullable=False)
    statut: Mapped[str] = mapped_column(String(20), nullable=False)
    tentatives: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    prochain_essai: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    raison: Mapped[str | None] = mapped_column(Text)
    envoye_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The Cafs whose administrators read this line of the log.
    caf_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), nullable=False)
    # What the message is rendered from (template and values); erased once the message
    # is sent or has failed: the log keeps who, what subject, when and how it went.
    modele: Mapped[str] = mapped_column(String(60), nullable=False)
    contexte: Mapped[dict[str, object] | None] = mapped_column(JSONB)


class Preference(Base):
    """A mode a person chose for a family (none: the family's default). The one-click
    unsubscribe writes "désactivé" here."""

    __tablename__ = "preferences"
    __table_args__ = (PrimaryKeyConstraint("personne_id", "famille"),)

    personne_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    famille: Mapped[str] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(20), nullable=False)
    modifiee_le: Mapped[dt.datetime] = _now()


class ElementRecapitulatif(Base):
    """An e-mail held for a person's digest (their family is in a digest mode): pending
    while `envoi_id` is null, then attached to the digest that carried it."""

    __tablename__ = "elements_recapitulatif"
    __table_args__ = (
        UniqueConstraint("personne_id", "source", "evenement_id"),
        Index(
            "ix_elements_recapitulatif_en_attente",
            "personne_id",
            "cree_le",
            postgresql_where=text("envoi_id IS NULL"),
        ),
        Index(None, "envoi_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    personne_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    # The verified address and name when the event was acted on (as an e-mail's).
    adresse: Mapped[str] = mapped_column(String(320), nullable=False)
    nom: Mapped[str | None] = mapped_column(String(300))
    famille: Mapped[str] = mapped_column(String(40), nullable=False)
    type: Mapped[str] = mapped_column(String(60), nullable=False)
    source: Mapped[str] = mapped_column(String(40), nullable=False)
    evenement_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    titre: Mapped[str] = mapped_column(String(300), nullable=False)
    lien: Mapped[str] = mapped_column(String(1000), nullable=False)
    # Null for an event about no convention (an access request).
    convention_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    caf_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), nullable=False)
    cree_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Purged with its digest's line of the delivery log.
    envoi_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("envois.id", ondelete="CASCADE")
    )


class Rappel(Base):
    """One campaign reminder due to one person (services/notifications/rappels.py): its
    key (person × action, or convention for a Caf agent's summary, × campaign × step)
    is what makes a reminder exactly-once. Pending while `notification_id` is null, then
    grouped with the person's other pending reminders into one message."""

    __tablename__ = "rappels"
    __table_args__ = (
        PrimaryKeyConstraint("personne_id", "objet_id", "periode", "etape"),
        Index(
            "ix_rappels_a_grouper",
            "personne_id",
            postgresql_where=text("notification_id IS NULL"),
        ),
    )

    personne_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # The action (a porteur's contributeur) or the convention (a Caf agent's summary).
    objet_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    periode: Mapped[str] = mapped_column(String(7))
    # ouverture, j15, j7, retard-<n> (kernel.rappels_ref).
    etape: Mapped[str] = mapped_column(String(20))
    # "porteur" or "caf": what the line tells.
    destinataire: Mapped[str] = mapped_column(String(10), nullable=False)
    convention_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    convention_titre: Mapped[str] = mapped_column(Text, nullable=False)
    # The action's title (porteur), the convention's (caf).
    titre: Mapped[str] = mapped_column(Text, nullable=False)
    # A Caf agent's summary: how many actions are still to fill.
    nombre: Mapped[int | None] = mapped_column(Integer)
    date_limite: Mapped[dt.date] = mapped_column(Date, nullable=False)
    caf_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    # Resolved from the grants when the reminder fell due (kernel.people_ref).
    nom: Mapped[str | None] = mapped_column(String(300))
    adresse: Mapped[str | None] = mapped_column(String(320))
    cree_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The grouped message's event id (its Notification's `evenement_id`).
    notification_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
