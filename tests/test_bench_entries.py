"""bench.entries: each true entry lands in the class its nearest decision says."""

from __future__ import annotations

import pytest

from bench.entries import classify, main

IN = {"entrance", "shoes"}
# street until 100 s, in the store until 300 s, street again, back in at 400 s
TRUTH = [
    (0.0, 100.0, "street"),
    (100.0, 150.0, "entrance"),
    (150.0, 300.0, "shoes"),
    (300.0, 400.0, "street"),
    (400.0, 500.0, "entrance"),
]


def test_each_entry_is_classified_by_its_nearest_decision() -> None:
    assert classify(TRUTH, [103.0, 396.0], IN) == ["within 5 s", "within 5 s"]
    assert classify(TRUTH, [88.0], IN) == ["decided early", "none"]
    assert classify(TRUTH, [108.0, 412.0], IN) == ["late 5-10 s", "late 10-20 s"]
    assert classify(TRUTH, [160.0], IN) == ["late > 20 s", "none"]
    assert classify(TRUTH, [160.0, 330.0], IN) == ["late > 20 s", "decided early"]


def test_a_device_inside_when_the_run_began_did_not_enter() -> None:
    assert classify([(0.0, 50.0, "shoes"), (50.0, 80.0, "street")], [0.5], IN) == []


def test_bad_seeds_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seeds", "x"]) == 2
    assert capsys.readouterr().err.startswith("bench.entries: --seeds")
