"""``proximity eval``: simulate a scenario, replay it through the engine and the naive baseline,
score both against the ground truth, and print them side by side.

Edge module: it runs the simulator, writes plots and optional files, and reports progress on
stderr when stderr is a terminal. Columns of the table:

* ``engine``: the engine with geometric zoning (gateway positions and zone polygons);
* ``engine+fp``: the engine with a fingerprint model fitted from the scenario's calibration
  samples (only when the scenario asks for a calibration walk);
* ``baseline``: nearest gateway by raw RSSI, switching on every reading, 30 s exit timeout.

Every column is scored by the same rules and windows (`proximity.evaluate.score`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import ArrayLike

from .baseline import EXIT_TIMEOUT_S, Baseline
from .engine import Engine
from .errors import InputError
from .evaluate import (
    Metrics,
    TruthInterval,
    decided_segments,
    pick_device,
    score,
    true_segments,
)
from .readings import Event, FloatArray
from .report import as_dict, render
from .store import Store

if TYPE_CHECKING:
    from firmware_sim import Scenario

REPLAY_CHUNK_S = 10.0
"""Readings are fed to each method in chunks of this many seconds, each followed by
``advance`` to the chunk's end: the batching a hub does, coarse enough to be fast."""


class Replayable(Protocol):
    """The replay interface shared by `Engine` and `Baseline`."""

    def ingest_rows(
        self,
        ts: FloatArray,
        gateways: list[str],
        devices: list[str],
        rssi: FloatArray,
        tx_power: FloatArray | None = None,
    ) -> None: ...

    def advance(self, watermark: float) -> list[Event]: ...

    def flush(self) -> list[Event]: ...


class ReadingColumns(Protocol):
    """What `Columns.of` reads: firmware_sim's readings, or anything with these columns."""

    @property
    def ts(self) -> ArrayLike: ...

    @property
    def gateway(self) -> Iterable[object]: ...

    @property
    def device(self) -> Iterable[object]: ...

    @property
    def rssi(self) -> ArrayLike: ...

    @property
    def tx_power(self) -> ArrayLike: ...


@dataclass
class Columns:
    """Readings as parallel columns (seconds, ids, dBm), sorted by ``ts``."""

    ts: FloatArray
    gateway: list[str]
    device: list[str]
    rssi: FloatArray
    tx_power: FloatArray

    @classmethod
    def of(cls, r: ReadingColumns) -> Columns:
        """The columns of a simulation's readings (ids as str, numbers as float64)."""
        return cls(
            ts=np.asarray(r.ts, dtype=np.float64),
            gateway=[str(g) for g in r.gateway],
            device=[str(d) for d in r.device],
            rssi=np.asarray(r.rssi, dtype=np.float64),
            tx_power=np.asarray(r.tx_power, dtype=np.float64),
        )


def replay(
    method: Replayable,
    readings: Columns,
    *,
    chunk_s: float = REPLAY_CHUNK_S,
    progress: Callable[[float], None] | None = None,
) -> list[Event]:
    """Feed ``readings`` to ``method`` chunk by chunk; return every event, flush included."""
    events: list[Event] = []
    n = len(readings.ts)
    if n == 0:
        return method.flush()
    t0, t1 = float(readings.ts[0]), float(readings.ts[-1])
    bounds = np.arange(t0 + chunk_s, t1 + chunk_s, chunk_s)
    cuts = np.searchsorted(readings.ts, bounds, side="left").tolist()
    start = 0
    for edge, stop in zip(bounds.tolist(), cuts, strict=True):
        if stop > start:
            method.ingest_rows(
                readings.ts[start:stop],
                readings.gateway[start:stop],
                readings.device[start:stop],
                readings.rssi[start:stop],
                readings.tx_power[start:stop],
            )
        events += method.advance(edge)
        start = stop
        if progress is not None:
            progress(stop / n)
    if start < n:
        method.ingest_rows(
            readings.ts[start:],
            readings.gateway[start:],
            readings.device[start:],
            readings.rssi[start:],
            readings.tx_power[start:],
        )
    events += method.flush()
    return events


