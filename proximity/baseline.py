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

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .errors import InputError
from .presence import Presence
from .readings import Event
from .store import Point, Store, Zone, polygon_area

EXIT_TIMEOUT_S = 30.0
"""Silence after which the baseline declares a device gone, seconds (Bermuda's default)."""


@dataclass
class _Device:
    latest: dict[str, tuple[float, float]] = field(default_factory=dict)  # gateway -> (ts, rssi)
    last_heard: float = -math.inf
    zone: str | None = None


class Baseline:
    """Nearest-gateway zoning on raw RSSI, with the Engine's replay interface.

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
        self.presence = Presence(store)
        self.late_readings = 0
        self._devices: dict[str, _Device] = {}
        self._pending: list[tuple[float, str, str, float]] = []  # (ts, gateway, device, rssi)
        self._done_until = -math.inf  # readings before this were processed
        self._max_ts = -math.inf

    def ingest_rows(
        self,
        ts: Sequence[float] | npt.NDArray[np.float64],
        gateways: Sequence[str],
        devices: Sequence[str],
        rssi: Sequence[float] | npt.NDArray[np.float64],
        tx_power: Sequence[float] | npt.NDArray[np.float64] | None = None,
    ) -> None:
        """Buffer readings (seconds, gateway ids, device ids, dBm). ``tx_power`` is ignored.

        Raises:
            KeyError: A gateway that is not in the store.
        """
        del tx_power
        for t, g, d, r in zip(
            np.asarray(ts, dtype=float).tolist(),
            gateways,
            devices,
            np.asarray(rssi, dtype=float).tolist(),
            strict=True,
        ):
            if g not in self.gateway_zone:
                raise KeyError(g)
            if t < self._done_until:
                self.late_readings += 1
                continue
            self._pending.append((t, g, d, r))
            self._max_ts = max(self._max_ts, t)

    def advance(self, watermark: float) -> list[Event]:
        """Process every buffered reading before ``watermark`` (seconds); return its events.

        Exits whose timeout runs out before ``watermark`` are emitted too, stamped with the
        moment the timeout ran out.
        """
        ready = [p for p in self._pending if p[0] < watermark]
        self._pending = [p for p in self._pending if p[0] >= watermark]
        ready.sort(key=lambda p: p[0])
        events: list[Event] = []
        for t, g, d, r in ready:
            events += self._reading(t, g, d, r)
        events += self._expire(watermark)
        events += self.presence.tick(watermark)
        self._done_until = max(self._done_until, watermark)
        events.sort(key=lambda e: e.ts)  # stable: per-device order is kept
        return events

    def flush(self) -> list[Event]:
        """Process everything buffered (end of stream). No exit is invented past the data."""
        if not self._pending:
            return []
        end = self._max_ts
        events = self.advance(math.nextafter(end, math.inf))
        return events

    def zone_of(self, device: str) -> str | None:
        """The baseline's current zone for ``device`` (None when not placed)."""
        state = self._devices.get(device)
        return state.zone if state else None

    def _reading(self, t: float, gateway: str, device: str, rssi: float) -> list[Event]:
        events = self.presence.tick(t)
        state = self._devices.get(device)
        if state is None:
            state = self._devices[device] = _Device()
        elif t - state.last_heard > self.exit_timeout_s:
            events += self._leave(device, state, state.last_heard + self.exit_timeout_s)
        state.latest[gateway] = (t, rssi)
        state.last_heard = max(state.last_heard, t)
        horizon = t - self.exit_timeout_s
        best: str | None = None
        best_rssi = -math.inf
        for gw, (seen, value) in list(state.latest.items()):
            if seen < horizon:
                del state.latest[gw]
            elif value > best_rssi:
                best, best_rssi = gw, value
        zone = self.gateway_zone[best] if best is not None else None
        if zone != state.zone:
            state.zone = zone
            events += self.presence.update(device, zone, t)
        return events

    def _expire(self, watermark: float) -> list[Event]:
        events: list[Event] = []
        for device, state in list(self._devices.items()):
            if state.last_heard + self.exit_timeout_s <= watermark:
                events += self._leave(device, state, state.last_heard + self.exit_timeout_s)
                del self._devices[device]
        return events

    def _leave(self, device: str, state: _Device, ts: float) -> list[Event]:
        events = self.presence.tick(ts)
        state.latest.clear()
        if state.zone is not None:
            state.zone = None
            events += self.presence.update(device, None, ts)
        return events


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


def centroid(polygon: Sequence[Point]) -> Point:
    """Area centroid of a simple polygon, metres."""
    area = polygon_area(tuple(polygon))
    cx = cy = 0.0
    n = len(polygon)
    for i in range(n):
        (x0, y0), (x1, y1) = polygon[i], polygon[(i + 1) % n]
        cross = x0 * y1 - x1 * y0
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    return (cx / (6.0 * area), cy / (6.0 * area))
