"""The API's pydantic models: compact list items, complete details, inputs."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from kernel.deprecation import Deprecation
from kernel.fields import (
    Auteur,
    AuteurNom,
    CafId,
    ConventionId,
    CreeLe,
    Id,
    ModifieLe,
    Version,
    examples,
)
from kernel.input import Input
from kernel.pagination import NextCursor, Page
from services.actions import examples as ex
from services.actions.rules import (
    SECTIONS_BILAN,
    Annee,
    EtatArchivage,
    EtatBilan,
    EtatSuivi,
    EvenementSuivi,
    NatureIndicateur,
    PeriodeTrimestre,
    Priorite,
    StatutAction,
    Tendance,
    TypeBilan,
    Unite,
)

T = TypeVar("T")

Titre = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Texte = Annotated[str, StringConstraints(max_length=20_000)]
Court = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Nombre = Annotated[Decimal, Field(max_digits=14, decimal_places=2, allow_inf_nan=False)]

# The descriptions of the fields the plan's schemas share (kernel.fields for the suite's).
AxeId = Annotated[uuid.UUID, Field(description="L'axe du plan d'actions (son identifiant).")]
ActionId = Annotated[uuid.UUID, Field(description="L'action (son identifiant).")]
Periode = Annotated[str, Field(description="Le trimestre, sous la forme AAAA-Tn (2026-T1).")]
Position = Annotated[int, Field(description="Rang dans le plan (à partir de 0).")]
Statut = Annotated[
    StatutAction,
    Field(
        description="Statut de l'action : à venir, en cours, réalisée, en pause, abandonnée "
        "ou bloquée."
    ),
]
EnRetard = Annotated[
    bool, Field(description="Échéance passée sans que ce soit fait (calculé à la lecture).")
]
DateLimite = Annotated[
    dt.date, Field(description="Date limite de saisie des suivis de la campagne.")
]
TitreAction = Annotated[str, Field(description="Titre de l'action.")]
_REFERENCE = (
    "Référence de l'action dans le plan (ex. « 1.2 »), unique dans la convention : un "
    "import du plan met à jour l'action qui porte la référence de sa ligne."
)
Reference = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=20, pattern=r"^[0-9A-Za-z][0-9A-Za-z._/-]*$"
    ),
]
Avancement = "Avancement de l'action, en pourcentage (0 à 100)."
_REALISATIONS = "Ce qui a été réalisé pendant le trimestre."
_DIFFICULTES = "Les difficultés rencontrées."
_ALERTE = "Alerte au COPIL : l'action demande son attention (avec un message)."
_ALERTE_MESSAGE = "Le message de l'alerte au COPIL (exigé avec une alerte)."
_VALEURS_SUIVI = "Les valeurs des indicateurs de l'action pour le trimestre."
_TITRE_AXE = "Titre de l'axe : l'objectif partagé, commençant par un verbe."
_DESCRIPTION_AXE = "Description de l'axe (20 000 caractères au plus)."
_THEMATIQUE = "Thématique de l'action (petite enfance, jeunesse…)."
_PRIORITE = "Priorité : haute, moyenne ou basse."
_CAF_NOM = "Nom de la Caf de la convention (null tant que ce service ne le connaît pas)."
_PORTEURS = "Les collectivités signataires qui portent l'action (1 à 50 identifiants)."
_REFERENT = "La personne référente de l'action (nom, fonction)."
_PARENT = "L'action dont celle-ci est une sous-action (null : une action de l'axe)."
_DATE_DEBUT = "Date de début de l'action."
_DATE_ECHEANCE = "Date d'échéance de l'action."
_LIBELLE_IND = "Libellé de l'indicateur."
_NATURE = "réalisation (ce qui a été fait) ou changement territorial (ce qui a changé)."
_UNITE = "Unité des valeurs : nombre, %, €, places, ETP, heures, jours, personnes."
_VALEUR_REFERENCE = "Valeur de départ (de référence), dans l'unité de l'indicateur."
_DATE_REFERENCE = "Date de la valeur de référence."
_CIBLES = 'La cible de chaque année de la convention : {"2026": 120}.'
_VALEUR = "La valeur, dans l'unité de l'indicateur (2 décimales au plus)."
_COMMENTAIRE_VALEUR = "Commentaire sur la valeur."
_SOURCE = "Source de la valeur (enquête, logiciel de gestion…)."
_STATUT_SUIVI = "Le statut de l'action à la fin du trimestre."


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- delta sync ------------------------------------------------------------------------


class Supprime(BaseModel):
    """Un objet supprimé depuis le jeton de synchronisation envoyé."""

    id: uuid.UUID = Field(description="Identifiant de l'objet supprimé.")
    kind: str = Field(description="Sa nature : axe, action, suivi, indicateur, bilan…")


class SyncPage(Page[T], Generic[T]):
    """A page of a list. With ``updated_since``: changed items, then ``deleted``."""

    deleted: list[Supprime] = Field(
        default_factory=list,
        description="Avec `updated_since` : ce qui a été supprimé depuis (vide sinon).",
    )
    sync_token: str = Field(
        description="À renvoyer dans `updated_since` pour n'obtenir que ce qui a changé depuis."
    )


# --- axes ------------------------------------------------------------------------------


class AxeIn(Input):
    titre: Titre = Field(description=_TITRE_AXE)
    description: Texte | None = Field(default=None, description=_DESCRIPTION_AXE)


class AxePatch(Input):
    titre: Titre | None = Field(default=None, description=_TITRE_AXE)
    description: Texte | None = Field(default=None, description=_DESCRIPTION_AXE)


class AxeOut(Output):
    id: Id
    convention_id: ConventionId
    titre: str = Field(description=_TITRE_AXE)
    description: str | None = Field(description=_DESCRIPTION_AXE)
    position: Position
    version: Version
    avertissements: list[str] = Field(
        default_factory=list,
        description="Remarques sur l'axe (par exemple un titre qui ne commence pas par un verbe).",
    )


class Ordre(Input):
    """La liste complète des identifiants, dans leur nouvel ordre."""

    ids: list[uuid.UUID] = Field(
        min_length=1, max_length=500, description="Tous les identifiants, dans le nouvel ordre."
    )


# --- actions ---------------------------------------------------------------------------


# The fiche-action's fields, as the model convention labels them.
_FICHE = {
    "diagnostic_initial": "Fiche-action : Diagnostic initial.",
    "public_cible": "Fiche-action : Public cible.",
    "objectifs_operationnels": "Fiche-action : Objectifs opérationnels.",
    "modalites_mise_en_oeuvre": "Fiche-action : Modalités de mise en œuvre.",
    "echeances_realisation": "Fiche-action : Échéances de réalisation.",
    "services_mobilises": "Fiche-action : Services mobilisés et responsables de l'action.",
    "resultats_attendus": "Fiche-action : Résultats attendus.",
    "partenaires_sollicites": "Fiche-action : Partenaires sollicités.",
    "indicateurs_evaluation": "Fiche-action : Indicateurs d'évaluation.",
    "specificites_ao": "Fiche-action : Spécificités par autorité organisatrice signataire.",
}


class FicheFields(Input):
    diagnostic_initial: Texte | None = Field(default=None, description=_FICHE["diagnostic_initial"])
    public_cible: Texte | None = Field(default=None, description=_FICHE["public_cible"])
    objectifs_operationnels: Texte | None = Field(
        default=None, description=_FICHE["objectifs_operationnels"]
    )
    modalites_mise_en_oeuvre: Texte | None = Field(
        default=None, description=_FICHE["modalites_mise_en_oeuvre"]
    )
    echeances_realisation: Texte | None = Field(
        default=None, description=_FICHE["echeances_realisation"]
    )
    services_mobilises: Texte | None = Field(default=None, description=_FICHE["services_mobilises"])
    resultats_attendus: Texte | None = Field(default=None, description=_FICHE["resultats_attendus"])
    partenaires_sollicites: Texte | None = Field(
        default=None, description=_FICHE["partenaires_sollicites"]
    )
    indicateurs_evaluation: Texte | None = Field(
        default=None, description=_FICHE["indicateurs_evaluation"]
    )
    specificites_ao: Texte | None = Field(default=None, description=_FICHE["specificites_ao"])


class _Dates(BaseModel):
    date_debut: dt.date | None = Field(default=None, description=_DATE_DEBUT)
    date_echeance: dt.date | None = Field(default=None, description=_DATE_ECHEANCE)

    @model_validator(mode="after")
    def _ordered(self) -> _Dates:
        if self.date_debut and self.date_echeance and self.date_echeance < self.date_debut:
            raise ValueError("La date d'échéance précède la date de début.")
        return self


class ActionIn(FicheFields, _Dates):
    model_config = examples(ex.ACTION_IN)

    axe_id: AxeId
    parent_id: uuid.UUID | None = Field(default=None, description=_PARENT)
    reference: Reference | None = Field(default=None, description=_REFERENCE)
    titre: Titre = Field(description="Titre de l'action.")
    thematique: Court | None = Field(default=None, description=_THEMATIQUE)
    priorite: Priorite | None = Field(default=None, description=_PRIORITE)
    statut: Statut = StatutAction.a_venir
    porteur_ids: list[uuid.UUID] = Field(min_length=1, max_length=50, description=_PORTEURS)
    referent: Court | None = Field(default=None, description=_REFERENT)


class ActionPatch(FicheFields, _Dates):
    """Seuls les champs envoyés changent. ``axe_id`` déplace l'action à la fin de cet axe."""

    axe_id: uuid.UUID | None = Field(
        default=None, description="Un autre axe : l'action y passe, à la fin."
    )
    parent_id: uuid.UUID | None = Field(
        default=None,
        description="Une autre action de la convention : celle-ci en devient une sous-action "
        "(un seul niveau ; elle passe dans l'axe de cette action). null : elle redevient une "
        "action de son axe. Réservé aux agents de la Caf.",
    )
    reference: Reference | None = Field(default=None, description=_REFERENCE)
    titre: Titre | None = Field(default=None, description="Nouveau titre de l'action.")
    thematique: Court | None = Field(default=None, description=_THEMATIQUE)
    priorite: Priorite | None = Field(default=None, description=_PRIORITE)
    statut: StatutAction | None = Field(default=None, description="Nouveau statut de l'action.")
    porteur_ids: list[uuid.UUID] | None = Field(
        default=None, min_length=1, max_length=50, description=_PORTEURS
    )
    referent: Court | None = Field(default=None, description=_REFERENT)