class _Progress:
    """One updating line on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self._last = 0.0

    def phase(self, name: str) -> Callable[[float], None]:
        def update(fraction: float) -> None:
            now = time.monotonic()
            if self.enabled and (now - self._last > 0.2 or fraction >= 1.0):
                self._last = now
                sys.stderr.write(f"\reval: {name:<28} {100.0 * fraction:5.1f} %")
                sys.stderr.flush()

        update(0.0)
        return update

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 48 + "\r")
            sys.stderr.flush()


def run(
    scenario_path: str,
    *,
    as_json: bool,
    plot_dir: str | None,
    keep_dir: str | None = None,
    seeds: int = 1,
) -> int:
    """Simulate, replay, score and print (see the module docstring).

    Args:
        scenario_path: Scenario file (YAML).
        as_json: Print the table as JSON instead of text.
        plot_dir: Where to write ``<scenario>.png`` (created if missing), or None.
        keep_dir: Where to keep each column's events (``events-<column>.jsonl``) and the
            scores (``eval.json``), or None.
        seeds: Simulate the scenario this many times, with its seed and the next ones, and
            score every column over all the runs together (each run's devices kept apart by
            a ``<seed>/`` prefix). One run of a 30 min store holds a few dozen entries, too
            few to tell 95 % from 99 %; the pooled counts are shown in the table.

    Returns:
        0.

    Raises:
        InputError: The scenario (or its store) is bad, or ``seeds`` is below 1.
    """
    from firmware_sim import load_scenario

    if seeds < 1:
        raise InputError("--seeds", None, None, f"must be at least 1, got {seeds}")
    progress = _Progress()
    scenario = load_scenario(scenario_path)
    runs = [
        _run_seed(
            replace(scenario, seed=scenario.seed + k),
            progress,
            plot_dir=plot_dir if k == 0 else None,
            label=f"seed {scenario.seed + k}: " if seeds > 1 else "",
        )
        for k in range(seeds)
    ]
    progress.done()
    store = runs[0].store
    if seeds == 1:
        truth: Sequence[TruthInterval] = runs[0].truth
        streams = runs[0].streams
    else:
        truth = pooled_truth([(r.seed, r.truth) for r in runs])
        streams = {
            name: pooled_events([(r.seed, r.streams[name]) for r in runs])
            for name in runs[0].streams
        }

    columns: list[tuple[str, Metrics]] = [
        (name, score(store, truth, events, exit_match_s=exit_window(store)))
        for name, events in streams.items()
    ]
    title = f"proximity eval: scenario '{scenario.name}' ({scenario.duration_s:g} s simulated)"
    if seeds > 1:
        title = (
            f"proximity eval: scenario '{scenario.name}', {seeds} runs of "
            f"{scenario.duration_s:g} s (seeds {scenario.seed}-{scenario.seed + seeds - 1}),"
            " scored together"
        )
    if as_json:
        print(json.dumps(as_dict(columns, title=title), indent=2))
    else:
        print(render(columns, title=title))

    if keep_dir is not None:
        os.makedirs(keep_dir, exist_ok=True)
        for name, events in streams.items():
            with open(os.path.join(keep_dir, f"events-{name}.jsonl"), "w", encoding="utf-8") as fh:
                for ev in events:
                    fh.write(json.dumps(ev.to_json()) + "\n")
        with open(os.path.join(keep_dir, "eval.json"), "w", encoding="utf-8") as fh:
            json.dump(as_dict(columns, title=title), fh, indent=2)
    first = runs[0]
    if plot_dir is not None and first.traced is not None:
        chosen, engine, readings = first.traced
        os.makedirs(plot_dir, exist_ok=True)
        path = os.path.join(plot_dir, f"{scenario.name}.png")
        title = f"scenario '{scenario.name}'"
        _plot(path, store, first.truth, readings, engine, first.streams["engine"], chosen, title)
        print(f"eval: plot of device {chosen} -> {path}", file=sys.stderr)
    return 0


def exit_window(store: Store) -> float:
    """How far from a true exit a ``store_exit`` may be and still pair with it: the longer of
    the engine's and the baseline's timeout, plus 10 s (the same window for every column)."""
    return max(store.engine.exit_timeout_s, EXIT_TIMEOUT_S) + 10.0


def pooled_truth(runs: Sequence[tuple[int, Sequence[TruthInterval]]]) -> list[TruthInterval]:
    """The truths of several runs (seed, truth) as one, each device id prefixed ``<seed>/``
    so that devices of different runs stay apart when scored together."""
    return [
        replace(t, device=f"{seed}/{t.device}")  # type: ignore[type-var]
        for seed, truth in runs
        for t in truth
    ]


def pooled_events(runs: Sequence[tuple[int, Sequence[Event]]]) -> list[Event]:
    """The events of several runs (seed, events) as one, ids prefixed as in `pooled_truth`."""
    return [replace(e, device=f"{seed}/{e.device}") for seed, events in runs for e in events]


@dataclass
class _Run:
    """One simulated run: its store, truth and every column's events, and for the run that
    is plotted the traced device with the engine that traced it and the readings."""

    seed: int
    store: Store
    truth: Sequence[TruthInterval]
    streams: dict[str, list[Event]]
    traced: tuple[str, Engine, Columns] | None


def _run_seed(scenario: Scenario, progress: _Progress, *, plot_dir: str | None, label: str) -> _Run:
    """Simulate ``scenario`` once and replay it through every column."""
    from firmware_sim import simulate

    sim = simulate(scenario, progress=progress.phase(f"{label}simulating"))
    store = sim.store
    readings = Columns.of(sim.readings)
    chosen = pick_device(store, sim.truth) if plot_dir else None

    engines: list[tuple[str, Engine]] = [("engine", Engine(store))]
    if sim.samples is not None and len(sim.samples):
        from .fingerprint import fit

        s = sim.samples
        model = fit(
            store,
            np.asarray(s.ts, dtype=np.float64),
            [str(g) for g in s.gateway],
            [str(d) for d in s.device],
            np.asarray(s.rssi, dtype=np.float64),
            [str(z) for z in s.zone],
            np.asarray(s.tx_power, dtype=np.float64),
        )
        engines.append(("engine+fp", Engine(store, model.point_model(store))))
    streams: dict[str, list[Event]] = {}
    for name, engine in engines:
        if chosen is not None:
            engine.trace_devices.add(chosen)
        streams[name] = replay(
            engine, readings, progress=progress.phase(f"{label}replaying ({name})")
        )
    streams["baseline"] = replay(
        Baseline(store), readings, progress=progress.phase(f"{label}replaying (baseline)")
    )
    traced = None if chosen is None else (chosen, engines[0][1], readings)
    return _Run(seed=scenario.seed, store=store, truth=sim.truth, streams=streams, traced=traced)


def _plot(
    path: str,
    store: Store,
    truth: Sequence[TruthInterval],
    readings: Columns,
    engine: Engine,
    events: list[Event],
    device: str,
    title: str,
) -> None:
    from .plot import DeviceTrace, plot_device

    truth_segs = true_segments(truth, device)
    zones = {z.id: z for z in store.zones}
    inside = [s for s in truth_segs if s[2] in zones and zones[s[2]].in_store]
    lo = max(truth_segs[0][0], inside[0][0] - 20.0) if inside else truth_segs[0][0]
    hi = min(truth_segs[-1][1], inside[-1][1] + 20.0) if inside else truth_segs[-1][1]
    clipped = [(max(s, lo), min(e, hi), z) for s, e, z in truth_segs if e > lo and s < hi]
    mask = (np.asarray(readings.device, dtype=object) == device) & (readings.ts >= lo)
    mask &= readings.ts <= hi
    idx = np.flatnonzero(mask)
    points = [p for p in engine.traces.get(device, []) if lo <= p.ts <= hi]
    smooth = (
        np.vstack([p.est for p in points])
        if points
        else np.empty((0, len(store.gateways)), dtype=np.float64)
    )
    plot_device(
        path,
        store,
        DeviceTrace(
            device=device,
            raw_ts=readings.ts[idx],
            raw_gateway=[readings.gateway[i] for i in idx.tolist()],
            raw_rssi=readings.rssi[idx],
            smooth_ts=np.array([p.ts for p in points], dtype=np.float64),
            smooth=smooth,
            decided=decided_segments(store, events, device),
            truth=clipped,
        ),
        title=title,
    )
