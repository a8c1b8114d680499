"""The import of a plan d'actions from a spreadsheet: its columns and the dry run.

ONE column definition (`CHAMPS`) gives the template's headers (`modele-import`), the
headers the user's own file is matched against (`kernel.tabular.guess_mapping`) and how
each cell is read. The dry run (`essai`) is pure: from the file's rows, the confirmed
mapping and the plan as it stands (`Plan`), it says per row what would be created,
changed or why it is refused (line, column, French message); `service_imports` runs it
and applies it. A row names its action by its `référence`: the same file imported
again changes nothing, a changed one updates the actions it names.

Porteurs are matched to the convention's signatory collectivités by name, SIREN or
INSEE code; a near miss gets suggestions from difflib (the standard library, already
behind the header mapping; a convention has a handful of signataires, so rapidfuzz's
speed would buy nothing for a new dependency).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypedDict

from pydantic import ValidationError

from kernel.tabular import (
    CellError,
    CellType,
    CellValue,
    Column,
    Expected,
    HeaderMapping,
    Sheet,
    TableRow,
    TableSheet,
    as_date,
    as_text,
)
from kernel.tabular.mapping import normalise_header
from kernel.tabular.reader import column_name
from kernel.validation_messages import french_message
from services.actions.rules import FICHE_LABELS, Priorite, StatutAction, refus_rattachement
from services.actions.schemas import LigneImport
from services.actions.schemas_imports import ErreurLigne, LigneRapport, PorteurReconnu

SEPARATEURS = re.compile(r"[;\n]+")
SIREN = re.compile(r"^\d{9}$")
INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


# A field's value: read from a cell (text, a date, the porteurs' ids), checked, or
# written by a commit (also an axe's id, None for a new axe; a parent's référence).
Valeur = str | dt.date | uuid.UUID | list[uuid.UUID] | None
# By field key. Not a TypedDict: a row holds only the fields its mapping feeds, the
# fiche's fields come from `rules.FICHE_LABELS`, and each is read and checked by its
# key taken from `CHAMPS`; a change names the fields that change.
Valeurs = dict[str, Valeur]


class Operation(StrEnum):
    creation = "création"
    modification = "modification"
    inchangee = "inchangée"
    refusee = "refusée"


@dataclass(frozen=True)
class Champ:
    """One column of the template and of the import."""

    key: str
    column: Column
    synonyms: tuple[str, ...] = ()
    required: bool = False
    aide: str = ""

    @property
    def label(self) -> str:
        return self.column.header


_STATUTS = ", ".join(s.value for s in StatutAction)
CHAMPS: tuple[Champ, ...] = (
    Champ(
        "reference",
        Column("Référence", width=10),
        ("Réf", "Réf.", "N°", "Numéro", "Numéro de l'action", "Code action"),
        required=True,
        aide="Identifiant de l'action dans le plan (ex. 1.2), unique dans la convention : "
        "un nouvel import met à jour l'action qui porte cette référence.",
    ),
    Champ(
        "parent",
        Column("Action parente", width=12),
        ("Référence parente", "Réf. parente", "Sous-action de", "Action mère", "Parent"),
        aide="Pour une sous-action : la référence de son action (dans ce fichier ou déjà dans "
        "le plan ; un seul niveau : une sous-action n'a pas de sous-actions). Vide : une "
        "action de l'axe. La sous-action est dans l'axe de son action.",
    ),
    Champ(
        "axe",
        Column("Axe", width=30),
        ("Axe stratégique", "Objectif stratégique", "Orientation", "Objectif partagé"),
        required=True,
        aide="Titre de l'axe (créé s'il n'existe pas encore) ou son numéro dans le plan ; "
        "facultatif pour une sous-action (celui de son action).",
    ),
    Champ(
        "titre",
        Column("Titre", width=40),
        ("Action", "Intitulé", "Intitulé de l'action", "Titre de l'action", "Libellé"),
        required=True,
        aide="Titre de l'action (il commence de préférence par un verbe).",
    ),
    Champ(
        "porteurs",
        Column("Porteurs", width=30),
        ("Porteur", "Collectivités porteuses", "Collectivité porteuse", "Pilote"),
        required=True,
        aide="Collectivités signataires qui portent l'action, par leur nom, leur SIREN ou "
        "leur code INSEE, séparées par « ; ».",
    ),
    Champ("statut", Column("Statut"), ("État", "Etat de l'action"), aide=_STATUTS),
    Champ("thematique", Column("Thématique", width=20), ("Thème",)),
    Champ("priorite", Column("Priorité"), (), aide=", ".join(p.value for p in Priorite)),
    Champ("date_debut", Column("Date de début", CellType.date), ("Début",), aide="jj/mm/aaaa"),
    Champ(
        "date_echeance",
        Column("Date d'échéance", CellType.date),
        ("Échéance", "Date de fin", "Fin"),
        aide="jj/mm/aaaa",
    ),
    Champ("referent", Column("Référent", width=25), ("Référent de l'action",)),
    *(Champ(name, Column(label, width=50)) for name, label in FICHE_LABELS.items()),
)
BY_KEY = {c.key: c for c in CHAMPS}
EXPECTED = tuple(Expected(c.key, c.label, c.synonyms, c.required) for c in CHAMPS)
# The fields an import writes on an action (the others, `axe`, `porteurs` and `parent`,
# are ids).
PLAIN_FIELDS = tuple(c.key for c in CHAMPS if c.key not in ("axe", "porteurs", "parent"))

FEUILLE_PLAN = "Plan d’actions"  # a typographic apostrophe: sheet names refuse '
FEUILLE_AIDE = "Aide"
COLONNES_AIDE = (
    Column("Colonne", width=30),
    Column("Obligatoire", CellType.boolean),
    Column("Contenu", width=80),
)


FEUILLE_SANS_REFERENCE = "Actions sans référence"
COLONNES_SANS_REFERENCE = (
    Column("Axe", width=30),
    Column("Titre", width=40),
    Column("Action parente", width=40),
    Column("Pourquoi elle n'a pas de ligne", width=80),
)
SANS_REFERENCE = (
    "Sans référence, aucune ligne ne désigne cette action : importée, elle serait créée une "
    "seconde fois. Donnez-lui une référence dans Coopération (modifier l'action), puis "
    "téléchargez de nouveau le plan prérempli."
)
PARENT_SANS_REFERENCE = (
    "Son action parente n'a pas de référence : la colonne « Action parente » ne peut pas la "
    "nommer. Donnez une référence à l'action parente dans Coopération, puis téléchargez de "
    "nouveau le plan prérempli."
)


@dataclass(frozen=True)
class Prerempli:
    """The plan as it stands, for a prefilled template: one row per action (its values
    by field key), and the actions no row can name (axe, titre, parent's titre, why)."""

    lignes: Sequence[Mapping[str, CellValue]]
    a_part: Sequence[tuple[CellValue, ...]]


def template_sheets(porteurs: Sequence[str], plan: Prerempli | None = None) -> tuple[Sheet, ...]:
    """The template: the plan's sheet (headers only, or one row per action when
    prefilled) and a help sheet (read by people, never imported: the import reads the
    first sheet); prefilled, the actions no row can name in a third one."""
    aide: list[tuple[CellValue, ...]] = [(c.label, c.required, c.aide or None) for c in CHAMPS]
    if porteurs:
        aide.append(("Porteurs possibles", None, " ; ".join(porteurs)))
    rows: list[tuple[CellValue, ...]] = []
    if plan is not None:
        rows = [tuple(values.get(c.key) for c in CHAMPS) for values in plan.lignes]
        note = (
            "Une ligne par action du plan tel qu'il est : modifiez les cellules, ajoutez des "
            "lignes, puis importez le fichier ; les lignes inchangées ne modifient rien."
        )
        if plan.a_part:
            note += (
                f" {len(plan.a_part)} action(s) n'y figurent pas, faute de référence : voir "
                f"la feuille « {FEUILLE_SANS_REFERENCE} »."
            )
        aide.append(("Plan prérempli", None, note))
    sheets = [
        Sheet(FEUILLE_PLAN, [c.column for c in CHAMPS], rows),
        Sheet(FEUILLE_AIDE, COLONNES_AIDE, aide),
    ]
    if plan is not None and plan.a_part:
        sheets.append(Sheet(FEUILLE_SANS_REFERENCE, COLONNES_SANS_REFERENCE, plan.a_part))
    return tuple(sheets)


# --- the plan as it stands -----------------------------------------------------------


@dataclass(frozen=True)
class Organisation:
    id: uuid.UUID
    nom: str
    siren: str | None = None
    code_insee: str | None = None


@dataclass(frozen=True)
class AxeExistant:
    id: uuid.UUID
    titre: str
    position: int


@dataclass(frozen=True)
class ActionExistante:
    id: uuid.UUID
    axe_id: uuid.UUID
    parent_id: uuid.UUID | None
    valeurs: Mapping[str, object]  # the `PLAIN_FIELDS` fields, as stored
    porteur_ids: tuple[uuid.UUID, ...]

    @property
    def reference(self) -> str | None:
        ref = self.valeurs.get("reference")
        return None if ref is None else str(ref)


@dataclass(frozen=True)
class Plan:
    axes: Sequence[AxeExistant]
    actions: Mapping[str, ActionExistante]  # by référence
    porteurs: Sequence[Organisation]  # the convention's signatory collectivités
    # None when new actions are accepted; else why not (an ended convention).
    creation_refusee: str | None = None
    # The actions without a référence: no row names them, but they may be parents or
    # sous-actions of the rows' actions.
    sans_reference: Sequence[ActionExistante] = ()


# --- the report ----------------------------------------------------------------------


class Porteur(TypedDict):
    """A porteur of a row, matched (`PorteurReconnu` in the report): read by key, as
    callers of `essai` always have."""

    saisi: str
    organisation_id: uuid.UUID
    nom: str
    par: str


@dataclass
class Ligne:
    ligne: int
    reference: str | None
    titre: str | None
    operation: Operation = Operation.refusee
    # The référence of its action when the row is a sous-action (« Action parente »).
    parent: str | None = None
    axe: str | None = None
    axe_nouveau: bool = False
    changements: list[str] = field(default_factory=list)
    erreurs: list[ErreurLigne] = field(default_factory=list)
    avertissements: list[str] = field(default_factory=list)
    porteurs: list[Porteur] = field(default_factory=list)
    # What a commit writes: the action (when it exists) and its fields.
    action_id: uuid.UUID | None = None
    axe_id: uuid.UUID | None = None
    valeurs: Valeurs = field(default_factory=dict)

    def refuse(
        self,
        champ: str | None,
        column: int | None,
        message: str,
        suggestions: list[str] | None = None,
    ) -> None:
        erreur = ErreurLigne(
            ligne=self.ligne,
            colonne=column_name(column) if column is not None else None,
            champ=BY_KEY[champ].label if champ else None,
            message=message,
        )
        if suggestions is not None:
            # Assigned, so set: the report (dumped without unset fields) has the key on
            # a porteur's error only, as it always had.
            erreur.suggestions = suggestions
        self.erreurs.append(erreur)

    def report(self) -> LigneRapport:
        return LigneRapport(
            ligne=self.ligne,
            reference=self.reference,
            titre=self.titre,
            operation=self.operation.value,
            action_parente=self.parent,
            axe=self.axe,
            axe_nouveau=self.axe_nouveau,
            action_id=self.action_id,
            changements=self.changements,
            porteurs=[PorteurReconnu(**p) for p in self.porteurs],
            erreurs=self.erreurs,
            avertissements=self.avertissements,
        )


@dataclass
class Essai:
    lignes: list[Ligne]
    colonnes_manquantes: list[str]
    axes_nouveaux: list[str]

    @property
    def valide(self) -> bool:
        return not self.colonnes_manquantes and all(
            ligne.operation is not Operation.refusee for ligne in self.lignes
        )

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys((o.value for o in Operation), 0)
        for ligne in self.lignes:
            out[ligne.operation.value] += 1
        return out


# --- reading one row -----------------------------------------------------------------


def _cell(row: TableRow, column: int | None) -> CellValue:
    return row.get(column) if column is not None else None


def _norm(text: str) -> str:
    return normalise_header(text)


def _choice(text: str, choices: type[StrEnum]) -> str | None:
    wanted = _norm(text)
    return next((c.value for c in choices if _norm(c.value) == wanted), None)


class Porteurs:
    """Matches a porteurs cell to the convention's signatory collectivités."""

    def __init__(self, organisations: Sequence[Organisation]) -> None:
        self.by_name = {_norm(o.nom): o for o in organisations}
        self.by_siren = {o.siren: o for o in organisations if o.siren}
        self.by_insee = {o.code_insee: o for o in organisations if o.code_insee}

    def match(self, ligne: Ligne, column: int, cell: str) -> list[uuid.UUID]:
        ids: list[uuid.UUID] = []
        for raw in SEPARATEURS.split(cell):
            saisi = raw.strip()
            if not saisi:
                continue
            compact = re.sub(r"\s+", "", saisi)
            found, par = None, "nom"
            if SIREN.match(compact):
                found, par = self.by_siren.get(compact), "SIREN"
            elif INSEE.match(compact.upper()):
                found, par = self.by_insee.get(compact.upper()), "code INSEE"
            else:
                found = self.by_name.get(_norm(saisi))
            if found is not None:
                ligne.porteurs.append(
                    Porteur(saisi=saisi, organisation_id=found.id, nom=found.nom, par=par)
                )
                ids.append(found.id)
                continue
            close = difflib.get_close_matches(_norm(saisi), list(self.by_name), n=3, cutoff=0.6)
            suggestions = [self.by_name[c].nom for c in close]
            hint = (
                " Vouliez-vous dire " + " ou ".join(f"« {s} »" for s in suggestions) + " ?"
                if suggestions
                else ""
            )
            ligne.refuse(
                "porteurs",
                column,
                f"« {saisi} » ({par}) n'est pas une collectivité signataire de la convention."
                + hint,
                suggestions=suggestions,
            )
        return list(dict.fromkeys(ids))


def _read_row(
    row: TableRow, mapping: Mapping[str, int], porteurs: Porteurs, ligne: Ligne
) -> Valeurs:
    """The row's values by field, typed; each bad cell is one error of `ligne`."""
    values: Valeurs = {}
    for champ in CHAMPS:
        column = mapping.get(champ.key)
        if column is None:
            continue
        cell = _cell(row, column)
        try:
            if champ.column.type is CellType.date:
                values[champ.key] = as_date(cell)
                continue
            text = as_text(cell)
        except CellError as exc:
            ligne.refuse(champ.key, column, str(exc))
            continue
        values[champ.key] = text
        if text is None:
            continue
        if champ.key == "statut":
            statut = values["statut"] = _choice(text, StatutAction)
            if statut is None:
                ligne.refuse("statut", column, f"statut inconnu « {text} » (attendu : {_STATUTS})")
        elif champ.key == "priorite":
            values["priorite"] = _choice(text, Priorite) or text
        elif champ.key == "porteurs":
            values["porteurs"] = porteurs.match(ligne, column, text)
    return values


def _text(values: Valeurs, key: str) -> str | None:
    """A text field's value (None when empty, unmapped or unreadable)."""
    value = values.get(key)
    return value if isinstance(value, str) else None


def _validate(values: Valeurs, mapping: Mapping[str, int], ligne: Ligne) -> Valeurs:
    """The fields through the API's own constraints (lengths, référence, dates' order)."""
    plain = {k: values[k] for k in PLAIN_FIELDS if k in values and values[k] is not None}
    try:
        checked = LigneImport.model_validate(plain)
    except ValidationError as exc:
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else "date_echeance"
            key = key if key in BY_KEY else "date_echeance"
            ligne.refuse(key, mapping.get(key), french_message(error))
        return {}
    out = {k: getattr(checked, k) for k in PLAIN_FIELDS if k in values}
    return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in out.items()}


