"""SQLAlchemy models of the gateway schema: persons, clients, grants and their history,
and the access journal.

Grants are the only source of rights: `resolver.DbGrantResolver` turns the current
ones into the kernel `Principal` carried by the internal token.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.convention_ref import convention_ref_table
from kernel.database import make_metadata
from kernel.idempotency import idempotency_table
from kernel.outbox import outbox_table

SCHEMA = "gateway"


class Base(DeclarativeBase):
    # Same as kernel.database.declarative_base("gateway"), spelled out for type checkers.
    metadata = make_metadata(SCHEMA)


metadata = Base.metadata
convention_ref = convention_ref_table(metadata)
idempotency_keys = idempotency_table(metadata)
# The domain events the other apps follow (kernel.outbox; gateway/habilitations/events.py).
evenements = outbox_table(metadata)

# Who called which route of the public API, when, with which answer (gateway.journal):
# the traceability log, kept COOP_GATEWAY_ACCESS_LOG_RETENTION_DAYS. Ids only: no
# token, no body, no query string, no address.
journal_acces = Table(
    "journal_acces",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    # The gateway-local id of the person or machine client (as in the internal token and
    # the histories); None when the caller was not identified (401, unknown client).
    Column("principal_id", Uuid),
    # The application the caller came through (`client_id`/`azp` of the access token).
    Column("client", String(255)),
    Column("method", String(10), nullable=False),
    # The route template ("/api/v1/conventions/{id}"), and the path it matched (object
    # ids, never a query string); "<unmatched>" and no path when no route matched.
    Column("route", String(300), nullable=False),
    Column("path", String(500)),
    Column("status", SmallInteger, nullable=False),
    Column("request_id", String(128), nullable=False),
    Index(None, "at"),
    Index(None, "principal_id", "at"),
)


class StatutHabilitation(StrEnum):
    active = "active"
    suspendue = "suspendue"
    revoquee = "révoquée"
    expiree = "expirée"


class EvenementHabilitation(StrEnum):
    accordee = "accordée"
    renouvelee = "renouvelée"
    suspendue = "suspendue"
    reactivee = "réactivée"
    revoquee = "révoquée"
    expiree = "expirée"


class StatutInvitation(StrEnum):
    en_attente = "en attente"
    acceptee = "acceptée"
    annulee = "annulée"


class StatutDemande(StrEnum):
    en_attente = "en attente"
    approuvee = "approuvée"
    refusee = "refusée"


def _now() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Person(Base):
    """A person as the identity provider knows them: (issuer, sub) is the identity."""

    __tablename__ = "persons"
    __table_args__ = (Index(None, "issuer", "subject", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    # From the last token seen; used only to match invitations and to show who is who.
    # Erased (with the person's preferences) a year after their last grant ended
    # (retention.py); the name stays: histories name who acted.
    email: Mapped[str | None] = mapped_column(String(320))
    # The token's `email_verified` with that e-mail: mail goes to verified addresses only.
    email_verified: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    name: Mapped[str | None] = mapped_column(String(300))
    first_seen_at: Mapped[dt.datetime] = _now()
    last_seen_at: Mapped[dt.datetime] = _now()
    # When `email` (and preferences) were last erased by the retention rule.
    erased_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Client(Base):
    """A machine client (OAuth2 client credentials), bound to one organisation."""

    __tablename__ = "clients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    nom: Mapped[str] = mapped_column(String(300), nullable=False)
    organisation_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    organisation_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    role: Mapped[str] = mapped_column(String(40), nullable=False)
    # None: registered with the CLI.
    registered_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    registered_at: Mapped[dt.datetime] = _now()


class Habilitation(Base):
    """(person or client) × organisation × role, valid on [valid_from, valid_until)."""

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint("(person_id IS NULL) <> (client_id IS NULL)", name="one_holder"),
        CheckConstraint("valid_from < valid_until", name="period"),
        # One current grant per holder and organisation (a role change is a new grant).
        Index(
            "uq_grants_current_person",
            "person_id",
            "organisation_id",
            unique=True,
            postgresql_where=text("status IN ('active', 'suspendue')"),
        ),
        Index(
            "uq_grants_current_client",
            "client_id",
            "organisation_id",
            unique=True,
            postgresql_where=text("status IN ('active', 'suspendue')"),
        ),
        Index(None, "organisation_id", "valid_until"),
        Index(None, "valid_until", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"), index=True)
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    organisation_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    role: Mapped[str] = mapped_column(String(40), nullable=False)
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    valid_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    # None: granted with the CLI (or the demo data).
    granted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    granted_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class AvisExpiration(Base):
    """An expiry notice recorded for a grant's end date at one step (J-30, J-7): the key
    that makes the notices' job record each one once (expiry.py). A grant renewed has a
    new end date, hence new notices; the old date's are never due again."""

    __tablename__ = "avis_expiration"

    grant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("grants.id", ondelete="CASCADE"), primary_key=True
    )
    valid_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    etape: Mapped[str] = mapped_column(String(5), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class HabilitationEvent(Base):
    """Append-only history (a trigger of the migration refuses UPDATE and DELETE)."""

    __tablename__ = "grant_events"
    __table_args__ = (Index(None, "grant_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grants.id"), nullable=False)
    event: Mapped[str] = mapped_column(String(20), nullable=False)
    # None with actor_label "cli"/"système": not done by a person through the API.
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    # The actor's display name at the time (migration 0004 named the older rows).
    actor_label: Mapped[str] = mapped_column(String(300), nullable=False)
    # The app or partner system they used (OIDC client); None for the CLI and jobs.
    actor_client: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(40), nullable=False)
    valid_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    at: Mapped[dt.datetime] = _now()


class Invitation(Base):
    __tablename__ = "invitations"
    __table_args__ = (Index(None, "organisation_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # Lower-cased; matched against the e-mail of the accepting person's token. None once
    # the invitation has been over for the retention period (retention.py).
    email: Mapped[str | None] = mapped_column(String(320))
    organisation_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    organisation_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    role: Mapped[str] = mapped_column(String(40), nullable=False)
    # SHA-256 of the token: a leaked table does not leak usable invitations.
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    created_at: Mapped[dt.datetime] = _now()
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    grant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grants.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class DemandeAcces(Base):
    """A person with no grant asks for a role on a collectivité."""

    __tablename__ = "access_requests"
    __table_args__ = (
        Index(
            "uq_access_requests_pending",
            "person_id",
            "organisation_id",
            unique=True,
            postgresql_where=text("status = 'en attente'"),
        ),
        Index(None, "organisation_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), nullable=False)
    organisation_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    role: Mapped[str] = mapped_column(String(40), nullable=False)
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[dt.datetime] = _now()
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    grant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grants.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
