"""SQLAlchemy models of the actions schema.

Every mutable row carries ``version`` (ETag) and ``seq`` (the schema-wide change
sequence behind delta sync); deletions leave a row in ``tombstones``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from kernel.commit_order import CommitOrder
from kernel.convention_ref import convention_ref_table
from kernel.database import make_metadata
from kernel.history import history_table
from kernel.idempotency import idempotency_table
from kernel.outbox import outbox_table

SCHEMA = "actions"


class Base(DeclarativeBase):
    # Same as kernel.database.declarative_base, spelled out so type checkers see a class.
    metadata = make_metadata(SCHEMA)


metadata = Base.metadata

convention_ref = convention_ref_table(metadata)
idempotency_keys = idempotency_table(metadata)
# Who changed what in the plan (kernel.history, services/actions/history.py).
historique = history_table(metadata)
# The domain events the other apps follow (kernel.outbox; services/actions/events.py).
evenements = outbox_table(metadata)

# One sequence for the whole schema: a client's sync token is a position in it.
change_seq = Sequence("change_seq", schema=SCHEMA, metadata=metadata)
# Its numbers visible in commit order (kernel.commit_order), drawn by the schema's
# next_change_seq() (migration 0002), the rows' default: sync tokens never skip one.
CHANGES = CommitOrder("coop.actions.change_seq", change_seq, function="actions.next_change_seq")


def _seq_column() -> Mapped[int]:
    return mapped_column(
        BigInteger, nullable=False, index=True, server_default=text("actions.next_change_seq()")
    )


def _now_column() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Axe(Base):
    __tablename__ = "axes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    convention_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    titre: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    seq: Mapped[int] = _seq_column()
    created_at: Mapped[dt.datetime] = _now_column()
    updated_at: Mapped[dt.datetime] = _now_column()


class Action(Base):
    __tablename__ = "actions"
    __table_args__ = (
        Index(None, "porteur_ids", postgresql_using="gin"),
        Index(None, "axe_id", "position"),
        # The user's own number ("1.2"), unique in its convention once given: an import
        # updates the action it names instead of adding another (migration 0016).
        Index(
            None,
            "convention_id",
            "reference",
            unique=True,
            postgresql_where=text("reference IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    convention_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    reference: Mapped[str | None] = mapped_column(String(20))
    axe_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("axes.id"), nullable=False)
    # One level only: a sous-action's parent has no parent itself (checked in the service).
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("actions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    titre: Mapped[str] = mapped_column(String(300), nullable=False)
    thematique: Mapped[str | None] = mapped_column(String(80))
    date_debut: Mapped[dt.date | None] = mapped_column(Date)
    date_echeance: Mapped[dt.date | None] = mapped_column(Date)
    priorite: Mapped[str | None] = mapped_column(String(20))
    statut: Mapped[str] = mapped_column(String(20), nullable=False)
    porteur_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), nullable=False)
    referent: Mapped[str | None] = mapped_column(String(200))
    # The fiche-action (labels in rules.FICHE_LABELS).
    diagnostic_initial: Mapped[str | None] = mapped_column(Text)
    public_cible: Mapped[str | None] = mapped_column(Text)
    objectifs_operationnels: Mapped[str | None] = mapped_column(Text)
    modalites_mise_en_oeuvre: Mapped[str | None] = mapped_column(Text)
    echeances_realisation: Mapped[str | None] = mapped_column(Text)
    services_mobilises: Mapped[str | None] = mapped_column(Text)
    resultats_attendus: Mapped[str | None] = mapped_column(Text)
    partenaires_sollicites: Mapped[str | None] = mapped_column(Text)
    indicateurs_evaluation: Mapped[str | None] = mapped_column(Text)
    specificites_ao: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    seq: Mapped[int] = _seq_column()
    created_at: Mapped[dt.datetime] = _now_column()
    updated_at: Mapped[dt.datetime] = _now_column()

    axe: Mapped[Axe] = relationship(lazy="raise")


class Indicateur(Base):
    """An indicator of an action, of an axe, or of the convention as a whole (neither):
    art. 9 evaluates "non pas par chaque dispositif … mais par les effets de l'ensemble"."""

    __tablename__ = "indicateurs"
    __table_args__ = (CheckConstraint("action_id IS NULL OR axe_id IS NULL", name="rattachement"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    action_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("actions.id", ondelete="CASCADE"), index=True
    )
    # An axe is not deleted while it holds indicators (service check).
    axe_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("axes.id"), index=True)
    convention_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    libelle: Mapped[str] = mapped_column(String(300), nullable=False)
    nature: Mapped[str] = mapped_column(String(40), nullable=False)
    unite: Mapped[str] = mapped_column(String(20), nullable=False)
    valeur_reference: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    date_reference: Mapped[dt.date | None] = mapped_column(Date)
    # {"2026": "120", ...}: target per year of the convention.
    cibles: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    seq: Mapped[int] = _seq_column()
    created_at: Mapped[dt.datetime] = _now_column()
    updated_at: Mapped[dt.datetime] = _now_column()


class ValeurIndicateur(Base):
    __tablename__ = "valeurs_indicateurs"
    __table_args__ = (UniqueConstraint("indicateur_id", "periode"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    indicateur_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("indicateurs.id", ondelete="CASCADE"), nullable=False
    )
    # "2026-T1" (quarter) or "2026" (year).
    periode: Mapped[str] = mapped_column(String(8), nullable=False)
    valeur: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    commentaire: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(300))
    auteur: Mapped[str] = mapped_column(String(200), nullable=False)
    auteur_nom: Mapped[str | None] = mapped_column(String(300))
    # Its own ETag: a PUT replaces a value only with If-Match (migration 0003).
    version: Mapped[int] = mapped_column(
        Integer, nullable=False, default=1, server_default=text("1")
    )
    updated_at: Mapped[dt.datetime] = _now_column()


class Campagne(Base):
    """Only stored when a due date differs from the default (quarter end + delay)."""

    __tablename__ = "campagnes"
    __table_args__ = (UniqueConstraint("convention_id", "periode"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    convention_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    periode: Mapped[str] = mapped_column(String(7), nullable=False)
    date_limite: Mapped[dt.date] = mapped_column(Date, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[dt.datetime] = _now_column()


class CompteursPlan(Base):
    """How many actions of a convention are due a suivi each quarter (not abandoned).

    Kept by triggers on ``actions`` (migration 0006), never written by the service."""

    __tablename__ = "compteurs_plans"

    convention_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    actions: Mapped[int] = mapped_column(Integer, nullable=False)


class CompteursCampagne(Base):
    """The suivis of one campaign (convention, quarter) per state, and their alerts,
    counting the actions due a suivi only: what a scan of its suivis would give.

    Kept by triggers on ``suivis`` and ``actions`` (migration 0006), never written by
    the service. One row per convention and quarter: a submission moves its own
    convention's row, never one shared by every convention. Missing, late: derived on
    read (late depends on the due date and the day)."""

    __tablename__ = "compteurs_campagnes"

    convention_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    periode: Mapped[str] = mapped_column(String(7), primary_key=True)
    brouillon: Mapped[int] = mapped_column(Integer, nullable=False)
    soumis: Mapped[int] = mapped_column(Integer, nullable=False)
    valide: Mapped[int] = mapped_column(Integer, nullable=False)
    a_completer: Mapped[int] = mapped_column(Integer, nullable=False)
    alertes: Mapped[int] = mapped_column(Integer, nullable=False)


class Suivi(Base):
    __tablename__ = "suivis"
    __table_args__ = (
        UniqueConstraint("action_id", "periode"),
        Index(None, "convention_id", "periode"),
        CheckConstraint("avancement BETWEEN 0 AND 100", name="avancement"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    action_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("actions.id", ondelete="CASCADE"), nullable=False
    )
    convention_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    periode: Mapped[str] = mapped_column(String(7), nullable=False)
    etat: Mapped[str] = mapped_column(String(20), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    statut_action: Mapped[str] = mapped_column(String(20), nullable=False)
    avancement: Mapped[int | None] = mapped_column(Integer)
    realisations: Mapped[str | None] = mapped_column(Text)
    difficultes: Mapped[str | None] = mapped_column(Text)
    alerte: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    alerte_message: Mapped[str | None] = mapped_column(Text)
    # [{"indicateur_id": ..., "valeur": "12", "commentaire": ..., "source": ...}]
    valeurs: Mapped[list[dict[str, object]]] = mapped_column(JSONB, nullable=False)
    commentaire_validation: Mapped[str | None] = mapped_column(Text)
    auteur: Mapped[str] = mapped_column(String(200), nullable=False)
    auteur_nom: Mapped[str | None] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    seq: Mapped[int] = _seq_column()
    created_at: Mapped[dt.datetime] = _now_column()
    updated_at: Mapped[dt.datetime] = _now_column()


class SuiviEvenement(Base):
    """Every revision and transition of a suivi, with the content as it then stood."""

    __tablename__ = "suivi_evenements"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    suivi_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("suivis.id", ondelete="CASCADE"), nullable=False, index=True
    )
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    evenement: Mapped[str] = mapped_column(String(30), nullable=False)
    etat_avant: Mapped[str | None] = mapped_column(String(20))
    etat_apres: Mapped[str] = mapped_column(String(20), nullable=False)
    commentaire: Mapped[str | None] = mapped_column(Text)
    auteur: Mapped[str] = mapped_column(String(200), nullable=False)
    auteur_nom: Mapped[str | None] = mapped_column(String(300))
    contenu: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    at: Mapped[dt.datetime] = _now_column()


class Bilan(Base):
    __tablename__ = "bilans"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    convention_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    periode_debut: Mapped[dt.date] = mapped_column(Date, nullable=False)
    periode_fin: Mapped[dt.date] = mapped_column(Date, nullable=False)
    etat: Mapped[str] = mapped_column(String(20), nullable=False)
    # The sections of its kind (rules.SECTIONS_BILAN): {"avancees": "…", ...}.
    sections: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    # Deprecated input of older clients, per axe ({axe id: text}), read back to them while
    # the kind's first section is made of it (service_bilans.avec_syntheses); else {}.
    syntheses: Mapped[dict[str, str]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    # The date of the COPIL that adopted it; who entered the adoption, and when.
    date_adoption: Mapped[dt.date | None] = mapped_column(Date)
    adoption_saisie_par: Mapped[str | None] = mapped_column(String(200))
    adoption_saisie_par_nom: Mapped[str | None] = mapped_column(String(300))
    adoption_saisie_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Frozen at adoption: actions' statuts and indicator values as they then stood.
    instantane: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    # Its report, built once at adoption (service_rapports): what the ODT and PDF show.
    rapport: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    # When both files were kept as documents of the convention (jobs: archive).
    rapport_archive_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # When the documents service refused them for good (a 4xx no retry changes), and
    # why in French: the job no longer sends them (archive_rapports.py).
    rapport_archivage_echec_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    rapport_archivage_motif: Mapped[str | None] = mapped_column(Text)
    petite_enfance_transmissible: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False
    )
    # The Caf asked the collectivités concerned for their agreement (service_cdsf.py):
    # when and who; None when not asked, or the request withdrawn.
    accords_demandes_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    accords_demandes_par: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    seq: Mapped[int] = _seq_column()
    created_at: Mapped[dt.datetime] = _now_column()
    updated_at: Mapped[dt.datetime] = _now_column()


class AccordCdsf(Base):
    """A collectivité's express agreement to send the petite-enfance part to the CDSF."""

    __tablename__ = "accords_cdsf"

    bilan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bilans.id", ondelete="CASCADE"), primary_key=True
    )
    collectivite_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    par: Mapped[str] = mapped_column(String(200), nullable=False)
    par_nom: Mapped[str | None] = mapped_column(String(300))
    at: Mapped[dt.datetime] = _now_column()