class LigneImport(FicheFields, _Dates):
    """Une ligne d'un plan importé, vérifiée avec les contraintes de l'API."""

    reference: Reference | None = Field(default=None, description=_REFERENCE)
    titre: Titre | None = Field(default=None, description="Titre de l'action.")
    thematique: Court | None = Field(default=None, description=_THEMATIQUE)
    priorite: Priorite | None = Field(default=None, description=_PRIORITE)
    statut: StatutAction | None = Field(default=None, description="Statut de l'action.")
    referent: Court | None = Field(default=None, description=_REFERENT)


class ActionSummary(Output):
    id: Id
    convention_id: ConventionId
    axe_id: AxeId
    parent_id: uuid.UUID | None = Field(description=_PARENT)
    position: Position
    reference: str | None = Field(description=_REFERENCE)
    titre: TitreAction
    statut: Statut
    en_retard: EnRetard
    date_echeance: dt.date | None = Field(description=_DATE_ECHEANCE)
    porteur_ids: list[uuid.UUID] = Field(description=_PORTEURS)
    porteur_noms: list[str | None] = Field(
        description="Le nom de chaque porteur, dans l'ordre de `porteur_ids` (null : "
        "organisation que la convention ne nomme plus)."
    )
    version: Version


class ChampFiche(BaseModel):
    """Un champ de la fiche-action, avec son libellé exact."""

    champ: str = Field(description="Nom du champ dans l'API (public_cible…).")
    libelle: str = Field(description="Libellé du champ dans la convention type.")
    valeur: str | None = Field(description="Son contenu (null s'il est vide).")


