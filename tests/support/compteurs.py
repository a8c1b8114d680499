"""The campaign counters of the actions service against a scan of its suivis."""

from __future__ import annotations

from typing import Any

import asyncpg

# The scan the counters stand for, written here on its own: every suivi of an action
# that is not abandoned, per convention (the action's) and quarter.
RESCAN_CAMPAGNES = """
    SELECT a.convention_id, s.periode,
           count(*) FILTER (WHERE s.etat = 'brouillon') AS brouillon,
           count(*) FILTER (WHERE s.etat = 'soumis') AS soumis,
           count(*) FILTER (WHERE s.etat = 'validé') AS valide,
           count(*) FILTER (WHERE s.etat = 'à compléter') AS a_completer,
           count(*) FILTER (WHERE s.alerte) AS alertes
    FROM actions.suivis AS s JOIN actions.actions AS a ON a.id = s.action_id
    WHERE a.statut <> 'abandonnée'
    GROUP BY a.convention_id, s.periode
"""
RESCAN_PLANS = """
    SELECT convention_id, count(*) AS actions FROM actions.actions
    WHERE statut <> 'abandonnée' GROUP BY convention_id
"""
# A row back to zero is the same as no row.
COUNTERS_CAMPAGNES = """
    SELECT convention_id, periode, brouillon, soumis, valide, a_completer, alertes
    FROM actions.compteurs_campagnes
    WHERE (brouillon, soumis, valide, a_completer, alertes) <> (0, 0, 0, 0, 0)
"""
COUNTERS_PLANS = "SELECT convention_id, actions FROM actions.compteurs_plans WHERE actions <> 0"


def _keyed(rows: list[asyncpg.Record], key: int) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    return {tuple(r)[:key]: tuple(r)[key:] for r in rows}


async def assert_counters_match_a_rescan(conn: asyncpg.Connection) -> None:
    assert _keyed(await conn.fetch(COUNTERS_CAMPAGNES), 2) == _keyed(
        await conn.fetch(RESCAN_CAMPAGNES), 2
    )
    assert _keyed(await conn.fetch(COUNTERS_PLANS), 1) == _keyed(await conn.fetch(RESCAN_PLANS), 1)
