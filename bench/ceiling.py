"""What a store's layout allows at best: an oracle placement under static shadowing.

``python -m bench.ceiling`` simulates each scenario and places every shopper, staff member and
passer-by once per second, with knowledge no real engine has: every gateway's receive offset
and every device's transmit offset are known exactly, and fast fading, channel offsets, nulls
and body blocking are averaged away completely. What is left is the expected RSSI at the true
position plus the scenario's static, spatially correlated shadowing, which no amount of
averaging removes while someone stands still. The oracle places that vector by maximum
likelihood over the geometric model's points (the engine's model, with the true offsets) and
is scored as `proximity eval` scores the engine: the share of in-store time placed in the
right zone (private zones included), the true entries it confirms (``CONFIRM_S`` in the store)
within ``MATCH_S``, and the passers-by it places in the store for ``CONFIRM_S``.

A per-second maximum-likelihood placement is not the best possible use of correlated
shadowing, and it ignores time, so its figures bound what these gateways allow for people
standing still rather than prove a limit; they are a yardstick, not a target for the engine.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.impairments import SCENARIO, variant_text, write_out
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


@dataclass
class Oracle:
    """What the oracle decides, and how it compares with the truth."""

    in_store_accuracy: float
    """Share of in-store time placed in the right zone."""
    in_store_s: float
    """In-store time sampled, seconds."""
    entry_recall: float | None
    """Share of true store entries the oracle confirms within ``MATCH_S``."""
    passersby_entered: float | None
    """Share of passers-by the oracle places in the store for ``CONFIRM_S`` in a row."""


CONFIRM_S = 2.0
"""How long the oracle must place a device in the store before it counts as an entry."""
MATCH_S = 5.0
"""An oracle entry within this long of the true one counts (the window of ``proximity eval``)."""


def ceiling(result: SimResult) -> Oracle:
    """The oracle's placements of one simulation, scored (see the module docstring)."""
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
    inside_zone = np.array([z.in_store for z in zones] + [False])  # index -1: in no zone
    polygons = [z.polygon or () for z in zones]
    run = max(1, round(CONFIRM_S / STEP_S))
    right = total = entries = found = passersby = fooled = 0
    end = result.scenario.duration_s
    for track in result.tracks:
        if track.role not in ("shopper", "staff", "passerby"):
            continue
        ts = np.arange(max(track.start, 0.0), min(track.end, end), STEP_S)
        if ts.size == 0:
            continue
        x, y = track.position(ts)
        zone = zone_of(x, y, polygons)
        mean = mean_rssi(world, x, y, None, np.zeros(x.size))
        est = np.where(mean >= cfg.floor_dbm, mean, np.nan)
        heard = ~np.isnan(est).all(axis=1)
        known = np.full(x.size, 0.1)  # the device's offset: known
        fit = model.fit(est, np.full(x.size, cfg.p1m_dbm), cfg, known)
        placed = np.where(heard, fit.zone_ll.argmax(axis=1), -1)
        truly_in = inside_zone[zone]
        right += int((placed == zone)[truly_in].sum())
        total += int(truly_in.sum())
        # the first sample of every run of `run` samples placed in the store
        said_in = inside_zone[placed].astype(np.int64)
        if said_in.size >= run:
            window = np.convolve(said_in, np.ones(run, dtype=np.int64), mode="valid")
            confirmed = ts[run - 1 :][window == run]
        else:
            confirmed = ts[:0]
        if track.role == "passerby":
            passersby += 1
            fooled += bool(confirmed.size)
            continue
        for i in np.flatnonzero(truly_in[1:] & ~truly_in[:-1]) + 1:
            entries += 1
            found += bool(np.any(np.abs(confirmed - ts[i]) <= MATCH_S))
    return Oracle(
        in_store_accuracy=right / total if total else float("nan"),
        in_store_s=total * STEP_S,
        entry_recall=found / entries if entries else None,
        passersby_entered=fooled / passersby if passersby else None,
    )


def main() -> int:
    rows = []

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f} %"

    print(
        f"{'scenario':28} {'in-store acc':>12} {'entry recall':>12} {'passers-by in':>13} "
        f"{'in-store time':>13}"
    )
    for label, (name, edits) in VARIANTS.items():
        t0 = time.perf_counter()
        scenario = _default_with(edits) if name == "default" else _scenario(name)
        oracle = ceiling(simulate(scenario))
        rows.append({"scenario": label, **dataclasses.asdict(oracle)})
        print(
            f"{label:28} {pct(oracle.in_store_accuracy):>12} {pct(oracle.entry_recall):>12} "
            f"{pct(oracle.passersby_entered):>13} {oracle.in_store_s / 3600:>11.1f} h",
            f"  ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    write_out("ceiling.json", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