def _stored(value: object) -> object:
    return value.value if isinstance(value, StrEnum) else value


def essai(
    rows: Sequence[TableRow], mapping: HeaderMapping | Mapping[str, int], plan: Plan
) -> Essai:
    """The dry run: what committing `rows` under `mapping` would do to `plan`."""
    columns = (
        {m.key: m.column for m in mapping.matches}
        if isinstance(mapping, HeaderMapping)
        else dict(mapping)
    )
    missing = [c.label for c in CHAMPS if c.required and c.key not in columns]
    porteurs = Porteurs(plan.porteurs)
    axes = _Axes(plan.axes)
    lignes: list[Ligne] = []
    read: list[tuple[Ligne, Valeurs, Valeurs]] = []
    first_line: dict[str, int] = {}
    for row in rows:
        ligne = Ligne(row.line, None, None)
        lignes.append(ligne)
        if missing:
            continue
        values = _read_row(row, columns, porteurs, ligne)
        ligne.reference, ligne.titre = _text(values, "reference"), _text(values, "titre")
        ligne.parent = _text(values, "parent")
        # A sous-action's axe is its action's: its own cell may stay empty.
        needed = ("reference", "titre", "porteurs") + (() if ligne.parent else ("axe",))
        for key in needed:
            if not values.get(key) and not any(e.champ == BY_KEY[key].label for e in ligne.erreurs):
                ligne.refuse(key, columns[key], f"« {BY_KEY[key].label} » est obligatoire.")
        checked = _validate(values, columns, ligne)
        reference = ligne.reference
        if reference is not None:
            if reference in first_line:
                ligne.refuse(
                    "reference",
                    columns["reference"],
                    f"la référence « {reference} » est déjà celle de la ligne "
                    f"{first_line[reference]}.",
                )
            else:
                first_line[reference] = row.line
        axe = _text(values, "axe")
        if axe and not ligne.parent:
            axes.place(ligne, axe)
        read.append((ligne, values, checked))
    famille = _Famille(plan, [ligne for ligne, _, _ in read], "parent" in columns)
    for ligne, values, checked in read:
        if ligne.parent is not None:
            famille.attach(ligne, _text(values, "axe"), axes, columns["parent"])
        if ligne.erreurs:
            continue
        existing = plan.actions.get(str(ligne.reference))
        checked["porteur_ids"] = values["porteurs"]
        _plan_row(ligne, checked, existing, plan, columns, famille)
    return Essai(lignes, missing, axes.nouveaux())


