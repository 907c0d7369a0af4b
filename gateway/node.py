"""The gateway node: source -> privacy filter -> batcher -> outbox -> bus.

Wiring only; each step is its own module. The scan callback (`GatewayNode.on_advert`) runs the
privacy filter first: an advertisement that does not pass leaves no trace beyond the filter's
aggregate counters. Admitted readings are batched; each closed window is committed to the
outbox, then published (QoS 1) oldest first; a batch leaves the outbox only when the hub's ack
says it was processed end to end. Batches not acknowledged within ``resend_s`` are published
again (the hub is idempotent on gateway, boot id and seq).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import codec, topics
from .batcher import Batcher, Window
from .bus import Bus, BusClosedError
from .errors import PayloadError
from .outbox import Outbox
from .privacy import EdgeFilter
from .sources import Recorder, Source

log = logging.getLogger("proximity.gateway")


@dataclass(frozen=True)
class NodeSettings:
    """Timing of a gateway node (seconds)."""

    store: str
    gateway: str
    boot_id: str
    started: float
    """Wall time the process started (orders boots in status messages)."""
    health_s: float = 15.0
    resend_s: float = 10.0
    tick_s: float = 0.1
    """How often open windows are checked for closing (wall seconds)."""
    inflight: int = 8
    """Batches published at once (awaiting their PUBACKs together) while a backlog drains."""


class GatewayNode:
    """One gateway process's pipeline (see module docstring).

    Args:
        settings: Ids and timing.
        source: Where advertisements come from; ``source.now()`` closes windows.
        edge_filter: The privacy filter.
        batcher: Windowing.
        outbox: Durable queue.
        bus: Broker connection.
        recorder: Optional recorder of admitted adverts (``--record``).
        wall: Wall clock for status and health timestamps (seconds).
    """

    def __init__(
        self,
        settings: NodeSettings,
        source: Source,
        edge_filter: EdgeFilter,
        batcher: Batcher,
        outbox: Outbox,
        bus: Bus,
        recorder: Recorder | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.s = settings
        self.source = source
        self.filter = edge_filter
        self.batcher = batcher
        self.outbox = outbox
        self.bus = bus
        self.recorder = recorder
        self.wall = wall
        self._wake = asyncio.Event()
        self._resend = False
        self.published = 0
        self.acked = 0
        self.dead_letters = 0
        self.source_done = False
        self._health_last = (time.monotonic(), 0)
        resume = outbox.resume_t
        if resume is not None:
            batcher.resume_at(resume)

    # --- the scan callback ---------------------------------------------------------------

    def on_advert(
        self,
        ts: float,
        manufacturer_data: Mapping[int, bytes],
        service_data: Mapping[str, bytes],
        rssi: float,
    ) -> None:
        """The scan callback: filter first, then batch. Never raises for a bad advert."""
        admitted = self.filter.admit(manufacturer_data, service_data)
        if admitted is None:
            return
        if self.recorder is not None:
            self.recorder.write(ts, manufacturer_data, service_data, rssi)
        for window in self.batcher.add(ts, admitted.device, rssi, admitted.tx_power):
            self._commit(window)

    def _commit(self, window: Window, final: bool = False) -> None:
        self.outbox.put(self.s.boot_id, window.t0, window.t1, list(window.rows), final)
        self._wake.set()

    def tick(self) -> None:
        """Close the windows that ended by the source's clock."""
        for window in self.batcher.due(self.source.now()):
            self._commit(window)

    def finish(self) -> None:
        """End of a finite source: close the open window as the boot's final batch."""
        self._commit(self.batcher.finish(self.source.now()), final=True)
        self.source_done = True

    # --- messages ------------------------------------------------------------------------

    def status(self, state: str) -> codec.Status:
        """This boot's status message."""
        return codec.Status(state, self.s.boot_id, self.s.started, self.wall())

    def subscriptions(self) -> list[str]:
        """Topics the node listens to (its acks and its own retained status)."""
        return [
            topics.ack(self.s.store, self.s.gateway),
            topics.status(self.s.store, self.s.gateway),
        ]

    async def on_connect(self) -> None:
        """Announce this boot online (retained) and publish the whole outbox again."""
        await self._publish_status()
        self._resend = True
        self._wake.set()

    async def _publish_status(self) -> None:
        with contextlib.suppress(BusClosedError):
            await self.bus.publish(
                topics.status(self.s.store, self.s.gateway),
                codec.encode_status(self.status("online")),
                qos=1,
                retain=True,
            )

    async def on_message(self, topic: str, payload: bytes) -> None:
        """Acks delete from the outbox; a stale offline status of ours is overwritten."""
        try:
            if topic == topics.ack(self.s.store, self.s.gateway):
                ack = codec.decode_ack(topic, payload)
                removed = self.outbox.ack(ack.boot_id, ack.seq)
                self.acked += removed
            elif topic == topics.status(self.s.store, self.s.gateway):
                if not payload:
                    await self._publish_status()
                    return
                status = codec.decode_status(topic, payload)
                if status.state != "online" or status.boot_id != self.s.boot_id:
                    # Our own stale last will (or an older boot's): we are alive, say so.
                    await self._publish_status()
        except PayloadError as exc:
            self.dead_letters += 1
            log.warning("dead letter: %s", exc)

    # --- loops ---------------------------------------------------------------------------

    async def publisher(self) -> None:
        """Publish held batches oldest first; resend the unacknowledged ones when no ack came
        for ``resend_s`` (a hub that is merely slow but acking is not flooded with copies)."""
        cursor = 0
        last_progress = time.monotonic()
        acked_seen = self.acked
        topic = topics.readings(self.s.store, self.s.gateway)
        while True:
            await self.bus.connected.wait()
            if self._resend:
                self._resend = False
                cursor = 0
            batch = self.outbox.pending(cursor, 200)
            try:
                for i in range(0, len(batch), self.s.inflight):
                    group = batch[i : i + self.s.inflight]
                    # QoS 1 messages of one client keep their order; several in flight at once
                    # spare a round trip per batch when a backlog drains.
                    await asyncio.gather(
                        *(self.bus.publish(topic, item.payload, qos=1) for item in group)
                    )
                    cursor = group[-1].id
                    self.published += len(group)
            except BusClosedError:
                self._resend = True
                await asyncio.sleep(0.05)
                continue
            if batch:
                continue
            if self.outbox.depth() == 0 or self.acked != acked_seen:
                acked_seen = self.acked
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > self.s.resend_s:
                self._resend = True
                last_progress = time.monotonic()
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.s.resend_s / 4)

    async def ticker(self) -> None:
        """Close windows on the source's clock."""
        while True:
            await asyncio.sleep(self.s.tick_s)
            if not self.source_done:
                self.tick()

    def health(self) -> codec.Health:
        """Aggregate counters (never anything per device)."""
        now = time.monotonic()
        then, heard_then = self._health_last
        rate = (self.filter.heard - heard_then) / max(now - then, 1e-9)
        self._health_last = (now, self.filter.heard)
        return codec.Health(
            self.s.boot_id,
            self.wall(),
            {
                "adverts_heard": self.filter.heard,
                "adverts_passed": self.filter.passed,
                "adverts_dropped": self.filter.dropped,
                "adverts_per_s": round(rate, 2),
                "queue_depth": self.outbox.depth(),
                "outbox_dropped": self.outbox.dropped,
                "scanner_restarts": self.source.restarts,
                "batches_published": self.published,
                "batches_acked": self.acked,
                "dead_letters": self.dead_letters,
            },
        )

    async def health_loop(self) -> None:
        """Publish health every ``health_s`` (QoS 0, not retained) and re-assert online."""
        while True:
            await asyncio.sleep(self.s.health_s)
            health = self.health()
            log.info("health %s", health.counters)
            with contextlib.suppress(BusClosedError):
                await self.bus.publish(
                    topics.health(self.s.store, self.s.gateway), codec.encode_health(health), qos=0
                )

    async def run_source(self) -> None:
        """Run the source; a finite one ends with a final batch."""
        await self.source.run(self.on_advert)
        self.finish()

    async def drained(self) -> None:
        """Wait until the source ended and every batch was acknowledged."""
        while not (self.source_done and self.outbox.depth() == 0):
            await asyncio.sleep(0.05)