class ActionDetail(ActionSummary):
    model_config = examples(ex.ACTION_DETAIL)

    thematique: str | None = Field(description=_THEMATIQUE)
    date_debut: dt.date | None = Field(description=_DATE_DEBUT)
    priorite: Priorite | None = Field(description=_PRIORITE)
    referent: str | None = Field(description=_REFERENT)
    diagnostic_initial: str | None = Field(description=_FICHE["diagnostic_initial"])
    public_cible: str | None = Field(description=_FICHE["public_cible"])
    objectifs_operationnels: str | None = Field(description=_FICHE["objectifs_operationnels"])
    modalites_mise_en_oeuvre: str | None = Field(description=_FICHE["modalites_mise_en_oeuvre"])
    echeances_realisation: str | None = Field(description=_FICHE["echeances_realisation"])
    services_mobilises: str | None = Field(description=_FICHE["services_mobilises"])
    resultats_attendus: str | None = Field(description=_FICHE["resultats_attendus"])
    partenaires_sollicites: str | None = Field(description=_FICHE["partenaires_sollicites"])
    indicateurs_evaluation: str | None = Field(description=_FICHE["indicateurs_evaluation"])
    specificites_ao: str | None = Field(description=_FICHE["specificites_ao"])
    fiche: list[ChampFiche] = Field(
        default_factory=list,
        description="Les mêmes champs de la fiche avec leurs libellés exacts, pour l'affichage.",
    )
    sous_actions: list[ActionSummary] = Field(
        default_factory=list, description="Les sous-actions, dans leur ordre."
    )
    created_at: CreeLe
    updated_at: ModifieLe


