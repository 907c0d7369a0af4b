"""Gateway benchmark: adverts/s through one gateway, and advert -> event latency via Mosquitto.

Two figures (printed, and returned for ``out/bench.json``; nothing asserts a time):

* **throughput**: adverts/s one gateway process handles on one core through parse, privacy
  filter, batching, the SQLite outbox and QoS 1 publishing to a real Mosquitto, fed as fast as
  it takes them (the default scenario's adverts of its busiest gateway, foreign ones included).
  Stage by stage (filter alone, + batcher, + outbox, + publish) so a regression points at its
  step. Goal: >= 5,000 adverts/s.
* **latency**: every gateway of the default store paced in real time (one shared clock), a hub
  process, real Mosquitto; for each event, the wall time it reached a consumer minus the wall
  time of its ``ts`` ("from ts": includes the engine's deliberate holds, e.g. a move is
  published ``min_stay_s`` = 10 s after it, stamped with its time), and minus the end of the
  batch window by which the engine, fed offline window by window, emits it ("beyond the
  window": the pipeline's own delay: window closing, outbox, broker, hub, broker again).
  Goal: p95 beyond the window <= 300 ms.

Run alone with ``python -m bench.gateway_bench [--seconds S]``; ``make bench`` runs it last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gateway import codec, topics
from gateway.batcher import Batcher
from gateway.bus import MqttLink, MqttSettings, Will
from gateway.cli import cancel_all
from gateway.demo import StoreSide, find_mosquitto, free_port, plan_store_side, wait_for_port
from gateway.node import GatewayNode, NodeSettings
from gateway.outbox import Outbox
from gateway.privacy import EdgeFilter
from gateway.sources import Advert, OnAdvert

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "config" / "scenarios" / "default.yaml"
WINDOW_S = 0.5

Say = Callable[[str], None]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class _Broker:
    """A Mosquitto on a free port for the length of the benchmark."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 1000000\nmax_inflight_messages 0\n"
        )
        self._log = open(workdir / "mosquitto.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(conf)], stdout=self._log, stderr=subprocess.STDOUT
        )
        wait_for_port("127.0.0.1", self.port, 10, self.proc)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


# --- throughput ------------------------------------------------------------------------------


def _simulation() -> tuple[Any, dict[str, list[Advert]], list[str]]:
    """The default scenario simulated: the result, its adverts per gateway, and the beacon
    prefixes to admit."""
    from firmware_sim.live import adverts
    from firmware_sim.scenario import load_scenario
    from firmware_sim.simulate import simulate

    result = simulate(load_scenario(str(SCENARIO)))
    per_gw: dict[str, list[Advert]] = {g.id: [] for g in result.store.gateways}
    for a in adverts(result):
        per_gw[a.gateway].append(Advert(a.ts, a.manufacturer_data, a.service_data, a.rssi))
    prefixes = sorted({f"ibeacon:{d.beacon[0]}:*".lower() for d in result.devices if d.beacon})
    return result, per_gw, prefixes


def decision_times(result: Any, seconds: float) -> dict[str, float]:
    """For each event of the first ``seconds``, the earliest batch-window end (simulation
    seconds) by which the engine can emit it: the readings' offline view fed window by window
    with the hub's advance. Engine holds (a move is published ``min_stay_s`` after it, stamped
    with its time) are in it, so what remains live is the pipeline's own delay."""
    from proximity.engine import Engine

    r = result.readings
    keep = r.ts < seconds
    ts, gws, devs = r.ts[keep], r.gateway[keep], r.device[keep]
    rssi, tx = r.rssi[keep].astype(float), r.tx_power[keep].astype(float)
    engine = Engine(result.store)
    out: dict[str, float] = {}
    lo, n = 0, len(ts)
    for k in range(1, int(seconds / WINDOW_S) + 1):
        end = k * WINDOW_S
        hi = lo
        while hi < n and ts[hi] < end:
            hi += 1
        if hi > lo:
            engine.ingest_rows(ts[lo:hi], list(gws[lo:hi]), list(devs[lo:hi]), rssi[lo:hi],
                               tx[lo:hi])  # fmt: skip
        for event in engine.advance(end + engine.cfg.lateness_s):
            out.setdefault(event.event_id, end)
        lo = hi
    return out