class _Axes:
    """The plan's axes, by title and by number, and those the file would add."""

    def __init__(self, axes: Sequence[AxeExistant]) -> None:
        self.by_title = {_norm(a.titre): a for a in axes}
        self.by_position = {a.position: a for a in axes}
        self.by_id = {a.id: a for a in axes}
        self.new: dict[str, str] = {}

    def find(self, text: str) -> AxeExistant | None:
        found = self.by_title.get(_norm(text))
        if found is None and text.isdigit():
            found = self.by_position.get(int(text))
        return found

    def place(self, ligne: Ligne, text: str) -> None:
        """The row's axe: an existing one by title or number, else a new one by title."""
        found = self.find(text)
        if found is not None:
            ligne.axe, ligne.axe_id = found.titre, found.id
            return
        ligne.axe, ligne.axe_nouveau = text, True
        self.new.setdefault(_norm(text), text)

    def nouveaux(self) -> list[str]:
        return list(self.new.values())


Cle = str | uuid.UUID  # an action: its référence, or its id when it has none


class _Famille:
    """Whose sous-action each action is once the file is applied: the plan as it stands,
    changed by the rows (when the file has the « Action parente » column)."""

    def __init__(self, plan: Plan, lignes: Sequence[Ligne], with_column: bool) -> None:
        existing = [*plan.actions.values(), *plan.sans_reference]
        by_id = {a.id: a for a in existing}
        self.existing = plan.actions
        # Each action's parent as it stands (its référence, or its id when it has none).
        self.before: dict[uuid.UUID, Cle | None] = {}
        for a in existing:
            parent = by_id.get(a.parent_id) if a.parent_id is not None else None
            self.before[a.id] = _cle(parent) if parent is not None else a.parent_id
        self.parent_of: dict[Cle, Cle | None] = {_cle(a): self.before[a.id] for a in existing}
        self.rows: dict[str, Ligne] = {}
        for ligne in lignes:
            if ligne.reference is None or ligne.reference in self.rows:
                continue  # refused already (no référence, or that of an earlier row)
            self.rows[ligne.reference] = ligne
            if with_column:
                self.parent_of[ligne.reference] = ligne.parent
        self.parents = {p for p in self.parent_of.values() if p is not None}
        self.with_column = with_column

    def parent_before(self, existing: ActionExistante) -> Cle | None:
        return self.before.get(existing.id)

    def attach(self, ligne: Ligne, axe_text: str | None, axes: _Axes, column: int) -> None:
        """The row names its action (`ligne.parent`): known, one level only (the API's
        rule, `rules.refus_rattachement`), and the sous-action in its action's axe."""
        parent = str(ligne.parent)
        if parent not in self.rows and parent not in self.existing:
            ligne.refuse(
                "parent",
                column,
                f"l'action parente « {parent} » n'est ni une ligne du fichier ni une action "
                "du plan.",
            )
            return
        refus = refus_rattachement(
            ligne.reference,
            parent,
            self.parent_of.get(parent),
            ligne.reference is not None and ligne.reference in self.parents,
        )
        if refus is not None:
            ligne.refuse("parent", column, refus)
            return
        row = self.rows.get(parent)
        if row is not None:
            ligne.axe, ligne.axe_id, ligne.axe_nouveau = row.axe, row.axe_id, row.axe_nouveau
        else:
            axe = axes.by_id[self.existing[parent].axe_id]
            ligne.axe, ligne.axe_id = axe.titre, axe.id
        if axe_text and ligne.axe is not None:
            found = axes.find(axe_text)
            same = (
                found.id == ligne.axe_id
                if found is not None
                else _norm(axe_text) == _norm(ligne.axe)
            )
            if not same:
                ligne.avertissements.append(
                    f"« {axe_text} » n'est pas l'axe de l'action parente : une sous-action "
                    f"est dans l'axe de son action, « {ligne.axe} »."
                )


