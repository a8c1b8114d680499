"""The API's pydantic models: compact list items, complete details, inputs."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from kernel.input import Input
from kernel.pagination import Page
from services.actions.rules import (
    SECTIONS_BILAN,
    Annee,
    EtatBilan,
    EtatSuivi,
    EvenementSuivi,
    NatureIndicateur,
    PeriodeTrimestre,
    Priorite,
    StatutAction,
    TypeBilan,
    Unite,
)

T = TypeVar("T")

Titre = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Texte = Annotated[str, StringConstraints(max_length=20_000)]
Court = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Nombre = Annotated[Decimal, Field(max_digits=14, decimal_places=2, allow_inf_nan=False)]


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- delta sync ------------------------------------------------------------------------


class Supprime(BaseModel):
    id: uuid.UUID
    kind: str


class SyncPage(BaseModel, Generic[T]):
    """A page of a list. With ``updated_since``: changed items, then ``deleted``."""

    items: list[T]
    next_cursor: str | None = None
    deleted: list[Supprime] = Field(default_factory=list)
    # Pass it back as ``updated_since`` to get what changed after this page.
    sync_token: str


# --- axes ------------------------------------------------------------------------------


class AxeIn(Input):
    titre: Titre
    description: Texte | None = None


class AxePatch(Input):
    titre: Titre | None = None
    description: Texte | None = None


class AxeOut(Output):
    id: uuid.UUID
    convention_id: uuid.UUID
    titre: str
    description: str | None
    position: int
    version: int
    avertissements: list[str] = Field(default_factory=list)


class Ordre(Input):
    """La liste complète des identifiants, dans leur nouvel ordre."""

    ids: list[uuid.UUID] = Field(min_length=1, max_length=500)


# --- actions ---------------------------------------------------------------------------


class FicheFields(Input):
    diagnostic_initial: Texte | None = None
    public_cible: Texte | None = None
    objectifs_operationnels: Texte | None = None
    modalites_mise_en_oeuvre: Texte | None = None
    echeances_realisation: Texte | None = None
    services_mobilises: Texte | None = None
    resultats_attendus: Texte | None = None
    partenaires_sollicites: Texte | None = None
    indicateurs_evaluation: Texte | None = None
    specificites_ao: Texte | None = None


class _Dates(BaseModel):
    date_debut: dt.date | None = None
    date_echeance: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _Dates:
        if self.date_debut and self.date_echeance and self.date_echeance < self.date_debut:
            raise ValueError("La date d'échéance précède la date de début.")
        return self


class ActionIn(FicheFields, _Dates):
    axe_id: uuid.UUID
    parent_id: uuid.UUID | None = None
    titre: Titre
    thematique: Court | None = None
    priorite: Priorite | None = None
    statut: StatutAction = StatutAction.a_venir
    porteur_ids: list[uuid.UUID] = Field(min_length=1, max_length=50)
    referent: Court | None = None


class ActionPatch(FicheFields, _Dates):
    """Seuls les champs envoyés changent. ``axe_id`` déplace l'action à la fin de cet axe."""

    axe_id: uuid.UUID | None = None
    titre: Titre | None = None
    thematique: Court | None = None
    priorite: Priorite | None = None
    statut: StatutAction | None = None
    porteur_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=50)
    referent: Court | None = None


class ActionSummary(Output):
    id: uuid.UUID
    convention_id: uuid.UUID
    axe_id: uuid.UUID
    parent_id: uuid.UUID | None
    position: int
    titre: str
    statut: StatutAction
    en_retard: bool
    date_echeance: dt.date | None
    porteur_ids: list[uuid.UUID]
    version: int


class ChampFiche(BaseModel):
    champ: str
    libelle: str
    valeur: str | None


class ActionDetail(ActionSummary):
    thematique: str | None
    date_debut: dt.date | None
    priorite: Priorite | None
    referent: str | None
    diagnostic_initial: str | None
    public_cible: str | None
    objectifs_operationnels: str | None
    modalites_mise_en_oeuvre: str | None
    echeances_realisation: str | None
    services_mobilises: str | None
    resultats_attendus: str | None
    partenaires_sollicites: str | None
    indicateurs_evaluation: str | None
    specificites_ao: str | None
    # The same fiche fields with the model convention's exact labels, for display.
    fiche: list[ChampFiche] = Field(default_factory=list)
    sous_actions: list[ActionSummary] = Field(default_factory=list)
    created_at: dt.datetime
    updated_at: dt.datetime


# --- indicateurs -----------------------------------------------------------------------


class IndicateurIn(Input):
    libelle: Titre
    nature: NatureIndicateur
    unite: Unite
    valeur_reference: Nombre | None = None
    date_reference: dt.date | None = None
    # Target per year of the convention: {"2026": 120}.
    cibles: dict[Annee, Nombre] = Field(default_factory=dict)


