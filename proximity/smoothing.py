"""Per-(device, gateway) RSSI smoothing, vectorised across devices.

Each tick the engine hands over the readings that fell into it. For every (device, gateway)
cell the readings are first clipped to ``outlier_db`` around the current estimate (a deep
channel null or a lucky reflection cannot drag the estimate far), averaged within the tick, and
then blended into an exponential moving average whose weight follows the time elapsed since the
cell's previous update (``1 - exp(-dt / tau)``), so 1 s phones and 100 ms fobs are smoothed over
the same time span. The average rises faster than it falls (``rise_tau_s`` < ``smooth_tau_s``):
what pulls a reading down (a body between device and gateway, a channel null) comes and goes,
while the unobstructed level is the one that says where the device is. A cell not refreshed
for ``stale_s`` is forgotten (NaN): the gateway no longer hears the device.
"""

from __future__ import annotations

import numpy as np

from .readings import FloatArray, IntArray
from .tuning import EngineConfig


class Smoother:
    """Smoothed RSSI for ``capacity`` device slots x ``gateways`` gateways.

    Attributes:
        est: Smoothed RSSI, dBm; NaN where the gateway does not (or no longer) hear the device.
        last: Time of each cell's last update, seconds (-inf when never updated).
    """

    def __init__(self, capacity: int, gateways: int, cfg: EngineConfig) -> None:
        self.gateways = gateways
        self.configure(cfg)
        self.est: FloatArray = np.full((capacity, gateways), np.nan)
        self.last: FloatArray = np.full((capacity, gateways), -np.inf)

    def configure(self, cfg: EngineConfig) -> None:
        """Take the smoothing tunables from ``cfg``."""
        self.tau_s = cfg.smooth_tau_s
        self.rise_tau_s = cfg.rise_tau_s
        self.outlier_db = cfg.outlier_db
        self.stale_s = cfg.stale_s
        self.max_fall_db_per_s = cfg.max_fall_db_per_s

    @property
    def capacity(self) -> int:
        """Number of device slots."""
        return int(self.est.shape[0])

    def grow(self, capacity: int) -> None:
        """Make room for at least ``capacity`` device slots."""
        if capacity <= self.capacity:
            return
        extra = capacity - self.capacity
        self.est = np.vstack([self.est, np.full((extra, self.gateways), np.nan)])
        self.last = np.vstack([self.last, np.full((extra, self.gateways), -np.inf)])

    def reset(self, slots: IntArray) -> None:
        """Forget everything about ``slots`` (device evicted, slot reused)."""
        self.est[slots] = np.nan
        self.last[slots] = -np.inf

    def update(
        self, slot: IntArray, gateway: IntArray, ts: FloatArray, rssi: FloatArray
    ) -> IntArray:
        """Fold one tick's readings in; return the device slots that got new data.

        Args:
            slot: Device slot of each reading.
            gateway: Gateway column of each reading.
            ts: Reading times, seconds.
            rssi: Reading strengths, dBm.
        """
        if slot.size == 0:
            return slot
        g = self.gateways
        flat = slot * g + gateway
        est_flat = self.est.reshape(-1)
        last_flat = self.last.reshape(-1)
        prior = est_flat[flat]
        known = ~np.isnan(prior)
        clipped = np.where(
            known, np.clip(rssi, prior - self.outlier_db, prior + self.outlier_db), rssi
        )
        cells, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
        # Rounded so that the order rows arrive in (float summation order) never shows.
        mean = np.round(np.bincount(inverse, weights=clipped) / counts, 6)
        t_cell = np.full(cells.size, -np.inf)
        np.maximum.at(t_cell, inverse, ts)
        old = est_flat[cells]
        dt = t_cell - last_flat[cells]
        fresh = np.isnan(old) | (dt > self.stale_s)
        tau = np.where(mean > old, self.rise_tau_s, self.tau_s)
        alpha = 1.0 - np.exp(-np.maximum(dt, 0.0) / tau)
        blended = old + alpha * (mean - old)
        floor = old - self.max_fall_db_per_s * np.maximum(dt, 0.0)
        est_flat[cells] = np.where(fresh, mean, np.maximum(blended, floor))
        last_flat[cells] = np.maximum(last_flat[cells], t_cell)
        return np.unique(cells // g)

    def expire(self, now: float, slots: IntArray | None = None) -> None:
        """Forget cells not refreshed within ``stale_s`` of ``now`` (only ``slots`` if given)."""
        if slots is None:
            stale = self.last < now - self.stale_s
            self.est[stale] = np.nan
        else:
            sub = self.last[slots] < now - self.stale_s
            block = self.est[slots]
            block[sub] = np.nan
            self.est[slots] = block
