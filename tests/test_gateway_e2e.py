"""Issue #3 acceptance: gateways and hub as real processes through a real Mosquitto."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from gateway import codec, topics
from proximity.cli import main as proximity_main

sys.path.insert(0, str(Path(__file__).parent))
import gateway_world
from mqtt_broker import Broker

ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.slow


class Collector:
    """Records every message under prox/v1/e2e/# (reconnects by itself)."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[float, str, bytes]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"col-{port}")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("prox/v1/e2e/#", qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect_async("127.0.0.1", port, keepalive=5)
        self.client.loop_start()

    def _on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((time.monotonic(), msg.topic, bytes(msg.payload)))

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def events(self) -> list[dict[str, object]]:
        with self.lock:
            return [json.loads(p) for _, t, p in self.messages if t.endswith("/events")]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Run:
    """One store: broker, hub and four gateway processes."""

    def __init__(self, root: Path, world: gateway_world.World, speed: float) -> None:
        self.root = root
        self.world = world
        self.speed = speed
        self.broker = Broker(root)
        self.broker.start()
        self.collector = Collector(self.broker.port)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = {}

    def _mqtt(self) -> str:
        return f"mqtt: {{host: 127.0.0.1, port: {self.broker.port}, keepalive_s: 2}}\n"

    def start(self, name: str) -> None:
        conf = self.root / f"{name}.yaml"
        if name == "hub":
            beacons = ", ".join(f'"{k}": {v}' for k, v in self.world.beacons.items())
            conf.write_text(
                "store: e2e\nrole: hub\n" + self._mqtt()
                + f"hub: {{store_file: {self.world.store}, state: {self.root}/hub.db, grace_s: 8,"
                f" resolution: {{file: {self.world.table}}}, beacons: {{{beacons}}}}}\n"
            )  # fmt: skip
        else:
            conf.write_text(
                f"store: e2e\ngateway: {name}\nsource: replay\n" + self._mqtt()
                + f"replay: {{file: {self.world.replays[name]}, speed: {self.speed},"
                " exit_when_done: true}\n"
                f"outbox: {{path: {self.root}/{name}.outbox.db}}\n"
                f'filter: {{beacons: ["ibeacon:{gateway_world.FOB_UUID}:1:*"]}}\n'
                "health_s: 1\nresend_s: 2\n"
            )  # fmt: skip
        n = self.starts.get(name, 0)
        self.starts[name] = n + 1
        with open(self.root / f"{name}.{n}.log", "wb") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "gateway", "--config", str(conf)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def wait_connected(self, name: str, timeout: float = 20.0) -> None:
        """Wait until the process's latest log says it connected (and so subscribed)."""
        log = self.root / f"{name}.{self.starts[name] - 1}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"connected to" in log.read_bytes():
                time.sleep(0.3)
                return
            time.sleep(0.05)
        raise AssertionError(f"{name} did not connect; see {log}")

    def wait_outbox(self, name: str, batches: int, timeout: float = 30.0) -> None:
        """Wait until gateway ``name`` has put at least ``batches`` batches in its outbox."""
        path = self.root / f"{name}.outbox.db"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists():
                db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
                try:
                    rows = db.execute("SELECT value FROM meta WHERE key LIKE 'next_seq:%'")
                    if sum(int(v) for (v,) in rows) >= batches:
                        return
                except sqlite3.OperationalError:
                    pass  # schema not created yet
                finally:
                    db.close()
            time.sleep(0.1)
        raise AssertionError(f"{name} did not fill its outbox; see logs in {self.root}")

    def start_all(self) -> None:
        self.start("hub")
        self.wait_connected("hub")
        for gw in gateway_world.GATEWAYS:
            self.start(gw)

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait()

    def hub_state(self) -> tuple[bool, int, list[dict[str, object]]]:
        """(flushed, unpublished events, events) from the hub's journal."""
        db = sqlite3.connect(f"file:{self.root}/hub.db?mode=ro", uri=True)
        try:
            flushed = db.execute("SELECT 1 FROM entry WHERE kind = 'flush'").fetchone() is not None
            unpublished = db.execute("SELECT COUNT(*) FROM outbound WHERE published = 0")
            pending = int(unpublished.fetchone()[0])
            events = [json.loads(p) for (p,) in db.execute("SELECT payload FROM outbound")]
            dead = int(db.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0])
        finally:
            db.close()
        self.dead_letters = dead
        return flushed, pending, events

    def wait_done(self, timeout: float) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            gws_done = all(self.procs[g].poll() is not None for g in gateway_world.GATEWAYS)
            if gws_done and (self.root / "hub.db").exists():
                flushed, pending, events = self.hub_state()
                if flushed and pending == 0:
                    time.sleep(0.5)
                    return events
            time.sleep(0.2)
        raise AssertionError(f"run did not finish in {timeout} s; see logs in {self.root}")

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.collector.close()
        self.broker.stop()


