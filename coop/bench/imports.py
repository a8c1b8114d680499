"""The import of a plan d'actions of 200 actions (issue 26, "Scale"): dry run plus commit.

One timed run straight to the actions service, as the bench Caf's agent, on the bench
Caf's convention with the smallest plan: a real workbook (openpyxl) of `ACTIONS` new
actions over 8 axes, uploaded (the dry run), then committed. Its actions carry the
référence prefix `PREFIX`; `reset` removes the previous run's before a new one.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import openpyxl

KEY = "import_plan"
ACTIONS = 200
PREFIX = "banc-"
AXE = "Banc : agir pour l'axe "
TARGET_SECONDS = 5.0
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def reset(conn: asyncpg.Connection) -> None:
    """The previous run's imported actions and axes gone (never anything else)."""
    if not await conn.fetchval("SELECT to_regclass('actions.imports')"):
        return
    await conn.execute("DELETE FROM actions.actions WHERE reference LIKE $1", PREFIX + "%")
    await conn.execute(
        "DELETE FROM actions.axes a WHERE a.titre LIKE $1 AND NOT EXISTS "
        "(SELECT 1 FROM actions.actions x WHERE x.axe_id = a.id)",
        AXE + "%",
    )
    await conn.execute("DELETE FROM actions.imports")


async def target(conn: asyncpg.Connection, caf_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    """The bench Caf's signed convention with the fewest actions, and a porteur's name."""
    row = await conn.fetchrow(
        "SELECT r.id, r.noms, r.signataire_ids FROM actions.convention_ref r "
        "WHERE r.caf_id = $1 AND r.statut = 'signée' AND cardinality(r.signataire_ids) > 1 "
        "ORDER BY (SELECT count(*) FROM actions.actions a WHERE a.convention_id = r.id), r.id "
        "LIMIT 1",
        caf_id,
    )
    assert row is not None, "no signed convention for the bench Caf"
    noms = row["noms"] if isinstance(row["noms"], dict) else json.loads(row["noms"])
    porteur = next(str(noms[str(s)]) for s in row["signataire_ids"] if s != caf_id)
    return row["id"], porteur


def workbook(porteur: str, n: int = ACTIONS) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Référence", "Axe", "Titre", "Porteurs", "Statut", "Public cible"])
    for i in range(n):
        ws.append(
            [
                f"{PREFIX}{i // 25 + 1}.{i % 25 + 1}",
                f"{AXE}{i // 25 + 1}",
                f"Mener l'action {i + 1} du banc",
                porteur,
                "en cours",
                "Familles du territoire",
            ]
        )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def run(base_url: str, auth: str, convention_id: uuid.UUID, porteur: str) -> dict[str, Any]:
    """Dry run and commit timed; the figures and whether the target is met."""
    data = workbook(porteur)
    headers = {"Authorization": auth}
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        started = time.perf_counter()
        dry = await client.post(
            f"/api/v1/conventions/{convention_id}/imports",
            files={"fichier": ("plan.xlsx", data, XLSX)},
            headers=headers,
        )
        dry_s = time.perf_counter() - started
        if dry.status_code != 201:
            return {"error": f"essai : {dry.status_code} {dry.text[:300]}"}
        body = dry.json()
        committed = await client.post(
            f"/api/v1/conventions/{convention_id}/imports/{body['id']}/validation",
            headers={**headers, "If-Match": dry.headers["etag"]},
        )
        total = time.perf_counter() - started
        if committed.status_code != 200:
            return {"error": f"validation : {committed.status_code} {committed.text[:300]}"}
    return {
        "actions": ACTIONS,
        "created": committed.json()["totaux"]["creation"],
        "dry_run_s": round(dry_s, 3),
        "commit_s": round(total - dry_s, 3),
        "seconds": round(total, 3),
        "file_bytes": len(data),
    }
