"""Pure domain rules: labels, quarters, the verb heuristic, indicator values."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from enum import StrEnum


class StatutAction(StrEnum):
    a_venir = "à venir"
    en_cours = "en cours"
    realisee = "réalisée"
    en_pause = "en pause"
    abandonnee = "abandonnée"
    bloquee = "bloquée"


# Lateness is computed from these: a finished action is never late.
STATUTS_CLOS = frozenset({StatutAction.realisee, StatutAction.abandonnee})


class Priorite(StrEnum):
    haute = "haute"
    moyenne = "moyenne"
    basse = "basse"


class NatureIndicateur(StrEnum):
    realisation = "réalisation"
    changement_territorial = "changement territorial"


class Unite(StrEnum):
    nombre = "nombre"
    pourcentage = "%"
    euros = "€"
    places = "places"
    etp = "ETP"
    heures = "heures"
    jours = "jours"
    personnes = "personnes"
    familles = "familles"
    enfants = "enfants"
    jeunes = "jeunes"
    structures = "structures"


# Units that count things: whole, non-negative numbers.
UNITES_ENTIERES = frozenset(
    {
        Unite.nombre,
        Unite.places,
        Unite.personnes,
        Unite.familles,
        Unite.enfants,
        Unite.jeunes,
        Unite.structures,
        Unite.jours,
    }
)


class EtatSuivi(StrEnum):
    brouillon = "brouillon"
    soumis = "soumis"
    valide = "validé"
    a_completer = "à compléter"


class EvenementSuivi(StrEnum):
    creation = "création"
    modification = "modification"
    soumission = "soumission"
    validation = "validation"
    renvoi = "renvoi à compléter"
    correction = "correction"


class TypeBilan(StrEnum):
    point_etape = "point d'étape annuel"
    intermediaire = "bilan intermédiaire"
    final = "bilan final"


class EtatBilan(StrEnum):
    brouillon = "brouillon"
    adopte = "adopté"


THEMATIQUE_PETITE_ENFANCE = "petite enfance"

# The fiche-action of the model convention: field name -> exact label.
FICHE_LABELS: dict[str, str] = {
    "diagnostic_initial": "Diagnostic initial",
    "public_cible": "Public cible",
    "objectifs_operationnels": "Objectifs opérationnels",
    "modalites_mise_en_oeuvre": "Modalités de mise en œuvre",
    "echeances_realisation": "Echéances de réalisation",
    "services_mobilises": "Services mobilisés et responsables de l'action",
    "resultats_attendus": "Résultats attendus",
    "partenaires_sollicites": "Partenaires sollicités",
    "indicateurs_evaluation": "Indicateurs d'évaluation",
    "specificites_ao": "Spécificités par autorité organisatrice signataire",
}


# --- quarters -------------------------------------------------------------------------

PERIODE_TRIMESTRE_RE = r"^\d{4}-T[1-4]$"
PERIODE_VALEUR_RE = r"^\d{4}(-T[1-4])?$"
_TRIMESTRE = re.compile(PERIODE_TRIMESTRE_RE)


class Trimestre:
    """A quarter, written ``2026-T1`` as users say it."""

    __slots__ = ("annee", "numero")

    def __init__(self, annee: int, numero: int) -> None:
        self.annee = annee
        self.numero = numero

    @classmethod
    def parse(cls, periode: str) -> Trimestre:
        if not _TRIMESTRE.match(periode):
            raise ValueError(f"période trimestrielle invalide : {periode!r} (attendu AAAA-Tn)")
        return cls(int(periode[:4]), int(periode[-1]))

    @classmethod
    def of(cls, day: dt.date) -> Trimestre:
        return cls(day.year, (day.month - 1) // 3 + 1)

    def __str__(self) -> str:
        return f"{self.annee}-T{self.numero}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trimestre) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    @property
    def debut(self) -> dt.date:
        return dt.date(self.annee, 3 * self.numero - 2, 1)

    @property
    def fin(self) -> dt.date:
        nxt = self.suivant().debut
        return nxt - dt.timedelta(days=1)

    def suivant(self) -> Trimestre:
        return (
            Trimestre(self.annee + 1, 1)
            if self.numero == 4
            else Trimestre(self.annee, self.numero + 1)
        )

    def precedent(self) -> Trimestre:
        return (
            Trimestre(self.annee - 1, 4)
            if self.numero == 1
            else Trimestre(self.annee, self.numero - 1)
        )

    def echeance_par_defaut(self, delai_jours: int) -> dt.date:
        return self.fin + dt.timedelta(days=delai_jours)


def fin_effective(date_fin: dt.date, date_effet_resiliation: dt.date | None) -> dt.date:
    """Last day a convention is in force (a résiliation stops engagements at once)."""
    if date_effet_resiliation is not None:
        return min(date_fin, date_effet_resiliation - dt.timedelta(days=1))
    return date_fin


def trimestres_actifs(debut: dt.date, fin: dt.date) -> list[Trimestre]:
    """Every quarter with at least one day inside [debut, fin]."""
    out: list[Trimestre] = []
    if fin < debut:
        return out
    t = Trimestre.of(debut)
    last = Trimestre.of(fin)
    while True:
        out.append(t)
        if t == last:
            return out
        t = t.suivant()


def campagne_courante(today: dt.date, delai_jours: int) -> Trimestre:
    """The campaign people are filling in: the earliest quarter still before its due date."""
    previous = Trimestre.of(today).precedent()
    if today <= previous.echeance_par_defaut(delai_jours):
        return previous
    return Trimestre.of(today)


def en_retard(statut: str, date_echeance: dt.date | None, today: dt.date) -> bool:
    """Due date passed and the action is neither réalisée nor abandonnée (never stored)."""
    return date_echeance is not None and date_echeance < today and statut not in STATUTS_CLOS


# --- axes: "the title starts with a verb" ------------------------------------------------

VERBES_COURANTS = frozenset(
    {
        "favoriser",
        "renforcer",
        "soutenir",
        "sécuriser",
        "répondre",
        "développer",
        "accompagner",
        "améliorer",
        "assurer",
        "promouvoir",
        "faciliter",
        "garantir",
        "permettre",
        "prévenir",
        "lutter",
        "maintenir",
        "structurer",
        "adapter",
        "agir",
        "coordonner",
        "créer",
        "mettre",
        "offrir",
        "valoriser",
        "informer",
        "encourager",
        "consolider",
        "diversifier",
        "préserver",
        "construire",
        "fédérer",
        "animer",
        "partager",
        "rendre",
        "être",
        "faire",
        "accueillir",
        "investir",
    }
)
_NOT_VERBS = frozenset({"hiver", "avenir", "loisir", "plaisir", "désir", "souvenir", "cahier"})
_FIRST_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿœŒ'’-]+")


def titre_commence_par_un_verbe(titre: str) -> bool:
    """A small heuristic: a known verb, or a first word shaped like a French infinitive."""
    match = _FIRST_WORD.search(titre.strip())
    if not match:
        return False
    word = match.group(0).lower().split("'")[-1].split("’")[-1]
    if word in VERBES_COURANTS:
        return True
    if word in _NOT_VERBS or len(word) < 4:
        return False
    return word.endswith(("er", "ir", "re"))


AVERTISSEMENT_VERBE = (
    "Le modèle de convention demande un intitulé d'axe qui commence par un verbe "
    "(par exemple « Favoriser… », « Renforcer… »)."
)


# --- indicator values ----------------------------------------------------------------------


def probleme_valeur(unite: Unite, valeur: Decimal) -> str | None:
    """Why `valeur` is not a valid number in `unite`, or None."""
    if not valeur.is_finite():
        return "La valeur doit être un nombre fini."
    if valeur < 0:
        return "La valeur ne peut pas être négative."
    if unite is Unite.pourcentage and valeur > 100:
        return "Un pourcentage est compris entre 0 et 100."
    if unite in UNITES_ENTIERES and valeur != valeur.to_integral_value():
        return f"L'unité « {unite.value} » compte des éléments : la valeur doit être entière."
    return None


def annee_de_periode(periode: str) -> int:
    return int(periode[:4])
