"""Pydantic models of the conventions API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator

from kernel.input import Input
from services.conventions.models import (
    MODE_CONSENTEMENT_MUTUEL,
    Echelon,
    FondementMiseEnDemeure,
    ModeResiliation,
    PresidenceCopil,
    StatutMiseEnDemeure,
    Thematique,
    TitulaireCompetence,
    TypeEquipement,
    TypeOrganisation,
)

Nom = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Titre = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Texte = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Court = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
CodeInsee = Annotated[str, StringConstraints(pattern=r"^(\d[0-9AB]\d{3})$")]
Siren = Annotated[str, StringConstraints(pattern=r"^\d{9}$")]
Departement = Annotated[str, StringConstraints(pattern=r"^(\d{2,3}|2[AB])$")]
CodeCaf = Annotated[str, StringConstraints(pattern=r"^\d{2,10}$")]


# --- organisations ---------------------------------------------------------------------


class CompetencesAO(Input):
    """Qui exerce chacune des quatre compétences d'autorité organisatrice (AO) d'une commune."""

    recenser_les_besoins: TitulaireCompetence = TitulaireCompetence.commune
    informer_et_accompagner: TitulaireCompetence = TitulaireCompetence.commune
    planifier: TitulaireCompetence = TitulaireCompetence.commune
    soutenir_la_qualite: TitulaireCompetence = TitulaireCompetence.commune


class OrganisationIn(Input):
    type: TypeOrganisation
    nom: Nom
    departement: Departement | None = None
    code_caf: CodeCaf | None = None
    code_insee: CodeInsee | None = None
    siren: Siren | None = None
    population: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    epci_id: uuid.UUID | None = None
    competences_ao: CompetencesAO | None = None


class OrganisationPatch(Input):
    """Les changements d'une organisation (son type ne change jamais)."""

    nom: Nom | None = None
    departement: Departement | None = None
    code_caf: CodeCaf | None = None
    code_insee: CodeInsee | None = None
    siren: Siren | None = None
    population: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    epci_id: uuid.UUID | None = None
    competences_ao: CompetencesAO | None = None


class OrganisationOut(BaseModel):
    id: uuid.UUID
    type: TypeOrganisation
    nom: str
    departement: str | None
    code_caf: str | None
    code_insee: str | None
    siren: str | None
    population: int | None
    epci_id: uuid.UUID | None
    competences_ao: CompetencesAO | None


# --- conventions -----------------------------------------------------------------------


class Copil(Input):
    presidence: PresidenceCopil | None = None
    secretariat: Annotated[str, StringConstraints(max_length=300)] | None = None
    reunions_par_an: Annotated[int, Field(ge=1, le=12)] | None = None
    commissions: Annotated[list[Nom], Field(max_length=30)] = []


class SignataireIn(Input):
    organisation_id: uuid.UUID
    representant: Nom | None = None
    deliberation_reference: Court | None = None
    deliberation_date: dt.date | None = None
    date_signature: dt.date | None = None


class SignatairePatch(Input):
    representant: Nom | None = None
    deliberation_reference: Court | None = None
    deliberation_date: dt.date | None = None
    date_signature: dt.date | None = None


class SignataireOut(BaseModel):
    organisation_id: uuid.UUID
    type: TypeOrganisation
    nom: str
    code_insee: str | None
    siren: str | None
    population: int | None
    representant: str | None
    deliberation_reference: str | None
    deliberation_date: dt.date | None
    date_signature: dt.date | None
    avenant_numero: int | None


Thematiques = Annotated[list[Thematique], Field(max_length=len(Thematique))]
Objectifs = Annotated[list[Texte], Field(max_length=50)]


class ConventionCreate(Input):
    caf_id: uuid.UUID
    echelon: Echelon
    titre: Titre
    date_debut: dt.date
    date_fin: dt.date
    thematiques: Thematiques = []
    objectifs_partages: Objectifs = []
    copil: Copil = Copil()
    signataires: Annotated[list[SignataireIn], Field(max_length=200)] = []


