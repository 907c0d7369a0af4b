"""Store simulator: people, BLE advertising on real timing, a radio model, and ground truth.

Deterministic (seeded numpy Generators) and much faster than real time. Entry points:
`firmware_sim.scenario.load_scenario`, `simulate`, `firmware_sim.output.write_outputs`,
`firmware_sim.live.adverts`.
"""

from .scenario import Scenario, load_scenario
from .simulate import Readings, Samples, SimResult, TruthInterval, simulate

__all__ = [
    "Readings",
    "Samples",
    "Scenario",
    "SimResult",
    "TruthInterval",
    "load_scenario",
    "simulate",
]
