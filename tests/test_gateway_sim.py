"""The ``sim`` source and ``proximity demo``: the simulator's live adverts through real
Mosquitto, a hub and gateway processes; foreign adverts never pass the edge filter."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from firmware_sim.live import adverts
from firmware_sim.scenario import load_scenario
from firmware_sim.simulate import simulate
from gateway import codec, demo
from gateway.sources import sim_source
from proximity import frames
from proximity.errors import InputError
from tests.demo_run import IGNORING_CTRL_C

sys.path.insert(0, str(Path(__file__).parent))
from mqtt_broker import require_mosquitto

ROOT = Path(__file__).parent.parent


def short_scenario(tmp: Path, duration_s: float = 40.0) -> Path:
    """The default scenario, shortened (its store path made absolute)."""
    src = ROOT / "config" / "scenarios" / "default.yaml"
    data = yaml.safe_load(src.read_text())
    data["scenario"]["duration_s"] = duration_s
    data["store"] = str((src.parent / data["store"]).resolve())
    out = tmp / "short.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


def test_sim_source_delivers_one_gateways_adverts_and_checks_the_gateway(tmp_path: Path) -> None:
    scenario = short_scenario(tmp_path, 20.0)
    got: list[tuple[float, float]] = []
    source = sim_source(scenario, "gw-door", speed=0)
    import asyncio

    asyncio.run(source.run(lambda ts, m, s, rssi: got.append((ts, rssi))))
    want = [(a.ts, float(a.rssi)) for a in adverts(simulate(load_scenario(str(scenario))))
            if a.gateway == "gw-door"]  # fmt: skip
    assert got == want and len(got) > 100
    assert source.now() == got[-1][0]
    # a restart resumes where the outbox says the last batch ended
    resumed: list[float] = []
    source = sim_source(scenario, "gw-door", speed=0, resume_after=10.0)
    asyncio.run(source.run(lambda ts, m, s, rssi: resumed.append(ts)))
    assert resumed == [t for t, _ in got if t >= 10.0]
    with pytest.raises(InputError, match="gw-nowhere"):
        sim_source(scenario, "gw-nowhere")


def test_status_board_counts_distinct_events_and_ignores_stale_wills() -> None:
    board = demo.StatusBoard(["a", "b"], rate_window_s=10.0)
    entry = {"type": "store_entry", "device": "d1", "zone": None, "ts": 5.0, "event_id": "e1"}
    board.on_event(entry, 100.0)
    board.on_event(entry, 100.5)  # QoS 1 duplicate
    board.on_event({"type": "zone_enter", "device": "d1", "zone": "sales", "ts": 6.0,
                    "event_id": "e2"}, 101.0)  # fmt: skip
    board.on_event({"type": "store_entry", "device": "d2", "zone": None, "ts": 7.0,
                    "event_id": "e3"}, 102.0)  # fmt: skip
    board.on_event({"type": "store_exit", "device": "d1", "zone": None, "ts": 9.0,
                    "event_id": "e4"}, 103.0)  # fmt: skip
    assert board.events == 4 and board.in_store == {"d2"}
    assert board.rate(103.0) == pytest.approx(0.4)
    assert board.rate(111.5) == pytest.approx(0.2)  # the first two left the 10 s window
    new = codec.Status("online", "boot2", 50.0, 51.0)
    board.on_status("a", new)
    board.on_status("a", codec.Status("offline", "boot1", 10.0, 11.0))  # older boot's will
    board.on_status("b", codec.Status("offline", "boot3", 20.0, 21.0))
    assert board.online() == 1
    line = board.line(103.0)
    assert "gateways online 1/2" in line and "in store 1" in line
    assert "store_exit d1 @ 9.0 s" in line


def test_demo_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    base = {"scenario": str(ROOT / "config/scenarios/default.yaml"), "workdir": None}
    assert demo.run(argparse.Namespace(**base, speed=0.0, broker=None)) == 2
    assert "--speed" in capsys.readouterr().err
    assert demo.run(argparse.Namespace(**base, speed=1.0, broker="localhost")) == 2
    assert "--broker" in capsys.readouterr().err
    missing = {**base, "scenario": "/nonexistent.yaml"}
    assert demo.run(argparse.Namespace(**missing, speed=1.0, broker=None)) == 2
    assert "/nonexistent.yaml" in capsys.readouterr().err


class Tap:
    """Every message of the store on the broker."""

    def __init__(self, port: int, store: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"tap-{port}")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"prox/v1/{store}/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.mark.slow
def test_store_side_with_sim_source_through_mosquitto(tmp_path: Path) -> None:
    require_mosquitto()
    scenario = short_scenario(tmp_path, 40.0)
    result = simulate(load_scenario(str(scenario)))
    foreign = [d for d in result.devices if d.hardware == "foreign"]
    beacon_uuids = {d.beacon[0].lower() for d in result.devices if d.beacon is not None}
    # the readings each gateway should admit, decided from the frames (not the filter)
    admitted: dict[str, int] = {}
    heard_foreign = 0
    for a in adverts(result):
        frame = frames.parse_advertisement(a.manufacturer_data, a.service_data)
        key = frame.key() if frame is not None else None
        if key is not None and (
            key.startswith("token:") or any(key.startswith(f"ibeacon:{u}:") for u in beacon_uuids)
        ):
            admitted[a.gateway] = admitted.get(a.gateway, 0) + 1
        else:
            heard_foreign += 1
    assert heard_foreign > 100 and foreign
    side = demo.start_store_side(scenario, tmp_path / "demo", speed=20.0, say=lambda m: None)
    tap = None
    try:
        tap = Tap(side.port, side.plan.store_id)
        board = demo.StatusBoard(side.plan.gateways)
        import asyncio

        reason = asyncio.run(asyncio.wait_for(demo.watch(side, board, lambda line: None), 150))
        assert "finished" in reason
        assert all(p.returncode == 0 for p in side.gateways.values())
        time.sleep(0.5)
    finally:
        side.stop()
        if tap is not None:
            tap.close()
    assert board.events > 5
    with tap.lock:
        messages = list(tap.messages)
    rows: dict[str, int] = {}
    seen: set[tuple[str, str, int]] = set()
    for topic, payload in messages:
        if topic.endswith("/readings"):
            batch = codec.decode_batch(topic, payload)
            if (batch.gateway, batch.boot_id, batch.seq) in seen:
                continue  # a resend
            seen.add((batch.gateway, batch.boot_id, batch.seq))
            rows[batch.gateway] = rows.get(batch.gateway, 0) + len(batch.rows)
            for _, device, _, _ in batch.rows:
                assert device.startswith("token:") or device.split(":")[1] in beacon_uuids
    assert rows == admitted
    events = [json.loads(p) for t, p in messages if t.endswith("/events")]
    assert {e["event_id"] for e in events} == board.seen
    # no trace of a foreign device anywhere: broker traffic, logs, outboxes, hub journal
    haystacks = {"broker": b"\n".join(p for _, p in messages)}
    for path in (tmp_path / "demo").iterdir():
        haystacks[path.name] = path.read_bytes()
    for device in foreign:
        needles = [v for v in device.foreign_manufacturer.values() if len(v) >= 6]
        needles += [v for v in device.foreign_service.values() if len(v) >= 6]
        addresses = {device.address(t).encode() for t in (0.0, 39.0)}
        for name, data in haystacks.items():
            for needle in needles:
                assert needle not in data and needle.hex().encode() not in data, name
            for address in addresses:
                assert address not in data, name
    db = sqlite3.connect(tmp_path / "demo" / "hub.db")
    try:
        journaled = [json.loads(p) for (p,) in db.execute("SELECT payload FROM outbound")]
    finally:
        db.close()
    assert {e["event_id"] for e in journaled} == board.seen


@pytest.mark.slow
def test_store_side_demo_stops_every_process_on_ctrl_c(tmp_path: Path) -> None:
    require_mosquitto()
    scenario = short_scenario(tmp_path, 600.0)
    proc = subprocess.Popen(
        [*IGNORING_CTRL_C, sys.executable, "-m", "gateway.demo", "--scenario", str(scenario),
         "--speed", "5", "--workdir", str(tmp_path / "w")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        lines.append(line)
        if line.startswith("gateways online 8/8") or not line:
            break
    assert any(line.startswith("watching") for line in lines), lines
    children = _children(proc.pid)
    assert len(children) >= 10, children  # mosquitto, hub, 8 gateways
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert b"interrupted" in out
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or _state(pid) == "Z", pid
    for log in (tmp_path / "w").glob("*.log"):
        assert "Traceback" not in log.read_text(), log.name


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_paced_clock_never_passes_the_advert_waiting_to_be_delivered() -> None:
    import asyncio

    from gateway.sources import Advert, PacedSource

    wall = [0.0]
    items = [Advert(10.0, {}, {}, -60), Advert(21.499, {}, {}, -61), Advert(22.0, {}, {}, -62)]
    source = PacedSource(items, speed=1000.0, monotonic=lambda: wall[0])
    seen: list[tuple[float, float]] = []

    async def go() -> None:
        task = asyncio.create_task(source.run(lambda ts, m, s, r: seen.append((ts, r))))
        await asyncio.sleep(0)  # the first advert is delivered, the second one awaited
        wall[0] = 5.0  # the loop woke up late: the paced clock says 5010 s
        assert source.now() == 21.499  # ... but the window holding 21.499 must stay open
        await task

    asyncio.run(go())
    assert seen == [(10.0, -60), (21.499, -61), (22.0, -62)]
    assert source.now() == 10.0 + 5.0 * 1000.0  # nothing pending: the paced clock
