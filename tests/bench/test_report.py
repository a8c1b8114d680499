"""Verdicts on the targets, and the spread printed beside them (no machine measured)."""

from __future__ import annotations

from typing import Any

from coop.bench import report


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
    t = target({"endpoints": {"fiche": endpoint}}, "Passerelle ≥ 0,90")
    assert t["value"] == 0.875
    assert t["met"] is False
    assert t["spread"] == [0.8, 0.95]
    assert t["noise_decides"] is True
    assert "selon le tour : 0.80 à 0.95" in t["detail"]
    assert "les parties du point ne s'accordent pas" in report.markdown(
        {
            "scale": "tiny",
            "machine": {"cpus": 2, "python": "3.11"},
            "bounds": {"requests": 1, "seconds": 1},
            "targets": [t],
        }
    )


def test_a_ratio_every_round_agrees_on_is_a_plain_verdict() -> None:
    endpoint = read_endpoint([700, 720, 690, 710], [1000] * 4, [1.0] * 4, [0.6] * 4)
    t = target({"endpoints": {"fiche": endpoint}}, "Passerelle ≥ 0,90")
    assert t["met"] is False
    assert t["noise_decides"] is False
    assert t["spread"] == [0.69, 0.72]


def test_added_latency_is_read_quarter_by_quarter() -> None:
    endpoint = read_endpoint([1000] * 4, [1000] * 4, [1.3, 1.0, 1.1, 1.2], [0.7, 0.7, 0.7, 0.6])
    t = target({"endpoints": {"fiche": endpoint}}, "Passerelle ajoute")
    assert t["met"] is True  # p50s: 1.1 - 0.7
    assert t["spread"] == [0.3, 0.6]
    assert t["noise_decides"] is True
    assert "par quart des requêtes : 0.30 ms à 0.60 ms" in t["detail"]


def test_without_parts_no_spread_is_claimed() -> None:
    endpoint = read_endpoint([1000] * 4, [1000] * 4, [1.0] * 4, [0.9] * 4)
    for variant in ("gateway", "direct"):
        del endpoint["c32"][variant]["rps_rounds"]
    t = target({"endpoints": {"fiche": endpoint}}, "Passerelle ≥ 0,90")
    assert t["met"] is True
    assert "spread" not in t
    assert "selon le tour" not in t["detail"]