def replay_events(world: gateway_world.World, out: Path) -> list[dict[str, object]]:
    assert proximity_main(["replay", "--store", str(world.store), "--readings",
                           str(world.expected_csv), "--out", str(out)]) == 0  # fmt: skip
    return [json.loads(line) for line in out.read_text().splitlines()]


def by_id(events: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    """Events by id."""
    return {e["event_id"]: dict(e) for e in events}


def assert_same(events: list[dict[str, object]], expected: list[dict[str, object]]) -> None:
    """The same events (by id, every field, ``confidence`` included); a mismatch lists the
    differing fields."""
    got, want = by_id(events), by_id(expected)
    missing = [want[k] for k in want if k not in got]
    extra = [got[k] for k in got if k not in want]
    fields = [
        (want[k]["type"], want[k]["device"], f, want[k].get(f), got[k].get(f))
        for k in want
        if k in got
        for f in sorted(set(want[k]) | set(got[k]))
        if want[k].get(f) != got[k].get(f)
    ]
    assert not (missing or extra or fields), (missing[:5], extra[:5], fields[:10])


@pytest.fixture
def world(tmp_path: Path) -> gateway_world.World:
    return gateway_world.build(tmp_path / "world", duration_s=40.0)


def test_store_through_mosquitto_equals_replay_and_leaves_no_foreign_trace(
    tmp_path: Path, world: gateway_world.World
) -> None:
    expected = replay_events(world, tmp_path / "replay.jsonl")
    assert len(expected) > 20
    run = Run(tmp_path, world, speed=4.0)
    try:
        run.start_all()
        time.sleep(2.0)
        rng = random.Random(11)
        print("fuzz seed 11")
        fuzz_topics = [topics.ack("e2e", g) for g in gateway_world.GATEWAYS]
        fuzz_topics += [topics.readings("e2e", "gw-door"), topics.status("e2e", "gw-sales")]
        fuzz_topics += [topics.config("e2e"), topics.readings("e2e", "gw-nowhere")]
        fuzz_topics += [topics.sightings("e2e")]
        for i in range(40):
            junk = rng.choice(
                [rng.randbytes(rng.randrange(0, 64)), b"{}", b"[1,2]",
                 b'{"v":1,"boot_id":"x","seq":-3}', b'{"v":1,"store":{}}']
            )  # fmt: skip
            run.collector.publish(fuzz_topics[i % len(fuzz_topics)], junk)
        events = run.wait_done(90)
        for name, proc in run.procs.items():
            assert proc.returncode in (0, None), name
        assert_same(events, expected)
        collected = run.collector.events()
        print("raw deliveries", len(collected), "distinct", len({e["event_id"] for e in collected}))
        assert_same(collected, expected)
        assert run.dead_letters >= 10
        # 10,000 foreign advertisements: no trace anywhere
        haystacks = {p.name: p.read_bytes() for p in tmp_path.glob("*.log")}
        for p in tmp_path.glob("*.db*"):
            haystacks[p.name] = p.read_bytes()
        with run.collector.lock:
            haystacks["broker"] = b"\n".join(p for _, _, p in run.collector.messages)
        haystacks["events"] = json.dumps(events).encode()
        for marker in world.foreign_markers[:: max(1, len(world.foreign_markers) // 500)]:
            for name, data in haystacks.items():
                assert marker.encode() not in data and bytes.fromhex(marker) not in data, name
        for name, data in haystacks.items():
            assert world.foreign_uuid.encode() not in data, name
        health = [json.loads(p) for _, t, p in run.collector.messages if t.endswith("/health")]
        assert sum(h["adverts_dropped"] for h in health[-8:]) > 0
    finally:
        run.close()


def test_broker_killed_for_30_s_loses_nothing(tmp_path: Path, world: gateway_world.World) -> None:
    expected = replay_events(world, tmp_path / "replay.jsonl")
    run = Run(tmp_path, world, speed=1.0)
    try:
        run.start_all()
        time.sleep(6.0)
        run.broker.kill()
        time.sleep(30.0)
        run.broker.start()
        events = run.wait_done(90)
        assert_same(events, expected)
        assert len(events) == len({e["event_id"] for e in events})
    finally:
        run.close()


def test_hub_and_gateway_killed_mid_run(tmp_path: Path, world: gateway_world.World) -> None:
    expected = replay_events(world, tmp_path / "replay.jsonl")
    run = Run(tmp_path, world, speed=2.0)
    try:
        run.start_all()
        time.sleep(5.0)
        run.kill("hub")
        time.sleep(1.0)
        run.start("hub")
        time.sleep(3.0)
        run.wait_outbox("gw-sales", 5)
        run.kill("gw-sales")
        from gateway.outbox import Outbox

        box = Outbox(tmp_path / "gw-sales.outbox.db", "gw-sales")
        held = box.snapshot()
        seqs = [b.seq for b in held]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True
        assert box.resume_t is not None and box.resume_t > gateway_world.T0
        box.close()
        run.start("gw-sales")
        events = run.wait_done(90)
        assert_same(events, expected)
        assert len(events) == len({e["event_id"] for e in events})
        collected = run.collector.events()
        assert_same(collected, expected)
    finally:
        run.close()


def test_duplicated_and_reordered_messages_give_identical_events(
    tmp_path: Path, world: gateway_world.World
) -> None:
    expected = replay_events(world, tmp_path / "replay.jsonl")
    run = Run(tmp_path, world, speed=1.0)
    try:
        run.start("hub")
        run.wait_connected("hub")
        rng = random.Random(5)
        print("chaos seed 5")
        msgs = gateway_world.batches(world)
        # 10 % duplicated; each message displaced by up to 60 positions (30 s of 4 gateways)
        msgs += [m for m in msgs if rng.random() < 0.1]
        keyed = [(i + rng.uniform(0, 60), m) for i, m in enumerate(msgs)]
        keyed.sort(key=lambda x: x[0])
        for _, (gw, payload) in keyed:
            run.collector.publish(topics.readings("e2e", gw), payload)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            flushed, pending, events = run.hub_state()
            if flushed and pending == 0:
                break
            time.sleep(0.2)
        assert_same(events, expected)
    finally:
        run.close()


def test_killed_gateway_offline_within_1_5_keepalive_never_by_stale_will(
    tmp_path: Path, world: gateway_world.World
) -> None:
    run = Run(tmp_path, world, speed=0.2)
    try:
        status_topic = topics.status("e2e", "gw-door")
        run.start("gw-door")
        deadline = time.monotonic() + 15
        first: codec.Status | None = None
        while time.monotonic() < deadline and first is None:
            with run.collector.lock:
                for _, t, p in run.collector.messages:
                    if t == status_topic:
                        first = codec.decode_status(t, p)
            time.sleep(0.05)
        assert first is not None and first.state == "online"
        killed = time.monotonic()
        run.kill("gw-door")
        offline_at = None
        while time.monotonic() < killed + 6 and offline_at is None:
            with run.collector.lock:
                for when, t, p in run.collector.messages:
                    offline = t == status_topic and when > killed
                    if offline and codec.decode_status(t, p).state == "offline":
                        offline_at = when
            time.sleep(0.02)
        assert offline_at is not None
        assert offline_at - killed <= 1.5 * 2 + 0.5, offline_at - killed
        # a new boot, then the old boot's will arriving late must not mark it offline
        run.start("gw-door")
        time.sleep(3.0)
        stale = codec.Status("offline", first.boot_id, first.started, first.ts)
        run.collector.publish(status_topic, codec.encode_status(stale), retain=True)
        time.sleep(2.0)
        view: codec.Status | None = None
        with run.collector.lock:
            for _, t, p in run.collector.messages:
                if t == status_topic:
                    s = codec.decode_status(t, p)
                    if view is None or s.newer_than(view):
                        view = s
        assert view is not None and view.state == "online" and view.boot_id != first.boot_id
        # and the retained message itself was healed by the gateway
        fresh = Collector(run.broker.port)
        time.sleep(1.0)
        with fresh.lock:
            retained = [codec.decode_status(t, p) for _, t, p in fresh.messages
                        if t == status_topic]  # fmt: skip
        fresh.close()
        assert retained and retained[-1].state == "online"
        assert retained[-1].boot_id != first.boot_id
    finally:
        run.close()


if os.environ.get("PROXIMITY_GATEWAY_E2E_SKIP"):
    pytestmark = pytest.mark.skip("PROXIMITY_GATEWAY_E2E_SKIP set")
