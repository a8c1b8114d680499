"""Tables of the ``conventions`` schema, and the enums of DOMAIN.md (exact French labels)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, composite, mapped_column

from kernel.database import make_metadata
from kernel.history import history_table
from kernel.idempotency import idempotency_table

SCHEMA = "conventions"


class Base(DeclarativeBase):
    # Same as kernel.database.declarative_base, spelled out so type checkers see a class.
    metadata = make_metadata(SCHEMA)


idempotency_keys = idempotency_table(Base.metadata)
# Every change to a convention and its parts (kernel.history; migration 0004 moved the
# former `evenement` rows into it).
historique = history_table(Base.metadata)

# Global change sequence of the internal feed: bumped on every change to a convention
# or its signataires (kernel.convention_ref).
convention_seq = Sequence("convention_seq", metadata=Base.metadata)


class TypeOrganisation(StrEnum):
    caf = "Caf"
    commune = "Commune"
    epci = "EPCI"
    conseil_departemental = "Conseil départemental"
    msa = "MSA"
    prefet = "Préfet"
    cnam = "Cnam"
    ars = "ARS"
    conseil_regional = "Conseil régional"
    autre = "Autre"
    # The Cnaf (national referents' organisation); never a signatory.
    national = "National"


COLLECTIVITE_TYPES = frozenset(
    {TypeOrganisation.commune, TypeOrganisation.epci, TypeOrganisation.conseil_departemental}
)


class TitulaireCompetence(StrEnum):
    """Qui exerce une compétence d'autorité organisatrice (AO) pour une commune."""

    commune = "commune"
    epci = "EPCI"


class Echelon(StrEnum):
    commune = "commune"
    intercommunal = "intercommunal"
    departemental = "départemental"


class Thematique(StrEnum):
    petite_enfance = "petite enfance"
    enfance = "enfance"
    jeunesse = "jeunesse"
    parentalite = "parentalité"
    acces_aux_droits = "accès aux droits et aux services"
    inclusion_numerique = "inclusion numérique"
    animation_vie_sociale = "animation de la vie sociale"
    logement = "logement"
    handicap = "handicap"
    accompagnement_social = "accompagnement social"
    lutte_pauvrete = "lutte contre la pauvreté"
    sante = "santé"
    vieillissement = "vieillissement"
    transition_ecologique = "transition écologique"


THEMATIQUES_SOCLE = (
    Thematique.petite_enfance,
    Thematique.enfance,
    Thematique.jeunesse,
    Thematique.parentalite,
)


class PresidenceCopil(StrEnum):
    alternee = "alternée"
    copilotage = "copilotage"
    caf = "Caf"


class ModeResiliation(StrEnum):
    """Les trois modes de résiliation de l'article 12 de la convention type."""

    # By any party, once a month has passed since its mise en demeure, left unanswered.
    avec_mise_en_demeure = "avec mise en demeure"
    # By the Caf only, for a change made without an avenant; immediate.
    sans_mise_en_demeure = "sans mise en demeure"
    # By any party, six months' notice (art. 12's heading says "consentement mutuel":
    # the label rows carried before the migration, still accepted as input).
    denonciation = "dénonciation"


# The former label of the dénonciation (rows before migration 0002, old clients).
MODE_CONSENTEMENT_MUTUEL = "consentement mutuel"


class FondementMiseEnDemeure(StrEnum):
    """Art. 12 : ce à quoi la mise en demeure demande à la partie de se conformer."""

    obligations = "obligations de la convention"
    # Infractions aux lois et règlements: the Caf's only.
    lois_et_reglements = "lois et règlements"


class StatutMiseEnDemeure(StrEnum):
    en_cours = "en cours"
    # A month has passed without compliance and the résiliation was pronounced.
    infructueuse = "restée infructueuse"
    # The party complied.
    levee = "levée"
    # The convention ended another way (another résiliation) while it was pending.
    sans_objet = "sans objet"


class TypeEquipement(StrEnum):
    """Les types de structure de l'Annexe 2."""

    eaje_psu = "EAJE PSU"
    micro_creche_paje = "EAJE Micro-crèche Paje"
    mam = "Maisons d'assistants maternels"
    accueil_domicile = "Services d'accueil au domicile des parents"
    rpe = "RPE"
    passerelles = "Structures mettant en place des dispositifs passerelles"
    laep = "LAEP"
    maison_1000_jours = "Maison des 1000 premiers jours / Maison des parents"
    soutien_parentalite = "Actions de soutien à la parentalité"
    alsh = "Alsh périscolaire / Alsh extrascolaire"
    accueils_jeunes = "Accueils de jeunes"
    clas = "CLAS"
    centres_sociaux = "Centres sociaux / Espace de vie sociale"
    autres = "Autres"


