"""Pydantic models of the conventions API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator

from kernel.fields import (
    Auteur,
    AuteurNom,
    CafId,
    CafNom,
    ConventionId,
    CreeLe,
    Id,
    ModifieLe,
    examples,
)
from kernel.input import Input
from services.conventions import examples as ex
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

# The descriptions of the fields several schemas share (kernel.fields for the suite's).
TypeOrg = Annotated[TypeOrganisation, Field(description="Type de l'organisation.")]
NomOrg = Annotated[str, Field(description="Nom de l'organisation.")]
_DEPARTEMENT = "Numéro du département (2 ou 3 chiffres, 2A ou 2B pour la Corse)."
_CODE_CAF = "Code de la Caf (chiffres), pour une Caf."
_CODE_INSEE = "Code officiel géographique (Insee) de la commune, à 5 caractères."
_SIREN = "Numéro SIREN de l'organisation (9 chiffres)."
_POPULATION = "Population (habitants), pour une collectivité."
_EPCI = "L'EPCI (une organisation) dont la commune est membre."
_COMPETENCES = "Pour une commune : qui exerce ses compétences d'autorité organisatrice."
OrganisationSignataire = Annotated[
    uuid.UUID, Field(description="L'organisation signataire (son identifiant).")
]
_REPRESENTANT = "Nom et qualité de la personne qui signe pour l'organisation."
_DELIBERATION_REFERENCE = "Référence de la délibération qui autorise la signature."
_DELIBERATION_DATE = "Date de cette délibération."
_DATE_SIGNATURE = "Date à laquelle l'organisation a signé."
Echelle = Annotated[
    Echelon, Field(description="Échelon de la convention : commune, intercommunal, départemental.")
]
_TITRE = "Titre de la convention."
_DATE_DEBUT = "Premier jour de la convention."
_DATE_FIN = "Dernier jour de la convention : au plus le 31 décembre de la 4e année après le début."
_THEMATIQUES = (
    "Thématiques de la convention ; le socle minimum (petite enfance, enfance, jeunesse, "
    "parentalité) est exigé à la signature."
)
_OBJECTIFS = "Objectifs partagés (article 4), un texte par objectif."
_COPIL = "Annexe 4 : modalités de pilotage (COPIL)."
Statut = Annotated[
    str, Field(description="Statut enregistré : en préparation, signée ou résiliée.")
]
Etat = Annotated[
    str,
    Field(
        description="État à ce jour, déduit du statut et des dates : en préparation, "
        "signée (pas encore commencée), active, échue ou résiliée."
    ),
]
Transitions = Annotated[
    list[str],
    Field(description="Les étapes du cycle de vie que vous pouvez franchir maintenant (signer…)."),
]


# --- organisations ---------------------------------------------------------------------


class CompetencesAO(Input):
    """Qui exerce chacune des quatre compétences d'autorité organisatrice (AO) d'une commune."""

    recenser_les_besoins: TitulaireCompetence = Field(
        default=TitulaireCompetence.commune,
        description="Recenser les besoins d'accueil des jeunes enfants : commune ou EPCI.",
    )
    informer_et_accompagner: TitulaireCompetence = Field(
        default=TitulaireCompetence.commune,
        description="Informer et accompagner les familles : commune ou EPCI.",
    )
    planifier: TitulaireCompetence = Field(
        default=TitulaireCompetence.commune,
        description="Planifier l'offre d'accueil (communes de plus de 3 500 habitants) : "
        "commune ou EPCI.",
    )
    soutenir_la_qualite: TitulaireCompetence = Field(
        default=TitulaireCompetence.commune,
        description="Soutenir la qualité des modes d'accueil (communes de plus de 3 500 "
        "habitants) : commune ou EPCI.",
    )


class _OrganisationFields(Input):
    departement: Departement | None = Field(default=None, description=_DEPARTEMENT)
    code_caf: CodeCaf | None = Field(default=None, description=_CODE_CAF)
    code_insee: CodeInsee | None = Field(default=None, description=_CODE_INSEE)
    siren: Siren | None = Field(default=None, description=_SIREN)
    population: Annotated[int, Field(ge=0, le=100_000_000)] | None = Field(
        default=None, description=_POPULATION
    )
    epci_id: uuid.UUID | None = Field(default=None, description=_EPCI)
    competences_ao: CompetencesAO | None = Field(default=None, description=_COMPETENCES)


class OrganisationIn(_OrganisationFields):
    type: TypeOrg
    nom: Nom = Field(description="Nom de l'organisation (200 caractères au plus).")


class OrganisationPatch(_OrganisationFields):
    """Les changements d'une organisation (son type ne change jamais)."""

    nom: Nom | None = Field(default=None, description="Nouveau nom de l'organisation.")


