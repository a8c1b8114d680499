"""Verdicts on the targets, and the spread printed beside them (no machine measured)."""

from __future__ import annotations

import dataclasses
from typing import Any

from coop.bench import report
from coop.bench.bounds import Bounds


def read_endpoint(
    gateway_rounds: list[float], direct_rounds: list[float], gw_q: list[float], d_q: list[float]
) -> dict[str, Any]:
    def c32(rounds: list[float]) -> dict[str, Any]:
        return {"rps": sum(rounds) / len(rounds), "rps_rounds": rounds}

    return {
        "kind": "read",
        "label": "fiche",
        "c1": {
            "gateway": {"p50_ms": sorted(gw_q)[1], "p50_quarters_ms": gw_q},
            "direct": {"p50_ms": sorted(d_q)[1], "p50_quarters_ms": d_q},
        },
        "c32": {"gateway": c32(gateway_rounds), "direct": c32(direct_rounds)},
    }


def target(results: dict[str, Any], starts: str) -> dict[str, Any]:
    return next(t for t in report.targets(results) if t["target"].startswith(starts))


def test_a_ratio_whose_rounds_disagree_says_noise_decides() -> None:
    endpoint = read_endpoint([800, 950, 900, 850], [1000] * 4, [1.0] * 4, [0.6] * 4)
    t = target({"endpoints": {"fiche": endpoint}}, "Passerelle ≥ 0,85")
    assert t["value"] == 0.875
    assert t["met"] is True
    assert t["spread"] == [0.8, 0.95]
    assert t["noise_decides"] is True
    assert "selon le tour : 0.80 à 0.95" in t["detail"]
    assert "les parties du point ne s'accordent pas" in report.markdown(
        {
            "scale": "tiny",
            "machine": {"cpus": 2, "python": "3.11"},
            "bounds": dataclasses.asdict(Bounds(1, 1, 1, 1, 1)),
            "targets": [t],
        }
    )


def test_a_ratio_every_round_agrees_on_is_a_plain_verdict() -> None:
    endpoint = read_endpoint([700, 720, 690, 710], [1000] * 4, [1.0] * 4, [0.6] * 4)
    t = target({"endpoints": {"fiche": endpoint}}, "Passerelle ≥ 0,85")
    assert t["met"] is False
    assert t["noise_decides"] is False
    assert t["spread"] == [0.69, 0.72]


def test_added_latency_is_read_quarter_by_quarter() -> None:
    endpoint = read_endpoint([1000] * 4, [1000] * 4, [1.3, 1.0, 1.1, 1.2], [0.7, 0.7, 0.7, 0.6])
    t = target({"endpoints": {"fiche": endpoint}}, "Passerelle ajoute")
    assert abs(t["value"] - 0.4) < 1e-9  # p50s: 1.1 - 0.7
    assert t["spread"] == [0.3, 0.6]
    assert "par quart des requêtes : 0.30 ms à 0.60 ms" in t["detail"]
    # Retired as a target: still printed, no longer judged.
    assert t["met"] is None
    assert t["retired"] is True
    text = report.markdown(
        {
            "scale": "tiny",
            "machine": {"cpus": 2, "python": "3.11"},
            "bounds": dataclasses.asdict(Bounds(1, 1, 1, 1, 1)),
            "targets": [t],
        }
    )
    assert "chiffre seul (objectif retiré)" in text


def test_without_parts_no_spread_is_claimed() -> None:
    endpoint = read_endpoint([1000] * 4, [1000] * 4, [1.0] * 4, [0.9] * 4)
    for variant in ("gateway", "direct"):
        del endpoint["c32"][variant]["rps_rounds"]
    t = target({"endpoints": {"fiche": endpoint}}, "Passerelle ≥ 0,85")
    assert t["met"] is True
    assert "spread" not in t
    assert "selon le tour" not in t["detail"]