# --- indicateurs -----------------------------------------------------------------------


class IndicateurIn(Input):
    model_config = examples(ex.INDICATEUR_IN)

    libelle: Titre = Field(description=_LIBELLE_IND)
    nature: NatureIndicateur = Field(description=_NATURE)
    unite: Unite = Field(description=_UNITE)
    valeur_reference: Nombre | None = Field(default=None, description=_VALEUR_REFERENCE)
    date_reference: dt.date | None = Field(default=None, description=_DATE_REFERENCE)
    cibles: dict[Annee, Nombre] = Field(default_factory=dict, description=_CIBLES)


class IndicateurPatch(Input):
    libelle: Titre | None = Field(default=None, description=_LIBELLE_IND)
    nature: NatureIndicateur | None = Field(default=None, description=_NATURE)
    unite: Unite | None = Field(default=None, description=_UNITE)
    valeur_reference: Nombre | None = Field(default=None, description=_VALEUR_REFERENCE)
    date_reference: dt.date | None = Field(default=None, description=_DATE_REFERENCE)
    cibles: dict[Annee, Nombre] | None = Field(default=None, description=_CIBLES)


class ValeurIn(Input):
    model_config = examples(ex.VALEUR_IN)

    valeur: Nombre = Field(description=_VALEUR)
    commentaire: Texte | None = Field(default=None, description=_COMMENTAIRE_VALEUR)
    source: Court | None = Field(default=None, description=_SOURCE)


class ValeurOut(Output):
    id: Id
    periode: str = Field(description="La période : un trimestre (2026-T1) ou une année (2026).")
    version: Version
    valeur: Decimal = Field(description=_VALEUR)
    commentaire: str | None = Field(description=_COMMENTAIRE_VALEUR)
    source: str | None = Field(description=_SOURCE)
    auteur: Auteur
    auteur_nom: AuteurNom
    updated_at: ModifieLe


class ProgressionOut(Output):
    """Où en est l'indicateur : sa dernière valeur face à la cible de son année."""

    periode: str = Field(
        description="La période de la dernière valeur saisie : un trimestre (2026-T3) ou "
        "une année (2026), qui vient après ses quatre trimestres."
    )
    derniere_valeur: Decimal = Field(
        description="La dernière valeur saisie, celle de la période la plus récente."
    )
    cible: Decimal | None = Field(
        description="La cible de l'année de cette période (null : pas de cible fixée "
        "pour cette année)."
    )
    pourcentage_de_la_cible: Decimal | None = Field(
        description="La dernière valeur en pourcentage de cette cible, au dixième près "
        "(30.0 : 30 % ; null sans cible ou pour une cible de 0)."
    )
    tendance: Tendance | None = Field(
        description="Le sens de la dernière valeur face à la valeur saisie juste avant "
        "elle : hausse, baisse ou stable (null : une seule valeur saisie)."
    )


class IndicateurConventionIn(IndicateurIn):
    axe_id: uuid.UUID | None = Field(
        default=None,
        description="L'axe que l'indicateur évalue ; absent : la convention dans son ensemble.",
    )


class IndicateurConventionPatch(IndicateurPatch):
    """``axe_id`` rattache l'indicateur à un autre axe (null : à la convention)."""

    axe_id: uuid.UUID | None = Field(
        default=None, description="L'axe évalué ; null : la convention dans son ensemble."
    )


class IndicateurOut(Output):
    model_config = examples(ex.INDICATEUR_OUT)

    id: Id
    convention_id: ConventionId
    action_id: uuid.UUID | None = Field(
        description="L'action évaluée (null : un indicateur d'un axe ou de la convention)."
    )
    axe_id: uuid.UUID | None = Field(
        default=None,
        description="L'axe évalué (null : un indicateur d'une action ou de la convention).",
    )
    libelle: str = Field(description=_LIBELLE_IND)
    nature: NatureIndicateur = Field(description=_NATURE)
    unite: Unite = Field(description=_UNITE)
    valeur_reference: Decimal | None = Field(description=_VALEUR_REFERENCE)
    date_reference: dt.date | None = Field(description=_DATE_REFERENCE)
    cibles: dict[str, Decimal] = Field(description=_CIBLES)
    version: Version
    valeurs: list[ValeurOut] = Field(
        default_factory=list, description="Les valeurs saisies, par période."
    )
    progression: ProgressionOut | None = Field(
        default=None,
        description="La progression vers la cible, calculée sur les valeurs saisies "
        "(null : aucune valeur saisie).",
    )


