"""Exports of the tableau de suivi: the column definition, and one convention's file.

The model convention follows the plan d'actions in a *tableau de suivi partagé* (art. 9
of seed 003): a row per action and quarter (référence, axe, action, porteurs by name, statut,
échéance, en retard, the suivi's état, avancement, réalisations and difficultés, the
quarter's indicator values against their targets), and, in ODS and XLSX, a second
sheet with every indicator value, typed, against its year's target, and the
indicator's progression (`rules.progression`, as the API reads it). Every format is
written from the columns below by `kernel.tabular`; CSV holds one sheet, the first
unless another is asked for (a CSV file has one).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import NotFound
from kernel.principal import Principal
from kernel.tabular import CellType, Column, Row, Sheet, csv_chunks, ods_chunks, xlsx_chunks
from kernel.tabular.columns import french_number, french_percent
from kernel.tabular.csv_writer import MEDIA_TYPE as CSV_MEDIA_TYPE
from kernel.tabular.ods_writer import MEDIA_TYPE as ODS_MEDIA_TYPE
from kernel.tabular.xlsx_writer import MEDIA_TYPE as XLSX_MEDIA_TYPE
from services.actions import repository_exports as xrepo
from services.actions.dependencies import ActionsContext
from services.actions.rules import (
    Trimestre,
    Unite,
    cible_de_periode,
    en_retard,
    fin_effective,
    part_de_la_cible,
    progression,
    trimestres_actifs,
)


class FormatExport(StrEnum):
    ods = "ods"
    xlsx = "xlsx"
    csv = "csv"

    @property
    def media_type(self) -> str:
        return {"ods": ODS_MEDIA_TYPE, "xlsx": XLSX_MEDIA_TYPE, "csv": CSV_MEDIA_TYPE}[self.value]


class FeuilleCsv(StrEnum):
    """The sheet a CSV file holds (a CSV file has one)."""

    suivi = "suivi"
    indicateurs = "indicateurs"


# The suivi of a quarter nobody has started: what the campaign view counts as missing.
SUIVI_MANQUANT = "non renseigné"

COLONNES_SUIVI = (
    Column("Référence", width=10),
    Column("Axe", width=30),
    Column("Action", width=40),
    Column("Porteurs", width=30),
    Column("Statut"),
    Column("Échéance", CellType.date),
    Column("En retard", CellType.boolean),
    Column("Trimestre", width=10),
    Column("État du suivi", width=14),
    Column("Avancement", CellType.percent),
    Column("Réalisations", width=50),
    Column("Difficultés", width=50),
    Column("Indicateurs (valeur / cible)", width=50),
)

COLONNES_INDICATEURS = (
    Column("Axe", width=30),
    Column("Action", width=40),
    Column("Indicateur", width=40),
    Column("Unité"),
    Column("Période", width=10),
    Column("Valeur", CellType.decimal),
    Column("Cible de l'année", CellType.decimal),
    Column("Part de la cible", CellType.percent),
    # The indicator's progression (as its API reads it), on each of its rows.
    Column("Dernière valeur", CellType.decimal),
    Column("Période de la dernière valeur", width=10),
    Column("Cible de la dernière valeur", CellType.decimal),
    Column("Part de la cible atteinte", CellType.percent),
    Column("Tendance", width=10),
)

FEUILLE_SUIVI = "Tableau de suivi"
FEUILLE_INDICATEURS = "Indicateurs"


@dataclass(frozen=True)
class Export:
    """A file ready to stream: its name and its sheets (rows already read)."""

    nom_fichier: str
    titre: str
    sheets: Sequence[Sheet]

    def chunks(
        self, fmt: FormatExport, feuille: FeuilleCsv = FeuilleCsv.suivi
    ) -> AsyncIterator[bytes]:
        if fmt is FormatExport.csv:
            name = FEUILLE_SUIVI if feuille is FeuilleCsv.suivi else FEUILLE_INDICATEURS
            return csv_chunks(next(s for s in self.sheets if s.name == name))
        if fmt is FormatExport.xlsx:
            return xlsx_chunks(*self.sheets)
        return ods_chunks(*self.sheets, title=self.titre)


def _with_unit(value: Decimal, unite: str) -> str:
    return french_number(value) if unite == Unite.nombre else f"{french_number(value)} {unite}"


def _indicator_text(libelle: str, unite: str, valeur: Decimal, cible: Decimal | None) -> str:
    """« Places créées : 12 / 40 places (30 %) », as the quarter's cell shows it."""
    if cible is None:
        return f"{libelle} : {_with_unit(valeur, unite)}"
    part = part_de_la_cible(valeur, cible)
    shown = f" ({french_percent(part.quantize(Decimal('0.001')))})" if part is not None else ""
    return f"{libelle} : {french_number(valeur)} / {_with_unit(cible, unite)}{shown}"


