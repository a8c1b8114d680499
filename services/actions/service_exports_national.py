"""The national export (issue 26, "national aggregates for national readers"): for one
year, every convention's tableau de suivi in one sheet, and the year's figures per Caf.

Sheet « Suivis »: the per-convention export's columns (`COLONNES_SUIVI`, rows built by
its `suivi_row`) after the Caf and the convention, one row per action × quarter of the
year the convention is in force and that has begun. Sheet « Agrégats »: per Caf, then
the nation, the conventions in force, their actions due a suivi, the suivis expected,
validated, sent back, submitted, drafts and missing, the share validated, the actions
late today: the campaigns' counts (`GET /campagnes/{periode}`) summed over the year.
In CSV, one sheet, chosen by `feuille`. National readers only (DOMAIN.md: the Cnaf's
`lecteur_national` "read everything, national and departmental aggregates"); anyone
else 403 (the right is a role's, not an object's).

A kind of large export (`export_genres`): asked with `POST /api/v1/exports`, written by
the job `actions.exports`, « Suivis » streamed from one statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

import orjson
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ReadScope, ScopeKind
from kernel.errors import Forbidden, InvalidPayload
from kernel.fields import examples
from kernel.input import ANNEE_MAX, ANNEE_MIN
from kernel.principal import Principal
from kernel.tabular import CellType, Column, Row, Sheet
from services.actions import repository_exports_national as nrepo
from services.actions.export_genres import DemandeExport, Fichier, GenreExport, TypeExport
from services.actions.rules import Trimestre
from services.actions.service_exports import (
    COLONNES_SUIVI,
    FormatExport,
    indicator_cell,
    suivi_row,
)

FEUILLE_SUIVIS = "Suivis"
FEUILLE_AGREGATS = "Agrégats"
TOTAL = "Total national"
REFUS = "Seuls les lecteurs nationaux (Cnaf) peuvent demander l'export national."


class FeuilleNationale(StrEnum):
    """La feuille d'un export national en CSV (un fichier CSV n'en contient qu'une)."""

    suivis = "suivis"
    agregats = "agregats"


class DemandeNational(DemandeExport):
    """L'export national : tous les suivis d'une année de toutes les conventions, et les
    agrégats de l'année par Caf (lecteurs nationaux)."""

    model_config = examples(
        {"type": "national", "format": "ods", "annee": 2026},
        {"type": "national", "format": "csv", "annee": 2026, "feuille": "agregats"},
    )

    type: Literal[TypeExport.national] = Field(description="Le genre d'export : national.")
    annee: int = Field(
        ge=ANNEE_MIN,
        le=ANNEE_MAX,
        description="L'année des suivis (ex. 2026) : ses trimestres commencés.",
    )
    feuille: FeuilleNationale = Field(
        default=FeuilleNationale.suivis,
        description="En CSV, la feuille exportée : suivis (par défaut) ou agregats ; l'ODS "
        "et le XLSX contiennent les deux.",
    )


COLONNES_SUIVIS = (Column("Caf", width=16), Column("Convention", width=40), *COLONNES_SUIVI)

COLONNES_AGREGATS = (
    Column("Caf", width=16),
    Column("Conventions", CellType.integer),
    Column("Actions", CellType.integer),
    Column("Suivis attendus", CellType.integer),
    Column("Suivis validés", CellType.integer),
    Column("Suivis à compléter", CellType.integer),
    Column("Suivis soumis", CellType.integer),
    Column("Suivis en brouillon", CellType.integer),
    Column("Suivis non renseignés", CellType.integer),
    Column("Taux de suivis validés", CellType.percent),
    Column("Actions en retard", CellType.integer),
)


def check_reader(principal: Principal) -> ReadScope:
    """The caller's scope, national readers only (403 otherwise)."""
    scope = ReadScope.of(principal)
    if scope.kind is not ScopeKind.national:
        raise Forbidden(REFUS)
    return scope


def quarters_of(annee: int, today: dt.date) -> list[Trimestre]:
    """The year's quarters begun by `today` (a quarter not begun has no suivi to show);
    a year not begun is refused (422)."""
    begun = [t for t in (Trimestre(annee, n) for n in range(1, 5)) if t.debut <= today]
    if not begun:
        raise InvalidPayload(
            f"L'année {annee} n'a pas commencé : aucun suivi à exporter.",
            errors=[
                {
                    "field": "annee",
                    "location": "body",
                    "message": f"Année à venir : au plus {today.year}.",
                }
            ],
        )
    return begun


def suivis_row(r: Any, today: dt.date) -> Row:
    """A row of « Suivis » from `repository_exports_national.suivis`: the Caf, the
    convention, then the tableau de suivi's row."""
    porteurs = [nom or pid for pid, nom in zip(r.porteur_ids, r.porteur_noms, strict=True)]
    valeurs = [
        (libelle, unite, Decimal(valeur), cibles)
        for libelle, unite, valeur, cibles in (orjson.loads(r.valeurs) if r.valeurs else ())
    ]
    cell = indicator_cell(valeurs, r.periode)
    return (r.caf, r.convention, *suivi_row(r, porteurs, cell, today))


def agregats_row(r: Any) -> Row:
    """A row of « Agrégats » (the total's: no Caf id)."""
    taux = None if not r.attendus else Decimal(r.valides) / Decimal(r.attendus)
    return (
        TOTAL if r.caf_id is None else r.caf or str(r.caf_id),
        r.conventions,
        r.actions,
        r.attendus,
        r.valides,
        r.a_completer,
        r.soumis,
        r.brouillons,
        r.non_renseignes,
        None if taux is None else taux.quantize(Decimal("0.0001")),
        r.en_retard,
    )


async def autoriser(
    session: AsyncSession, principal: Principal, demande: DemandeNational, today: dt.date
) -> tuple[DemandeNational, Fichier]:
    check_reader(principal)
    quarters_of(demande.annee, today)
    return demande, Fichier(
        nom=f"export-national-{demande.annee}-{today.isoformat()}",
        titre=f"Suivis {demande.annee} — national",
    )


async def feuilles(
    session: AsyncSession, principal: Principal, demande: DemandeNational, today: dt.date
) -> Sequence[Sheet]:
    """The export's sheets, their rows read from `session` as the writer asks for them
    (« Suivis » streamed, then « Agrégats »); in CSV, the one asked for."""
    scope = check_reader(principal)
    trimestres = quarters_of(demande.annee, today)

    async def suivis() -> AsyncIterator[Row]:
        async for r in nrepo.suivis(session, scope, trimestres):
            yield suivis_row(r, today)

    async def agregats() -> AsyncIterator[Row]:
        for r in await nrepo.agregats(session, scope, trimestres, today):
            yield agregats_row(r)

    sheets = {
        FeuilleNationale.suivis: Sheet(FEUILLE_SUIVIS, COLONNES_SUIVIS, suivis()),
        FeuilleNationale.agregats: Sheet(FEUILLE_AGREGATS, COLONNES_AGREGATS, agregats()),
    }
    if FormatExport(demande.format) is FormatExport.csv:
        return [sheets[demande.feuille]]
    return list(sheets.values())


NATIONAL = GenreExport(DemandeNational, autoriser, feuilles)
