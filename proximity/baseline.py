"""The naive baseline the field ships: nearest gateway by raw RSSI, no smoothing, no hysteresis.

This is what ``mqtt_room``-style setups do, and what the engine is measured against:

* for each device keep the latest raw RSSI heard by each gateway (a gateway's value is
  forgotten once it is older than the exit timeout);
* on every reading, the gateway with the strongest latest value wins, and the device is placed
  in the zone whose polygon contains that gateway's position (or, when no polygon contains it,
  the zone whose centroid is nearest); the decision switches on every reading;
* a device unheard by every gateway for ``exit_timeout_s`` (30 s, as Bermuda) has left.

Decisions go through `Presence`, exactly like the engine's, so both are scored by the same rules.
``tx_power`` is ignored: the naive approach compares raw RSSI.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .geometry import centroid
from .presence import Presence
from .readings import Event, FloatArray, IntArray
from .store import Point, Store, Zone

EXIT_TIMEOUT_S = 30.0
"""Silence after which the baseline declares a device gone, seconds (Bermuda's default)."""


@dataclass
class _Device:
    latest_ts: FloatArray  # per gateway: time of its latest reading, seconds (-inf: none)
    latest_rssi: FloatArray  # per gateway: its latest raw RSSI, dBm
    last_heard: float = -math.inf
    zone: int = -1  # index into the store's zones, -1: not placed


class Baseline:
    """Nearest-gateway zoning on raw RSSI, with the Engine's replay interface.

    Each reading is decided on its own, as the naive approach does; the work is vectorised per
    device (a forward fill of each gateway's latest value), so replay stays fast. Ties between
    gateways go to the one listed first in the store.

    Args:
        store: The store; every gateway needs a position and at least one zone a polygon.
        exit_timeout_s: Silence after which a device has left, seconds.

    Raises:
        InputError: The store lacks the geometry the baseline needs.
    """

    def __init__(self, store: Store, *, exit_timeout_s: float = EXIT_TIMEOUT_S) -> None:
        self.store = store
        self.exit_timeout_s = exit_timeout_s
        self.gateway_zone = gateway_zones(store)
        # Naive all the way: every decision is published at once (no held moves).
        self.presence = Presence(dataclasses.replace(store, engine=store.engine.without_holds()))
        self.late_readings = 0
        self._gw_index = store.gateway_index()
        zone_index = store.zone_index()
        self._gw_zone = np.array(
            [zone_index[self.gateway_zone[g.id]] for g in store.gateways], dtype=np.int64
        )
        self._zone_ids = [z.id for z in store.zones]
        self._devices: dict[str, _Device] = {}
        self._pending: list[tuple[FloatArray, IntArray, list[str], FloatArray]] = []
        self._done_until = -math.inf  # readings before this were processed
        self._max_ts = -math.inf

    def ingest_rows(
        self,
        ts: Sequence[float] | FloatArray,
        gateways: Sequence[str],
        devices: Sequence[str],
        rssi: Sequence[float] | FloatArray,
        tx_power: Sequence[float] | FloatArray | None = None,
    ) -> None:
        """Buffer readings (seconds, gateway ids, device ids, dBm). ``tx_power`` is ignored.

        Raises:
            KeyError: A gateway that is not in the store.
        """
        del tx_power
        t = np.asarray(ts, dtype=np.float64)
        if t.size == 0:
            return
        g = np.fromiter((self._gw_index[x] for x in gateways), np.int64, t.size)
        r = np.asarray(rssi, dtype=np.float64)
        d = list(devices)
        if len(d) != t.size or r.size != t.size:
            raise ValueError("ts, gateways, devices and rssi must have the same length")
        late = t < self._done_until
        if late.any():
            self.late_readings += int(late.sum())
            keep = np.flatnonzero(~late)
            t, g, r, d = t[keep], g[keep], r[keep], [d[i] for i in keep.tolist()]
        if t.size:
            self._pending.append((t, g, d, r))
            self._max_ts = max(self._max_ts, float(t.max()))

    def advance(self, watermark: float) -> list[Event]:
        """Process every buffered reading before ``watermark`` (seconds); return its events.

        Exits whose timeout runs out before ``watermark`` are emitted too, stamped with the
        moment the timeout ran out.
        """
        decisions: list[tuple[float, str, int]] = []  # (ts, device, zone index or -1)
        if self._pending:
            t = np.concatenate([p[0] for p in self._pending])
            g = np.concatenate([p[1] for p in self._pending])
            r = np.concatenate([p[3] for p in self._pending])
            d = [x for p in self._pending for x in p[2]]
            ready = t < watermark
            later = np.flatnonzero(~ready)
            self._pending = (
                [(t[later], g[later], [d[i] for i in later.tolist()], r[later])]
                if later.size
                else []
            )
            idx = np.flatnonzero(ready)
            if idx.size:
                codes: dict[str, int] = {}
                dev = np.fromiter((codes.setdefault(d[i], len(codes)) for i in idx), np.int64)
                names = list(codes)
                order = idx[np.lexsort((t[idx], dev))]
                dev_sorted = dev[np.argsort(dev, kind="stable")]
                starts = np.flatnonzero(np.r_[True, dev_sorted[1:] != dev_sorted[:-1]])
                stops = np.r_[starts[1:], dev_sorted.size]
                for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
                    rows = order[a:b]
                    name = names[int(dev_sorted[a])]
                    decisions += self._device_rows(name, t[rows], g[rows], r[rows])
        for name, state in list(self._devices.items()):
            gone = state.last_heard + self.exit_timeout_s
            if gone <= watermark:
                if state.zone != -1:
                    decisions.append((gone, name, -1))
                del self._devices[name]
        decisions.sort(key=lambda x: x[0])  # stable: per-device order is kept
        events: list[Event] = []
        for ts, name, zone in decisions:
            events += self.presence.tick(ts)
            events += self.presence.update(name, self._zone_ids[zone] if zone >= 0 else None, ts)
        events += self.presence.tick(watermark)
        self._done_until = max(self._done_until, watermark)
        return events

    def flush(self) -> list[Event]:
        """Process everything buffered (end of stream). No exit is invented past the data."""
        if not self._pending:
            return []
        return self.advance(math.nextafter(self._max_ts, math.inf))

    def zone_of(self, device: str) -> str | None:
        """The baseline's current zone for ``device`` (None when not placed)."""
        state = self._devices.get(device)
        return self._zone_ids[state.zone] if state is not None and state.zone >= 0 else None

    def _device_rows(
        self, device: str, ts: FloatArray, gw: IntArray, rssi: FloatArray
    ) -> list[tuple[float, str, int]]:
        """Zone decisions for one device's readings (in time order)."""
        n_gw = len(self._gw_zone)
        state = self._devices.get(device)
        if state is None:
            state = _Device(np.full(n_gw, -np.inf), np.full(n_gw, -np.inf))
            self._devices[device] = state
        n = ts.size
        timeout = self.exit_timeout_s
        # latest reading of each gateway at each row (forward fill; -1: none in this batch)
        hit = np.where(gw[:, None] == np.arange(n_gw)[None, :], np.arange(n)[:, None], -1)
        last = np.maximum.accumulate(hit, axis=0)
        has = last >= 0
        pick = np.maximum(last, 0)
        seen = np.where(has, ts[pick], state.latest_ts[None, :])
        value = np.where(has, rssi[pick], state.latest_rssi[None, :])
        value = np.where(seen >= ts[:, None] - timeout, value, -np.inf)
        zone = self._gw_zone[np.argmax(value, axis=1)]
        prev_ts = np.r_[state.last_heard, ts[:-1]]
        gap = ts - prev_ts > timeout
        prev_zone = np.r_[state.zone, zone[:-1]]
        out: list[tuple[float, str, int]] = []
        current = state.zone
        for i in np.flatnonzero(gap | (zone != prev_zone)).tolist():
            if gap[i] and current != -1:
                out.append((float(prev_ts[i]) + timeout, device, -1))
                current = -1
            if int(zone[i]) != current:
                current = int(zone[i])
                out.append((float(ts[i]), device, current))
        state.zone = current
        state.last_heard = max(state.last_heard, float(ts[-1]))
        state.latest_ts = seen[-1].copy()
        state.latest_rssi = np.where(has[-1], rssi[pick[-1]], state.latest_rssi)
        return out


def gateway_zones(store: Store) -> dict[str, str]:
    """Gateway id -> the zone its position lies in (else the zone with the nearest centroid).

    Raises:
        InputError: A gateway without a position, or no zone with a polygon.
    """
    shaped = [z for z in store.zones if z.polygon is not None]
    if not shaped:
        raise InputError(
            "store", None, "zones", "the naive baseline needs zone polygons (geometric zoning)"
        )
    out: dict[str, str] = {}
    for i, gw in enumerate(store.gateways):
        if gw.position is None:
            raise InputError(
                "store",
                None,
                f"gateways[{i}].position",
                f"the naive baseline needs a position for gateway '{gw.id}'",
            )
        out[gw.id] = zone_at(shaped, gw.position)
    return out


def zone_at(zones: Sequence[Zone], point: Point) -> str:
    """Id of the first zone whose polygon contains ``point`` (metres), else the nearest centroid.

    Zones without a polygon are skipped; ``zones`` must contain at least one with a polygon.
    """
    best: str | None = None
    best_d = math.inf
    for zone in zones:
        if zone.polygon is None:
            continue
        if contains(zone.polygon, point):
            return zone.id
        cx, cy = centroid(zone.polygon)
        d = math.hypot(point[0] - cx, point[1] - cy)
        if d < best_d:
            best, best_d = zone.id, d
    if best is None:
        raise ValueError("no zone has a polygon")
    return best


def contains(polygon: Sequence[Point], point: Point) -> bool:
    """Whether ``point`` lies inside ``polygon`` or on its boundary (even-odd rule)."""
    x, y = point
    inside = False
    n = len(polygon)
    for i in range(n):
        (x0, y0), (x1, y1) = polygon[i], polygon[(i + 1) % n]
        # on an edge counts as inside
        cross = (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)
        if (
            abs(cross) < 1e-9
            and min(x0, x1) - 1e-9 <= x <= max(x0, x1) + 1e-9
            and min(y0, y1) - 1e-9 <= y <= max(y0, y1) + 1e-9
        ):
            return True
        if (y0 > y) != (y1 > y):
            x_cross = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
            if x < x_cross:
                inside = not inside
    return inside
