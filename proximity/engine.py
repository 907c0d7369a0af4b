"""The store engine: readings in, events out (public API; internals being written)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .readings import Event, ReadingBatch, Registry
from .store import Store


class Engine:
    """One store's engine. Pure: time comes only from the readings' ``ts``.

    Usage (replay and hub alike)::

        engine = Engine(store, model=None)
        engine.ingest_rows(ts, gateways, devices, rssi, tx_power)   # any number of times
        events = engine.advance(watermark)   # decide every tick that ends before watermark
        events += engine.flush()             # end of stream: decide everything buffered

    ``advance`` processes ticks ``[k*tick_s, (k+1)*tick_s)`` whose end is at or before
    ``watermark - lateness_s``; readings that arrive for a tick already decided are counted in
    ``late_readings`` and ignored. The events for a stream of readings depend only on the
    readings and the watermarks, never on how the rows were chunked into calls.
    """

    def __init__(self, store: Store, model: object | None = None) -> None:
        self.store = store
        self.devices = Registry()
        self.late_readings = 0

    def ingest(self, batch: ReadingBatch) -> None:
        """Buffer readings whose devices are already interned in ``self.devices``."""
        raise NotImplementedError

    def ingest_rows(
        self,
        ts: Sequence[float] | np.ndarray,
        gateways: Sequence[str],
        devices: Sequence[str],
        rssi: Sequence[float] | np.ndarray,
        tx_power: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """Buffer readings given by ids. Unknown gateways raise ``KeyError``."""
        raise NotImplementedError

    def advance(self, watermark: float) -> list[Event]:
        """Decide all complete ticks up to ``watermark - lateness_s``; return their events."""
        raise NotImplementedError

    def flush(self) -> list[Event]:
        """Decide every buffered reading (end of stream). No exit is invented past the data."""
        raise NotImplementedError

    def set_store(self, store: Store) -> None:
        """Apply a new store configuration (zones, gateways, tuning) from the next tick on."""
        raise NotImplementedError