class _ListSource:
    """All adverts as fast as the pipeline takes them (yielding to the loop every 64)."""

    def __init__(self, items: list[Advert]) -> None:
        self.items = items
        self.restarts = 0
        self._now = 0.0

    def now(self) -> float:
        return self._now

    async def run(self, on_advert: OnAdvert) -> None:
        for i, a in enumerate(self.items):
            self._now = a.ts
            on_advert(a.ts, a.manufacturer_data, a.service_data, a.rssi)
            if i % 64 == 0:
                await asyncio.sleep(0)


def _stages(items: list[Advert], prefixes: list[str], workdir: Path) -> dict[str, float]:
    """Adverts/s of the callback's steps without I/O, then with the outbox."""
    out: dict[str, float] = {}
    filt = EdgeFilter(prefixes)
    start = time.process_time()
    for a in items:
        filt.admit(a.manufacturer_data, a.service_data)
    out["filter"] = len(items) / (time.process_time() - start)
    filt, batcher = EdgeFilter(prefixes), Batcher(WINDOW_S)
    windows = 0
    start = time.process_time()
    for a in items:
        got = filt.admit(a.manufacturer_data, a.service_data)
        if got is not None:
            windows += len(batcher.add(a.ts, got.device, a.rssi, got.tx_power))
    out["filter_batch"] = len(items) / (time.process_time() - start)
    filt, batcher = EdgeFilter(prefixes), Batcher(WINDOW_S)
    box = Outbox(workdir / "stage.outbox.db", "gw-bench", max_batches=10**9)
    start = time.process_time()
    for a in items:
        got = filt.admit(a.manufacturer_data, a.service_data)
        if got is not None:
            for w in batcher.add(a.ts, got.device, a.rssi, got.tx_power):
                box.put("boot", w.t0, w.t1, list(w.rows))
    out["filter_batch_outbox"] = len(items) / (time.process_time() - start)
    box.close()
    return out


async def _full_pipeline(items: list[Advert], prefixes: list[str], port: int, workdir: Path) -> \
        dict[str, float]:  # fmt: skip
    """The gateway's own wiring (`GatewayNode`) to a real broker: adverts/s until the last
    batch is acknowledged by the broker (PUBACK)."""
    boot = secrets.token_hex(8)
    outbox = Outbox(workdir / "full.outbox.db", "gw-bench", max_batches=10**9)
    node: GatewayNode | None = None

    async def on_message(topic: str, payload: bytes) -> None:
        if node is not None:
            await node.on_message(topic, payload)

    settings = MqttSettings("127.0.0.1", port, client_id=f"bench-{boot}", keepalive_s=30)
    offline = codec.Status("offline", boot, time.time(), time.time())
    will = Will(topics.status("bench", "gw-bench"), codec.encode_status(offline))
    link = MqttLink(settings, [], on_message, None, will)
    source = _ListSource(items)
    node = GatewayNode(
        NodeSettings("bench", "gw-bench", boot, time.time(), health_s=3600, resend_s=3600),
        source, EdgeFilter(prefixes), Batcher(WINDOW_S), outbox, link,
    )  # fmt: skip
    link.subscriptions = node.subscriptions()
    announced = asyncio.Event()

    async def on_connect() -> None:
        assert node is not None
        await node.on_connect()  # asks for a resend of the (empty) outbox: let it pass first
        announced.set()

    link.on_connect = on_connect
    tasks = [asyncio.create_task(link.run())]
    await announced.wait()
    tasks.append(asyncio.create_task(node.publisher()))
    await asyncio.sleep(0.05)
    wall, cpu = time.perf_counter(), time.process_time()
    await node.run_source()
    batches = outbox.next_seq(boot)
    while node.published < batches:
        await asyncio.sleep(0.001)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await cancel_all([tasks[1]])  # the publisher first, while the link is up
    await cancel_all(tasks)
    outbox.close()
    return {
        "adverts": len(items),
        "admitted": node.filter.passed,
        "batches": batches,
        "seconds": wall,
        "cpu_seconds": cpu,
        "adverts_per_s": len(items) / wall,
        "adverts_per_cpu_s": len(items) / cpu,
    }