def _cle(action: ActionExistante) -> Cle:
    return action.reference if action.reference is not None else action.id


def _plan_row(
    ligne: Ligne,
    checked: Valeurs,
    existing: ActionExistante | None,
    plan: Plan,
    columns: Mapping[str, int],
    famille: _Famille,
) -> None:
    if existing is None:
        if plan.creation_refusee is not None:
            ligne.refuse(None, None, plan.creation_refusee)
            return
        checked["statut"] = checked.get("statut") or StatutAction.a_venir.value
        ligne.operation, ligne.valeurs = Operation.creation, checked
        return
    ligne.action_id = existing.id
    changes: Valeurs = {}
    for key, value in checked.items():
        if key == "porteur_ids":
            assert isinstance(value, list)
            if set(value) != set(existing.porteur_ids):
                changes[key] = value
        elif key == "statut" and value is None:
            continue  # a status is never emptied: an empty cell keeps it
        elif _stored(existing.valeurs.get(key)) != value:
            changes[key] = value
    before = famille.parent_before(existing)
    if famille.with_column and ligne.parent != before:
        changes["parent_id"] = ligne.parent  # a référence, its id found at commit
    parent = ligne.parent if famille.with_column else before
    if parent is None:
        if ligne.axe_id != existing.axe_id:
            changes["axe_id"] = ligne.axe_id  # None: the new axe, created at commit
    elif not famille.with_column and ligne.axe_id != existing.axe_id:
        ligne.refuse(
            "axe",
            columns.get("axe"),
            "une sous-action suit son action : changez l'axe de l'action parente.",
        )
        return
    # else a sous-action: in its action's axe, where its action is or goes.
    labels = {
        **{c.key: c.label for c in CHAMPS},
        "porteur_ids": "Porteurs",
        "axe_id": "Axe",
        "parent_id": BY_KEY["parent"].label,
    }
    ligne.changements = [labels[k] for k in changes]
    ligne.valeurs = changes
    ligne.operation = Operation.modification if changes else Operation.inchangee


def rows_of_first_sheet(
    sheets: Sequence[TableSheet],
) -> tuple[Sequence[CellValue], Sequence[TableRow]]:
    """The header and rows the import reads: the first sheet's (a template's « Aide »
    sheet, or a user's other sheets, are never imported)."""
    first = sheets[0]
    header = first.header.values if first.header is not None else ()
    return header, first.rows
