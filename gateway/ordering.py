"""Hub bookkeeping: per-stream ordering, dedupe and the watermark. Pure.

A stream is one gateway boot: batches ``(gateway, boot_id, seq)``. `Streams.offer` returns the
batches that became processable, in seq order, exactly once each; duplicates return nothing,
batches ahead of a gap wait. A batch's ``floor`` says the gateway no longer holds lower seqs, so
the gap below it is skipped.

The watermark handed to ``Engine.advance`` is the minimum, over the gateways the hub waits for,
of the end (``t1``) of the last batch processed in order: no reading older than that can still
arrive from any of them, so the engine never sees a late reading and its events are those of
``proximity replay`` on the same readings. A gateway is not waited for once its latest status
has been offline for ``offline_grace_s`` (a gateway restarted by systemd comes back within it
and loses nothing; one that stays away no longer holds up the store), its stream ended
(``final``), or it was never heard within the start-up grace (``grace_s`` of time the hub
was connected to the broker: a broker outage right after start does not use it up). Readings
a gateway sends after
the watermark passed them are late: the engine counts and drops them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .codec import ReadingsBatch


@dataclass
class _Stream:
    next_seq: int
    waiting: dict[int, ReadingsBatch] = field(default_factory=dict)


@dataclass(frozen=True)
class Offer:
    """Result of offering a batch: the batches to process now, and whether it was a duplicate."""

    ready: list[ReadingsBatch]
    duplicate: bool


class Streams:
    """Ordering and dedupe of batches per (gateway, boot id).

    Args:
        max_waiting: Out-of-order batches held per stream; beyond it the lowest gap is skipped
            (counted in ``skipped``) so memory stays bounded.
    """

    def __init__(self, max_waiting: int = 10_000) -> None:
        self.max_waiting = max_waiting
        self._streams: dict[tuple[str, str], _Stream] = {}
        self.duplicates = 0
        self.skipped = 0

    def processed(self, gateway: str, boot_id: str) -> int | None:
        """Highest contiguous seq processed of a stream (the value to ack), or None."""
        stream = self._streams.get((gateway, boot_id))
        if stream is None or stream.next_seq == 0:
            return None
        return stream.next_seq - 1

    def positions(self) -> list[tuple[str, str, int]]:
        """(gateway, boot id, next seq) of every stream (for a snapshot)."""
        return [(g, b, s.next_seq) for (g, b), s in sorted(self._streams.items())]

    def restore(self, gateway: str, boot_id: str, next_seq: int) -> None:
        """Set a stream's position (from a snapshot)."""
        stream = self._streams.setdefault((gateway, boot_id), _Stream(next_seq))
        stream.next_seq = max(stream.next_seq, next_seq)

    def mark(self, batch: ReadingsBatch) -> None:
        """Record ``batch`` as processed without offering it (journal replay at start-up)."""
        stream = self._streams.setdefault((batch.gateway, batch.boot_id), _Stream(batch.seq))
        stream.next_seq = max(stream.next_seq, batch.seq + 1)

    def offer(self, batch: ReadingsBatch) -> Offer:
        """Offer a received batch."""
        key = (batch.gateway, batch.boot_id)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(batch.floor)
        if batch.floor > stream.next_seq:
            self.skipped += batch.floor - stream.next_seq
            stream.next_seq = batch.floor
            for seq in [s for s in stream.waiting if s < batch.floor]:
                del stream.waiting[seq]
        if batch.seq < stream.next_seq or batch.seq in stream.waiting:
            self.duplicates += 1
            return Offer([], True)
        stream.waiting[batch.seq] = batch
        if len(stream.waiting) > self.max_waiting:
            lowest = min(stream.waiting)
            self.skipped += lowest - stream.next_seq
            stream.next_seq = lowest
        ready: list[ReadingsBatch] = []
        while stream.next_seq in stream.waiting:
            ready.append(stream.waiting.pop(stream.next_seq))
            stream.next_seq += 1
        return Offer(ready, False)


class Watermark:
    """Which gateways the hub waits for, and how far each has been processed.

    Args:
        gateways: Gateway ids of the store.
        grace_s: Seconds of listening (see `listened`) a never-heard gateway is waited for.
        offline_grace_s: Seconds (hub clock) a gateway reported offline is still waited for.
    """

    def __init__(self, gateways: list[str], grace_s: float, offline_grace_s: float = 0.0) -> None:
        self.gateways = list(gateways)
        self.grace_s = grace_s
        self.listened_s = 0.0
        """Seconds the hub has been connected (able to hear gateways) since it started."""
        self.offline_grace_s = offline_grace_s
        self.t1: dict[str, float] = {}
        self.offline: dict[str, float] = {}
        """Gateway -> hub time its latest status turned offline."""
        self.final: dict[str, str] = {}
        """Gateway -> boot id whose stream ended."""

    def set_gateways(self, gateways: list[str]) -> None:
        """The store's gateways changed (live config)."""
        self.gateways = list(gateways)

    def processed(self, batch: ReadingsBatch) -> None:
        """A batch was processed in order."""
        self.t1[batch.gateway] = max(self.t1.get(batch.gateway, batch.t1), batch.t1)
        if batch.final:
            self.final[batch.gateway] = batch.boot_id
        elif self.final.get(batch.gateway) not in (None, batch.boot_id):
            del self.final[batch.gateway]

    def set_online(self, gateway: str, online: bool, now: float) -> None:
        """A gateway's status changed at hub time ``now`` (seconds)."""
        if online:
            self.offline.pop(gateway, None)
        else:
            self.offline.setdefault(gateway, now)

    def listened(self, seconds: float) -> None:
        """The hub was connected to the broker for ``seconds`` more."""
        self.listened_s += seconds

    def gone(self, gateway: str, now: float) -> bool:
        """Whether ``gateway`` has been offline for at least ``offline_grace_s`` at ``now``."""
        since = self.offline.get(gateway)
        return since is not None and now - since >= self.offline_grace_s

    def waited_for(self, now: float) -> list[str]:
        """Gateways whose progress bounds the watermark at hub time ``now``."""
        in_grace = self.listened_s < self.grace_s
        return [
            g
            for g in self.gateways
            if not self.gone(g, now) and g not in self.final and (g in self.t1 or in_grace)
        ]

    def value(self, now: float) -> float | None:
        """The watermark, seconds in the readings' clock (None: nothing to advance to)."""
        waited = self.waited_for(now)
        if any(g not in self.t1 for g in waited):
            return None
        if waited:
            return min(self.t1[g] for g in waited)
        return None

    def all_final(self, now: float) -> bool:
        """Every gateway that ever sent is final or gone (offline past the grace) at hub time
        ``now``, and at least one is final."""
        heard = [g for g in self.gateways if g in self.t1]
        return bool(self.final) and all(g in self.final or self.gone(g, now) for g in heard)
