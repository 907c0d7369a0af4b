"""Tiny synthetic walks for engine unit tests (independent of firmware_sim on purpose)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from proximity.store import Store, parse_store

STORE_YAML = """
store: {id: t}
gateways:
  - {id: door, position: [5, 1]}
  - {id: back, position: [5, 8]}
  - {id: left, position: [1, 4]}
zones:
  - {id: street, kind: outside, polygon: [[-10, -6], [20, -6], [20, 0], [-10, 0]]}
  - {id: entrance, kind: entrance, polygon: [[0, 0], [10, 0], [10, 4], [0, 4]], dwell_s: 5}
  - {id: back, kind: sales, polygon: [[0, 4], [7, 4], [7, 10], [0, 10]]}
  - {id: fitting, kind: private, polygon: [[7, 4], [10, 4], [10, 10], [7, 10]]}
"""

GATEWAYS = {"door": (5.0, 1.0), "back": (5.0, 8.0), "left": (1.0, 4.0)}

Path = Callable[[float], tuple[float, float] | None]


def store() -> Store:
    """The three-gateway test store."""
    return parse_store(STORE_YAML, "test-store.yaml")


def shopper(t: float) -> tuple[float, float] | None:
    """Street (0-14 s), door crossing at 14 s, entrance until 38 s, back zone until 70 s."""
    if t < 12:
        return (-10 + 15 * t / 12, -2.0)
    if t < 16:
        return (5.0, -2.0 + (t - 12))
    if t < 36:
        return (5.0, 2.0)
    if t < 40:
        return (5.0 - 2 * (t - 36) / 4, 2.0 + 5 * (t - 36) / 4)
    if t < 70:
        return (3.0, 7.0)
    return None


def readings(
    path: Path, device: str, interval: float, seed: int, until: float = 80.0, sigma: float = 3.0
) -> list[tuple[float, str, str, float]]:
    """Readings of a device following ``path`` heard by every gateway (log-distance + noise)."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[float, str, str, float]] = []
    t = rng.uniform(0, interval)
    while t < until:
        p = path(t)
        if p is not None:
            for gid, (gx, gy) in GATEWAYS.items():
                d = float(np.hypot(np.hypot(p[0] - gx, p[1] - gy), 1.5))
                rssi = -59 - 22 * np.log10(d) + rng.normal(0, sigma) - (4 if p[1] < 0 else 0)
                if rssi > -95 and rng.random() > 0.05:
                    rows.append((round(t, 3), gid, device, float(round(rssi))))
        t += interval + rng.uniform(0, 0.01)
    rows.sort()
    return rows
