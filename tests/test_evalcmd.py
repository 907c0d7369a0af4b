"""The eval report table and an end-to-end ``proximity eval`` run on a short scenario."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from proximity.errors import InputError
from proximity.evalcmd import run
from proximity.evaluate import Metrics, Stat, score
from proximity.report import as_dict, better, fmt, render, rows
from tests.test_evaluate import STORE, VISIT, events_of, shifted, truth_of

ROOT = Path(__file__).resolve().parent.parent


def two_columns() -> list[tuple[str, Metrics]]:
    from proximity.store import parse_store

    store = parse_store(STORE, "store.yaml")
    truth = truth_of("a", VISIT)
    late = score(store, truth, events_of(store, "a", shifted(VISIT, 3)))
    flappy = sorted([*VISIT, (70.0, "entrance"), (71.0, "sales")], key=lambda s: s[0])
    flap = score(store, truth, events_of(store, "a", flappy))
    return [("engine", late), ("baseline", flap)]


def test_table_marks_the_better_column_per_row() -> None:
    columns = two_columns()
    data = as_dict(columns, title="t")
    by_key = {r["key"]: r for r in data["rows"]}
    # late by 3 s everywhere vs a flap: the flap wins accuracy, loses on spurious changes
    assert by_key["in_store_accuracy"]["better"] == ["baseline"]
    assert by_key["spurious_per_device_hour"]["better"] == ["engine"]
    assert by_key["spurious_per_device_hour"]["meets"] == {"engine": True, "baseline": False}
    assert by_key["entry_recall"]["better"] == ["engine", "baseline"]  # a tie
    assert by_key["entry_latency.phone.p50"]["values"]["engine"] == pytest.approx(3)
    assert by_key["entry_latency.phone.p50"]["better"] == ["baseline"]
    assert by_key["passerby_false_entry_rate"]["better"] == []
    assert by_key["passerby_false_entry_rate"]["values"] == {"engine": None, "baseline": None}
    assert data["metrics"]["engine"]["entry_latency"]["phone"]["p50"] == pytest.approx(3)
    json.dumps(data)  # plain data


def test_rendered_table_has_every_row_and_column() -> None:
    columns = two_columns()
    text = render(columns, title="scenario x")
    lines = text.splitlines()
    assert lines[0] == "scenario x"
    assert "engine" in lines[2] and "baseline" in lines[2] and "target" in lines[2]
    for row in rows(columns):
        assert any(line.startswith(row.label) for line in lines), row.label
    spurious = next(line for line in lines if line.startswith("spurious zone changes"))
    assert spurious.split()[-1] == "engine"
    recall = next(line for line in lines if line.startswith("store entry recall"))
    assert recall.split()[-1] == "="
    passersby = next(line for line in lines if line.startswith("passers-by with"))
    assert passersby.endswith("1.0 %")  # no better mark without values
    assert "0.0 /h*" in spurious and "48.0 /h " in spurious


def test_latency_is_compared_by_magnitude() -> None:
    row = next(r for r in rows(two_columns()) if r.key == "zone_latency.phone.p50")
    assert better(row, [-7.0, 2.0]) == [1]
    assert better(row, [2.01, -2.04, 9.0]) == [0, 1]  # equal as shown (2.0 s)
    assert better(row, [None, None]) == []
    assert row.meets(-3.0) is True
    assert row.meets(-5.0) is False


def test_formatting() -> None:
    assert fmt(0.9234, "%") == "92.3 %"
    assert fmt(None, "s") == "-"
    assert fmt(3.25, "s") == "3.2 s"
    assert fmt(43, "") == "43"
    assert Stat.of([]).p50 is None


SCENARIO = """
scenario: {{name: tiny, seed: 5, duration_s: 240}}
store: {store}
layout:
  door: [10, 0]
  sidewalk: {{x: [-20, 40], y: [-4.5, -1.5]}}
walls:
  - {{from: [0, 0], to: [20, 0], loss_db: 4}}
population:
  shoppers: {{per_hour: 60, initial: 3, hardware: {{phone: 0.6, fob: 0.4}}, visit_median_s: 120,
             dwell_median_s: 20}}
  passersby: {{per_hour: 120, hardware: {{phone: 0.5, fob: 0.5}}}}
  staff: {{count: 1, hardware: badge}}
