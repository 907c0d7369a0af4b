"""Settings validation and the gateway command's exit codes; node logic on the memory bus."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from gateway import codec, topics
from gateway.batcher import Batcher
from gateway.bus import MemoryBroker, MemoryBus
from gateway.cli import add_parser, run
from gateway.config import load_settings
from gateway.node import GatewayNode, NodeSettings
from gateway.outbox import Outbox
from gateway.privacy import EdgeFilter
from gateway.sources import PacedSource
from proximity import frames
from proximity.errors import InputError

GOOD = """\
store: demo
gateway: gw-door
source: replay
replay: {file: adverts.jsonl, speed: 2}
mqtt: {host: broker.local, port: 1884, keepalive_s: 10}
filter: {beacons: ["ibeacon:00000000-0000-0000-0000-000000000001:1:*"]}
"""


def test_settings_parse_with_env_overrides(tmp_path: Path) -> None:
    s = load_settings(GOOD, str(tmp_path / "gw.yaml"), environ={"PROXIMITY_MQTT_PORT": "1999"})
    assert (s.store, s.gateway, s.source, s.speed) == ("demo", "gw-door", "replay", 2.0)
    assert s.mqtt.host == "broker.local" and s.mqtt.port == 1999
    assert s.replay_file == str(tmp_path / "adverts.jsonl")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (GOOD.replace("port: 1884", "port: 70000"), "gw.yaml:5: field 'mqtt.port'"),
        (GOOD.replace("speed: 2", "sped: 2"), "gw.yaml:4: field 'replay.sped'"),
        (GOOD.replace("gateway: gw-door", "gateway: gw/door"), "gw.yaml:2: field 'gateway'"),
        (GOOD + "role: boss\n", "field 'role'"),
        (GOOD + "role: hub\n", "'hub' section"),
    ],
)
def test_bad_settings_name_line_and_field(text: str, where: str) -> None:
    with pytest.raises(InputError) as info:
        load_settings(text, "gw.yaml", environ={})
    assert where in str(info.value)


def test_command_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "gw.yaml"
    conf.write_text(GOOD.replace("keepalive_s: 10", "keepalive_s: ten"))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    ns = parser.parse_args(["gateway", "--config", str(conf)])
    assert run(ns) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("proximity gateway: ") and "mqtt.keepalive_s" in err[-1]
    ns = parser.parse_args(["gateway", "--config", str(tmp_path / "missing.yaml")])
    assert run(ns) == 2


def test_node_acks_delete_and_stale_status_is_overwritten(tmp_path: Path) -> None:
    broker = MemoryBroker()
    bus = MemoryBus(broker)
    cid, tok = frames.build_app_token(b"\x02" * 8, -59)
    box = Outbox(tmp_path / "o.db", "gw1")
    source = PacedSource([], speed=0)
    node = GatewayNode(NodeSettings("s", "gw1", "bootb", 200.0), source, EdgeFilter([]),
                       Batcher(0.5), box, bus)  # fmt: skip

    async def go() -> None:
        for pattern in node.subscriptions():
            await broker.subscribe(pattern, node.on_message)
        node.on_advert(10.1, {cid: tok}, {}, -70)
        node.on_advert(10.2, {0x0006: b"\x00foreign"}, {}, -40)
        node.on_advert(10.7, {cid: tok}, {}, -71)
        assert box.depth() == 1
        await node.on_connect()
        task = asyncio.create_task(node.publisher())
        await asyncio.sleep(0.05)
        sent = [p for t, p in broker.log if t.endswith("/readings")]
        assert len(sent) == 1 and b"foreign" not in sent[0]
        batch = codec.decode_batch("t", sent[0])
        assert [r[1] for r in batch.rows] == ["token:" + "02" * 8]
        await broker.deliver(topics.ack("s", "gw1"), b"garbage", False)
        await broker.deliver(topics.ack("s", "gw1"), codec.encode_ack(codec.Ack("bootb", 0)), False)
        assert box.depth() == 0 and node.dead_letters == 1
        stale = codec.Status("offline", "boota", 100.0, 100.0)
        await broker.deliver(topics.status("s", "gw1"), codec.encode_status(stale), True)
        current = codec.decode_status("t", broker.retained[topics.status("s", "gw1")])
        assert current.state == "online" and current.boot_id == "bootb"
        task.cancel()

    asyncio.run(go())
    box.close()
