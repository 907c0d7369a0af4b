"""How the engine copes with devices louder or quieter than their frames say.

``python -m bench.devices`` simulates the default scenario with the shoppers', passers-by's
and staff's devices (phones, fobs and badges) all transmitting a few dB away from the nominal
power, once with frames that carry the true power (``tx_power``: a calibrated app or fob) and
once with frames that carry the nominal -59 dBm (an uncalibrated phone model), and scores the
engine on each. Real phones differ by more than the simulator's N(0, 5 dB) spread around the
nominal power: Android's advertising power settings alone span 22 dB.
"""

from __future__ import annotations

import re

from bench.impairments import SCENARIO, run_variants

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
    texts = {name: variant_text(shift, knows) for name, (shift, knows) in VARIANTS.items()}
    return run_variants("devices", texts, "devices.json")


if __name__ == "__main__":
    raise SystemExit(main())
