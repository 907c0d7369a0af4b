"""The Markdown tables of docs/accuracy.md: Wilson intervals and the pooled table."""

from __future__ import annotations

from typing import Any

import pytest

from bench.accuracy_tables import pathloss_table, pooled_table, wilson


def test_wilson_interval_matches_published_values() -> None:
    # Wilson (1927) / Newcombe (1998): 0 of 10 -> (0, 0.278); 5 of 10 -> (0.237, 0.763)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-3)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-3)
    lo, hi = wilson(99, 100)
    assert lo < 0.99 < hi <= 1.0


def _metrics(matched: int, entries: int, entered: int, passersby: int) -> dict[str, Any]:
    stat = {"n": 3, "p50": 2.0, "p95": 4.5, "mean": 2.5}
    return {
        "in_store_accuracy": 0.8,
        "out_of_store_accuracy": 0.9,
        "entries_matched": matched,
        "true_entries": entries,
        "entry_precision": 0.5,
        "passersby_entered": entered,
        "passersby": passersby,
        "spurious_per_device_hour": 3.25,
        "entry_latency": {"phone": stat},
        "exit_latency": {},
    }


def test_pooled_table_shows_counts_and_intervals() -> None:
    data = {
        "title": "proximity eval: scenario 'x', 4 runs of 60 s (seeds 1-4), scored together",
        "metrics": {"engine": _metrics(8, 10, 1, 40), "baseline": _metrics(10, 10, 40, 40)},
    }
    lines = pooled_table({"x": data}).splitlines()
    assert len(lines) == 4
    engine, baseline = lines[2], lines[3]
    assert engine.startswith("| x (4) | engine | 80.0 % | 90.0 % | 80.0 % (49-94) |")
    assert "2.5 % (0-13)" in engine and "10 / 40" in engine
    assert "4.5 / - s" in engine and "- / - s" in engine
    assert baseline.startswith("|  | baseline |") and "100.0 % (91-100)" in baseline


def test_pathloss_table_shows_where_each_engine_ended() -> None:
    metrics = {
        "in_store_accuracy": 0.5,
        "out_of_store_accuracy": 0.9,
        "entry_recall": 0.25,
        "entry_precision": 0.125,
        "passerby_false_entry_rate": 0.0,
        "spurious_per_device_hour": 3.25,
    }
    table = pathloss_table(
        [
            {"path loss": "n = 3.5, engine", "exponents": [3.5, 3.0], **metrics},
            {"path loss": "n = 3.5, baseline", "exponents": None, **metrics},
        ]
    )
    lines = table.splitlines()
    assert lines[2] == (
        "| n = 3.5, engine | 3.5, 3 | 50.0 % | 90.0 % | 25.0 % | 12.5 % | 0.0 % | 3.2 |"
    )
    assert lines[3].startswith("| n = 3.5, baseline | - | 50.0 % |")
