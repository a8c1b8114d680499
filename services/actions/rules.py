"""Pure domain rules: labels, quarters, the verb heuristic, indicator values."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Protocol

from pydantic import AfterValidator, StringConstraints

from kernel.input import check_plausible_year, plausible_year


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


# Where an adopted bilan's report stands among the convention's documents.
class EtatArchivage(StrEnum):
    en_attente = "en attente"
    conserve = "conservé"
    echec = "échec"


# The sections art. 9 of the model convention names for each kind of bilan (003):
# "Des points d'étape annuels pour présenter l'état d'avancement du plan d'action et
# procéder à des ajustements mineurs"; "à mi-parcours … examiner les avancées et les
# difficultés, et de décider d'éventuels ajustements … qui pourraient nécessiter un
# avenant"; "en fin de période pour analyser les résultats obtenus, évaluer le
# fonctionnement de la démarche CTG et préparer le renouvellement" (plus-value: 004,
# "Faire apparaître les plus values de la démarche"). Field name -> exact label.
SECTIONS_BILAN: dict[TypeBilan, dict[str, str]] = {
    TypeBilan.point_etape: {
        "etat_avancement": "État d'avancement du plan d'action",
        "ajustements_mineurs": "Ajustements mineurs",
    },
    TypeBilan.intermediaire: {
        "avancees": "Avancées",
        "difficultes": "Difficultés",
        "ajustements": "Ajustements décidés",
        "avenant_necessaire": "Un avenant à la CTG est-il nécessaire ?",
    },
    TypeBilan.final: {
        "resultats": "Résultats obtenus",
        "fonctionnement_demarche": "Fonctionnement de la démarche CTG",
        "plus_value": "Plus-value de la démarche",
        "preparation_renouvellement": "Préparation du renouvellement",
    },
}


def sections_vides(type_bilan: TypeBilan, sections: Mapping[str, object]) -> list[str]:
    """The sections of the kind a bilan leaves empty (absent, null or blank), in the
    article's order: art. 9 (003) names what each bilan covers, so none is adopted
    without them (a COPIL with no adjustment to decide writes so)."""
    return [
        nom
        for nom in SECTIONS_BILAN[type_bilan]
        if sections.get(nom) is None
        or (isinstance(sections[nom], str) and not str(sections[nom]).strip())
    ]


def sections_hors_type(type_bilan: TypeBilan, noms: Iterable[str]) -> list[tuple[str, str]]:
    """The sections among `noms` a bilan of this kind does not have, each with why."""
    propres = SECTIONS_BILAN[type_bilan]
    out = []
    for nom in noms:
        if nom in propres:
            continue
        autre = next((t for t, s in SECTIONS_BILAN.items() if nom in s), None)
        attendues = ", ".join(f"« {n} »" for n in propres)
        debut = (
            f"« {nom} » est une section du {autre.value}"
            if autre
            else f"La section « {nom} » n'existe pas"
        )
        out.append((nom, f"{debut} ; un {type_bilan.value} a les sections {attendues}."))
    return out


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


def _annee_acceptee(periode: str) -> str:
    check_plausible_year(int(periode[:4]))
    return periode


# Every period the API reads (path, query, body): its format, then its year within the
# kernel's bounds (0000-T1 or the quarter after 9999-T4 have no calendar date).
PeriodeTrimestre = Annotated[
    str, StringConstraints(pattern=PERIODE_TRIMESTRE_RE), AfterValidator(_annee_acceptee)
]
PeriodeValeur = Annotated[
    str, StringConstraints(pattern=PERIODE_VALEUR_RE), AfterValidator(_annee_acceptee)
]
Annee = Annotated[str, StringConstraints(pattern=r"^\d{4}$"), AfterValidator(_annee_acceptee)]


class Trimestre:
    """A quarter, written ``2026-T1`` as users say it."""

    __slots__ = ("annee", "numero")

    def __init__(self, annee: int, numero: int) -> None:
        self.annee = annee
        self.numero = numero

    @classmethod
    def parse(cls, periode: str) -> Trimestre:
        if not _TRIMESTRE.match(periode) or not plausible_year(int(periode[:4])):
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


def ouverture_campagne(t: Trimestre, delai_jours: int) -> dt.date:
    """The first day `t`'s campaign is the current one (`campagne_courante`): the day
    after the previous campaign's default due date."""
    return t.precedent().echeance_par_defaut(delai_jours) + dt.timedelta(days=1)