class OrganisationOut(BaseModel):
    id: Id
    type: TypeOrg
    nom: NomOrg
    departement: str | None = Field(description=_DEPARTEMENT)
    code_caf: str | None = Field(description=_CODE_CAF)
    code_insee: str | None = Field(description=_CODE_INSEE)
    siren: str | None = Field(description=_SIREN)
    population: int | None = Field(description=_POPULATION)
    epci_id: uuid.UUID | None = Field(description=_EPCI)
    competences_ao: CompetencesAO | None = Field(description=_COMPETENCES)


# --- conventions -----------------------------------------------------------------------


class Copil(Input):
    """Annexe 4 : les modalités de pilotage de la convention (comité de pilotage)."""

    presidence: PresidenceCopil | None = Field(
        default=None, description="Présidence du COPIL : alternée, copilotage ou Caf."
    )
    secretariat: Annotated[str, StringConstraints(max_length=300)] | None = Field(
        default=None, description="Qui tient le secrétariat du COPIL."
    )
    reunions_par_an: Annotated[int, Field(ge=1, le=12)] | None = Field(
        default=None, description="Nombre de réunions du COPIL par an (1 à 12)."
    )
    commissions: Annotated[list[Nom], Field(max_length=30)] = Field(
        default=[], description="Commissions de travail (par thématique ou par territoire)."
    )


class SignatairePatch(Input):
    representant: Nom | None = Field(default=None, description=_REPRESENTANT)
    deliberation_reference: Court | None = Field(default=None, description=_DELIBERATION_REFERENCE)
    deliberation_date: dt.date | None = Field(default=None, description=_DELIBERATION_DATE)
    date_signature: dt.date | None = Field(default=None, description=_DATE_SIGNATURE)


class SignataireIn(SignatairePatch):
    model_config = examples(ex.SIGNATAIRE_IN)

    organisation_id: OrganisationSignataire


class SignataireOut(BaseModel):
    model_config = examples(ex.SIGNATAIRE_OUT)

    organisation_id: OrganisationSignataire
    type: TypeOrg
    nom: NomOrg
    code_insee: str | None = Field(description=_CODE_INSEE)
    siren: str | None = Field(description=_SIREN)
    population: int | None = Field(description=_POPULATION)
    representant: str | None = Field(description=_REPRESENTANT)
    deliberation_reference: str | None = Field(description=_DELIBERATION_REFERENCE)
    deliberation_date: dt.date | None = Field(description=_DELIBERATION_DATE)
    date_signature: dt.date | None = Field(description=_DATE_SIGNATURE)
    avenant_numero: int | None = Field(
        description="Numéro de l'avenant qui a ajouté ce signataire (null : dès l'origine)."
    )


Thematiques = Annotated[list[Thematique], Field(max_length=len(Thematique))]
Objectifs = Annotated[list[Texte], Field(max_length=50)]


class ConventionCreate(Input):
    model_config = examples(ex.CONVENTION_CREATE)

    caf_id: CafId
    echelon: Echelle
    titre: Titre = Field(description=_TITRE)
    date_debut: dt.date = Field(description=_DATE_DEBUT)
    date_fin: dt.date = Field(description=_DATE_FIN)
    thematiques: Thematiques = Field(default=[], description=_THEMATIQUES)
    objectifs_partages: Objectifs = Field(default=[], description=_OBJECTIFS)
    copil: Copil = Field(default=Copil(), description=_COPIL)
    signataires: Annotated[list[SignataireIn], Field(max_length=200)] = Field(
        default=[], description="Les signataires, la Caf comprise (200 au plus)."
    )


