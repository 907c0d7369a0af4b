"""Batch readings by time window. Pure: time comes in as data (seconds, gateway clock).

Windows are aligned on multiples of ``window_s`` and contiguous: each batch starts where the
previous one ended, so an idle stretch becomes one empty batch rather than many, and the hub
learns from ``t1`` that no earlier reading will follow from this gateway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .codec import Row


def just_after(t: float) -> float:
    """The first instant after ``t`` that stays after it on the wire (times travel rounded to
    the microsecond, so ``math.nextafter`` would round back onto ``t``)."""
    return round(t, 6) + 1e-6


@dataclass(frozen=True)
class Window:
    """A closed window: readings with ``t0 <= ts < t1``."""

    t0: float
    t1: float
    rows: tuple[Row, ...]


class Batcher:
    """Collects readings and closes windows.

    Args:
        window_s: Window length, seconds (one MQTT message per window).
        max_rows: A window is closed early when it holds this many readings.
    """

    def __init__(self, window_s: float = 0.5, max_rows: int = 5000) -> None:
        if window_s <= 0 or max_rows < 1:
            raise ValueError("window_s must be > 0 and max_rows >= 1")
        self.window_s = window_s
        self.max_rows = max_rows
        self._start: float | None = None
        self._rows: list[Row] = []
        self.clamped = 0
        """Readings stamped before the open window (clock stepped back): moved to its start."""

    @property
    def start(self) -> float | None:
        """Start of the open window (None before the first call)."""
        return self._start

    def resume_at(self, t: float) -> None:
        """Start the first window at ``t`` (after a restart: where the last batch ended)."""
        if self._start is None:
            self._start = t

    def _aligned(self, t: float) -> float:
        return math.floor(t / self.window_s) * self.window_s

    def add(self, ts: float, device: str, rssi: float, tx_power: float | None) -> list[Window]:
        """Add a reading stamped ``ts``; return the windows it closes."""
        closed = self.due(ts)
        assert self._start is not None
        if ts < self._start:
            self.clamped += 1
            ts = self._start
        self._rows.append((ts, device, rssi, tx_power))
        if len(self._rows) >= self.max_rows:
            end = just_after(ts)
            closed.append(Window(self._start, end, tuple(self._rows)))
            self._start, self._rows = end, []
        return closed

    def due(self, now: float) -> list[Window]:
        """Windows that end at or before ``now`` (at most one: idle windows are merged)."""
        if self._start is None:
            self._start = self._aligned(now)
            return []
        end = self._aligned(now)
        if end <= self._start:
            return []
        inside = [r for r in self._rows if r[0] < end]
        window = Window(self._start, end, tuple(inside))
        self._start = end
        self._rows = [r for r in self._rows if r[0] >= end] if len(inside) < len(self._rows) else []
        return [window]

    def finish(self, now: float) -> Window:
        """Close the open window at the later of ``now`` and its last reading (end of stream)."""
        start = now if self._start is None else self._start
        end = max(now, start, *(r[0] for r in self._rows)) if self._rows else max(now, start)
        if self._rows and end <= max(r[0] for r in self._rows):
            end = just_after(end)
        window = Window(start, end, tuple(self._rows))
        self._start, self._rows = end, []
        return window