class Organisation(Base):
    __tablename__ = "organisation"
    __table_args__ = (
        Index(None, "nom", "id"),
        Index(None, "code_insee", unique=True, postgresql_where="code_insee IS NOT NULL"),
        Index(None, "code_caf", unique=True, postgresql_where="code_caf IS NOT NULL"),
        Index(None, "siren"),
        Index(None, "epci_id"),
        CheckConstraint("population IS NULL OR population >= 0", name="population_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(40))
    nom: Mapped[str] = mapped_column(String(200))
    departement: Mapped[str | None] = mapped_column(String(3))
    code_caf: Mapped[str | None] = mapped_column(String(10))
    code_insee: Mapped[str | None] = mapped_column(String(5))
    siren: Mapped[str | None] = mapped_column(String(9))
    population: Mapped[int | None] = mapped_column(Integer)
    # A commune's EPCI (its membership), used for the AO competences.
    epci_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisation.id"))
    # Who holds each AO competence of a commune (TitulaireCompetence); NULL elsewhere.
    ao_recenser: Mapped[str | None] = mapped_column(String(10))
    ao_informer: Mapped[str | None] = mapped_column(String(10))
    ao_planifier: Mapped[str | None] = mapped_column(String(10))
    ao_qualite: Mapped[str | None] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer, default=1)
    cree_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CopilRow(NamedTuple):
    """Annexe 4's COPIL, stored as the convention's ``copil_*`` columns (`Convention.copil`);
    its fields are the API's (`schemas.Copil`)."""

    presidence: str | None
    secretariat: str | None
    reunions_par_an: int | None
    commissions: list[str]

    def __composite_values__(self) -> tuple[object, ...]:
        return tuple(self)


class ResiliationRow(NamedTuple):
    """Art. 12's résiliation, stored as the convention's ``resiliation_*`` columns and
    ``date_effet_resiliation`` (`Convention.resiliation`, None until it is résiliée); its
    fields are the API's (`schemas.Resiliation`)."""

    mode: str
    date_notification: dt.date
    motif: str | None
    date_effet: dt.date
    initiateur_id: uuid.UUID | None
    mise_en_demeure_id: uuid.UUID | None

    def __composite_values__(self) -> tuple[object, ...]:
        return tuple(self)


def _all_none(*values: object) -> bool:
    # As a typed read's optional group (kernel.reads): None when its columns all are.
    return all(v is None for v in values)


class Convention(Base):
    __tablename__ = "convention"
    __table_args__ = (
        Index(None, "caf_id", "titre", "id"),
        Index(None, "seq", unique=True),
        Index(None, "precedente_id", unique=True),
        CheckConstraint("date_debut <= date_fin", name="dates_ordonnees"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    caf_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"))
    echelon: Mapped[str] = mapped_column(String(40))
    titre: Mapped[str] = mapped_column(String(300))
    date_debut: Mapped[dt.date] = mapped_column(Date)
    date_fin: Mapped[dt.date] = mapped_column(Date)
    thematiques: Mapped[list[str]] = mapped_column(ARRAY(String(80)))
    objectifs_partages: Mapped[list[str]] = mapped_column(ARRAY(Text))
    copil_presidence: Mapped[str | None] = mapped_column(String(40))
    copil_secretariat: Mapped[str | None] = mapped_column(String(300))
    copil_reunions_par_an: Mapped[int | None] = mapped_column(Integer)
    copil_commissions: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    statut: Mapped[str] = mapped_column(String(40))
    date_signature: Mapped[dt.date | None] = mapped_column(Date)
    resiliation_mode: Mapped[str | None] = mapped_column(String(40))
    resiliation_date_notification: Mapped[dt.date | None] = mapped_column(Date)
    resiliation_motif: Mapped[str | None] = mapped_column(Text)
    date_effet_resiliation: Mapped[dt.date | None] = mapped_column(Date)
    # The party that initiated the résiliation (NULL: unknown, résiliations migrated from
    # before it was recorded), and the mise en demeure it followed (that mode only).
    resiliation_initiateur_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisation.id")
    )
    resiliation_mise_en_demeure_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("mise_en_demeure.id", use_alter=True)
    )
    # Recorded as a CTG signed before the product (possibly before the 2026 model).
    ctg_existante: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Renouvellement: the convention this one renews.
    precedente_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("convention.id"))
    # Version of the text: 1 at signature time, +1 per avenant.
    numero_version: Mapped[int] = mapped_column(Integer, default=1)
    # Optimistic concurrency (ETag), bumped on every change.
    version: Mapped[int] = mapped_column(Integer, default=1)
    seq: Mapped[int] = mapped_column(BigInteger)
    # The column groups the API nests, read and written as one value (SQLAlchemy
    # composites): typed reads select them as groups of their row (kernel.reads.columns).
    # Written through these (not their columns) so that the value read back is current.
    copil: Mapped[CopilRow] = composite(
        CopilRow,
        "copil_presidence",
        "copil_secretariat",
        "copil_reunions_par_an",
        "copil_commissions",
    )
    resiliation: Mapped[ResiliationRow | None] = composite(
        ResiliationRow,
        "resiliation_mode",
        "resiliation_date_notification",
        "resiliation_motif",
        "date_effet_resiliation",
        "resiliation_initiateur_id",
        "resiliation_mise_en_demeure_id",
        return_none_on=_all_none,
    )
    cree_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    modifie_le: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Signataire(Base):
    __tablename__ = "signataire"
    __table_args__ = (
        UniqueConstraint("convention_id", "organisation_id"),
        Index(None, "organisation_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    convention_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("convention.id", ondelete="CASCADE")
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"))
    representant: Mapped[str | None] = mapped_column(String(200))
    deliberation_reference: Mapped[str | None] = mapped_column(String(100))
    deliberation_date: Mapped[dt.date | None] = mapped_column(Date)
    date_signature: Mapped[dt.date | None] = mapped_column(Date)
    # Set when the signatory joined through an avenant.
    avenant_numero: Mapped[int | None] = mapped_column(Integer)
    ordre: Mapped[int] = mapped_column(Integer, default=0)


class Equipement(Base):
    """Annexe 2: équipements and services supported, one list per signatory."""

    __tablename__ = "equipement"
    __table_args__ = (Index(None, "convention_id", "organisation_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    convention_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("convention.id", ondelete="CASCADE")
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"))
    type: Mapped[str] = mapped_column(String(80))
    nom: Mapped[str] = mapped_column(String(200))
    adresse: Mapped[str | None] = mapped_column(String(300))
    cree_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Avenant(Base):
    __tablename__ = "avenant"
    __table_args__ = (UniqueConstraint("convention_id", "numero"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    convention_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("convention.id", ondelete="CASCADE")
    )
    numero: Mapped[int] = mapped_column(Integer)
    date_avenant: Mapped[dt.date] = mapped_column(Date)
    objet: Mapped[str] = mapped_column(Text)
    articles_modifies: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    signataires_concernes: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    # What the avenant changed, as applied (dates, added signatories, thématiques...).
    modifications: Mapped[dict[str, object]] = mapped_column(JSONB)
    auteur: Mapped[str] = mapped_column(String(200))
    auteur_nom: Mapped[str | None] = mapped_column(String(300))
    cree_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ConventionVersion(Base):
    """Every version of the convention's text: the signed one, then one per avenant."""

    __tablename__ = "convention_version"

    convention_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("convention.id", ondelete="CASCADE"), primary_key=True
    )
    numero: Mapped[int] = mapped_column(Integer, primary_key=True)
    avenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("avenant.id"))
    contenu: Mapped[dict[str, object]] = mapped_column(JSONB)
    cree_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MiseEnDemeure(Base):
    """Art. 12: the registered letter that must precede a résiliation "avec mise en
    demeure", and what became of it."""

    __tablename__ = "mise_en_demeure"
    __table_args__ = (Index(None, "convention_id", "date_envoi"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    convention_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("convention.id", ondelete="CASCADE")
    )
    date_envoi: Mapped[dt.date] = mapped_column(Date)
    emetteur_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"))
    destinataire_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisation.id"))
    fondement: Mapped[str] = mapped_column(String(80))
    obligations: Mapped[str] = mapped_column(Text)
    # The letter, a document of the documents service (a plain id, as a document's
    # bilan_id is: reading it goes through the documents service and its scope).
    lettre_document_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    statut: Mapped[str] = mapped_column(String(40))
    date_cloture: Mapped[dt.date | None] = mapped_column(Date)
    motif_cloture: Mapped[str | None] = mapped_column(Text)
    auteur: Mapped[str] = mapped_column(String(200))
    auteur_nom: Mapped[str | None] = mapped_column(String(300))
    cree_le: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
