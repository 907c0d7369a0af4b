"""Movement: shoppers, passers-by, staff and the calibration surveyor as piecewise-linear tracks.

A `Track` is a list of waypoints (seconds, metres) walked in straight lines, with a body heading
per segment: the direction of motion while walking, a random direction (re-drawn every 2-10 s)
while standing. Positions at any times come from linear interpolation, so the radio model can
ask for thousands of advertising instants at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from proximity.store import Zone

from .geometry import random_point
from .scenario import Scenario

FloatArray = npt.NDArray[np.float64]
Point = tuple[float, float]

_DEFAULT_WEIGHTS = {"entrance": 0.3, "sales": 1.0, "checkout": 0.5, "pickup": 0.3, "private": 0.25}
_STAFF_WEIGHTS = {"entrance": 0.5, "sales": 1.0, "checkout": 2.0, "pickup": 1.0, "private": 0.2}
INSIDE_STEP_M = 1.5
"""How far past the door (metres, into the store) people walk before heading for a zone."""


@dataclass
class Track:
    """Where one person is over time.

    Attributes:
        role: ``shopper``, ``passerby``, ``staff`` or ``surveyor``.
        hardware: The device they carry (a key of the scenario's hardware).
        t: Waypoint times, seconds, strictly increasing.
        x: Waypoint x, metres.
        y: Waypoint y, metres.
        heading: Body heading per segment ``t[k]..t[k+1]``, radians (len(t) - 1 values).
    """

    role: str
    hardware: str
    t: FloatArray
    x: FloatArray
    y: FloatArray
    heading: FloatArray

    @property
    def start(self) -> float:
        """First waypoint time, seconds."""
        return float(self.t[0])

    @property
    def end(self) -> float:
        """Last waypoint time, seconds."""
        return float(self.t[-1])

    def position(self, ts: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Positions (metres) at times ``ts`` (clamped to the track's span)."""
        return np.interp(ts, self.t, self.x), np.interp(ts, self.t, self.y)

    def heading_at(self, ts: FloatArray) -> FloatArray:
        """Body heading (radians) at times ``ts``."""
        seg = np.searchsorted(self.t, ts, side="right") - 1
        seg = np.clip(seg, 0, len(self.heading) - 1)
        return self.heading[seg]


class _Walker:
    """Builds a track step by step."""

    def __init__(self, t: float, at: Point, rng: np.random.Generator) -> None:
        self.rng = rng
        self.t = [t]
        self.x = [at[0]]
        self.y = [at[1]]
        self.h: list[float] = []
        self.last_heading = float(rng.uniform(-math.pi, math.pi))

    @property
    def now(self) -> float:
        return self.t[-1]

    @property
    def at(self) -> Point:
        return (self.x[-1], self.y[-1])

    def _add(self, duration: float, to: Point, heading: float) -> None:
        self.t.append(self.t[-1] + max(duration, 1e-3))
        self.x.append(to[0])
        self.y.append(to[1])
        self.h.append(heading)

    def walk_to(self, to: Point, speed: float) -> None:
        dx, dy = to[0] - self.x[-1], to[1] - self.y[-1]
        dist = math.hypot(dx, dy)
        if dist < 1e-6:
            return
        self.last_heading = math.atan2(dy, dx)
        self._add(dist / speed, to, self.last_heading)

    def stand(self, duration: float, jitter_m: float = 0.25) -> None:
        """Stand near the current spot, turning every 2-10 s, drifting at most ``jitter_m``."""
        anchor = self.at
        left = duration
        while left > 1e-3:
            chunk = min(left, float(self.rng.uniform(2.0, 10.0)))
            offset = self.rng.normal(0.0, jitter_m / 2, size=2).clip(-jitter_m, jitter_m)
            heading = float(self.rng.uniform(-math.pi, math.pi))
            self._add(chunk, (anchor[0] + float(offset[0]), anchor[1] + float(offset[1])), heading)
            left -= chunk

    def track(self, role: str, hardware: str) -> Track:
        if not self.h:
            self._add(1e-3, self.at, self.last_heading)
        return Track(
            role=role,
            hardware=hardware,
            t=np.asarray(self.t, dtype=np.float64),
            x=np.asarray(self.x, dtype=np.float64),
            y=np.asarray(self.y, dtype=np.float64),
            heading=np.asarray(self.h, dtype=np.float64),
        )


def _lognormal(rng: np.random.Generator, median: float, sigma: float) -> float:
    return float(median * math.exp(sigma * rng.standard_normal()))


def _pick(rng: np.random.Generator, mix: dict[str, float]) -> str:
    names = sorted(mix)
    p = np.array([mix[n] for n in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


class _Zones:
    """In-store zones with visit weights."""

    def __init__(
        self,
        zones: Sequence[Zone],
        defaults: dict[str, float],
        override: dict[str, float],
        margin: float,
    ):
        self.margin = margin
        self.zones = [z for z in zones if z.in_store and z.polygon is not None]
        self.weights = np.array(
            [override.get(z.id, defaults.get(z.kind, 1.0)) for z in self.zones], dtype=np.float64
        )
        if self.weights.sum() <= 0:
            self.weights = np.ones(len(self.zones))

    def pick(self, rng: np.random.Generator, avoid: int | None) -> int:
        w = self.weights.copy()
        if avoid is not None and len(w) > 1 and w.sum() > w[avoid]:
            w[avoid] = 0.0
        return int(rng.choice(len(w), p=w / w.sum()))

    def point(self, rng: np.random.Generator, index: int) -> Point:
        polygon = self.zones[index].polygon
        assert polygon is not None
        return random_point(rng, polygon, self.margin)


def make_people(scenario: Scenario, rng: np.random.Generator) -> list[Track]:
    """Everyone who appears during the scenario, in a deterministic order.

    Staff first, then shoppers already inside, arriving shoppers, and passers-by. Tracks may
    start before 0 or end after ``duration_s``; the simulator clips them.
    """
    sc = scenario
    duration = sc.duration_s
    tracks: list[Track] = []
    margin = sc.layout.fixture_margin_m
    staff_zones = _Zones(sc.store.zones, _STAFF_WEIGHTS, sc.staff.zone_weights, margin)
    shop_zones = _Zones(sc.store.zones, _DEFAULT_WEIGHTS, sc.shoppers.zone_weights, margin)
    for _ in range(sc.staff.count):
        tracks.append(_staff(sc, rng, staff_zones, duration))
    for _ in range(sc.shoppers.initial):
        tracks.append(_shopper(sc, rng, shop_zones, 0.0, initial=True))
    for t in _arrivals(rng, sc.shoppers.per_hour, -120.0, duration):
        tracks.append(_shopper(sc, rng, shop_zones, t, initial=False))
    for t in _arrivals(rng, sc.passersby.per_hour, -90.0, duration):
        tracks.append(_passerby(sc, rng, t))
    return [tr for tr in tracks if tr.end > 0.0 and tr.start < duration]


def _arrivals(rng: np.random.Generator, per_hour: float, start: float, end: float) -> list[float]:
    if per_hour <= 0:
        return []
    count = int(rng.poisson(per_hour * (end - start) / 3600.0))
    return sorted(float(v) for v in rng.uniform(start, end, size=count))


def _lane(sc: Scenario, rng: np.random.Generator) -> float:
    low, high = sc.layout.sidewalk_y
    return float(rng.uniform(low, high))


def _shopper(
    sc: Scenario, rng: np.random.Generator, zones: _Zones, t0: float, *, initial: bool
) -> Track:
    cfg = sc.shoppers
    hardware = _pick(rng, cfg.hardware)
    speed = float(rng.uniform(*cfg.speed_mps))
    door = sc.layout.door
    inside = (door[0], door[1] + INSIDE_STEP_M)
    visit = _lognormal(rng, cfg.visit_median_s, cfg.visit_sigma)
    current: int | None = None
    if initial:
        current = zones.pick(rng, None)
        walker = _Walker(t0, zones.point(rng, current), rng)
        visit *= float(rng.uniform(0.05, 1.0))
    else:
        west, east = sc.layout.sidewalk_x
        lane = _lane(sc, rng)
        walker = _Walker(t0, (west if rng.random() < 0.5 else east, lane), rng)
        walker.walk_to((door[0] + float(rng.uniform(-0.5, 0.5)), lane), speed)
        walker.walk_to(door, speed)
        walker.walk_to(inside, speed)
    leave_at = walker.now + visit
    if initial:
        walker.stand(min(_lognormal(rng, cfg.dwell_median_s, cfg.dwell_sigma), visit))
    while walker.now < leave_at:
        current = zones.pick(rng, current)
        walker.walk_to(zones.point(rng, current), float(rng.uniform(*cfg.speed_mps)))
        dwell = min(max(_lognormal(rng, cfg.dwell_median_s, cfg.dwell_sigma), 5.0), 900.0)
        walker.stand(dwell)
    _leave(sc, rng, walker, speed)
    return walker.track("shopper", hardware)


def _leave(sc: Scenario, rng: np.random.Generator, walker: _Walker, speed: float) -> None:
    door = sc.layout.door
    walker.walk_to((door[0], door[1] + INSIDE_STEP_M), speed)
    walker.walk_to(door, speed)
    lane = _lane(sc, rng)
    walker.walk_to((door[0] + float(rng.uniform(-0.5, 0.5)), lane), speed)
    west, east = sc.layout.sidewalk_x
    walker.walk_to((west if rng.random() < 0.5 else east, lane), speed)


def _passerby(sc: Scenario, rng: np.random.Generator, t0: float) -> Track:
    cfg = sc.passersby
    hardware = _pick(rng, cfg.hardware)
    speed = float(rng.uniform(*cfg.speed_mps))
    west, east = sc.layout.sidewalk_x
    lane = _lane(sc, rng)
    eastward = rng.random() < 0.5
    start, end = (west, east) if eastward else (east, west)
    walker = _Walker(t0, (start, lane), rng)
    if rng.random() < cfg.pause_prob:
        front = _shopfront_x(sc)
        spot = (float(rng.uniform(*front)), sc.layout.sidewalk_y[1])
        walker.walk_to((spot[0], lane), speed)
        walker.walk_to(spot, speed)
        walker.stand(float(rng.uniform(*cfg.pause_s)))
        walker.walk_to((spot[0], lane), speed)
    walker.walk_to((end, lane), speed)
    return walker.track("passerby", hardware)


def _shopfront_x(sc: Scenario) -> tuple[float, float]:
    xs = [p[0] for z in sc.store.zones if z.in_store and z.polygon for p in z.polygon]
    return (min(xs), max(xs))


def _staff(sc: Scenario, rng: np.random.Generator, zones: _Zones, duration: float) -> Track:
    hardware = _pick(rng, sc.staff.hardware)
    current = zones.pick(rng, None)
    walker = _Walker(0.0, zones.point(rng, current), rng)
    walker.stand(float(rng.uniform(1.0, sc.staff.dwell_median_s)))
    while walker.now < duration:
        current = zones.pick(rng, current)
        walker.walk_to(zones.point(rng, current), float(rng.uniform(0.7, 1.4)))
        walker.stand(min(max(_lognormal(rng, sc.staff.dwell_median_s, 0.8), 5.0), 1200.0))
    return walker.track("staff", hardware)


def _pavement(sc: Scenario, half_width_m: float = 12.0) -> tuple[Point, ...]:
    """The sidewalk within ``half_width_m`` of the door, as a polygon."""
    x0 = max(sc.layout.sidewalk_x[0], sc.layout.door[0] - half_width_m)
    x1 = min(sc.layout.sidewalk_x[1], sc.layout.door[0] + half_width_m)
    y0, y1 = sc.layout.sidewalk_y
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def surveyor(
    scenario: Scenario, rng: np.random.Generator, hardware: str = "phone"
) -> tuple[Track, list[tuple[str, float, float]]]:
    """The calibration walk: a surveyor walking slowly inside every zone in turn.

    Returns:
        The track and ``(zone id, start, end)`` of each zone's survey period (seconds from 0).
    """
    cal = scenario.calibration
    assert cal is not None
    zones = [z for z in scenario.store.zones if z.polygon is not None]
    first = zones[0].polygon
    assert first is not None
    walker = _Walker(0.0, random_point(rng, first), rng)
    periods: list[tuple[str, float, float]] = []
    for zone in zones:
        polygon = zone.polygon
        assert polygon is not None
        if not zone.in_store:
            # Outside, a surveyor walks the pavement in front of the shop, where passers-by
            # are heard, not the far ends of a street polygon.
            polygon = _pavement(scenario)
        walker.walk_to(random_point(rng, polygon), 1.0)
        start = walker.now
        while walker.now < start + cal.per_zone_s:
            walker.walk_to(random_point(rng, polygon), cal.speed_mps)
            walker.stand(float(rng.uniform(1.0, 4.0)), jitter_m=0.1)
        periods.append((zone.id, start, walker.now))
    return walker.track("surveyor", hardware), periods