def with_relay(endpoint: dict[str, Any], rounds: list[float], quarters: list[float]) -> None:
    endpoint["c32"]["relay"] = {
        "rps": sum(rounds) / len(rounds),
        "rps_rounds": rounds,
        "cpu_ms_per_request": 0.11,
    }
    endpoint["c32"]["gateway"]["cpu_ms_per_request"] = 0.19
    endpoint["c1"]["relay"] = {"p50_ms": sorted(quarters)[1], "p50_quarters_ms": quarters}


def test_the_gateway_verdicts_name_the_bare_relay_at_the_same_point() -> None:
    fiche = read_endpoint([800] * 4, [1000] * 4, [1.5] * 4, [0.8] * 4)
    with_relay(fiche, [880] * 4, [1.2] * 4)
    plan = read_endpoint([990] * 4, [1000] * 4, [1.0] * 4, [0.9] * 4)
    with_relay(plan, [1000] * 4, [0.95] * 4)
    results = {"endpoints": {"fiche": fiche, "plan": plan}}
    throughput = target(results, "Passerelle ≥ 0,85")
    assert throughput["worst"] == "fiche"
    assert throughput["met"] is False  # the floor explains, it does not excuse
    assert throughput["detail"].endswith("relais nu au même point : 0.88")
    latency = target(results, "Passerelle ajoute")
    assert latency["detail"].endswith("relais nu au même point : 0.40 ms")


def test_the_hop_floor_splits_the_gateway_cost_from_the_hop() -> None:
    fiche = read_endpoint([850] * 4, [1000] * 4, [1.5] * 4, [0.8] * 4)
    with_relay(fiche, [880] * 4, [1.2] * 4)
    without = read_endpoint([850] * 4, [1000] * 4, [1.5] * 4, [0.8] * 4)
    slow = read_endpoint([1000] * 4, [1000] * 4, [380.0] * 4, [400.0] * 4)
    with_relay(slow, [1000] * 4, [390.0] * 4)
    results: dict[str, Any] = {
        "endpoints": {"fiche": fiche, "sans_relais": without, "agregats": slow}
    }
    rows = report.hop_floor(results)
    assert [r["op"] for r in rows] == ["fiche", "agregats"]
    row, slow_row = rows
    # Left out at c=1 beyond 50 ms, as the added-latency target leaves it out.
    assert slow_row["c1_gateway_added_ms"] is None
    assert slow_row["c1_relay_added_ms"] is None
    assert slow_row["c32_relay_direct"] == 1.0
    # Its CPU per request is read at 1000 req/s; at 5 the background work would weigh more.
    assert slow_row["c32_relay_cpu_ms"] == 0.11
    slow["c32"]["relay"]["rps"] = 5.0
    assert report.hop_floor(results)[1]["c32_relay_cpu_ms"] is None
    assert row["c32_gateway_direct"] == 0.85
    assert row["c32_relay_direct"] == 0.88
    assert abs(row["c32_gateway_relay"] - 850 / 880) < 1e-9
    assert abs(row["c1_gateway_added_ms"] - 0.7) < 1e-9
    assert abs(row["c1_relay_added_ms"] - 0.4) < 1e-9
    assert abs(row["c1_gateway_beyond_relay_ms"] - 0.3) < 1e-9
    text = report.markdown(
        {
            "scale": "tiny",
            "machine": {"cpus": 2, "python": "3.11"},
            "bounds": dataclasses.asdict(Bounds(1, 1, 1, 1, 1)),
            "hop_floor": rows,
        }
    )
    assert (row["c32_gateway_cpu_ms"], row["c32_relay_cpu_ms"]) == (0.19, 0.11)
    assert "| fiche | 0.85 | 0.88 | 0.97 | 0.19 | 0.11 | 0.70 | 0.40 | 0.30 |" in text