def indicator_cell(
    values: Iterable[tuple[str, str, Decimal, Mapping[str, object]]], periode: str
) -> str | None:
    """The quarter's cell of an action's indicators: each (libellé, unité, valeur,
    cibles) of that quarter against its year's target, one per line."""
    texts = [
        _indicator_text(libelle, unite, valeur, cible_de_periode(cibles, periode))
        for libelle, unite, valeur, cibles in values
    ]
    return "\n".join(texts) or None


def suivi_row(r: Any, porteurs: Sequence[str], indicateurs: str | None, today: dt.date) -> Row:
    """One row of the tableau de suivi (COLONNES_SUIVI): an action × a quarter (`r`: the
    fields of `tableau_rows`), its porteurs by name, its indicators' cell."""
    return (
        r.reference,
        r.axe,
        r.action,
        ", ".join(porteurs),
        r.statut,
        r.date_echeance,
        en_retard(r.statut, r.date_echeance, today),
        r.periode,
        r.etat or SUIVI_MANQUANT,
        None if r.avancement is None else Decimal(r.avancement) / 100,
        r.realisations,
        r.difficultes,
        indicateurs,
    )


def suivi_rows(
    rows: Sequence[Any], noms: dict[uuid.UUID, str], indicateurs: Sequence[Any], today: dt.date
) -> list[Row]:
    """The first sheet's rows from `tableau_rows`, porteurs by name (an organisation the
    registry does not know shows its id), the quarter's values of the action's indicators."""
    quarter_values: dict[tuple[uuid.UUID, str], list[tuple[str, str, Decimal, Any]]] = defaultdict(
        list
    )
    for ind in indicateurs:
        if ind.action_id is not None and ind.periode is not None and "-T" in ind.periode:
            quarter_values[(ind.action_id, ind.periode)].append(
                (ind.libelle, ind.unite, ind.valeur, ind.cibles)
            )
    return [
        suivi_row(
            r,
            [noms.get(p, str(p)) for p in r.porteur_ids],
            indicator_cell(quarter_values.get((r.action_id, r.periode), ()), r.periode),
            today,
        )
        for r in rows
    ]


def indicateur_rows(indicateurs: Sequence[Any]) -> list[Row]:
    """The second sheet: every indicator value against its year's target (an indicator
    without values: one row with its name only); the convention's own have no axe."""
    valeurs: dict[uuid.UUID, list[tuple[str, Decimal]]] = defaultdict(list)
    for ind in indicateurs:
        if ind.periode is not None:
            valeurs[ind.id].append((ind.periode, ind.valeur))
    out: list[Row] = []
    for ind in indicateurs:
        cible = cible_de_periode(ind.cibles, ind.periode) if ind.periode else None
        p = progression(valeurs[ind.id], ind.cibles)
        out.append(
            (
                ind.axe,
                ind.action,
                ind.libelle,
                ind.unite,
                ind.periode,
                ind.valeur,
                cible,
                part_de_la_cible(ind.valeur, cible),
                *(
                    (None,) * 5
                    if p is None
                    else (
                        p.valeur,
                        p.periode,
                        p.cible,
                        None if p.pourcentage is None else p.pourcentage / 100,
                        None if p.tendance is None else p.tendance.value,
                    )
                ),
            )
        )
    return out


def quarters_to_export(
    date_debut: dt.date, fin: dt.date, today: dt.date, periode: str | None
) -> list[str]:
    """The quarters the convention has run so far (a quarter not begun has no suivi to
    show), or the one asked for, which must be one the convention runs."""
    running = trimestres_actifs(date_debut, fin)
    if periode is not None:
        if Trimestre.parse(periode) not in running:
            raise NotFound(f"Aucune campagne {periode} : la convention ne court pas ce trimestre.")
        return [periode]
    return [str(t) for t in running if t.debut <= today]


async def tableau_de_suivi(
    ctx: ActionsContext,
    session: AsyncSession,
    principal: Principal,
    convention_id: uuid.UUID,
    periode: str | None,
) -> Export:
    """One convention's tableau de suivi, for a reader of that convention (404 otherwise)."""
    convention = await ctx.replica.readable(session, convention_id, principal)
    today = ctx.today()
    fin = fin_effective(convention.date_fin, convention.date_effet_resiliation)
    periodes = quarters_to_export(convention.date_debut, fin, today, periode)
    rows = await xrepo.tableau_rows(session, convention_id, periodes)
    indicateurs = await xrepo.indicateurs_rows(session, convention_id)
    noms = await ctx.replica.client.organisation_names({p for r in rows for p in r.porteur_ids})
    suffix = f"-{periode}" if periode else ""
    return Export(
        nom_fichier=f"tableau-de-suivi-{convention.titre}{suffix}-{today.isoformat()}",
        titre=f"Tableau de suivi — {convention.titre}",
        sheets=(
            Sheet(FEUILLE_SUIVI, COLONNES_SUIVI, suivi_rows(rows, noms, indicateurs, today)),
            Sheet(FEUILLE_INDICATEURS, COLONNES_INDICATEURS, indicateur_rows(indicateurs)),
        ),
    )