class ConventionPatch(Input):
    """Les changements d'une convention en préparation (une convention signée change
    par avenant)."""

    echelon: Echelon | None = Field(default=None, description="Nouvel échelon.")
    titre: Titre | None = Field(default=None, description="Nouveau titre.")
    date_debut: dt.date | None = Field(default=None, description=_DATE_DEBUT)
    date_fin: dt.date | None = Field(default=None, description=_DATE_FIN)
    thematiques: Thematiques | None = Field(default=None, description=_THEMATIQUES)
    objectifs_partages: Objectifs | None = Field(default=None, description=_OBJECTIFS)
    copil: Copil | None = Field(default=None, description=_COPIL)


class Resiliation(BaseModel):
    """La résiliation de la convention (article 12)."""

    mode: ModeResiliation = Field(
        description="Mode de l'article 12 : avec mise en demeure, sans mise en demeure, "
        "dénonciation."
    )
    date_notification: dt.date = Field(description="Date de notification de la résiliation.")
    motif: str | None = Field(description="Motif de la résiliation.")
    date_effet: dt.date = Field(
        description="Date à laquelle les engagements cessent (après le préavis d'une dénonciation)."
    )
    initiateur_id: uuid.UUID | None = Field(
        description="La partie qui résilie (null : résiliation enregistrée avant que "
        "Coopération ne le demande)."
    )
    initiateur_nom: str | None = Field(
        description="Nom de la partie qui résilie (null quand initiateur_id l'est, ou "
        "qu'elle n'est plus partie à la convention)."
    )
    mise_en_demeure_id: uuid.UUID | None = Field(
        description="La mise en demeure restée infructueuse (mode « avec mise en demeure »)."
    )


class ConventionOut(BaseModel):
    model_config = examples(ex.CONVENTION_OUT)

    id: Id
    caf_id: CafId
    caf_nom: CafNom
    echelon: Echelle
    titre: str = Field(description=_TITRE)
    date_debut: dt.date = Field(description=_DATE_DEBUT)
    date_fin: dt.date = Field(description=_DATE_FIN)
    thematiques: list[Thematique] = Field(description=_THEMATIQUES)
    objectifs_partages: list[str] = Field(description=_OBJECTIFS)
    copil: Copil = Field(description=_COPIL)
    statut: Statut
    etat: Etat
    date_signature: dt.date | None = Field(
        description="Date de signature de la convention (null tant qu'elle n'est pas signée)."
    )
    ctg_existante: bool = Field(
        description="CTG signée hors de l'outil et enregistrée après coup par la Caf."
    )
    avertissements: list[str] = Field(
        description="Ce qui manque au texte au regard du modèle 2026 (par exemple le socle "
        "de thématiques) ; vide le plus souvent."
    )
    resiliation: Resiliation | None = Field(description="La résiliation, si elle a été prononcée.")
    precedente_id: uuid.UUID | None = Field(
        description="La convention que celle-ci renouvelle (null pour une première)."
    )
    suivante_id: uuid.UUID | None = Field(
        description="La convention qui renouvelle celle-ci (null tant qu'il n'y en a pas)."
    )
    numero_version: int = Field(
        description="Numéro de la version du texte : 1 à la signature, plus un par avenant."
    )
    signataires: list[SignataireOut] = Field(description="Les signataires, la Caf comprise.")
    transitions_disponibles: Transitions
    cree_le: CreeLe
    modifie_le: ModifieLe


class ConventionSummary(BaseModel):
    id: Id
    caf_id: CafId
    caf_nom: CafNom
    echelon: Echelle
    titre: str = Field(description=_TITRE)
    date_debut: dt.date = Field(description=_DATE_DEBUT)
    date_fin: dt.date = Field(description=_DATE_FIN)
    statut: Statut
    etat: Etat
    transitions_disponibles: Transitions