def campagnes_a_rappeler(today: dt.date, delai_jours: int) -> list[Trimestre]:
    """The campaigns whose reminders may be due today: the current one, and the one
    before it (overdue, or due later where a Caf moved its date). Older campaigns are
    not reminded of: their weekly overdue reminders stop once the next campaign closes."""
    courante = campagne_courante(today, delai_jours)
    return [courante.precedent(), courante]


# Reminders before the due date (issue 25: "J-15, J-7"), then weekly once overdue.
RAPPELS_AVANT = ((7, "j7"), (15, "j15"))
RETARD_SEMAINE = 7


def etape_rappel(today: dt.date, ouverture: dt.date, date_limite: dt.date) -> str | None:
    """The reminder step a campaign is at today: `ouverture` from its first day, `j15`
    and `j7` from 15 and 7 days before its due date, `retard-<n>` in the n-th week after
    it; None before it opens. Each step is a window: a run that missed a day still sends
    the step it is in, never an older one, and the unique key (person, action, campaign,
    step) keeps each to one message."""
    if today < ouverture:
        return None
    if today > date_limite:
        return f"retard-{((today - date_limite).days - 1) // RETARD_SEMAINE + 1}"
    for days, step in RAPPELS_AVANT:
        if today >= date_limite - dt.timedelta(days=days):
            return step
    return "ouverture"


def en_retard(statut: str, date_echeance: dt.date | None, today: dt.date) -> bool:
    """Due date passed and the action is neither réalisée nor abandonnée (never stored)."""
    return date_echeance is not None and date_echeance < today and statut not in STATUTS_CLOS


# --- sous-actions: one level only -----------------------------------------------------

MEME_AXE_QUE_LE_PARENT = "Une sous-action est dans le même axe que son action."


def refus_rattachement(
    action: object | None, parent: object, parent_du_parent: object | None, a_des_sous_actions: bool
) -> str | None:
    """Why `action` may not become a sous-action of `parent`, or None: a plan has one
    level of sous-actions (fiche-action, then its sous-actions). The API's writes give
    ids, the import références (its rows have no id yet): the same rule for both.
    `parent_du_parent`: the parent's own parent once the write is done."""
    if action is not None and parent == action:
        return "Une action ne peut pas être sa propre action parente."
    if parent_du_parent is not None and parent_du_parent == action:
        return "Deux actions ne peuvent pas être chacune l'action parente de l'autre."
    if parent_du_parent is not None:
        return "Une sous-action ne peut pas avoir elle-même de sous-actions."
    if a_des_sous_actions:
        return "Une action qui a des sous-actions ne peut pas devenir une sous-action."
    return None


# --- bilans: when each kind is expected -----------------------------------------------
# Art. 9 (003): "Des points d'étape annuels …", "Un échange plus approfondi … à
# mi-parcours … bilan intermédiaire", "Un échange … en fin de période … bilan final".
# The mid-term and final exchanges are the deeper forms of their year's COPIL: those
# years have no separate point d'étape (one evaluation time a year).


@dataclass(frozen=True)
class BilanAttendu:
    type: TypeBilan
    # The year a point d'étape covers (None for the intermédiaire and the final).
    annee: int | None
    date_attendue: dt.date


def mi_parcours(debut: dt.date, fin: dt.date) -> dt.date:
    return debut + (fin - debut) // 2


def date_attendue_bilan(
    type_bilan: TypeBilan, periode_fin: dt.date, debut: dt.date, fin: dt.date
) -> dt.date:
    """When a bilan of this kind is due, for a convention running from `debut` to `fin`:
    a point d'étape by the end of the year its period ends in, the intermédiaire at
    mid-term, the final by the convention's end."""
    if type_bilan is TypeBilan.final:
        return fin
    if type_bilan is TypeBilan.intermediaire:
        return mi_parcours(debut, fin)
    return min(dt.date(periode_fin.year, 12, 31), fin)


