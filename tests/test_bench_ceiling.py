"""The oracle ceiling of `bench.ceiling`: exact without shadowing, lower with more of it."""

from __future__ import annotations

from bench.ceiling import ceiling
from bench.impairments import SCENARIO, variant_text
from firmware_sim import simulate
from firmware_sim.scenario import parse_scenario


def _ceiling(shadow_db: float) -> tuple[float, float]:
    text = variant_text({"shadow_sigma_db": shadow_db})
    text = text.replace("duration_s: 1800", "duration_s: 600")
    scenario = parse_scenario(text, str(SCENARIO), base_dir=str(SCENARIO.parent))
    return ceiling(simulate(scenario))


def test_oracle_places_everyone_right_without_shadowing_and_less_with_it() -> None:
    clean, seconds = _ceiling(0)
    noisy, same = _ceiling(8)
    assert seconds == same > 600  # several shoppers and staff, one sample a second
    # without shadowing only points within half a grid step of a zone edge can go wrong
    assert clean > 0.97
    assert noisy < clean - 0.1
