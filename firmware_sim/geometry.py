"""Plane geometry on numpy arrays (metres): point in polygon, segment crossings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from proximity.geometry import contains

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Point = tuple[float, float]


def inside_polygon(x: FloatArray, y: FloatArray, polygon: Sequence[Point]) -> BoolArray:
    """Whether each point ``(x[i], y[i])`` lies inside ``polygon``: the engine's own rule
    (`proximity.geometry.contains`), so truth and engine agree on every zone edge."""
    return contains(tuple(polygon), x, y)


def segments_cross(
    ax: FloatArray, ay: FloatArray, bx: float, by: float, wall: tuple[Point, Point]
) -> BoolArray:
    """Whether segments from ``(ax, ay)`` to ``(bx, by)`` properly cross ``wall``."""
    (cx, cy), (dx, dy) = wall

    def orient(
        px: FloatArray | float,
        py: FloatArray | float,
        qx: float,
        qy: float,
        rx: FloatArray | float,
        ry: FloatArray | float,
    ) -> FloatArray:
        return np.asarray((qx - px) * (ry - py) - (qy - py) * (rx - px), dtype=np.float64)

    d1 = orient(cx, cy, dx, dy, ax, ay)
    d2 = orient(cx, cy, dx, dy, bx, by)
    # orientation of wall ends relative to the path (path varies per element)
    e1 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    e2 = (bx - ax) * (dy - ay) - (by - ay) * (dx - ax)
    return np.asarray(((d1 > 0) != (d2 > 0)) & ((e1 > 0) != (e2 > 0)) & (d1 != 0), dtype=bool)


def random_point(rng: np.random.Generator, polygon: Sequence[Point], margin: float = 0.3) -> Point:
    """A uniform random point inside ``polygon``, ``margin`` metres (at most) from its box edge."""
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    mx = min(margin, (x1 - x0) / 4)
    my = min(margin, (y1 - y0) / 4)
    for _ in range(200):
        x = float(rng.uniform(x0 + mx, x1 - mx))
        y = float(rng.uniform(y0 + my, y1 - my))
        if inside_polygon(np.array([x]), np.array([y]), polygon)[0]:
            return (x, y)
    cx = float(np.mean(xs))
    cy = float(np.mean(ys))
    return (cx, cy)


def zone_of(
    x: FloatArray, y: FloatArray, polygons: Sequence[Sequence[Point]]
) -> npt.NDArray[np.int64]:
    """Index of the first polygon containing each point, or -1 when none does."""
    out = np.full(np.shape(x), -1, dtype=np.int64)
    for i, polygon in enumerate(polygons):
        hit = (out < 0) & inside_polygon(x, y, polygon)
        out[hit] = i
    return out
