"""The hub: the store engine fed by every gateway of the store over the bus.

Per readings batch: validate -> order and dedupe (`ordering.Streams`) -> resolve devices ->
journal + engine -> advance to the watermark -> queue events -> publish them (QoS 1) -> ack
the batch's stream. Phone sightings the API checked (the iPhone path) arrive on their own topic
already resolved to subjects and join the same held rows; one older than the instant the engine
has decided up to counts as evidence at that instant (counted in ``late_sightings``). Acks follow
publishing, so a gateway forgets a batch only once its events
are out. Malformed messages on any topic are counted and set aside in the journal's dead
letter table; the hub never crashes on a payload.

Every ``compact_every`` journal entries the hub snapshots its state (stream positions,
watermark, held rows as JSON; the engine pickled) and the journal drops the log before it
(see `gateway.journal`). The pickle is the hub's own state file, read only by the hub; a
snapshot an upgraded engine cannot load is reported and the engine starts fresh from the
snapshot's watermark (devices then inside get a new visit), never a crash.
"""

from __future__ import annotations

import logging
import math
import pickle
import time
from collections.abc import Callable
from typing import Any

from proximity.engine import Engine
from proximity.readings import Event
from proximity.store import Store, dump_store, parse_store
from proximity.zoning import PointModel

from . import codec, topics
from .bus import Bus, BusClosedError
from .errors import PayloadError
from .journal import BatchEntry, Journal
from .ordering import Streams, Watermark
from .resolver import Resolver

log = logging.getLogger("proximity.hub")
SNAPSHOT_FORMAT = 1


def _store_from_dump(data: dict[str, Any]) -> Store:
    import json

    return parse_store(json.dumps(data), "journal")