calibration: {{per_zone_s: 20}}
"""


def small_scenario(folder: Path, name: str, seed: int, duration_s: float) -> Path:
    """`SCENARIO` renamed, reseeded and shortened, without the calibration walk."""
    text = SCENARIO.format(store=ROOT / "config" / "stores" / "default.yaml")
    text = text.replace(
        "name: tiny, seed: 5, duration_s: 240",
        f"name: {name}, seed: {seed}, duration_s: {duration_s:g}",
    )
    path = folder / f"{name}.yaml"
    path.write_text(text.replace("calibration: {per_zone_s: 20}\n", ""))
    return path


def test_eval_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(SCENARIO.format(store=ROOT / "config" / "stores" / "default.yaml"))
    code = run(
        str(scenario), as_json=True, plot_dir=str(tmp_path / "plots"), keep_dir=str(tmp_path / "k")
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["columns"] == ["engine", "engine+fp", "baseline"]
    metrics = data["metrics"]
    for name in data["columns"]:
        m = metrics[name]
        assert m["truth_s"] > 0
        assert m["true_entries"] == metrics["baseline"]["true_entries"] > 0
        assert 0.0 <= m["in_store_accuracy"] <= 1.0
    # the naive baseline flaps on every stronger reading; the engine decides with hysteresis
    assert (
        metrics["engine"]["spurious_per_device_hour"]
        < metrics["baseline"]["spurious_per_device_hour"]
    )
    png = tmp_path / "plots" / "tiny.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(png) > 20_000
    kept = sorted(os.listdir(tmp_path / "k"))
    assert kept == [
        "eval.json",
        "events-baseline.jsonl",
        "events-engine+fp.jsonl",
        "events-engine.jsonl",
    ]
    first = json.loads((tmp_path / "k" / "events-engine.jsonl").read_text().splitlines()[0])
    assert set(first) >= {"type", "device", "zone", "ts", "event_id"}


def test_eval_text_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = small_scenario(tmp_path, "mini", 2, 60)
    assert run(str(scenario), as_json=False, plot_dir=None) == 0
    out = capsys.readouterr().out
    assert out.startswith("proximity eval: scenario 'mini'")
    header = out.splitlines()[2].split()
    assert header == ["metric", "engine", "baseline", "target", "better"]


def test_bad_scenario_is_input_error(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("scenario: {name: x}\nstore: nowhere.yaml\nlayout: {}\n")
    with pytest.raises(InputError) as info:
        run(str(scenario), as_json=False, plot_dir=None)
    assert "bad.yaml" in str(info.value)


def test_eval_pools_several_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = small_scenario(tmp_path, "pool", 3, 90)
    single: list[dict[str, Any]] = []
    for seed in (3, 4):
        one = tmp_path / f"seed{seed}.yaml"
        one.write_text(scenario.read_text().replace("seed: 3", f"seed: {seed}"))
        assert run(str(one), as_json=True, plot_dir=None) == 0
        single.append(json.loads(capsys.readouterr().out)["metrics"])
    keep = tmp_path / "k"
    assert run(str(scenario), as_json=True, plot_dir=None, keep_dir=str(keep), seeds=2) == 0
    data = json.loads(capsys.readouterr().out)
    assert "2 runs" in data["title"] and "seeds 3-4" in data["title"]
    for column in ("engine", "baseline"):
        pooled = data["metrics"][column]
        for key in ("true_entries", "passersby", "zone_enters", "spurious_zone_enters"):
            assert pooled[key] == single[0][column][key] + single[1][column][key], key
        assert pooled["in_store_s"] == pytest.approx(
            single[0][column]["in_store_s"] + single[1][column]["in_store_s"]
        )
    devices = {
        json.loads(line)["device"]
        for line in (keep / "events-engine.jsonl").read_text().splitlines()
    }
    assert {d.split("/", 1)[0] for d in devices} == {"3", "4"}


def test_eval_seeds_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        run(str(tmp_path / "any.yaml"), as_json=False, plot_dir=None, seeds=0)
    assert "--seeds" in str(info.value)
