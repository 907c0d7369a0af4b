"""How the engine copes with devices louder or quieter than their frames say.

``python -m bench.devices`` simulates the default scenario with the shoppers', passers-by's
and staff's devices (phones, fobs and badges) all transmitting a few dB away from the nominal
power, once with frames that carry the true power (``tx_power``: a calibrated app or fob) and
once with frames that carry the nominal -59 dBm (an uncalibrated phone model), and scores the
engine on each. Real phones differ by more than the simulator's N(0, 5 dB) spread around the
nominal power: Android's advertising power settings alone span 22 dB.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from bench.impairments import SCENARIO
from firmware_sim import simulate
from firmware_sim.scenario import parse_scenario
from proximity.engine import Engine
from proximity.evalcmd import Columns, replay
from proximity.evaluate import score

ROOT = Path(__file__).resolve().parent.parent
NOMINAL_DBM = -59
KINDS = ("phone", "fob", "badge")

VARIANTS: dict[str, tuple[float, bool]] = {
    "nominal power (the default scenario)": (0.0, True),
    "5 dB louder, frame says so": (5.0, True),
    "5 dB quieter, frame says so": (-5.0, True),
    "5 dB quieter, frame says -59 dBm": (-5.0, False),
    "10 dB quieter, frame says so": (-10.0, True),
}


def variant_text(shift_db: float, frame_knows: bool) -> str:
    """The default scenario with every phone, fob and badge ``shift_db`` off nominal."""
    text = SCENARIO.read_text()
    frame = NOMINAL_DBM + shift_db if frame_knows else NOMINAL_DBM
    for kind in KINDS:
        text, n = re.subn(
            rf"(\n  {kind}: \{{)([^}}]*)\}}",
            rf"\g<1>\g<2>, tx_power: {frame:g}, offset_db: {shift_db:g}}}",
            text,
        )
        if n != 1:
            raise SystemExit(f"{SCENARIO}: hardware kind {kind} not found once")
    return text


def main() -> int:
    rows = []
    print(
        f"{'devices':38} {'in-store acc':>12} {'street acc':>10} {'entry rec':>9} "
        f"{'entry prec':>10} {'passers-by':>10}"
    )
    for name, (shift, knows) in VARIANTS.items():
        t0 = time.perf_counter()
        text = variant_text(shift, knows)
        scenario = parse_scenario(text, str(SCENARIO), base_dir=str(SCENARIO.parent))
        result = simulate(scenario)
        rd = result.readings
        cols = Columns(
            rd.ts,
            list(rd.gateway),
            list(rd.device),
            rd.rssi.astype(float),
            rd.tx_power.astype(float),
        )
        m = score(result.store, result.truth, replay(Engine(result.store), cols))
        rows.append({"devices": name, **m.to_json()})

        def pct(v: float | None) -> str:
            return "-" if v is None else f"{100 * v:.1f} %"

        print(
            f"{name:38} {pct(m.in_store_accuracy):>12} {pct(m.out_of_store_accuracy):>10} "
            f"{pct(m.entry_recall):>9} {pct(m.entry_precision):>10} "
            f"{pct(m.passerby_false_entry_rate):>10}",
            f"  ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    (out / "devices.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