class Hub:
    """One store's engine behind MQTT.

    Args:
        store: The store (from the hub's store file; the journal's config wins on restart).
        bus: Broker connection.
        journal: Durable state.
        resolver: Token and beacon resolution.
        model: Optional calibration model for the engine.
        grace_s: Seconds a never-heard gateway is waited for after start (counted only while
            connected to the broker).
        offline_grace_s: Seconds a gateway reported offline is still waited for (a quick
            restart loses nothing; see `ordering.Watermark`).
        clock: Monotonic clock (seconds) for the grace period.
        compact_every: Journal entries between snapshots (bounds the journal and the replay
            at start-up).
    """

    def __init__(
        self,
        store: Store,
        bus: Bus,
        journal: Journal,
        resolver: Resolver,
        model: PointModel | None = None,
        grace_s: float = 10.0,
        offline_grace_s: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        compact_every: int = 5000,
    ) -> None:
        self.bus = bus
        self.journal = journal
        self.resolver = resolver
        self.model = model
        self.clock = clock
        self.compact_every = compact_every
        self.streams = Streams()
        self.dead = 0
        self.sightings = 0
        self.late_sightings = 0
        self.flushed = False
        self.advanced_to: float | None = None
        self._status: dict[str, codec.Status] = {}
        self._unacked: set[tuple[str, str]] = set()
        self._held: list[tuple[float, str, str, float, float]] = []
        if journal.is_empty():
            journal.add("config", dump_store(store))
        self.store = store
        self.engine = Engine(store, model)
        self.watermark = Watermark([g.id for g in store.gateways], grace_s, offline_grace_s)
        self._listened_at = clock()
        self._replay()

    # --- start-up ------------------------------------------------------------------------

    def _replay(self) -> None:
        snapshot = self.journal.snapshot()
        if snapshot is not None:
            self._restore(*snapshot)
        first = snapshot is None
        for kind, body in self.journal.entries():
            if kind == "config":
                store = _store_from_dump(body)
                if first:
                    self.engine = Engine(store, self.model)
                else:
                    self.engine.set_store(store)
                self.store = store
                self.watermark.set_gateways([g.id for g in store.gateways])
            elif kind == "batch":
                self._feed(body)
            elif kind == "advance":
                self._ingest_until(float(body))
                self.journal.add_events(self._engine_advance(float(body)))
                self.advanced_to = float(body)
            elif kind == "sightings":
                self._hold_sightings(body)
            elif kind == "flush":
                self._ingest_until(None)
                self.journal.add_events(self.engine.flush())
                self.flushed = True
            first = False

    def _state(self) -> dict[str, Any]:
        """Bookkeeping a snapshot needs besides the engine (JSON)."""
        return {
            "format": SNAPSHOT_FORMAT,
            "store": dump_store(self.store),
            "streams": self.streams.positions(),
            "t1": self.watermark.t1,
            "final": self.watermark.final,
            "advanced_to": self.advanced_to,
            "flushed": self.flushed,
            "held": [[t, g, d, r, None if math.isnan(x) else x] for t, g, d, r, x in self._held],
        }

    def _restore(self, state: dict[str, Any], engine: bytes) -> None:
        store = _store_from_dump(state["store"])
        self.store = store
        self.watermark.set_gateways([g.id for g in store.gateways])
        for gateway, boot_id, next_seq in state["streams"]:
            self.streams.restore(gateway, boot_id, int(next_seq))
        self.watermark.t1.update({g: float(t) for g, t in state["t1"].items()})
        self.watermark.final.update(state["final"])
        self.advanced_to = state["advanced_to"]
        self.flushed = bool(state["flushed"])
        self._held = [
            (float(t), g, d, float(r), math.nan if x is None else float(x))
            for t, g, d, r, x in state["held"]
        ]
        try:
            loaded = pickle.loads(engine)  # the hub's own state file, written by compact()
            if not isinstance(loaded, Engine):
                raise TypeError(f"not an engine: {type(loaded).__name__}")
            self.engine = loaded
        except Exception as exc:
            log.error(
                "engine snapshot unusable (%s); the engine starts fresh at watermark %s",
                exc,
                self.advanced_to,
            )
            self.engine = Engine(store, self.model)
            if self.advanced_to is not None:
                self._engine_advance(self.advanced_to)

    def _engine_advance(self, watermark: float) -> list[Event]:
        """Decide every tick that ends by ``watermark``.

        ``Engine.advance`` holds back ``lateness_s`` for readings that may still arrive out of
        order; the hub's watermark is exact (no reading below it can still come from a gateway
        it waits for), so that margin is added back: the same events, ``lateness_s`` sooner."""
        return self.engine.advance(watermark + self.engine.cfg.lateness_s)

    def compact(self) -> None:
        """Snapshot the hub and drop the journal's log (call between steps)."""
        self.journal.compact(self._state(), pickle.dumps(self.engine, pickle.HIGHEST_PROTOCOL))
        log.info("journal compacted (%d snapshots so far)", self.journal.compactions)

    def _maybe_compact(self) -> None:
        if self.journal.entry_count >= self.compact_every:
            self.compact()

    def _feed(self, entry: BatchEntry) -> None:
        batch = codec.ReadingsBatch(
            entry.gateway, entry.boot_id, entry.seq, 0, entry.t1, entry.t1, (), entry.final
        )
        self.streams.mark(batch)
        self.watermark.processed(batch)
        for ts, device, rssi, tx in entry.rows:
            self._held.append((ts, entry.gateway, device, rssi, float("nan") if tx is None else tx))

    def _ingest_until(self, watermark: float | None) -> None:
        """Feed held rows with ``ts < watermark`` (all when None) to the engine in time order,
        as ``proximity replay`` does, so arrival order never changes a decision."""
        if watermark is None:
            rows, self._held = self._held, []
        else:
            rows = [r for r in self._held if r[0] < watermark]
            self._held = [r for r in self._held if r[0] >= watermark]
        if rows:
            rows.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
            self.engine.ingest_rows(
                [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                [r[3] for r in rows], [r[4] for r in rows],
            )  # fmt: skip

    # --- bus -----------------------------------------------------------------------------

    def subscriptions(self) -> list[str]:
        """Readings and status of every gateway, and the retained config."""
        return [
            topics.all_gateways(self.store.id, "readings"),
            topics.all_gateways(self.store.id, "status"),
            topics.config(self.store.id),
            topics.sightings(self.store.id),
        ]

    async def on_connect(self) -> None:
        """Publish events left unpublished (by a crash or an outage)."""
        await self._publish_pending()

    async def on_message(self, topic: str, payload: bytes) -> None:
        """Handle one message; anything malformed goes to the dead letter table."""
        try:
            ref = topics.parse(topic)
            if ref is None or ref.store != self.store.id:
                raise PayloadError(topic, None, "not a topic of this store")
            if ref.kind == "readings" and ref.gateway is not None:
                await self._readings(topic, ref.gateway, payload)
            elif ref.kind == "status" and ref.gateway is not None:
                self._on_status(topic, ref.gateway, payload)
            elif ref.kind == "config":
                self._on_config(topic, payload)
            elif ref.kind == "sightings":
                await self._sightings(topic, payload)
            else:
                raise PayloadError(topic, None, "the hub does not consume this topic")
        except PayloadError as exc:
            self.dead += 1
            self.journal.dead_letter(topic, str(exc), payload)
            log.warning("dead letter: %s", exc)

    def _on_status(self, topic: str, gateway: str, payload: bytes) -> None:
        if not payload:
            return  # a retained status being cleared
        status = codec.decode_status(topic, payload)
        known = self._status.get(gateway)
        if known is not None and not status.newer_than(known):
            return  # a stale will of an older boot: the newer boot's status stands
        self._status[gateway] = status
        self.watermark.set_online(gateway, status.state == "online", self.clock())

    def _on_config(self, topic: str, payload: bytes) -> None:
        if not payload:
            return
        store = codec.decode_config(topic, payload)
        if store.id != self.store.id:
            raise PayloadError(topic, "store.store.id", f"config is for store {store.id!r}")
        if dump_store(store) == dump_store(self.store):
            return
        self.journal.begin()
        self.journal.add("config", dump_store(store))
        self.journal.commit()
        self.engine.set_store(store)
        self.store = store
        self.watermark.set_gateways([g.id for g in store.gateways])
        log.info("applied live config for store %s", store.id)

    async def _readings(self, topic: str, gateway: str, payload: bytes) -> None:
        batch = codec.decode_batch(topic, payload)
        if batch.gateway != gateway:
            raise PayloadError(topic, "gateway", f"{batch.gateway!r} published on {gateway!r}")
        if gateway not in self.store.gateway_index():
            raise PayloadError(topic, "gateway", f"{gateway!r} is not a gateway of the store")
        offer = self.streams.offer(batch)
        self.journal.begin()
        try:
            for ready in offer.ready:
                rows = []
                for ts, key, rssi, tx in ready.rows:
                    device = self.resolver.device(key)
                    if device is not None:
                        rows.append((ts, device, rssi, tx))
                entry = BatchEntry(
                    ready.gateway, ready.boot_id, ready.seq, ready.t1, ready.final, rows
                )
                self.journal.add("batch", entry)
                self._feed(entry)
                self._unacked.add((ready.gateway, ready.boot_id))
            self._advance()
        finally:
            self.journal.commit()
        if offer.duplicate:
            self._unacked.add((batch.gateway, batch.boot_id))
        self._maybe_compact()
        await self._publish_pending()

    async def _sightings(self, topic: str, payload: bytes) -> None:
        rows = codec.decode_sightings(topic, payload)
        known = self.store.gateway_index()
        for i, (_, gateway, _, _) in enumerate(rows):
            if gateway not in known:
                raise PayloadError(
                    topic, f"readings[{i}].gateway", f"{gateway!r} is not a gateway of the store"
                )
        floor = self.advanced_to
        held: list[list[Any]] = []
        for ts, gateway, subject, rssi in rows:
            if floor is not None and ts < floor:
                self.late_sightings += 1
                ts = floor
            held.append([ts, gateway, subject, rssi])
        self.sightings += len(held)
        self.journal.begin()
        try:
            self.journal.add("sightings", held)
            self._hold_sightings(held)
            self._advance()
        finally:
            self.journal.commit()
        self._maybe_compact()
        await self._publish_pending()

    def _hold_sightings(self, rows: list[list[Any]]) -> None:
        for ts, gateway, subject, rssi in rows:
            self._held.append((float(ts), str(gateway), str(subject), float(rssi), math.nan))

    def _advance(self) -> None:
        wm = self.watermark.value(self.clock())
        if wm is not None and (self.advanced_to is None or wm > self.advanced_to):
            self.journal.add("advance", wm)
            self._ingest_until(wm)
            self.journal.add_events(self._engine_advance(wm))
            self.advanced_to = wm
        if self.watermark.all_final(self.clock()) and not self.flushed:
            self.journal.add("flush", None)
            self._ingest_until(None)
            self.journal.add_events(self.engine.flush())
            self.flushed = True

    async def tick(self) -> None:
        """Periodic step: the grace period or a status change may move the watermark."""
        now = self.clock()
        if self.bus.connected.is_set():
            self.watermark.listened(now - self._listened_at)
        self._listened_at = now
        self.journal.begin()
        try:
            self._advance()
        finally:
            self.journal.commit()
        self._maybe_compact()
        await self._publish_pending()

    async def _publish_pending(self) -> None:
        """Publish queued events in order, then ack the streams they came from."""
        events_topic = topics.events(self.store.id)
        try:
            for row_id, payload in self.journal.unpublished():
                await self.bus.publish(events_topic, payload, qos=1)
                self.journal.mark_published(row_id)
            for gateway, boot_id in sorted(self._unacked):
                seq = self.streams.processed(gateway, boot_id)
                if seq is not None:
                    await self.bus.publish(
                        topics.ack(self.store.id, gateway),
                        codec.encode_ack(codec.Ack(boot_id, seq)),
                        qos=1,
                    )
                self._unacked.discard((gateway, boot_id))
        except BusClosedError:
            log.info("broker away; %d events wait", len(self.journal.unpublished()))
