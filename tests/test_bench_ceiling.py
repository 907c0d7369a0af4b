"""The oracle of `bench.ceiling`: exact without shadowing, worse with more of it."""

from __future__ import annotations

from bench.ceiling import Oracle, ceiling
from bench.impairments import SCENARIO, variant_text
from firmware_sim import simulate
from firmware_sim.scenario import parse_scenario


def _ceiling(shadow_db: float) -> Oracle:
    text = variant_text({"shadow_sigma_db": shadow_db})
    text = text.replace("duration_s: 1800", "duration_s: 600")
    scenario = parse_scenario(text, str(SCENARIO), base_dir=str(SCENARIO.parent))
    return ceiling(simulate(scenario))


def test_oracle_places_everyone_right_without_shadowing_and_less_with_it() -> None:
    clean = _ceiling(0)
    noisy = _ceiling(8)
    # several shoppers and staff, one sample a second, the same people in both runs
    assert clean.in_store_s == noisy.in_store_s > 600
    # without shadowing only points within half a grid step of a zone edge can go wrong
    assert clean.in_store_accuracy > 0.97
    assert clean.entry_recall == 1.0 and clean.passersby_entered == 0.0
    assert noisy.in_store_accuracy < clean.in_store_accuracy - 0.1
    assert noisy.entry_recall is not None and noisy.entry_recall < 1.0