class IndicateurPatch(Input):
    libelle: Titre | None = None
    nature: NatureIndicateur | None = None
    unite: Unite | None = None
    valeur_reference: Nombre | None = None
    date_reference: dt.date | None = None
    cibles: dict[Annee, Nombre] | None = None


class ValeurIn(Input):
    valeur: Nombre
    commentaire: Texte | None = None
    source: Court | None = None


class ValeurOut(Output):
    # ETag of the value: "<id>.<version>" (a PUT replacing it sends it in If-Match).
    id: uuid.UUID
    periode: str
    version: int
    valeur: Decimal
    commentaire: str | None
    source: str | None
    auteur: str
    updated_at: dt.datetime


class IndicateurConventionIn(IndicateurIn):
    axe_id: uuid.UUID | None = Field(
        default=None,
        description="L'axe que l'indicateur évalue ; absent : la convention dans son ensemble.",
    )


class IndicateurConventionPatch(IndicateurPatch):
    """``axe_id`` rattache l'indicateur à un autre axe (null : à la convention)."""

    axe_id: uuid.UUID | None = None


class IndicateurOut(Output):
    id: uuid.UUID
    convention_id: uuid.UUID
    # One of them, or neither: an indicator of the convention as a whole.
    action_id: uuid.UUID | None
    axe_id: uuid.UUID | None = None
    libelle: str
    nature: NatureIndicateur
    unite: Unite
    valeur_reference: Decimal | None
    date_reference: dt.date | None
    cibles: dict[str, Decimal]
    version: int
    valeurs: list[ValeurOut] = Field(default_factory=list)


# --- suivis ----------------------------------------------------------------------------


class ValeurSuiviIn(Input):
    indicateur_id: uuid.UUID
    valeur: Nombre
    commentaire: Texte | None = None
    source: Court | None = None


class SuiviContenu(Input):
    statut_action: StatutAction
    avancement: Annotated[int, Field(ge=0, le=100)] | None = None
    realisations: Texte | None = None
    difficultes: Texte | None = None
    alerte: bool = False
    alerte_message: Texte | None = None
    valeurs: list[ValeurSuiviIn] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _alerte_a_un_message(self) -> SuiviContenu:
        if self.alerte and not (self.alerte_message or "").strip():
            raise ValueError("Une alerte au COPIL doit porter un message.")
        return self


class SuiviIn(SuiviContenu):
    periode: PeriodeTrimestre


class SuiviPatch(Input):
    statut_action: StatutAction | None = None
    avancement: Annotated[int, Field(ge=0, le=100)] | None = None
    realisations: Texte | None = None
    difficultes: Texte | None = None
    alerte: bool | None = None
    alerte_message: Texte | None = None
    valeurs: list[ValeurSuiviIn] | None = Field(default=None, max_length=100)


class Commentaire(Input):
    commentaire: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)
    ]


class CommentaireOptionnel(Input):
    commentaire: Annotated[str, StringConstraints(max_length=5000)] | None = None


class Correction(SuiviPatch):
    """Une nouvelle révision d'un suivi validé : ce qui change, et pourquoi."""

    motif: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class SuiviSummary(Output):
    id: uuid.UUID
    action_id: uuid.UUID
    periode: str
    etat: EtatSuivi
    revision: int
    statut_action: StatutAction
    avancement: int | None
    alerte: bool
    version: int
    updated_at: dt.datetime


class ValeurSuiviOut(BaseModel):
    indicateur_id: uuid.UUID
    valeur: Decimal
    commentaire: str | None = None
    source: str | None = None


class SuiviDetail(SuiviSummary):
    convention_id: uuid.UUID
    realisations: str | None
    difficultes: str | None
    alerte_message: str | None
    valeurs: list[ValeurSuiviOut]
    commentaire_validation: str | None
    auteur: str
    created_at: dt.datetime


class EvenementOut(Output):
    revision: int
    evenement: EvenementSuivi
    etat_avant: EtatSuivi | None
    etat_apres: EtatSuivi
    commentaire: str | None
    auteur: str
    contenu: dict[str, object]
    at: dt.datetime


# --- campagnes -------------------------------------------------------------------------


class CampagneIn(Input):
    date_limite: dt.date


class Compteurs(BaseModel):
    actions: int = 0
    brouillon: int = 0
    soumis: int = 0
    # The API's labels both ways: a client reading a view back gets the same counts.
    valide: int = Field(default=0, alias="validé")
    a_completer: int = Field(default=0, alias="à compléter")
    manquant: int = 0
    en_retard: int = 0
    alertes: int = 0

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class ActionRef(BaseModel):
    action_id: uuid.UUID
    titre: str


