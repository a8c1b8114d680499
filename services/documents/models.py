"""Tables of the ``documents`` schema."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kernel.convention_ref import convention_ref_table
from kernel.database import make_metadata
from kernel.history import history_table
from kernel.idempotency import idempotency_table

SCHEMA = "documents"


class Base(DeclarativeBase):
    # Same as kernel.database.declarative_base, spelled out so type checkers see a class.
    metadata = make_metadata(SCHEMA)


convention_ref = convention_ref_table(Base.metadata)
idempotency_keys = idempotency_table(Base.metadata)
# Who uploaded, renamed, binned, restored a document, and its purge (kernel.history,
# services/documents/history.py): metadata only, never content.
historique = history_table(Base.metadata)


class TypeDocument(StrEnum):
    """Les types de document."""

    convention_signee = "Convention signée"
    avenant = "Avenant"
    diagnostic_partage = "Diagnostic partagé"
    liste_equipements = "Liste des équipements et services"
    plan_actions = "Plan d'actions"
    modalites_pilotage = "Modalités de pilotage"
    deliberation = "Délibération"
    compte_rendu_copil = "Compte rendu de COPIL"
    bilan = "Bilan"
    # An adopted bilan's report, by the bilan's kind (kept by the suite itself, or uploaded).
    bilan_point_etape = "Bilan point d'étape annuel"
    bilan_intermediaire = "Bilan intermédiaire"
    bilan_final = "Bilan final"
    bilan_annuel_charge = "Bilan annuel d'activité du chargé de coopération"
    schema_petite_enfance = "Schéma pluriannuel petite enfance"
    cof = "COF"
    convention_specifique_outil = "Convention spécifique outil"
    autre = "Autre"


class StatutAnalyse(StrEnum):
    en_analyse = "en_analyse"
    disponible = "disponible"
    rejete = "rejeté"


class Contenu(Base):
    """Stored content, once per distinct SHA-256 (deduplication, invisible to users)."""

    __tablename__ = "contenu"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    taille: Mapped[int] = mapped_column(BigInteger)
    cle: Mapped[str] = mapped_column(String(300))
    cree_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Document(Base):
    __tablename__ = "document"
    __table_args__ = (
        Index(None, "convention_id", "depose_le", "id"),
        Index(None, "depose_le", "id"),
        Index(None, "action_id"),
        Index(None, "supprime_le"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    convention_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(convention_ref.c.id))
    action_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    bilan_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    type: Mapped[str] = mapped_column(String(80))
    titre: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    depose_par: Mapped[str] = mapped_column(String(200))
    depose_par_nom: Mapped[str | None] = mapped_column(String(300))
    organisation_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    depose_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    modifie_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # Bumped on every change: the ETag.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # Number of the latest version scanned clean (NULL: nothing readable yet, so the
    # document is visible to its uploader only).
    version_disponible: Mapped[int | None] = mapped_column(Integer)
    supprime_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    supprime_par: Mapped[str | None] = mapped_column(String(200))
    # Purged from the bin (service.purge): the content is gone for good, the record of
    # the document and its versions stays (titre, type, names, sizes, SHA-256, who,
    # when), so its history still says what it was. Never listed or served again (410).
    purge_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # A document the suite produced itself (kernel.documents_systeme), under its key:
    # read like any other, edited, versioned or deleted by nobody. NULL: a user's.
    cle_systeme: Mapped[str | None] = mapped_column(String(120), unique=True)

    versions: Mapped[list[Version]] = relationship(
        back_populates="document", lazy="raise", order_by="Version.numero"
    )


class Version(Base):
    __tablename__ = "version"
    __table_args__ = (
        UniqueConstraint("document_id", "numero"),
        Index(None, "statut"),
        Index(None, "contenu_sha256"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Document.id, ondelete="CASCADE"))
    numero: Mapped[int] = mapped_column(Integer)
    libelle: Mapped[str | None] = mapped_column(String(200))
    nom_fichier: Mapped[str] = mapped_column(String(255))
    taille: Mapped[int] = mapped_column(BigInteger)
    type_contenu: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    # NULL once rejected: infected content is never kept.
    contenu_sha256: Mapped[str | None] = mapped_column(ForeignKey(Contenu.sha256))
    statut: Mapped[str] = mapped_column(String(20))
    signature: Mapped[str | None] = mapped_column(String(300))
    # Why the version is not downloadable, in French for the uploader: the signature
    # found, or clamd's error reply (content kept: `rescan --retry-unanalysable`).
    motif: Mapped[str | None] = mapped_column(String(400))
    # clamd error replies so far; at `scan_max_errors` the version is rejected.
    echecs_analyse: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    analyse_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    depose_par: Mapped[str] = mapped_column(String(200))
    depose_par_nom: Mapped[str | None] = mapped_column(String(300))
    organisation_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    depose_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    document: Mapped[Document] = relationship(back_populates="versions", lazy="raise")