# --- suivis ----------------------------------------------------------------------------


IndicateurId = Annotated[uuid.UUID, Field(description="L'indicateur de l'action.")]


class ValeurSuiviIn(Input):
    indicateur_id: IndicateurId
    valeur: Nombre = Field(description=_VALEUR)
    commentaire: Texte | None = Field(default=None, description=_COMMENTAIRE_VALEUR)
    source: Court | None = Field(default=None, description=_SOURCE)


class SuiviContenu(Input):
    statut_action: StatutAction = Field(description=_STATUT_SUIVI)
    avancement: Annotated[int, Field(ge=0, le=100)] | None = Field(
        default=None, description=Avancement
    )
    realisations: Texte | None = Field(default=None, description=_REALISATIONS)
    difficultes: Texte | None = Field(default=None, description=_DIFFICULTES)
    alerte: bool = Field(default=False, description=_ALERTE)
    alerte_message: Texte | None = Field(default=None, description=_ALERTE_MESSAGE)
    valeurs: list[ValeurSuiviIn] = Field(
        default_factory=list, max_length=100, description=_VALEURS_SUIVI
    )

    @model_validator(mode="after")
    def _alerte_a_un_message(self) -> SuiviContenu:
        if self.alerte and not (self.alerte_message or "").strip():
            raise ValueError("Une alerte au COPIL doit porter un message.")
        return self


class SuiviIn(SuiviContenu):
    model_config = examples(ex.SUIVI_IN)

    periode: PeriodeTrimestre = Field(
        description="Le trimestre suivi, sous la forme AAAA-Tn (2026-T1)."
    )


class SuiviPatch(Input):
    statut_action: StatutAction | None = Field(default=None, description=_STATUT_SUIVI)
    avancement: Annotated[int, Field(ge=0, le=100)] | None = Field(
        default=None, description=Avancement
    )
    realisations: Texte | None = Field(default=None, description=_REALISATIONS)
    difficultes: Texte | None = Field(default=None, description=_DIFFICULTES)
    alerte: bool | None = Field(default=None, description=_ALERTE)
    alerte_message: Texte | None = Field(default=None, description=_ALERTE_MESSAGE)
    valeurs: list[ValeurSuiviIn] | None = Field(
        default=None, max_length=100, description=_VALEURS_SUIVI
    )


class Commentaire(Input):
    commentaire: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)
    ] = Field(description="Ce qui est à compléter, pour le porteur (5 000 caractères au plus).")


class CommentaireOptionnel(Input):
    commentaire: Annotated[str, StringConstraints(max_length=5000)] | None = Field(
        default=None, description="Commentaire de validation (facultatif)."
    )


class Correction(SuiviPatch):
    """Une nouvelle révision d'un suivi validé : ce qui change, et pourquoi."""

    motif: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)
    ] = Field(description="Pourquoi le suivi validé est corrigé.")


class SuiviSummary(Output):
    id: Id
    action_id: ActionId
    periode: Periode
    etat: EtatSuivi = Field(description="brouillon, soumis, validé ou à compléter.")
    revision: int = Field(description="Révision du suivi : 1, puis une de plus par correction.")
    statut_action: StatutAction = Field(description=_STATUT_SUIVI)
    avancement: int | None = Field(description=Avancement)
    alerte: bool = Field(description=_ALERTE)
    version: Version
    updated_at: ModifieLe


class ValeurSuiviOut(BaseModel):
    indicateur_id: IndicateurId
    valeur: Decimal = Field(description=_VALEUR)
    commentaire: str | None = Field(default=None, description=_COMMENTAIRE_VALEUR)
    source: str | None = Field(default=None, description=_SOURCE)


class SuiviDetail(SuiviSummary):
    model_config = examples(ex.SUIVI_DETAIL)

    convention_id: ConventionId
    realisations: str | None = Field(description=_REALISATIONS)
    difficultes: str | None = Field(description=_DIFFICULTES)
    alerte_message: str | None = Field(description=_ALERTE_MESSAGE)
    valeurs: list[ValeurSuiviOut] = Field(description=_VALEURS_SUIVI)
    commentaire_validation: str | None = Field(
        description="Le commentaire de la Caf à la validation ou au renvoi à compléter."
    )
    auteur: Auteur
    auteur_nom: AuteurNom
    created_at: CreeLe