def throughput(
    per_gw: dict[str, list[Advert]], prefixes: list[str], port: int, workdir: Path, say: Say
) -> dict[str, Any]:
    """Adverts/s of one gateway (busiest gateway of the default scenario, all 30 min)."""
    gw, items = max(per_gw.items(), key=lambda kv: len(kv[1]))
    stages = _stages(items, prefixes, workdir)
    full = asyncio.run(_full_pipeline(items, prefixes, port, workdir))
    say(
        f"gateway throughput ({gw}, {len(items):,} adverts of 30 min, "
        f"{1 - full['admitted'] / len(items):.0%} foreign), one process:"
    )
    say(
        f"  filter {stages['filter']:>10,.0f}/s   + batcher {stages['filter_batch']:>10,.0f}/s"
        f"   + outbox {stages['filter_batch_outbox']:>10,.0f}/s (CPU time)"
    )
    say(
        f"  full pipeline to Mosquitto: {full['adverts_per_s']:,.0f} adverts/s wall "
        f"({full['adverts_per_cpu_s']:,.0f}/CPU-s, {full['batches']:,} QoS 1 batches); "
        f"goal >= 5,000/s: {full['adverts_per_s'] / 5000:.1f}x"
    )
    return {"gateway": gw, "stages_per_cpu_s": stages, "pipeline": full}


# --- latency ---------------------------------------------------------------------------------


class _ClockSource:
    """Adverts paced in real time on a clock shared by every gateway of the store."""

    def __init__(self, items: Iterator[Advert], origin: float) -> None:
        self.items = items
        self.origin = origin
        self.restarts = 0
        self._next: float | None = None

    def now(self) -> float:
        wall = time.monotonic() - self.origin
        return wall if self._next is None else min(wall, self._next)

    async def run(self, on_advert: OnAdvert) -> None:
        for a in self.items:
            self._next = a.ts
            delay = self.origin + a.ts - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next = None
            on_advert(a.ts, a.manufacturer_data, a.service_data, a.rssi)


async def _latency_run(
    side: StoreSide,
    per_gw: dict[str, list[Advert]],
    prefixes: list[str],
    decided: dict[str, float],
    seconds: float,
) -> list[tuple[str, float, float]]:
    """Gateways in this process (one client), hub as its own process; events timed here."""
    store = side.plan.store_id
    origin = time.monotonic() + 2.0
    arrivals: dict[str, tuple[float, float, str]] = {}
    nodes: list[GatewayNode] = []

    async def on_message(topic: str, payload: bytes) -> None:
        if topic == topics.events(store):
            event = json.loads(payload)
            arrivals.setdefault(
                event["event_id"], (time.monotonic(), float(event["ts"]), str(event["type"]))
            )
            return
        for node in nodes:
            if topic in node.subscriptions():
                await node.on_message(topic, payload)

    boot = secrets.token_hex(8)
    settings = MqttSettings(side.host, side.port, client_id=f"bench-gws-{boot}", keepalive_s=30)
    link = MqttLink(settings, [topics.events(store)], on_message)
    tasks: list[asyncio.Task[None]] = []
    for gw in side.plan.gateways:
        items = (a for a in per_gw[gw] if a.ts < seconds)
        node = GatewayNode(
            NodeSettings(store, gw, f"{boot}{len(nodes)}", time.time(), health_s=3600),
            _ClockSource(items, origin), EdgeFilter(prefixes), Batcher(WINDOW_S),
            Outbox(side.plan.workdir / f"{gw}.outbox.db", gw), link,
        )  # fmt: skip
        nodes.append(node)
        link.subscriptions += node.subscriptions()

    async def on_connect() -> None:
        for node in nodes:
            await node.on_connect()

    link.on_connect = on_connect
    tasks.append(asyncio.create_task(link.run()))
    await link.connected.wait()
    for node in nodes:
        tasks += [asyncio.create_task(c) for c in (node.run_source(), node.publisher())]
        tasks.append(asyncio.create_task(node.ticker()))
    await asyncio.sleep(max(0.0, origin + seconds + 3.0 - time.monotonic()))
    await cancel_all(tasks[1:])
    await cancel_all(tasks)
    for node in nodes:
        node.outbox.close()
    timed: list[tuple[str, float, float]] = []
    for event_id, (arrived, ts, kind) in arrivals.items():
        if event_id not in decided:
            continue  # decided after the last reading (not in the offline run): not timed
        timed.append((kind, arrived - (origin + ts), arrived - (origin + decided[event_id])))
    return timed