class AlerteOut(ActionRef):
    message: str | None
    etat: EtatSuivi


class CampagneConventionOut(BaseModel):
    convention_id: uuid.UUID
    periode: str
    date_limite: dt.date
    echue: bool
    compteurs: Compteurs
    manquants: list[ActionRef]
    en_retard: list[ActionRef]
    alertes: list[AlerteOut]


class CampagneLigne(BaseModel):
    convention_id: uuid.UUID
    titre: str
    caf_id: uuid.UUID
    date_limite: dt.date
    compteurs: Compteurs


class CampagneCafLigne(BaseModel):
    caf_id: uuid.UUID
    conventions: int
    compteurs: Compteurs


class CampagneVue(BaseModel):
    """Par convention pour les lecteurs des Caf et des collectivités ; par Caf (agrégats)
    pour les lecteurs nationaux."""

    periode: str
    total: Compteurs
    conventions: list[CampagneLigne] | None = None
    cafs: list[CampagneCafLigne] | None = None
    next_cursor: str | None = None


class ARenseigner(BaseModel):
    action_id: uuid.UUID
    convention_id: uuid.UUID
    titre: str
    periode: str
    etat_suivi: EtatSuivi | None
    date_limite: dt.date


class ARenseignerPage(Page[ARenseigner]):
    """Une page de « mes actions à renseigner », avec la campagne (trimestre) concernée."""

    periode: str


class CampagneResume(BaseModel):
    periode: str
    date_limite: dt.date
    echue: bool


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
_DEPRECATED: dict[str, Any] = {"deprecated": True}
Syntheses = Annotated[dict[uuid.UUID, Texte], Field(max_length=200)]


class BilanIn(Input):
    type: TypeBilan
    periode_debut: dt.date
    periode_fin: dt.date
    sections: SectionsIn = Field(default_factory=SectionsIn)
    syntheses: Syntheses | None = Field(
        default=None, description=_SYNTHESES_IN, json_schema_extra=_DEPRECATED
    )

    @model_validator(mode="after")
    def _ordered(self) -> BilanIn:
        if self.periode_fin < self.periode_debut:
            raise ValueError("La fin de la période précède son début.")
        return self


class BilanPatch(Input):
    """Seuls les champs envoyés changent ; dans ``sections``, seules les sections envoyées
    (null en efface une)."""

    periode_debut: dt.date | None = None
    periode_fin: dt.date | None = None
    sections: SectionsIn | None = None
    syntheses: Syntheses | None = Field(
        default=None, description=_SYNTHESES_IN, json_schema_extra=_DEPRECATED
    )


class Adoption(Input):
    date_adoption: dt.date = Field(
        description="Date de la réunion du COPIL qui a adopté le bilan (passée ou du jour)."
    )


class AccordOut(BaseModel):
    collectivite_id: uuid.UUID
    par: str
    at: dt.datetime


class BilanSummary(Output):
    id: uuid.UUID
    convention_id: uuid.UUID
    type: TypeBilan
    periode_debut: dt.date
    periode_fin: dt.date
    etat: EtatBilan
    # The COPIL's date.
    date_adoption: dt.date | None
    petite_enfance_transmissible: bool
    version: int
    # When this kind is due (computed from the convention's dates), and whether it is
    # late: due date passed, not adopted (computed on read, never stored).
    date_attendue: dt.date
    en_retard: bool


class BilanDetail(BilanSummary):
    sections: SectionsPointEtape | SectionsIntermediaire | SectionsFinal
    syntheses: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Obsolète : lisez `sections`. Les synthèses par axe envoyées dans `syntheses`, "
            "tant que la première section du bilan en vient ; vide sinon (bilan rédigé par "
            "sections, ou dont les synthèses ont été reprises dans la première section au "
            "passage aux sections)."
        ),
        json_schema_extra=_DEPRECATED,
    )
    adoption_saisie_par: str | None = None
    adoption_saisie_le: dt.datetime | None = None
    instantane: dict[str, object] | None
    accords: list[AccordOut] = Field(default_factory=list)
    collectivites_concernees: list[uuid.UUID] = Field(default_factory=list)


class BilanAttenduOut(BaseModel):
    """Un bilan que la convention doit au COPIL (art. 9), rédigé ou non."""

    type: TypeBilan
    # The year a point d'étape annuel covers.
    annee: int | None
    date_attendue: dt.date
    en_retard: bool
    # The bilan written for it, if any (the adopted one first).
    bilan_id: uuid.UUID | None
    etat: EtatBilan | None


class BilansAttendus(BaseModel):
    convention_id: uuid.UUID
    items: list[BilanAttenduOut]
