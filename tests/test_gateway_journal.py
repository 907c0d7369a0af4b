"""The hub's journal stays bounded (snapshots) and a restarted hub, from a compacted journal,
publishes exactly the events of an uninterrupted run and of ``proximity replay``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path

import pytest

from gateway import topics
from gateway.bus import MemoryBroker, MemoryBus
from gateway.hub import Hub
from gateway.journal import Journal
from gateway.resolver import Resolver, load_table
from proximity.cli import main as proximity_main
from proximity.files import load_store

sys.path.insert(0, str(Path(__file__).parent))
import gateway_world

Message = tuple[str, bytes]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> gateway_world.World:
    return gateway_world.build(tmp_path_factory.mktemp("world"), duration_s=40.0, foreign=200)


def batches(world: gateway_world.World) -> list[Message]:
    """Every gateway's readings batches, interleaved in time order (as they would arrive)."""
    return [(topics.readings("e2e", gw), p) for gw, p in gateway_world.batches(world)]


def new_hub(world: gateway_world.World, bus: MemoryBus, state: Path, every: int) -> Hub:
    resolver = Resolver(load_table(file=str(world.table)), world.beacons)
    store = load_store(str(world.store))
    return Hub(store, bus, Journal(state), resolver, grace_s=1e9, compact_every=every)


def feed(hub: Hub, messages: list[Message]) -> None:
    async def go() -> None:
        for topic, payload in messages:
            await hub.on_message(topic, payload)

    asyncio.run(go())


def published(broker: MemoryBroker) -> list[dict[str, object]]:
    return [json.loads(p) for t, p in broker.log if t == topics.events("e2e")]


def by_id(events: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    """Events by id (the global order across devices depends on how far each advance went)."""
    return {e["event_id"]: e for e in events}


def test_compacted_journal_restart_gives_the_events_of_an_uninterrupted_run(
    tmp_path: Path, world: gateway_world.World
) -> None:
    msgs = batches(world)
    assert len(msgs) > 300
    out = tmp_path / "replay.jsonl"
    assert proximity_main(["replay", "--store", str(world.store), "--readings",
                           str(world.expected_csv), "--out", str(out)]) == 0  # fmt: skip
    expected = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(expected) > 20

    plain_broker = MemoryBroker()
    plain = new_hub(world, MemoryBus(plain_broker), tmp_path / "plain.db", every=10**9)
    feed(plain, msgs)
    assert plain.flushed and plain.journal.compactions == 0
    assert by_id(published(plain_broker)) == by_id(expected)

    broker = MemoryBroker()
    bus = MemoryBus(broker)
    state = tmp_path / "hub.db"
    hub = new_hub(world, bus, state, every=60)
    sizes = []
    cut = len(msgs) // 2
    for i in range(0, cut, 20):
        feed(hub, msgs[i : min(i + 20, cut)])
        sizes.append(hub.journal.sizes())
    assert hub.journal.compactions >= 3
    assert max(s["entries"] for s in sizes) < 60 + 2 * 20  # bounded by compact_every
    # some events were published and forgotten by the journal; the broker has them
    assert len(published(broker)) > hub.journal.sizes()["events"]
    hub.journal.close()  # the hub dies here
    again = new_hub(world, bus, state, every=60)
    assert again.streams.positions() == hub.streams.positions()
    feed(again, msgs[cut - 40 :])  # gateways resend what they think is unacknowledged
    assert again.flushed
    events = published(broker)
    assert len(events) == len({e["event_id"] for e in events})  # nothing published twice
    assert by_id(events) == by_id(published(plain_broker))
    again.journal.close()


def test_an_unloadable_engine_snapshot_starts_a_fresh_engine(
    tmp_path: Path, world: gateway_world.World, caplog: pytest.LogCaptureFixture
) -> None:
    msgs = batches(world)
    broker = MemoryBroker()
    state = tmp_path / "hub.db"
    hub = new_hub(world, MemoryBus(broker), state, every=30)
    feed(hub, msgs[:100])
    assert hub.journal.compactions >= 1
    advanced = hub.advanced_to
    hub.journal.close()
    db = sqlite3.connect(state)
    db.execute("UPDATE snapshot SET engine = ?", (b"\x80\x05not a pickle",))
    db.commit()
    db.close()
    again = new_hub(world, MemoryBus(broker), state, every=30)
    assert "engine snapshot unusable" in caplog.text
    assert again.advanced_to is not None and advanced is not None
    assert again.advanced_to >= advanced  # bookkeeping restored, replay went on from there
    feed(again, msgs[100:])
    assert again.flushed
    again.journal.close()