def latency(
    per_gw: dict[str, list[Advert]],
    prefixes: list[str],
    decided: dict[str, float],
    workdir: Path,
    seconds: float,
    say: Say,
) -> dict[str, Any]:
    """Advert -> event latency through a hub process and real Mosquitto, real time."""
    broker = _Broker(workdir)
    plan = plan_store_side(SCENARIO, workdir / "store", "127.0.0.1", broker.port, 1.0)
    hub_conf = json.loads(plan.hub_config.read_text())
    hub_conf["hub"]["grace_s"] = 3600  # wait for every gateway: all of them run here
    plan.hub_config.write_text(json.dumps(hub_conf))
    side = StoreSide(plan, "127.0.0.1", broker.port)
    try:
        side.hub = side._spawn("hub", [sys.executable, "-m", "gateway", "--config",
                                       str(plan.hub_config)])  # fmt: skip
        deadline = time.monotonic() + 30
        while b"connected to" not in side.log_of("hub").read_bytes():
            if time.monotonic() > deadline or side.hub.poll() is not None:
                raise RuntimeError(f"hub did not start; see {side.log_of('hub')}")
            time.sleep(0.05)
        timed = asyncio.run(_latency_run(side, per_gw, prefixes, decided, seconds))
    finally:
        side.stop()
        broker.stop()
    say(
        f"advert -> event latency ({len(plan.gateways)} gateways paced in real time, hub "
        f"process, Mosquitto; {len(timed)} events in {seconds:.0f} s), ms:"
    )
    say(f"  {'events':<34} {'n':>4} from ts: {'p50':>6} {'p95':>6}   beyond the window: "
        f"{'p50':>5} {'p95':>6}")  # fmt: skip
    groups = {
        "entries (store_entry, zone_enter)": ("store_entry", "zone_enter"),
        "exits and dwell": ("zone_exit", "zone_dwell", "store_exit"),
        "all": ("store_entry", "zone_enter", "zone_exit", "zone_dwell", "store_exit"),
    }
    out: dict[str, Any] = {"seconds": seconds, "events": len(timed), "groups": {}}
    for name, kinds in groups.items():
        total = [t for k, t, _ in timed if k in kinds]
        beyond = [b for k, _, b in timed if k in kinds]
        row = {
            "n": len(total),
            "p50_s": _percentile(total, 0.5),
            "p95_s": _percentile(total, 0.95),
            "beyond_window_p50_s": _percentile(beyond, 0.5),
            "beyond_window_p95_s": _percentile(beyond, 0.95),
        }
        out["groups"][name] = row
        say(
            f"  {name:<34} {row['n']:>4} {'':>9}{row['p50_s'] * 1e3:>6.0f} "
            f"{row['p95_s'] * 1e3:>6.0f}   {'':>19}{row['beyond_window_p50_s'] * 1e3:>5.0f} "
            f"{row['beyond_window_p95_s'] * 1e3:>6.0f}"
        )
    head = out["groups"]["all"]["beyond_window_p95_s"]
    say(f"  p95 beyond the window vs the 300 ms goal: {head / 0.3:.2f} of it")
    out["beyond_window_p95_s"] = head
    return out


def run(seconds: float = 90.0, say: Say = print, skip_throughput: bool = False) -> dict[str, Any]:
    """Both benchmarks; returns the figures for ``out/bench.json``."""
    if shutil.which("mosquitto") is None and not any(
        Path(p).exists() for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
    ):
        say("gateway benchmark skipped: mosquitto is not installed")
        return {"skipped": "mosquitto is not installed"}
    results: dict[str, Any] = {}
    result, per_gw, prefixes = _simulation()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        workdir = Path(tmp)
        if not skip_throughput:
            broker = _Broker(workdir)
            try:
                results["throughput"] = throughput(per_gw, prefixes, broker.port, workdir, say)
            finally:
                broker.stop()
        decided = decision_times(result, seconds)
        results["latency"] = latency(per_gw, prefixes, decided, workdir, seconds, say)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_bench")
    parser.add_argument("--seconds", type=float, default=90.0, help="latency run, real seconds")
    parser.add_argument("--latency-only", action="store_true", help="skip the throughput part")
    ns = parser.parse_args()
    results = run(ns.seconds, skip_throughput=ns.latency_only)
    os.makedirs(ROOT / "out", exist_ok=True)
    (ROOT / "out" / "gateway_bench.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