class EvenementOut(Output):
    revision: int = Field(description="La révision du suivi concernée.")
    evenement: EvenementSuivi = Field(
        description="création, modification, soumission, validation, renvoi à compléter ou "
        "correction."
    )
    etat_avant: EtatSuivi | None = Field(description="L'état avant (null à la création).")
    etat_apres: EtatSuivi = Field(description="L'état après.")
    commentaire: str | None = Field(description="Le commentaire ou le motif donné.")
    auteur: Auteur
    auteur_nom: AuteurNom
    contenu: dict[str, object] = Field(description="Le contenu du suivi à ce moment-là.")
    at: dt.datetime = Field(description="Date et heure de l'événement (ISO 8601).")


# --- campagnes -------------------------------------------------------------------------


class CampagneIn(Input):
    date_limite: DateLimite


class Compteurs(BaseModel):
    """Les suivis d'une campagne, comptés par état."""

    actions: int = Field(default=0, description="Actions à suivre pour le trimestre.")
    brouillon: int = Field(default=0, description="Suivis en brouillon.")
    soumis: int = Field(default=0, description="Suivis soumis, à valider par la Caf.")
    # The API's labels both ways: a client reading a view back gets the same counts.
    valide: int = Field(default=0, alias="validé", description="Suivis validés.")
    a_completer: int = Field(
        default=0, alias="à compléter", description="Suivis renvoyés à compléter."
    )
    manquant: int = Field(default=0, description="Actions sans suivi pour le trimestre.")
    en_retard: int = Field(
        default=0, description="Suivis ni soumis ni validés après la date limite."
    )
    alertes: int = Field(default=0, description="Suivis qui portent une alerte au COPIL.")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ActionRef(BaseModel):
    action_id: ActionId
    titre: TitreAction


class AlerteOut(ActionRef):
    message: str | None = Field(description=_ALERTE_MESSAGE)
    etat: EtatSuivi = Field(description="L'état du suivi qui porte l'alerte.")


_COMPTEURS = "Les suivis comptés par état."
_ECHUE = "Vrai si la date limite est passée."


class CampagneConventionOut(BaseModel):
    convention_id: ConventionId
    periode: Periode
    date_limite: DateLimite
    echue: bool = Field(description=_ECHUE)
    compteurs: Compteurs = Field(description=_COMPTEURS)
    manquants: list[ActionRef] = Field(description="Les actions sans suivi.")
    en_retard: list[ActionRef] = Field(description="Les actions dont le suivi est en retard.")
    alertes: list[AlerteOut] = Field(description="Les alertes au COPIL du trimestre.")


class CampagneLigne(BaseModel):
    convention_id: ConventionId
    titre: str = Field(description="Titre de la convention.")
    caf_id: CafId
    caf_nom: str | None = Field(description=_CAF_NOM)
    date_limite: DateLimite
    compteurs: Compteurs = Field(description=_COMPTEURS)


class CampagneCafLigne(BaseModel):
    caf_id: CafId
    caf_nom: str | None = Field(description=_CAF_NOM)
    conventions: int = Field(description="Nombre de conventions de la Caf dans la campagne.")
    compteurs: Compteurs = Field(description=_COMPTEURS)


class CampagneVue(BaseModel):
    """Par convention pour les lecteurs des Caf et des collectivités ; par Caf (agrégats)
    pour les lecteurs nationaux."""

    periode: Periode
    total: Compteurs = Field(description="Les compteurs de toute la vue.")
    conventions: list[CampagneLigne] | None = Field(
        default=None, description="Par convention (null pour un lecteur national)."
    )
    cafs: list[CampagneCafLigne] | None = Field(
        default=None, description="Par Caf, pour un lecteur national (null sinon)."
    )
    next_cursor: NextCursor = None


class ARenseigner(BaseModel):
    action_id: ActionId
    convention_id: ConventionId
    convention_titre: str = Field(description="Titre de la convention.")
    caf_id: CafId
    caf_nom: str | None = Field(description=_CAF_NOM)
    titre: TitreAction
    periode: Periode
    etat_suivi: EtatSuivi | None = Field(
        description="L'état de son suivi du trimestre (null : pas encore commencé)."
    )
    date_limite: DateLimite


class ARenseignerPage(Page[ARenseigner]):
    """Une page de « mes actions à renseigner », avec la campagne (trimestre) concernée."""

    periode: Periode


class CampagneResume(BaseModel):
    periode: Periode
    date_limite: DateLimite
    echue: bool = Field(description=_ECHUE)


# --- bilans ----------------------------------------------------------------------------


def _section(type_bilan: TypeBilan, name: str) -> str:
    return f"{type_bilan.value} : {SECTIONS_BILAN[type_bilan][name]}"


_PE, _BI, _BF = TypeBilan.point_etape, TypeBilan.intermediaire, TypeBilan.final


