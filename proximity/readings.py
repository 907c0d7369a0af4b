"""Readings, events and the column batches the engine works on.

A `ReadingBatch` is the engine's unit of input: parallel numpy arrays, one row per received
advertisement, with gateway and device already mapped to small integers by a `Registry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

EVENT_TYPES = ("store_entry", "zone_enter", "zone_dwell", "zone_exit", "store_exit")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Reading:
    """One received advertisement (or phone-side sighting).

    Attributes:
        ts: Seconds in the readings' clock.
        gateway: Gateway id.
        device: Device id (a pseudonymous subject, never a phone's address).
        rssi: Received strength, dBm (negative).
        tx_power: Calibrated RSSI at 1 m, dBm, when the frame carries it.
    """

    ts: float
    gateway: str
    device: str
    rssi: float
    tx_power: float | None = None


@dataclass
class ReadingBatch:
    """Column arrays of readings. ``tx_power`` is NaN where unknown."""

    ts: FloatArray
    gateway: IntArray
    device: IntArray
    rssi: FloatArray
    tx_power: FloatArray

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @staticmethod
    def empty() -> ReadingBatch:
        """A batch with no rows."""
        return ReadingBatch(
            np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0)
        )

    def take(self, index: npt.NDArray[Any] | slice) -> ReadingBatch:
        """Rows selected by a boolean mask or an index array."""
        return ReadingBatch(
            self.ts[index],
            self.gateway[index],
            self.device[index],
            self.rssi[index],
            self.tx_power[index],
        )

    @staticmethod
    def concat(batches: list[ReadingBatch]) -> ReadingBatch:
        """All rows of ``batches`` in order."""
        if not batches:
            return ReadingBatch.empty()
        return ReadingBatch(
            np.concatenate([b.ts for b in batches]),
            np.concatenate([b.gateway for b in batches]),
            np.concatenate([b.device for b in batches]),
            np.concatenate([b.rssi for b in batches]),
            np.concatenate([b.tx_power for b in batches]),
        )


@dataclass
class Registry:
    """Stable string id <-> integer index mapping for devices."""

    ids: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def intern(self, ident: str) -> int:
        """Index of ``ident``, adding it if new."""
        found = self.index.get(ident)
        if found is None:
            found = len(self.ids)
            self.index[ident] = found
            self.ids.append(ident)
        return found


@dataclass(frozen=True)
class Event:
    """A contract event (see docs/events.md).

    ``zone`` is None for ``store_*``. ``ts`` is the decision time in the readings' clock.
    ``published`` (not part of the contract, never serialised) is the data time at which the
    engine released the event: ``ts`` for most, later for a move held until confirmed (the
    evaluation measures latency to it, as an associate would feel it).
    """

    type: str
    device: str
    zone: str | None
    ts: float
    event_id: str
    visit_id: str | None = None
    confidence: float | None = None
    dwell_s: float | None = None
    since: float | None = None
    published: float | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object with the contract's keys (optional ones when set)."""
        out: dict[str, Any] = {
            "type": self.type,
            "device": self.device,
            "zone": self.zone,
            "ts": round(self.ts, 3),
            "event_id": self.event_id,
        }
        if self.visit_id is not None:
            out["visit_id"] = self.visit_id
        if self.confidence is not None:
            out["confidence"] = round(self.confidence, 3)
        if self.dwell_s is not None:
            out["dwell_s"] = round(self.dwell_s, 3)
        if self.since is not None:
            out["since"] = round(self.since, 3)
        return out
