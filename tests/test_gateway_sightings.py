"""Phone sightings (the iPhone path): the API publishes checked sightings on
``prox/v1/{store}/sightings`` and the hub decides on them exactly as on a gateway's readings."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from gateway import codec, topics
from gateway.bus import MemoryBroker, MemoryBus
from gateway.hub import Hub
from gateway.journal import Journal
from gateway.resolver import Resolver, load_table
from proximity.files import load_store

sys.path.insert(0, str(Path(__file__).parent))
import gateway_world
from test_gateway_journal import Message, batches, feed

SIGHTINGS = topics.sightings("e2e")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> gateway_world.World:
    return gateway_world.build(tmp_path_factory.mktemp("world"), duration_s=40.0, foreign=50)


def new_hub(world: gateway_world.World, state: Path) -> tuple[Hub, MemoryBroker]:
    broker = MemoryBroker()
    resolver = Resolver(load_table(file=str(world.table)), world.beacons)
    hub = Hub(load_store(str(world.store)), MemoryBus(broker), Journal(state), resolver,
              grace_s=1e9)  # fmt: skip
    return hub, broker


def events(broker: MemoryBroker) -> list[dict[str, object]]:
    return [json.loads(p) for t, p in broker.log if t == topics.events("e2e")]


def sighting(rows: list[list[object]]) -> bytes:
    return json.dumps({"v": 1, "source": "app", "readings": rows}).encode()


def split(world: gateway_world.World, subject: str) -> tuple[list[Message], list[Message]]:
    """The gateways' batches two ways: ``subject``'s rows kept in them without tx power (as a
    sighting has none), and ``subject``'s rows taken out and sent as sightings just before."""
    resolver = Resolver(load_table(file=str(world.table)), world.beacons)
    plain: list[Message] = []
    sighted: list[Message] = []
    for topic, payload in batches(world):
        batch = codec.decode_batch(topic, payload)
        mine = [r for r in batch.rows if resolver.device(r[1]) == subject]
        rest = [r for r in batch.rows if resolver.device(r[1]) != subject]
        kept = [
            (t, d, r, None if resolver.device(d) == subject else x) for t, d, r, x in batch.rows
        ]
        plain.append((topic, codec.encode_batch(replace(batch, rows=tuple(kept)))))
        if mine:
            rows: list[list[object]] = [[t, batch.gateway, subject, r] for t, _, r, _ in mine]
            sighted.append((SIGHTINGS, sighting(rows)))
        sighted.append((topic, codec.encode_batch(replace(batch, rows=tuple(rest)))))
    return plain, sighted


def test_sightings_give_the_events_of_the_same_readings_from_a_gateway(
    tmp_path: Path, world: gateway_world.World
) -> None:
    subject = "subj-00"  # an app phone of the world
    plain_msgs, sighted_msgs = split(world, subject)
    assert sum(t == SIGHTINGS for t, _ in sighted_msgs) > 20

    plain, plain_broker = new_hub(world, tmp_path / "plain.db")
    feed(plain, plain_msgs)
    hub, broker = new_hub(world, tmp_path / "sighted.db")
    feed(hub, sighted_msgs)
    assert hub.flushed and hub.dead == 0 and hub.late_sightings == 0 and hub.sightings > 20
    expected = events(plain_broker)
    assert any(e["device"] == subject and e["type"] == "store_entry" for e in expected)
    assert events(broker) == expected

    # a restarted hub replays the sightings from its journal: nothing new, nothing twice
    journaled = hub.journal.events()
    hub.journal.close()
    again, again_broker = new_hub(world, tmp_path / "sighted.db")
    assert again.flushed and again.journal.events() == journaled
    feed(again, [])
    assert events(again_broker) == []


def test_a_late_sighting_counts_at_the_instant_decided_up_to(
    tmp_path: Path, world: gateway_world.World
) -> None:
    msgs = batches(world)
    hub, _ = new_hub(world, tmp_path / "hub.db")
    feed(hub, msgs[: len(msgs) // 2])
    floor = hub.advanced_to
    assert floor is not None
    gateway = load_store(str(world.store)).gateways[0].id
    feed(hub, [(SIGHTINGS, sighting([[floor - 5.0, gateway, "subject-x", -60]]))])
    assert hub.late_sightings == 1 and hub.sightings == 1
    assert any(row[:3] == (floor, gateway, "subject-x") for row in hub._held)


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        ([[1.0, "gw-nowhere", "subject-x", -60]], "readings[0].gateway"),
        ([[1.0, "gw-a", "subject-x", 5000]], "readings[0].rssi"),
        ([[1.0, "gw-a", "", -60]], "readings[0].subject"),
        ([["soon", "gw-a", "subject-x", -60]], "readings[0].ts"),
        ([[1.0, "gw-a", "subject-x"]], "readings[0]"),
    ],
)
def test_a_bad_sightings_message_is_set_aside_whole(
    tmp_path: Path, world: gateway_world.World, rows: list[list[object]], field: str
) -> None:
    hub, _ = new_hub(world, tmp_path / "hub.db")
    known = load_store(str(world.store)).gateways[0].id
    rows = [[known if c == "gw-a" else c for c in row] for row in rows]
    good = [1.0, known, "subject-y", -61]
    feed(hub, [(SIGHTINGS, sighting([good, *rows]))])
    field = field.replace("[0]", "[1]")
    assert hub.dead == 1 and hub.sightings == 0 and not hub._held
    reason = hub.journal.dead_letters()[0][1]
    assert field in reason, reason