class SectionsPointEtape(Input):
    etat_avancement: Texte | None = Field(None, description=_section(_PE, "etat_avancement"))
    ajustements_mineurs: Texte | None = Field(
        None, description=_section(_PE, "ajustements_mineurs")
    )


class SectionsIntermediaire(Input):
    avancees: Texte | None = Field(None, description=_section(_BI, "avancees"))
    difficultes: Texte | None = Field(None, description=_section(_BI, "difficultes"))
    ajustements: Texte | None = Field(None, description=_section(_BI, "ajustements"))
    avenant_necessaire: bool | None = Field(None, description=_section(_BI, "avenant_necessaire"))


class SectionsFinal(Input):
    resultats: Texte | None = Field(None, description=_section(_BF, "resultats"))
    fonctionnement_demarche: Texte | None = Field(
        None, description=_section(_BF, "fonctionnement_demarche")
    )
    plus_value: Texte | None = Field(None, description=_section(_BF, "plus_value"))
    preparation_renouvellement: Texte | None = Field(
        None, description=_section(_BF, "preparation_renouvellement")
    )


SECTIONS_MODELS: dict[TypeBilan, type[Input]] = {
    _PE: SectionsPointEtape,
    _BI: SectionsIntermediaire,
    _BF: SectionsFinal,
}


class SectionsIn(SectionsPointEtape, SectionsIntermediaire, SectionsFinal):
    """Les sections envoyées : seulement celles du type du bilan (422 pour une autre)."""


# `syntheses` per axe, the bilans' text before art. 9's sections: still accepted and read
# back for the clients written against it (/api/v1 changes are additive only).
_SYNTHESES_IN = (
    "Obsolète : utilisez `sections`. Synthèses par axe (identifiant d'un axe de la "
    "convention → texte), encore acceptées : elles forment la première section du type du "
    "bilan (`etat_avancement`, `avancees` ou `resultats`), un paragraphe par axe dans "
    "l'ordre du plan, précédé du titre de l'axe ; ne l'envoyez pas avec cette section. "
    "En modification, les axes envoyés remplacent les leurs, les autres restent."
)
SYNTHESES_OBSOLETES = Deprecation(dt.date(2026, 12, 4))
Syntheses = Annotated[dict[uuid.UUID, Texte], Field(max_length=200)]


_PERIODE_DEBUT = "Premier jour de la période que le bilan couvre."
_PERIODE_FIN = "Dernier jour de la période que le bilan couvre."
_SECTIONS = "Les sections du bilan, celles de son type seulement (article 9)."
TypeDeBilan = Annotated[
    TypeBilan,
    Field(description="point d'étape annuel, bilan intermédiaire ou bilan final."),
]
EtatDuBilan = Annotated[EtatBilan, Field(description="brouillon ou adopté.")]
DateAttendue = Annotated[
    dt.date,
    Field(description="Date à laquelle ce bilan est dû, d'après les dates de la convention."),
]
BilanEnRetard = Annotated[
    bool, Field(description="Date attendue passée sans bilan adopté (calculé à la lecture).")
]


class BilanIn(Input):
    model_config = examples(ex.BILAN_IN)

    type: TypeDeBilan
    periode_debut: dt.date = Field(description=_PERIODE_DEBUT)
    periode_fin: dt.date = Field(description=_PERIODE_FIN)
    sections: SectionsIn = Field(default_factory=SectionsIn, description=_SECTIONS)
    syntheses: Annotated[Syntheses | None, SYNTHESES_OBSOLETES] = Field(
        default=None, description=_SYNTHESES_IN
    )

    @model_validator(mode="after")
    def _ordered(self) -> BilanIn:
        if self.periode_fin < self.periode_debut:
            raise ValueError("La fin de la période précède son début.")
        return self


class BilanPatch(Input):
    """Seuls les champs envoyés changent ; dans ``sections``, seules les sections envoyées
    (null en efface une)."""

    periode_debut: dt.date | None = Field(default=None, description=_PERIODE_DEBUT)
    periode_fin: dt.date | None = Field(default=None, description=_PERIODE_FIN)
    sections: SectionsIn | None = Field(
        default=None, description="Les sections envoyées (null en efface une)."
    )
    syntheses: Annotated[Syntheses | None, SYNTHESES_OBSOLETES] = Field(
        default=None, description=_SYNTHESES_IN
    )


class Adoption(Input):
    date_adoption: dt.date = Field(
        description="Date de la réunion du COPIL qui a adopté le bilan (passée ou du jour)."
    )


