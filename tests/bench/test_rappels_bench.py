"""`coop bench rappels` on the tiny data set (hundreds of actions): the national figure's
small version, checking what it counts, not its time. Issue 25: "opening a campaign and
computing its J-15 reminders ... sends one message per person (grouped), not one per
action"; "a reminder is never sent twice"."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest

from kernel.database import asyncpg_dsn
from tests.bench.cli import coop_bench


@pytest.mark.slow
def test_opening_and_j15_make_one_message_per_person_once(
    database_url: str, tmp_path: Path
) -> None:
    coop_bench(database_url, "rappels", "--scale", "tiny", "--out", str(tmp_path))
    results = json.loads((tmp_path / "rappels.json").read_text())
    assert results["one_per_person"] is True
    for step in ("ouverture", "j15"):
        s = results["steps"][step]
        # Grouped: far fewer messages than reminders, each person once, each by e-mail
        # (the data set's persons have verified addresses); the same day again: nothing.
        assert 0 < s["messages"] == s["persons"] == s["emails"], s
        assert s["most_per_person"] == 1
        assert s["made"] == s["messages"]
        assert s["made_again"] == 0
    assert results["steps"]["j15"]["reminders_recorded"] > 3 * results["steps"]["j15"]["messages"]
    assert "cible < 60 s" in (tmp_path / "rappels.md").read_text()
    asyncio.run(_each_key_once(database_url))


async def _each_key_once(url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # Every recorded reminder went into exactly one message.
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM notifications.rappels WHERE notification_id IS NULL"
            )
            == 0
        )
        grouped = await conn.fetchval(
            "SELECT count(DISTINCT notification_id) FROM notifications.rappels"
        )
        messages = await conn.fetchval(
            "SELECT count(*) FROM notifications.notifications WHERE source = 'rappels'"
        )
        assert grouped == messages
    finally:
        await conn.close()
