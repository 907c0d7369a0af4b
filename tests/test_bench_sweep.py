"""bench.sweep: variants parsed like a store's engine section, runs scored together."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import sweep
from bench.accuracy_tables import sweep_table
from proximity.errors import InputError
from tests.test_evalcmd import small_scenario


def test_variants_are_validated_like_a_store_file() -> None:
    assert sweep.parse_variant("defaults") == {}
    assert sweep.parse_variant("max_fall_db_per_s=6,offset_outside_weight=0") == {
        "max_fall_db_per_s": 6.0,
        "offset_outside_weight": 0.0,
    }
    with pytest.raises(InputError, match="magic"):
        sweep.parse_variant("magic=3")
    with pytest.raises(InputError, match="expected a number"):
        sweep.parse_variant("tick_s=fast")
    with pytest.raises(InputError, match="knob=value"):
        sweep.parse_variant("tick_s")


def test_seed_ranges() -> None:
    assert sweep.parse_seeds("3-5") == [3, 4, 5]
    assert sweep.parse_seeds("7,9") == [7, 9]
    for bad in ("5-3", "x", "-1", ""):
        with pytest.raises(InputError, match="--seeds"):
            sweep.parse_seeds(bad)


def test_sweep_scores_every_variant_over_all_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = small_scenario(tmp_path, "sw", 1, 90)
    monkeypatch.setattr(sweep, "ROOT", tmp_path)
    png = tmp_path / "frontier.png"
    args = ["--scenario", str(scenario), "--seeds", "1-2", "--plot", str(png), "--save", "s.json"]
    assert sweep.main([*args, "defaults", "min_stay_s=0"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("sw, seeds 1-2 (2 runs scored together)")
    assert [line.split()[0] for line in lines[2:]] == ["defaults", "min_stay_s=0"]
    saved = json.loads((tmp_path / "out" / "s.json").read_text())
    assert saved["seeds"] == [1, 2]
    table = sweep_table(saved).splitlines()
    assert [row.split("|")[1].strip() for row in table[2:]] == ["`defaults`", "`min_stay_s=0`"]
    a, b = (v["metrics"] for v in saved["variants"])
    assert a["true_entries"] == b["true_entries"] > 0  # the same runs for every variant
    # every move published at once cannot make fewer zone changes than held ones
    assert b["zone_enters"] >= a["zone_enters"]


def test_bad_argument_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert sweep.main(["--seeds", "1-2", "magic=1"]) == 2
    assert "magic" in capsys.readouterr().err


def test_a_window_pause_is_told_from_a_walk() -> None:
    from bench.passersby import paused

    t = np.array([0.0, 10.0, 15.0, 25.0])
    walk = (t, np.array([0.0, 12.0, 18.0, 30.0]), np.zeros(4))
    stop = (t, np.array([0.0, 12.0, 12.2, 24.0]), np.array([0.0, 0.0, 0.1, 0.0]))
    assert not paused(*walk)
    assert paused(*stop)