class AccordOut(BaseModel):
    """L'accord exprès d'une collectivité pour transmettre la partie petite enfance à la CDSF."""

    collectivite_id: uuid.UUID = Field(description="La collectivité qui a donné son accord.")
    collectivite_nom: str | None = Field(
        description="Nom de la collectivité (null si la convention ne la nomme plus)."
    )
    par: Auteur
    par_nom: AuteurNom
    at: dt.datetime = Field(description="Date et heure de l'accord (ISO 8601).")


class BilanSummary(Output):
    id: Id
    convention_id: ConventionId
    type: TypeDeBilan
    periode_debut: dt.date = Field(description=_PERIODE_DEBUT)
    periode_fin: dt.date = Field(description=_PERIODE_FIN)
    etat: EtatDuBilan
    date_adoption: dt.date | None = Field(
        description="Date du COPIL qui a adopté le bilan (null : pas encore adopté)."
    )
    petite_enfance_transmissible: bool = Field(
        description="Si la partie petite enfance peut être transmise à la CDSF : chaque "
        "collectivité concernée a donné son accord exprès."
    )
    version: Version
    date_attendue: DateAttendue
    en_retard: BilanEnRetard


class ArchivageRapport(BaseModel):
    """Où en est la conservation du rapport d'un bilan adopté (ODT et PDF) parmi les
    documents de la convention."""

    etat: EtatArchivage = Field(
        description="« en attente » (l'envoi au service des documents est à venir, ou "
        "réessayé), « conservé », ou « échec » (refusé pour de bon : il n'est plus "
        "réessayé)."
    )
    le: dt.datetime | None = Field(
        description="Quand les fichiers ont été conservés, ou refusés (null : en attente)."
    )
    motif: str | None = Field(description="Pour un échec : le motif du refus, en français.")


class BilanDetail(BilanSummary):
    model_config = examples(ex.BILAN_DETAIL)

    archivage_rapport: ArchivageRapport | None = Field(
        default=None,
        description="Pour un bilan adopté : la conservation de son rapport parmi les "
        "documents de la convention (null avant l'adoption).",
    )

    sections: SectionsPointEtape | SectionsIntermediaire | SectionsFinal = Field(
        description="Les sections du bilan, celles de son type (article 9)."
    )
    syntheses: Annotated[dict[str, str], SYNTHESES_OBSOLETES] = Field(
        default_factory=dict,
        description=(
            "Obsolète : lisez `sections`. Les synthèses par axe envoyées dans `syntheses`, "
            "tant que la première section du bilan en vient ; vide sinon (bilan rédigé par "
            "sections, ou dont les synthèses ont été reprises dans la première section au "
            "passage aux sections)."
        ),
    )
    adoption_saisie_par: str | None = Field(
        default=None, description="Qui a saisi l'adoption (null : pas encore adopté)."
    )
    adoption_saisie_par_nom: str | None = Field(
        default=None,
        description="Nom de qui a saisi l'adoption, à ce moment-là (null : pas encore adopté, "
        "ou nom inconnu).",
    )
    adoption_saisie_le: dt.datetime | None = Field(
        default=None, description="Quand l'adoption a été saisie (ISO 8601)."
    )
    instantane: dict[str, object] | None = Field(
        description="L'état du plan d'actions figé à l'adoption (actions, derniers suivis "
        "validés, indicateurs) ; null avant."
    )
    accords: list[AccordOut] = Field(
        default_factory=list,
        description="Les accords des collectivités pour la transmission à la CDSF.",
    )
    collectivites_concernees: list[uuid.UUID] = Field(
        default_factory=list,
        description="Les collectivités dont l'accord est demandé pour cette transmission.",
    )
    accords_demandes_le: dt.datetime | None = Field(
        default=None,
        description=(
            "Quand la Caf a demandé leur accord aux collectivités concernées (elles "
            "reçoivent un rappel chaque semaine tant qu'elles ne l'ont pas donné) ; null : "
            "pas de demande en cours."
        ),
    )


class BilanAttenduOut(BaseModel):
    """Un bilan que la convention doit au COPIL (art. 9), rédigé ou non."""

    type: TypeDeBilan
    annee: int | None = Field(
        description="L'année que couvre un point d'étape annuel (null pour les autres)."
    )
    date_attendue: DateAttendue
    en_retard: BilanEnRetard
    bilan_id: uuid.UUID | None = Field(
        description="Le bilan rédigé pour cette échéance, l'adopté d'abord (null : aucun)."
    )
    etat: EtatBilan | None = Field(description="Son état (null : pas de bilan rédigé).")


class BilansAttendus(BaseModel):
    convention_id: ConventionId
    items: list[BilanAttenduOut] = Field(description="Les bilans dus, par date attendue.")