def test_the_national_aggregates_are_held_to_100_ms_direct() -> None:
    """Issue 22: national aggregates p50 ≤ 100 ms direct on the national data set; the
    gateway's p50 does not decide it."""
    slow = read_endpoint([10] * 4, [10] * 4, [90.0] * 4, [340.0] * 4)
    assert target({"endpoints": {"agregats_nationaux": slow}}, "Agrégats nationaux")["met"] is False
    fast = read_endpoint([10] * 4, [10] * 4, [140.0] * 4, [60.0] * 4)
    t = target({"endpoints": {"agregats_nationaux": fast}}, "Agrégats nationaux")
    assert (t["met"], t["value"], t["threshold"]) == (True, 60.0, "≤ 100 ms")
    assert target({"endpoints": {}}, "Agrégats nationaux")["met"] is None


def test_a_direct_download_is_judged_against_the_raw_file_server() -> None:
    def download(direct: float, raw: float) -> dict[str, Any]:
        return {
            "kind": "transfer",
            "label": "Télécharger",
            "c8": {"direct": {"mb_per_s": direct}, "raw": {"mb_per_s": raw}},
        }

    name = "Téléchargement direct"
    met = target({"endpoints": {"document_download": download(700.0, 1000.0)}}, name)
    assert met["value"] == 0.7
    assert met["met"] is True
    missed = target({"endpoints": {"document_download": download(230.0, 1000.0)}}, name)
    assert missed["met"] is False
    # Uploads have their own raw variant: not this target's.
    assert target({"endpoints": {"document_upload": download(1.0, 1000.0)}}, name)["met"] is None


def test_the_report_gives_each_services_rate_at_one_and_n_workers() -> None:
    fiche = read_endpoint([850] * 4, [1000] * 4, [1.5] * 4, [0.8] * 4)
    fiche["c32"]["direct-1"] = {"rps": 800.0}
    results: dict[str, Any] = {
        "scale": "tiny",
        "machine": {"cpus": 2, "python": "3.11", "workers": 2},
        "bounds": dataclasses.asdict(Bounds(1, 1, 1, 1, 1)),
        "endpoints": {"fiche": fiche},
    }
    results["workers"] = report.workers(results)
    assert results["workers"]["n"] == 2
    assert results["workers"]["rows"] == [
        {"op": "fiche", "label": "fiche", "rps_1": 800.0, "rps_n": 1000.0, "n_over_1": 1.25}
    ]
    text = report.markdown(results)
    assert "| fiche | 800.00 | 1 000.00 | 1.25 |" in text
    assert "contention, pas la montée en charge" in text


def test_answers_no_scenario_expects_are_counted_per_variant_and_fail_the_run() -> None:
    """A 503 (a saturated pool, a server out of connections) or a refused connection in a
    run means it measured something else than the suite at work."""
    fiche = read_endpoint([850] * 4, [1000] * 4, [1.5] * 4, [0.8] * 4)
    fiche["c1"]["direct"]["errors"] = 2
    fiche["c32"]["gateway"]["errors"] = 3
    fiche["c32"]["direct"]["errors"] = 1
    fiche["c32"]["direct"]["first_error"] = "GET /api/v1/conventions -> 503 b'...'"
    results: dict[str, Any] = {
        "scale": "tiny",
        "machine": {"cpus": 2, "python": "3.11"},
        "bounds": dataclasses.asdict(Bounds(1, 1, 1, 1, 1)),
        "endpoints": {"fiche": fiche},
    }
    assert report.errors(results) == {"gateway": 3, "direct": 3}
    assert report.failed(results)
    results["targets"] = report.targets(results)
    t = target(results, report.ERRORS_TARGET)
    assert (t["value"], t["met"], t["detail"]) == (6, False, "gateway 3, direct 3")
    text = report.markdown(results)
    assert "**Mesure invalide** : réponses hors attendues (gateway 3, direct 3)" in text
    assert "503" in text

    clean = read_endpoint([850] * 4, [1000] * 4, [1.5] * 4, [0.8] * 4)
    results["endpoints"] = {"fiche": clean}
    assert not report.failed(results)
    assert target(results, report.ERRORS_TARGET)["met"] is True