class SignatureIn(Input):
    motif: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        default=None, description="Commentaire joint à la signature."
    )
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
    date_notification: dt.date | None = Field(
        default=None,
        description="Date de notification de la résiliation (ou du préavis de la "
        "dénonciation) ; par défaut aujourd'hui.",
    )
    motif: Motif = Field(description="Motif de la résiliation.")
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
    fondement: FondementMiseEnDemeure = Field(
        default=FondementMiseEnDemeure.obligations,
        description="Ce à quoi se conformer : les obligations de la convention, ou les lois "
        "et règlements (la Caf seule).",
    )
    obligations: Motif = Field(description="Les obligations auxquelles se conformer.")
    lettre_document_id: uuid.UUID | None = Field(
        default=None,
        description="La lettre, déposée au service des documents sur cette convention.",
    )


class LeveeIn(Input):
    date_cloture: dt.date | None = Field(
        default=None,
        description="Date à laquelle la partie s'est conformée ; par défaut aujourd'hui.",
    )
    motif: Motif | None = Field(default=None, description="Motif de la levée.")


class MiseEnDemeureOut(BaseModel):
    id: Id
    date_envoi: dt.date = Field(description="Date d'envoi de la lettre recommandée avec AR.")
    emetteur_id: uuid.UUID = Field(description="La partie qui met en demeure (un signataire).")
    destinataire_id: uuid.UUID = Field(description="La partie mise en demeure (un signataire).")
    emetteur_nom: str | None = Field(
        description="Nom de la partie qui met en demeure (null : organisation inconnue)."
    )
    destinataire_nom: str | None = Field(
        description="Nom de la partie mise en demeure (null : organisation inconnue)."
    )
    fondement: FondementMiseEnDemeure = Field(
        description="Ce à quoi se conformer : les obligations de la convention, ou les lois "
        "et règlements."
    )
    obligations: str = Field(description="Les obligations auxquelles se conformer.")
    lettre_document_id: uuid.UUID | None = Field(
        description="La lettre, déposée au service des documents (null si elle ne l'est pas)."
    )
    statut: StatutMiseEnDemeure = Field(
        description="en cours, restée infructueuse, levée ou sans objet."
    )
    resiliable_a_partir_du: dt.date = Field(
        description="Premier jour où la résiliation peut être prononcée (un mois après l'envoi)."
    )
    date_cloture: dt.date | None = Field(
        description="Date de la levée ou de la fin de la mise en demeure (null : en cours)."
    )
    motif_cloture: str | None = Field(description="Motif de la levée ou de la fin.")
    auteur: Auteur
    auteur_nom: AuteurNom
    cree_le: CreeLe


class RenouvellementIn(Input):
    titre: Titre | None = Field(
        default=None,
        description="Titre de la nouvelle convention ; par défaut celui-ci suivi de "
        "« (renouvellement) ».",
    )
    date_debut: dt.date | None = Field(
        default=None,
        description="Début de la nouvelle convention ; par défaut le lendemain de la fin.",
    )
    date_fin: dt.date | None = Field(
        default=None,
        description="Fin de la nouvelle convention ; par défaut le 31 décembre de la 4e "
        "année après son début.",
    )


class EquipementIn(Input):
    organisation_id: uuid.UUID = Field(
        description="Le signataire dont la liste (Annexe 2) porte l'équipement."
    )
    type: TypeEquipement = Field(description="Type de structure de l'Annexe 2.")
    nom: Nom = Field(description="Nom de l'équipement ou du service.")
    adresse: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = (
        Field(default=None, description="Adresse de l'équipement.")
    )


