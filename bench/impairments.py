"""How much each part of the radio costs: the default scenario with one impairment at a time.

``python -m bench.impairments`` simulates the default scenario with an ideal radio (path loss,
Rician fading, collisions and host drops only), then with each impairment of FIELD_NOTES on
its own, then with all of them (the default), and scores the engine on each. It shows where
zone accuracy is lost, which the tuning cannot buy back: static shadowing and body blocking
move a device's apparent position by metres in zones a few metres wide.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from firmware_sim import simulate
from firmware_sim.scenario import parse_scenario
from proximity.engine import Engine
from proximity.evalcmd import Columns, replay
from proximity.evaluate import Metrics, score

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "config" / "scenarios" / "default.yaml"

_OFF: dict[str, float] = {
    "shadow_sigma_db": 0,
    "body_db": 0,
    "channel_sd_db": 0,
    "null_prob": 0,
    "device_sd_db": 0,
    "gateway_sd_db": 0,
}
VARIANTS: dict[str, dict[str, float]] = {
    "ideal radio": _OFF,
    "+ shadowing 4 dB only": {**_OFF, "shadow_sigma_db": 4},
    "+ body blocking 10 dB only": {**_OFF, "body_db": 10},
    "+ channel offsets and nulls only": {**_OFF, "channel_sd_db": 3, "null_prob": 0.05},
    "+ device and gateway offsets only": {**_OFF, "device_sd_db": 5, "gateway_sd_db": 3},
    "all (the default scenario)": {},
}


def variant_text(edits: dict[str, float]) -> str:
    """The default scenario's YAML with radio parameters replaced."""
    text = SCENARIO.read_text()
    for key, value in edits.items():
        text, n = re.subn(rf"(\n  {key}: )[^\n]+", rf"\g<1>{value}", text)
        if n != 1:
            raise SystemExit(f"{SCENARIO}: radio key {key} not found once")
    return text


def run_variants(kind: str, texts: dict[str, str], out_name: str) -> int:
    """Simulate each default-scenario variant (label -> scenario YAML), score the engine on
    it, print one row per variant and write every row to ``out/<out_name>``."""
    rows = []
    print(header_line(kind, 38))
    for name, text in texts.items():
        t0 = time.perf_counter()
        scenario = parse_scenario(text, str(SCENARIO), base_dir=str(SCENARIO.parent))
        result = simulate(scenario)
        cols = Columns.of(result.readings)
        m = score(result.store, result.truth, replay(Engine(result.store), cols))
        rows.append({kind: name, **m.to_json()})
        print(
            metrics_line(name, m, 38),
            f"  ({time.perf_counter() - t0:.0f} s)",
            file=sys.stdout,
            flush=True,
        )
    write_out(out_name, rows)
    return 0


def header_line(kind: str, width: int) -> str:
    """The header of the rows `metrics_line` prints (first column ``width`` wide)."""
    return (
        f"{kind:{width}} {'in-store acc':>12} {'street acc':>10} {'entry rec':>9} "
        f"{'entry prec':>10} {'passers-by':>10} {'spurious/h':>10}"
    )


def metrics_line(name: str, m: Metrics, width: int) -> str:
    """One variant's headline metrics as a row under `header_line`."""
    return (
        f"{name:{width}} {_pct(m.in_store_accuracy):>12} {_pct(m.out_of_store_accuracy):>10} "
        f"{_pct(m.entry_recall):>9} {_pct(m.entry_precision):>10} "
        f"{_pct(m.passerby_false_entry_rate):>10} {m.spurious_per_device_hour or 0:>10.1f}"
    )


def write_out(name: str, rows: list[dict[str, object]]) -> None:
    """``rows`` as JSON in ``out/<name>`` (the folder ``bench.accuracy_tables`` reads)."""
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    (out / name).write_text(json.dumps(rows, indent=2))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def main() -> int:
    texts = {name: variant_text(edits) for name, edits in VARIANTS.items()}
    return run_variants("radio", texts, "impairments.json")


if __name__ == "__main__":
    raise SystemExit(main())