class ConventionPatch(Input):
    """Les changements d'une convention en préparation (une convention signée change
    par avenant)."""

    echelon: Echelon | None = None
    titre: Titre | None = None
    date_debut: dt.date | None = None
    date_fin: dt.date | None = None
    thematiques: Thematiques | None = None
    objectifs_partages: Objectifs | None = None
    copil: Copil | None = None


class Resiliation(BaseModel):
    mode: ModeResiliation
    date_notification: dt.date
    motif: str | None
    date_effet: dt.date
    # The party that initiated it (None: unknown, recorded before it was asked).
    initiateur_id: uuid.UUID | None
    # The mise en demeure left unanswered (mode "avec mise en demeure").
    mise_en_demeure_id: uuid.UUID | None


class ConventionOut(BaseModel):
    id: uuid.UUID
    caf_id: uuid.UUID
    echelon: Echelon
    titre: str
    date_debut: dt.date
    date_fin: dt.date
    thematiques: list[Thematique]
    objectifs_partages: list[str]
    copil: Copil
    statut: str
    # Derived from status and dates (kernel.convention_ref.etat_convention), never stored.
    etat: str
    date_signature: dt.date | None
    # Recorded as a CTG signed before the product (service_lifecycle.sign).
    ctg_existante: bool
    # What the text lacks against the 2026 model (e.g. the socle of thématiques).
    avertissements: list[str]
    resiliation: Resiliation | None
    precedente_id: uuid.UUID | None
    suivante_id: uuid.UUID | None
    numero_version: int
    signataires: list[SignataireOut]
    transitions_disponibles: list[str]
    cree_le: dt.datetime
    modifie_le: dt.datetime


class ConventionSummary(BaseModel):
    id: uuid.UUID
    caf_id: uuid.UUID
    echelon: Echelon
    titre: str
    date_debut: dt.date
    date_fin: dt.date
    statut: str
    etat: str
    transitions_disponibles: list[str]


class SignatureIn(Input):
    motif: Annotated[str, StringConstraints(max_length=2000)] | None = None
    ctg_existante: bool = Field(
        default=False,
        description=(
            "CTG déjà signée hors de l'outil, que la Caf enregistre : le socle minimum de "
            "thématiques du modèle 2026 n'est alors pas exigé, son absence est signalée "
            "dans `avertissements`."
        ),
    )


