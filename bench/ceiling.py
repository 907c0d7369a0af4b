"""The best zone accuracy a store's layout allows: an oracle placement under static shadowing.

``python -m bench.ceiling`` simulates each scenario and places every shopper and staff member,
once per second of their in-store time, with knowledge no real engine has: every gateway's
receive offset and every device's transmit offset are known exactly, and fast fading, channel
offsets, nulls and body blocking are averaged away completely. What is left is the expected
RSSI at the true position plus the scenario's static, spatially correlated shadowing, which
no amount of averaging removes while a shopper stands still. The oracle places that vector by
maximum likelihood over the geometric model's points (the engine's model, with the true
offsets) and scores the share of in-store time placed in the right zone, private zones
included, as `proximity eval` scores the engine.

A zone accuracy above this figure would need fewer shadowing errors than the radio has: it is
an upper bound for any method working from these gateways, not a target for the engine.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench.impairments import SCENARIO, variant_text
from firmware_sim import load_scenario, simulate
from firmware_sim.geometry import zone_of
from firmware_sim.radio import mean_rssi
from firmware_sim.scenario import Scenario, parse_scenario
from firmware_sim.simulate import SimResult
from proximity.zoning import geometric_model

ROOT = Path(__file__).resolve().parent.parent
STEP_S = 1.0
"""Sampling step of each track's in-store time, seconds."""


def _default_with(edits: dict[str, float]) -> Scenario:
    return parse_scenario(variant_text(edits), str(SCENARIO), base_dir=str(SCENARIO.parent))


def _scenario(name: str) -> Scenario:
    return load_scenario(str(ROOT / "config" / "scenarios" / f"{name}.yaml"))


VARIANTS: dict[str, tuple[str, dict[str, float]]] = {
    "default (shadowing 4 dB)": ("default", {}),
    "default, shadowing 3 dB": ("default", {"shadow_sigma_db": 3}),
    "default, shadowing 6 dB": ("default", {"shadow_sigma_db": 6}),
    "busy": ("busy", {}),
    "boutique": ("boutique", {}),
    "hard": ("hard", {}),
}


def ceiling(result: SimResult) -> tuple[float, float]:
    """(oracle in-store zone accuracy, in-store seconds sampled) of one simulation."""
    world = result.world
    store = dataclasses.replace(
        result.store,
        gateways=tuple(
            dataclasses.replace(g, rx_offset_db=float(o))
            for g, o in zip(result.store.gateways, world.gw_offset_db, strict=True)
        ),
    )
    cfg = dataclasses.replace(store.engine, body_prob=0.0)
    model = geometric_model(store)
    zones = store.zones
    polygons = [z.polygon or () for z in zones]
    right = total = 0
    end = result.scenario.duration_s
    for track in result.tracks:
        if track.role not in ("shopper", "staff"):
            continue
        ts = np.arange(max(track.start, 0.0), min(track.end, end), STEP_S)
        x, y = track.position(ts)
        zone = zone_of(x, y, polygons)
        keep = np.array([z >= 0 and zones[z].in_store for z in zone])
        if not keep.any():
            continue
        x, y, zone = x[keep], y[keep], zone[keep]
        mean = mean_rssi(world, x, y, None, np.zeros(x.size))
        est = np.where(mean >= cfg.floor_dbm, mean, np.nan)
        known = np.full(x.size, 0.1)  # the device's offset: known
        fit = model.fit(est, np.full(x.size, cfg.p1m_dbm), cfg, known)
        right += int((fit.zone_ll.argmax(axis=1) == zone).sum())
        total += int(zone.size)
    return (right / total if total else float("nan")), total * STEP_S


def main() -> int:
    rows = []
    print(f"{'scenario':28} {'oracle in-store accuracy':>25} {'in-store time':>14}")
    for label, (name, edits) in VARIANTS.items():
        t0 = time.perf_counter()
        scenario = _default_with(edits) if name == "default" else _scenario(name)
        acc, seconds = ceiling(simulate(scenario))
        rows.append({"scenario": label, "oracle_in_store_accuracy": acc, "in_store_s": seconds})
        print(
            f"{label:28} {100 * acc:>23.1f} % {seconds / 3600:>12.1f} h",
            f"  ({time.perf_counter() - t0:.0f} s)",
            file=sys.stdout,
            flush=True,
        )
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    (out / "ceiling.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
