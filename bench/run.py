"""``make bench``: engine throughput beside a per-reading pure-Python reference, in one run.

Reports (ratios measured side by side, so a noisy machine affects both alike):

* core: readings/s through `proximity.engine.Engine` for 100, 1,000 and 10,000 concurrent
  devices, and the same stream through `bench.reference.ReferenceEngine` (per reading, plain
  Python) where that finishes in reasonable time;
* replay: readings/s through the ``proximity replay`` command on the busy scenario (file in,
  events out, process start included);
* memory: bytes of engine state per tracked device.

Times are CPU time of the measuring process (``time.process_time``, and the replay child's
rusage), so a busy machine slows the wall clock but not the figures much; the engine and the
reference run in the same process, so their ratio is fair either way. Nothing here asserts a
time; figures are printed and written to ``out/bench.json``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from bench.gateway_bench import run as run_gateway_bench
from bench.reference import ReferenceEngine
from proximity.engine import Engine
from proximity.files import load_store
from proximity.readings import ReadingBatch

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "config" / "stores" / "default.yaml"


def synthetic(store_path: Path, devices: int, seconds: float, seed: int = 1) -> ReadingBatch:
    """Phones (1 s) at random spots in the store, heard by the gateways within range."""
    store = load_store(str(store_path))
    rng = np.random.default_rng(seed)
    gw = np.array([g.position for g in store.gateways], dtype=float)
    xs = np.array([p[0] for z in store.zones if z.polygon for p in z.polygon])
    ys = np.array([p[1] for z in store.zones if z.polygon for p in z.polygon])
    pos = np.column_stack([rng.uniform(0, xs.max(), devices), rng.uniform(0, ys.max(), devices)])
    phase = rng.uniform(0, 1, devices)
    rows_t, rows_g, rows_d, rows_r = [], [], [], []
    for k in range(int(seconds)):
        t = k + phase
        d = np.hypot(
            np.hypot(pos[:, None, 0] - gw[None, :, 0], pos[:, None, 1] - gw[None, :, 1]), 1.5
        )
        rssi = np.round(-59 - 22 * np.log10(d) + rng.normal(0, 4, d.shape))
        heard = (rssi > -92) & (rng.random(d.shape) > 0.05)
        dev, g = np.nonzero(heard)
        rows_t.append(t[dev])
        rows_g.append(g)
        rows_d.append(dev)
        rows_r.append(rssi[dev, g])
    ts = np.concatenate(rows_t)
    order = np.argsort(ts, kind="stable")
    return ReadingBatch(
        ts[order],
        np.concatenate(rows_g)[order].astype(np.int64),
        np.concatenate(rows_d)[order].astype(np.int64),
        np.concatenate(rows_r)[order],
        np.full(ts.size, np.nan),
    )


def run_core(batch: ReadingBatch, devices: int) -> float:
    """Readings/s of the vectorised engine fed in 0.5 s batches, as a hub would."""
    engine = Engine(load_store(str(STORE)))
    for i in range(devices):
        engine.devices.intern(f"d{i}")
    start = time.process_time()
    edges = np.searchsorted(batch.ts, np.arange(0.5, batch.ts.max() + 1, 0.5))
    lo = 0
    for hi in edges.tolist():
        if hi > lo:
            engine.ingest(batch.take(slice(lo, hi)))
            engine.advance(float(batch.ts[hi - 1]))
        lo = hi
    engine.flush()
    return len(batch) / (time.process_time() - start)


def run_reference(batch: ReadingBatch, limit_s: float = 20.0) -> tuple[float, int]:
    """Readings/s of the per-reading reference (stops after ``limit_s`` of work)."""
    store = load_store(str(STORE))
    ref = ReferenceEngine(store)
    names = [g.id for g in store.gateways]
    ts, gw, dev, rssi = (
        batch.ts.tolist(),
        batch.gateway.tolist(),
        batch.device.tolist(),
        batch.rssi.tolist(),
    )
    start = time.process_time()
    n = 0
    for n in range(len(ts)):
        ref.feed(ts[n], names[gw[n]], f"d{dev[n]}", rssi[n])
        if n % 1000 == 0 and time.process_time() - start > limit_s:
            break
    return (n + 1) / (time.process_time() - start), n + 1


def memory_per_device(devices: int = 10_000) -> float:
    """Bytes of engine state per tracked device (tracemalloc, numpy arrays included)."""
    batch = synthetic(STORE, devices, 3)
    tracemalloc.start()
    engine = Engine(load_store(str(STORE)))
    before = tracemalloc.get_traced_memory()[0]
    for i in range(devices):
        engine.devices.intern(f"d{i}")
    engine.ingest(batch)
    engine.flush()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / max(engine.tracked(), 1)


def run_replay() -> dict[str, float]:
    """Readings/s through the ``proximity replay`` command on the busy scenario."""
    exe = str(Path(sys.executable).parent / "proximity")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [exe, "simulate", "--scenario", str(ROOT / "config/scenarios/busy.yaml"), "--out", tmp],
            check=True,
        )
        with open(os.path.join(tmp, "readings.csv")) as fh:
            rows = sum(1 for _ in fh) - 1
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [
                exe,
                "replay",
                "--store",
                f"{tmp}/store.yaml",
                "--readings",
                f"{tmp}/readings.csv",
                "--out",
                f"{tmp}/events.jsonl",
            ],
            check=True,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "rows": rows,
        "wall_s": wall,
        "cpu_s": cpu,
        "readings_per_cpu_s": rows / cpu,
        "readings_per_wall_s": rows / wall,
    }


def main() -> int:
    results: dict[str, object] = {}
    print("core engine vs per-reading reference (same readings, same run)")
    print(f"{'devices':>8} {'readings':>10} {'engine r/s':>12} {'reference r/s':>14} {'ratio':>7}")
    core = []
    for devices, seconds in ((100, 60), (1_000, 30), (10_000, 10)):
        batch = synthetic(STORE, devices, seconds)
        eng = run_core(batch, devices)
        ref, n = run_reference(batch, limit_s=10.0 if devices == 100 else 5.0)
        core.append(
            {
                "devices": devices,
                "readings": len(batch),
                "engine_rps": eng,
                "reference_rps": ref,
                "reference_readings": n,
                "ratio": eng / ref,
            }
        )
        print(f"{devices:>8} {len(batch):>10} {eng:>12,.0f} {ref:>14,.0f} {eng / ref:>6.0f}x")
    results["core"] = core
    mem = memory_per_device()
    results["bytes_per_device"] = mem
    print(f"engine state per tracked device: {mem:,.0f} bytes (10,000 devices)")
    replay = run_replay()
    results["replay_busy"] = replay
    print(
        f"proximity replay, busy scenario: {replay['rows']:,.0f} readings, "
        f"{replay['cpu_s']:.1f} s of CPU ({replay['readings_per_cpu_s']:,.0f} readings per "
        f"CPU-second, one process on one core) and {replay['wall_s']:.1f} s of wall time "
        f"({replay['readings_per_wall_s']:,.0f}/s on this machine as loaded); CSV parsing, "
        f"process start and event writing included"
    )
    results["gateway"] = run_gateway_bench()
    os.makedirs(ROOT / "out", exist_ok=True)
    (ROOT / "out" / "bench.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