def bilans_attendus(
    debut: dt.date, fin: dt.date, date_effet_resiliation: dt.date | None
) -> list[BilanAttendu]:
    """Every bilan a convention owes, by due date. A résiliation stops the engagements
    (art. 12): nothing is due from its effect on."""
    milieu = mi_parcours(debut, fin)
    out = [
        BilanAttendu(TypeBilan.point_etape, year, dt.date(year, 12, 31))
        for year in range(debut.year, fin.year + 1)
        if year not in (milieu.year, fin.year)
    ]
    out.append(BilanAttendu(TypeBilan.intermediaire, None, milieu))
    out.append(BilanAttendu(TypeBilan.final, None, fin))
    out.sort(key=lambda b: b.date_attendue)
    if date_effet_resiliation is not None:
        out = [b for b in out if b.date_attendue < date_effet_resiliation]
    return out


class ConventionDates(Protocol):
    """What the bilans' due dates and lateness read of a convention (a ConventionRef, or
    a row's group of replica columns)."""

    @property
    def date_debut(self) -> dt.date: ...
    @property
    def date_fin(self) -> dt.date: ...
    @property
    def date_effet_resiliation(self) -> dt.date | None: ...
    @property
    def suivie_depuis(self) -> dt.date | None: ...


def bilan_en_retard(
    etat: str, date_attendue: dt.date, today: dt.date, convention: ConventionDates
) -> bool:
    """Due date passed and not adopted yet (never stored), unless a résiliation took
    effect first (then it was no longer due), or it fell due before the product followed
    the convention: a CTG signed before it and recorded after the fact (000: "D'intégrer
    les CTG signées") owed those bilans outside it."""
    resiliation = convention.date_effet_resiliation
    if resiliation is not None and date_attendue >= resiliation:
        return False
    if convention.suivie_depuis is not None and date_attendue < convention.suivie_depuis:
        return False
    return etat != EtatBilan.adopte and date_attendue < today


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


def part_de_la_cible(valeur: Decimal | None, cible: Decimal | None) -> Decimal | None:
    """A value against its target, as a fraction (0.425: 42,5 %); none without a target."""
    if valeur is None or not cible:
        return None
    return valeur / cible


def cible_de_periode(cibles: Mapping[str, object], periode: str) -> Decimal | None:
    """The target of the period's year (targets are set per year), or None."""
    value = cibles.get(periode[:4])
    return None if value is None else Decimal(str(value))


def rang_de_periode(periode: str) -> tuple[int, int]:
    """Values' periods in time order: a year's quarters, then the year itself (an annual
    figure sums the year up, so it comes after its fourth quarter)."""
    return annee_de_periode(periode), int(periode[-1]) if "-T" in periode else 5


class Tendance(StrEnum):
    hausse = "hausse"
    baisse = "baisse"
    stable = "stable"


@dataclass(frozen=True)
class Progression:
    """Where an indicator stands: its latest value against the target of that value's
    year, and its direction since the value before."""

    periode: str
    valeur: Decimal
    cible: Decimal | None
    pourcentage: Decimal | None  # of the target, to a tenth: 30.0 is 30 %
    tendance: Tendance | None  # None: a single value recorded


def progression(
    valeurs: Iterable[tuple[str, Decimal]], cibles: Mapping[str, object]
) -> Progression | None:
    """The progression of an indicator from its values (period, value), None without any.

    The target is that of the latest value's year, not of the current year: the
    trajectory is set year by year ("des cibles de développement à atteindre [...] selon
    une trajectoire pluriannuelle", seed 001), and a COPIL held in January still reads
    the last quarter of the year before against that year's step."""
    ordered = sorted(valeurs, key=lambda pv: rang_de_periode(pv[0]))
    if not ordered:
        return None
    periode, valeur = ordered[-1]
    cible = cible_de_periode(cibles, periode)
    part = part_de_la_cible(valeur, cible)
    tendance = None
    if len(ordered) > 1:
        before = ordered[-2][1]
        if valeur > before:
            tendance = Tendance.hausse
        elif valeur < before:
            tendance = Tendance.baisse
        else:
            tendance = Tendance.stable
    return Progression(
        periode,
        valeur,
        cible,
        None if part is None else (part * 100).quantize(Decimal("0.1")),
        tendance,
    )