class RappelAccordCdsf(Base):
    """A collectivité asked for its agreement on a bilan's CDSF part, the n-th week of
    the request (0: the request itself): the key that makes each reminder once."""

    __tablename__ = "rappels_accord_cdsf"

    bilan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bilans.id", ondelete="CASCADE"), primary_key=True
    )
    collectivite_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    semaine: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Commentaire(Base):
    """A comment of a discussion: the thread of a fiche-action (``suivi_id`` NULL) or of
    one of its suivis. Deleted, it stays as a tombstone (text and mentions gone, author
    and dates kept): the thread keeps its shape and delta sync sees the deletion."""

    __tablename__ = "commentaires"
    __table_args__ = (
        # A thread's pages, oldest or newest first (suivi_id NULL: the action's own).
        Index(None, "action_id", "suivi_id", "created_at", "id"),
        CheckConstraint("(texte IS NULL) = (supprime_le IS NOT NULL)", name="tombstone"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    convention_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    action_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("actions.id", ondelete="CASCADE"), nullable=False
    )
    suivi_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("suivis.id", ondelete="CASCADE"))
    # The suivi's quarter (its thread's address), NULL on the action's thread.
    periode: Mapped[str | None] = mapped_column(String(7))
    # The principal's subject (a person's id) and display name at the time.
    auteur_id: Mapped[str] = mapped_column(String(200), nullable=False)
    auteur_nom: Mapped[str | None] = mapped_column(String(300))
    texte: Mapped[str | None] = mapped_column(Text)
    # [{"id": person id, "nom": display name at the time}], [] once deleted.
    mentions: Mapped[list[dict[str, object]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    seq: Mapped[int] = _seq_column()
    created_at: Mapped[dt.datetime] = _now_column()
    modifie_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    supprime_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # "auteur" or "modération" (a Caf agent), NULL while it stands.
    supprime_par: Mapped[str | None] = mapped_column(String(20))


class Tombstone(Base):
    """What delta sync reports as deleted."""

    __tablename__ = "tombstones"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    convention_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    # The parent the object was listed under (axe for actions, action for an action's
    # indicators, the convention for its own and its axes' indicators).
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    seq: Mapped[int] = _seq_column()
    deleted_at: Mapped[dt.datetime] = _now_column()


class ImportPlan(Base):
    """A spreadsheet of a plan d'actions between its upload and its commit: the file,
    the confirmed column mapping and the dry run's report. Only its author sees it; it
    expires (`actions.import-purge`), committed or not."""

    __tablename__ = "imports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    convention_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    # The principal's subject: an import is its author's alone.
    auteur_id: Mapped[str] = mapped_column(String(200), nullable=False)
    nom_fichier: Mapped[str] = mapped_column(String(255), nullable=False)
    type_fichier: Mapped[str] = mapped_column(String(100), nullable=False)
    contenu: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # Field key → 0-based column of the file (guessed, then confirmed by the user).
    correspondance: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    confirmee: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rapport: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    # The plan the report was computed on (axes' and actions' ids and versions): a
    # report on another plan is run again before anyone reads or commits it.
    empreinte_plan: Mapped[str] = mapped_column(String(64), nullable=False)
    etat: Mapped[str] = mapped_column(String(20), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = _now_column()
    updated_at: Mapped[dt.datetime] = _now_column()
    expire_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index(None, "convention_id", "auteur_id"),
        Index(None, "expire_le"),
    )


# The table itself, for the expiry purge (kernel.retention works on tables).
IMPORTS = Base.metadata.tables[f"{SCHEMA}.imports"]


class Export(Base):
    """A large export (a Caf's campaign, the nation's suivis) asked for through the API:
    run by the job `actions.exports` (service_export_jobs), its file kept in
    `export_morceaux`, downloadable by its requester alone until `expire_le`."""

    __tablename__ = "exports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # The principal's subject: an export is its requester's alone.
    demandeur_id: Mapped[str] = mapped_column(String(200), nullable=False)
    # The principal as the request saw it (grants): the job scopes its SQL with it.
    demandeur: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    type: Mapped[str] = mapped_column(String(40), nullable=False)
    format: Mapped[str] = mapped_column(String(10), nullable=False)
    # The type's parameters, as validated (and completed) at the request.
    parametres: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    etat: Mapped[str] = mapped_column(String(20), nullable=False)
    # Why it failed (French, for the requester).
    message: Mapped[str | None] = mapped_column(Text)
    nom_fichier: Mapped[str] = mapped_column(String(255), nullable=False)
    titre: Mapped[str] = mapped_column(String(300), nullable=False)
    taille: Mapped[int | None] = mapped_column(BigInteger)
    # Runs begun: a run cut short (its worker died) is taken again, a few times.
    tentatives: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[dt.datetime] = _now_column()
    debut_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    fini_le: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expire_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index(None, "demandeur_id", "created_at", "id"),
        Index(None, "etat", "created_at"),
        Index(None, "expire_le"),
    )


class ExportMorceau(Base):
    """A piece of an export's file (about 1 MiB), in the order written."""

    __tablename__ = "export_morceaux"

    export_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("exports.id", ondelete="CASCADE"), primary_key=True
    )
    numero: Mapped[int] = mapped_column(Integer, primary_key=True)
    donnees: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


# The table itself, for the expiry purge (kernel.retention works on tables).
EXPORTS = Base.metadata.tables[f"{SCHEMA}.exports"]
