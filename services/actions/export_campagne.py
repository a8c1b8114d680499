"""The export of a Caf's campaign: every convention of the Caf in force during one
quarter, each of its actions with that quarter's suivi, in the tableau de suivi's
columns (service_exports.COLONNES_SUIVI) after the convention's title.

Who: the Caf's own people (any role of theirs: it is a reading) and national readers
(any Caf); a collectivité's people, who read only the conventions they sign, never
(403: the right is a role's, not an object's); another Caf: 404 (outside the scope).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Literal

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.convention_ref import ReadScope
from kernel.errors import Forbidden, InvalidPayload, NotFound
from kernel.fields import examples
from kernel.principal import Principal
from kernel.tabular import Column, Row, Sheet
from services.actions import repository_exports as xrepo
from services.actions.export_genres import DemandeExport, Fichier, GenreExport, TypeExport
from services.actions.rules import PeriodeTrimestre, Trimestre
from services.actions.service_exports import (
    COLONNES_SUIVI,
    FEUILLE_SUIVI,
    indicator_cell,
    suivi_row,
)

# Rows fetched from the server cursor at a time.
STREAM_ROWS = 1000
COLONNES_CAMPAGNE = (Column("Convention", width=40), *COLONNES_SUIVI)


class DemandeCampagneCaf(DemandeExport):
    """L'export d'une campagne : toutes les conventions d'une Caf pour un trimestre."""

    model_config = examples({"type": "campagne-caf", "format": "xlsx", "periode": "2026-T3"})

    type: Literal[TypeExport.campagne_caf] = Field(description="Le genre d'export : campagne-caf.")
    caf_id: uuid.UUID | None = Field(
        default=None,
        description="La Caf ; par défaut celle de l'appelant (obligatoire pour un lecteur "
        "national ou qui relève de plusieurs Caf).",
    )
    periode: PeriodeTrimestre = Field(description="Le trimestre de la campagne (ex. 2026-T3).")


def _caf_of(principal: Principal, asked: uuid.UUID | None) -> uuid.UUID:
    if principal.is_national:
        if asked is None:
            raise _caf_needed()
        return asked
    mine = principal.caf_ids()
    if not mine:
        raise Forbidden(
            "L'export d'une campagne est réservé aux personnes des Caf et aux lecteurs nationaux."
        )
    if asked is None:
        if len(mine) > 1:
            raise _caf_needed()
        (asked,) = mine
    if asked not in mine:
        raise NotFound("Caf introuvable.")
    return asked


def _caf_needed() -> InvalidPayload:
    return InvalidPayload(
        "Précisez la Caf de la campagne (caf_id).",
        errors=[{"field": "caf_id", "location": "body", "message": "Champ requis."}],
    )


async def autoriser(
    session: AsyncSession, principal: Principal, demande: DemandeCampagneCaf, today: dt.date
) -> tuple[DemandeCampagneCaf, Fichier]:
    caf_id = _caf_of(principal, demande.caf_id)
    trimestre = Trimestre.parse(demande.periode)
    if trimestre.debut > today:
        raise InvalidPayload(
            f"La campagne {trimestre} n'a pas commencé : rien à exporter.",
            errors=[{"field": "periode", "location": "body", "message": "Trimestre à venir."}],
        )
    nom = await xrepo.caf_nom(session, caf_id)
    if nom is None:
        raise NotFound("Caf introuvable : aucune convention de cette Caf n'est connue.")
    label = nom or str(caf_id)
    return demande.model_copy(update={"caf_id": caf_id}), Fichier(
        nom=f"campagne-{trimestre}-{label}-{today.isoformat()}",
        titre=f"Campagne {trimestre} — {label}",
    )


async def feuilles(
    session: AsyncSession, principal: Principal, demande: DemandeCampagneCaf, today: dt.date
) -> Sequence[Sheet]:
    scope = ReadScope.of(principal)
    trimestre = Trimestre.parse(demande.periode)
    params = {
        **scope.params,
        "caf_id": demande.caf_id,
        "periode": str(trimestre),
        "t_debut": trimestre.debut,
        "t_fin": trimestre.fin,
    }

    async def rows() -> AsyncIterator[Row]:
        stmt = xrepo.campagne_caf_stmt(scope.kind).execution_options(yield_per=STREAM_ROWS)
        stream = await session.stream(stmt, params)
        async for r in stream:
            porteurs = [
                nom or str(pid) for pid, nom in zip(r.porteur_ids, r.porteur_noms, strict=True)
            ]
            valeurs = [(v[0], v[1], Decimal(v[2]), v[3]) for v in r.valeurs or ()]
            yield (r.convention, *suivi_row(r, porteurs, indicator_cell(valeurs, r.periode), today))

    return [Sheet(FEUILLE_SUIVI, COLONNES_CAMPAGNE, rows())]


CAMPAGNE_CAF = GenreExport(DemandeCampagneCaf, autoriser, feuilles)
