"""`bench.pathloss`: the simulated radio takes the exponent, the engine keeps its own."""

from __future__ import annotations

import pytest

from bench.impairments import SCENARIO
from bench.pathloss import main, scenario_text
from firmware_sim.scenario import parse_scenario


@pytest.mark.parametrize("exponent", [1.6, 3.5])
def test_only_the_simulated_radio_changes(exponent: float) -> None:
    scenario = parse_scenario(scenario_text(exponent), str(SCENARIO), base_dir=str(SCENARIO.parent))
    assert scenario.radio.path_loss_n == exponent
    assert scenario.store.engine.path_loss_n == 2.2


def test_bad_seeds_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seeds", "x"]) == 2
    assert "--seeds" in capsys.readouterr().err