Motif = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class ResiliationIn(Input):
    mode: ModeResiliation = Field(
        description=(
            "Mode de l'article 12 (« consentement mutuel », l'ancien libellé, est lu comme "
            "« dénonciation »)."
        )
    )
    # Date the résiliation (or the dénonciation's notice) is notified: today by default.
    date_notification: dt.date | None = None
    motif: Motif
    initiateur_id: uuid.UUID | None = Field(
        default=None,
        description=(
            "La partie qui résilie (un signataire). Par défaut : la Caf pour un agent de la "
            "Caf, la collectivité du référent ; pour « avec mise en demeure », l'émetteur "
            "de la mise en demeure."
        ),
    )
    mise_en_demeure_id: uuid.UUID | None = Field(
        default=None,
        description="La mise en demeure restée infructueuse (mode « avec mise en demeure »).",
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _former_label(cls, value: object) -> object:
        return ModeResiliation.denonciation if value == MODE_CONSENTEMENT_MUTUEL else value


class MiseEnDemeureIn(Input):
    date_envoi: dt.date = Field(description="Date d'envoi de la lettre recommandée avec AR.")
    emetteur_id: uuid.UUID = Field(description="La partie qui met en demeure (un signataire).")
    destinataire_id: uuid.UUID = Field(description="La partie mise en demeure (un signataire).")
    fondement: FondementMiseEnDemeure = FondementMiseEnDemeure.obligations
    obligations: Motif = Field(description="Les obligations auxquelles se conformer.")
    lettre_document_id: uuid.UUID | None = Field(
        default=None,
        description="La lettre, déposée au service des documents sur cette convention.",
    )


class LeveeIn(Input):
    date_cloture: dt.date | None = None
    motif: Motif | None = None


class MiseEnDemeureOut(BaseModel):
    id: uuid.UUID
    date_envoi: dt.date
    emetteur_id: uuid.UUID
    destinataire_id: uuid.UUID
    fondement: FondementMiseEnDemeure
    obligations: str
    lettre_document_id: uuid.UUID | None
    statut: StatutMiseEnDemeure
    # The first day the résiliation may be pronounced (a month after the letter).
    resiliable_a_partir_du: dt.date
    date_cloture: dt.date | None
    motif_cloture: str | None
    auteur: str
    cree_le: dt.datetime


class RenouvellementIn(Input):
    titre: Titre | None = None
    date_debut: dt.date | None = None
    date_fin: dt.date | None = None


class EquipementIn(Input):
    organisation_id: uuid.UUID
    type: TypeEquipement
    nom: Nom
    adresse: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None


class AvenantIn(Input):
    date_avenant: dt.date
    objet: Texte
    articles_modifies: Annotated[list[Court], Field(max_length=50)] = []
    signataires_concernes: Annotated[list[uuid.UUID], Field(max_length=200)] = []
    # What it changes (each optional).
    nouvelle_date_fin: dt.date | None = None
    prolongation_un_an: bool = Field(
        default=False,
        description=(
            "Prolongation d'un an (circulaire C-2026-090) : CTG arrivant à échéance au "
            "31 décembre 2025, avenant conclu avant cette date, en cas de blocage partenarial."
        ),
    )
    blocage_partenarial: Texte | None = Field(
        default=None, description="Le blocage partenarial qui justifie la prolongation d'un an."
    )
    nouvelle_date_debut: dt.date | None = None
    ajout_signataires: Annotated[list[SignataireIn], Field(max_length=50)] = []
    thematiques: Thematiques | None = None
    objectifs_partages: Objectifs | None = None
    copil: Copil | None = Field(default=None, description="Annexe 4 : modalités de pilotage.")
    equipements_ajoutes: Annotated[list[EquipementIn], Field(max_length=200)] = Field(
        default=[], description="Annexe 2 : équipements ajoutés à la liste d'un signataire."
    )
    equipements_retires: Annotated[list[uuid.UUID], Field(max_length=200)] = Field(
        default=[], description="Annexe 2 : équipements retirés (leurs identifiants)."
    )


class AvenantOut(BaseModel):
    id: uuid.UUID
    numero: int
    date_avenant: dt.date
    objet: str
    articles_modifies: list[str]
    signataires_concernes: list[uuid.UUID]
    modifications: dict[str, object]
    auteur: str
    cree_le: dt.datetime


class VersionSummary(BaseModel):
    numero: int
    avenant_id: uuid.UUID | None
    cree_le: dt.datetime


class VersionOut(VersionSummary):
    contenu: dict[str, object]


class EquipementOut(BaseModel):
    id: uuid.UUID
    organisation_id: uuid.UUID
    type: TypeEquipement
    nom: str
    adresse: str | None


class EvenementOut(BaseModel):
    id: int
    transition: str
    auteur: str
    le: dt.datetime
    motif: str | None
    details: dict[str, object]


class SchemaAOCommune(BaseModel):
    organisation_id: uuid.UUID
    nom: str
    population: int | None
    titulaire_planification: TitulaireCompetence
    titulaire_id: uuid.UUID | None
    vaut_schema: bool
    raisons: list[str]


class SchemaAOOut(BaseModel):
    convention_id: uuid.UUID
    # True when every signatory AO above 10 000 inhabitants is covered (and one at least).
    vaut_schema_ao: bool
    communes: list[SchemaAOCommune]


class AccesItem(BaseModel):
    convention_id: uuid.UUID
    droit: str  # "lecture" | "contribution" | "écriture"