class AvenantIn(Input):
    date_avenant: dt.date = Field(description="Date de l'avenant.")
    objet: Texte = Field(description="Objet de l'avenant.")
    articles_modifies: Annotated[list[Court], Field(max_length=50)] = Field(
        default=[], description="Articles et annexes modifiés (« article 4 », « annexe 3 »…)."
    )
    signataires_concernes: Annotated[list[uuid.UUID], Field(max_length=200)] = Field(
        default=[], description="Les signataires concernés (leurs identifiants d'organisation)."
    )
    nouvelle_date_fin: dt.date | None = Field(
        default=None, description="Nouvelle date de fin de la convention."
    )
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
    nouvelle_date_debut: dt.date | None = Field(
        default=None, description="Nouvelle date de début de la convention."
    )
    ajout_signataires: Annotated[list[SignataireIn], Field(max_length=50)] = Field(
        default=[], description="Signataires ajoutés par l'avenant."
    )
    thematiques: Thematiques | None = Field(
        default=None, description="Nouvelles thématiques (la liste entière)."
    )
    objectifs_partages: Objectifs | None = Field(
        default=None, description="Nouveaux objectifs partagés (la liste entière)."
    )
    copil: Copil | None = Field(default=None, description="Annexe 4 : modalités de pilotage.")
    equipements_ajoutes: Annotated[list[EquipementIn], Field(max_length=200)] = Field(
        default=[], description="Annexe 2 : équipements ajoutés à la liste d'un signataire."
    )
    equipements_retires: Annotated[list[uuid.UUID], Field(max_length=200)] = Field(
        default=[], description="Annexe 2 : équipements retirés (leurs identifiants)."
    )


class AvenantOut(BaseModel):
    id: Id
    numero: int = Field(description="Numéro de l'avenant dans la convention (1, 2…).")
    date_avenant: dt.date = Field(description="Date de l'avenant.")
    objet: str = Field(description="Objet de l'avenant.")
    articles_modifies: list[str] = Field(description="Articles et annexes modifiés.")
    signataires_concernes: list[uuid.UUID] = Field(description="Les signataires concernés.")
    modifications: dict[str, object] = Field(
        description="Ce que l'avenant change, champ par champ (les valeurs envoyées)."
    )
    auteur: Auteur
    auteur_nom: AuteurNom
    cree_le: CreeLe


class VersionSummary(BaseModel):
    numero: int = Field(description="Numéro de la version du texte (1 à la signature).")
    avenant_id: uuid.UUID | None = Field(
        description="L'avenant qui l'a produite (null pour la version signée)."
    )
    cree_le: CreeLe


class VersionOut(VersionSummary):
    contenu: dict[str, object] = Field(
        description="Le texte de la convention dans cette version (ses champs)."
    )


class EquipementOut(BaseModel):
    id: Id
    organisation_id: uuid.UUID = Field(
        description="Le signataire dont la liste (Annexe 2) porte l'équipement."
    )
    type: TypeEquipement = Field(description="Type de structure de l'Annexe 2.")
    nom: str = Field(description="Nom de l'équipement ou du service.")
    adresse: str | None = Field(description="Adresse de l'équipement.")


class TexteConvention(BaseModel):
    """Le texte d'une convention tel qu'une version le garde (titre, dates, thématiques,
    objectifs, COPIL, signataires, équipements)."""

    titre: str
    echelon: str
    date_debut: dt.date
    date_fin: dt.date
    thematiques: list[str]
    objectifs_partages: list[str]
    copil: Copil
    signataires: list[SignataireOut]
    equipements: list[EquipementOut]


class SchemaAOCommune(BaseModel):
    """Une commune signataire au regard du schéma pluriannuel d'autorité organisatrice."""

    organisation_id: uuid.UUID = Field(description="La commune (son identifiant).")
    nom: str = Field(description="Nom de la commune.")
    population: int | None = Field(description=_POPULATION)
    titulaire_planification: TitulaireCompetence = Field(
        description="Qui exerce la compétence de planification : commune ou EPCI."
    )
    titulaire_id: uuid.UUID | None = Field(
        description="L'organisation qui l'exerce (null si elle n'est pas connue)."
    )
    vaut_schema: bool = Field(description="Si la convention tient lieu de schéma pour elle.")
    raisons: list[str] = Field(description="Pourquoi, en phrases.")


class SchemaAOOut(BaseModel):
    convention_id: ConventionId
    vaut_schema_ao: bool = Field(
        description="Vrai si la convention tient lieu de schéma pluriannuel pour chaque "
        "commune signataire de plus de 10 000 habitants (une au moins)."
    )
    communes: list[SchemaAOCommune] = Field(description="Le détail, commune par commune.")


class AccesItem(BaseModel):
    convention_id: ConventionId
    droit: str = Field(description="lecture, contribution ou écriture.")
