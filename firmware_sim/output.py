"""Writing a simulation's files: store.yaml, readings.csv, truth.jsonl, samples.csv, scenario.json.

The formats are the project's offline contracts (ARCHITECTURE.md "Offline formats"). CSV rows are
formatted in chunks from column lists, not through the csv module row by row.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import numpy as np
import yaml

from proximity.store import dump_store

from .simulate import Readings, Samples, SimResult

_CHUNK_ROWS = 200_000


def write_outputs(result: SimResult, out_dir: str) -> None:
    """Write every output file of ``result`` into ``out_dir`` (created if missing).

    Raises:
        OSError: The directory or a file cannot be written.
    """
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "store.yaml"), "w", encoding="utf-8") as fh:
        fh.write(f"# Store file written by the simulator for scenario '{result.scenario.name}'.\n")
        yaml.safe_dump(dump_store(result.store), fh, sort_keys=False, default_flow_style=None)
    with open(os.path.join(out_dir, "readings.csv"), "w", encoding="utf-8", newline="") as fh:
        fh.write("ts,gateway,device,rssi,tx_power\n")
        fh.writelines(readings_lines(result.readings))
    with open(os.path.join(out_dir, "truth.jsonl"), "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(t.to_json()) + "\n" for t in result.truth)
    samples_path = os.path.join(out_dir, "samples.csv")
    if result.samples is not None:
        with open(samples_path, "w", encoding="utf-8", newline="") as fh:
            fh.write("ts,gateway,device,rssi,zone\n")
            fh.writelines(samples_lines(result.samples))
    elif os.path.exists(samples_path):
        os.remove(samples_path)
    with open(os.path.join(out_dir, "scenario.json"), "w", encoding="utf-8") as fh:
        json.dump(scenario_summary(result), fh, indent=2)
        fh.write("\n")


def readings_lines(readings: Readings) -> Iterable[str]:
    """``ts,gateway,device,rssi,tx_power`` lines (ts with 3 decimals), in chunks of rows."""
    for lo in range(0, len(readings), _CHUNK_ROWS):
        hi = min(len(readings), lo + _CHUNK_ROWS)
        rows = zip(
            np.round(readings.ts[lo:hi], 3).tolist(),
            readings.gateway[lo:hi].tolist(),
            readings.device[lo:hi].tolist(),
            readings.rssi[lo:hi].tolist(),
            readings.tx_power[lo:hi].tolist(),
            strict=True,
        )
        yield "".join(f"{t:.3f},{g},{d},{r},{p}\n" for t, g, d, r, p in rows)


def samples_lines(samples: Samples) -> Iterable[str]:
    """``ts,gateway,device,rssi,zone`` lines (ts with 3 decimals)."""
    rows = zip(
        samples.ts.tolist(),
        samples.gateway.tolist(),
        samples.device.tolist(),
        samples.rssi.tolist(),
        samples.zone.tolist(),
        strict=True,
    )
    yield "".join(f"{t:.3f},{g},{d},{r},{z}\n" for t, g, d, r, z in rows)


def scenario_summary(result: SimResult) -> dict[str, object]:
    """What scenario.json holds: name, seed, duration, counts and the hidden gateway offsets."""
    sc = result.scenario
    return {
        "scenario": sc.name,
        "description": sc.description,
        "seed": sc.seed,
        "duration_s": sc.duration_s,
        "store": sc.store.id,
        "hidden_truth": {
            "gateway_rx_offset_db": {
                g.id: round(float(o), 2)
                for g, o in zip(sc.store.gateways, result.world.gw_offset_db, strict=True)
            },
            "note": "not in store.yaml: the engine must live with uncalibrated gateways",
        },
        **result.stats,
    }
