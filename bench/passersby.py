"""Which passers-by the engine lets in: those who paused at the shop window, or walkers.

::

    python -m bench.passersby [--scenario config/scenarios/default.yaml] [--seeds 7-16]

Simulates each run, replays it through the engine, and counts from the simulated tracks the
passers-by who stood still somewhere (slower than 0.3 m/s for more than a second: the
scenario's window shoppers, ``pause_prob``) and those who walked straight past, with how many
of each got a ``store_entry``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from bench.sweep import engine_runs, scenario_runs

STILL_MPS = 0.3
"""Slower than this for more than a second counts as standing (a stand drifts 0.25 m)."""


def paused(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> bool:
    """Whether a track has a segment longer than 1 s slower than `STILL_MPS`."""
    dt = np.diff(t)
    speed = np.hypot(np.diff(x), np.diff(y)) / np.maximum(dt, 1e-9)
    return bool(np.any((dt > 1.0) & (speed < STILL_MPS)))


def count(scenario_path: str, seeds: list[int]) -> Counter[tuple[str, bool]]:
    """(``paused`` or ``walked``, got an entry) -> passers-by, over all runs."""
    out: Counter[tuple[str, bool]] = Counter()
    for sim, events in engine_runs(scenario_path, seeds, "passersby"):
        entered = {e.device for e in events if e.type == "store_entry"}
        for dev, track in zip(sim.devices, sim.tracks, strict=True):
            if track.role != "passerby" or dev.subject is None:
                continue
            kind = "paused" if paused(track.t, track.x, track.y) else "walked"
            out[(kind, dev.subject in entered)] += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    counts = scenario_runs("bench.passersby", __doc__ or "", argv, count)
    if counts is None:
        return 2
    print(f"{'passers-by':12} {'total':>6} {'given an entry':>15}")
    for kind in ("paused", "walked"):
        total = counts[(kind, True)] + counts[(kind, False)]
        share = f"{100 * counts[(kind, True)] / total:.1f} %" if total else "-"
        print(f"{kind:12} {total:>6} {counts[(kind, True)]:>7} ({share})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
