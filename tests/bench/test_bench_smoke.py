"""`make bench` end to end on the tiny data set: real processes, every endpoint measured."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from kernel.database import asyncpg_dsn
from tests.bench.cli import coop_bench
from tests.support.compteurs import assert_counters_match_a_rescan

EXPECTED = {
    "moi_a_renseigner",
    "plan_actions",
    "campagne_caf",
    "agregats_nationaux",
    "soumission_suivi",
    "mes_conventions",
    "convention_detail",
    "pagination_premiere",
    "pagination_profonde",
    "document_upload",
    "document_download",
    "tableau_de_suivi",
}


@pytest.mark.slow
def test_bench_runs_end_to_end_on_the_tiny_data_set(database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "results"
    coop_bench(
        database_url,
        *("run", "--scale", "tiny", "--requests", "12", "--seconds", "1"),
        *("--load-requests", "48", "--load-seconds", "1", "--rounds", "2", "--out", str(out)),
    )
    results = json.loads((out / "latest.json").read_text())
    assert set(results["endpoints"]) == EXPECTED, results.get("missing")
    cpu_ms: Counter[str] = Counter()
    for key, entry in results["endpoints"].items():
        variants = set(entry["c1"])
        assert {"gateway", "direct"} <= variants, key
        assert variants & {"baseline", "raw"}, key
        # Every endpoint but the transfers is also measured through the bare relay.
        assert ("relay" in variants) == (entry["kind"] != "transfer"), key
        for level, by_variant in entry.items():
            if level.startswith("c") and level != "c1":
                for variant, s in by_variant.items():
                    cpu_ms[variant] += s["cpu_ms_per_request"]
                # The c=32 reads in the rounds asked for; the transfers in four.
                rounds = 2 if level == "c32" else 4
                assert all(len(s["rps_rounds"]) == rounds for s in by_variant.values()), key
    # Each front process's CPU is read around each slice. One slice of a tiny run may
    # stay within one clock tick (0 ms); the gateway and the service, summed over every
    # endpoint, cannot.
    assert cpu_ms["gateway"] > 0, cpu_ms
    assert cpu_ms["direct"] > 0, cpu_ms
    assert {row["op"] for row in results["hop_floor"]} == {
        key for key, entry in results["endpoints"].items() if entry["kind"] != "transfer"
    }
    assert {t["target"] for t in results["targets"]}, "every target is evaluated"
    # Issue 26's scale: a plan of 200 actions imported, dry run then commit, timed.
    imported = results["import_plan"]
    assert imported["created"] == 200, imported
    assert imported["seconds"] == pytest.approx(imported["dry_run_s"] + imported["commit_s"], 0.01)
    target = next(t for t in results["targets"] if t["target"].startswith("Import d'un plan"))
    assert target["value"] == imported["seconds"]
    assert results["bounds"]["rounds"] == 2
    report = (out / "latest.md").read_text()
    # The machine's load as the run started is printed with the figures it colours.
    load = results["machine"]["load_before"]
    assert isinstance(load, float), load
    assert f"charge avant la mesure {load} (1 min)" in report
    assert report.count("|") > 20
    assert (out / "latest.png").stat().st_size > 0
    # The generator loads the campaign counters itself (its bulk load does not run the
    # triggers): they equal a scan, the run's submissions included.
    asyncio.run(_counters_match_a_rescan(database_url))


async def _counters_match_a_rescan(url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM actions.compteurs_campagnes") > 0
        await assert_counters_match_a_rescan(conn)
    finally:
        await conn.close()
