"""Plane geometry for zones: point in polygon, polygon distance, sample points. Metres."""

from __future__ import annotations

import math

import numpy as np

from .readings import FloatArray

Point = tuple[float, float]


def contains(polygon: tuple[Point, ...], x: FloatArray, y: FloatArray) -> np.ndarray:
    """Boolean mask of the points (x, y) inside ``polygon`` (even-odd rule).

    Points exactly on the lower or left edges count as inside, on the upper or right edges as
    outside, so adjacent rectangles tile the plane without overlap.
    """
    inside = np.zeros(np.shape(x), dtype=bool)
    n = len(polygon)
    for i in range(n):
        x0, y0 = polygon[i]
        x1, y1 = polygon[(i + 1) % n]
        if y0 == y1:
            continue
        crosses = (y0 > y) != (y1 > y)
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < x_at)
    return inside


def centroid(polygon: tuple[Point, ...]) -> Point:
    """Area centroid of a simple polygon."""
    a = cx = cy = 0.0
    n = len(polygon)
    for i in range(n):
        x0, y0 = polygon[i]
        x1, y1 = polygon[(i + 1) % n]
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(a) < 1e-12:
        xs, ys = zip(*polygon, strict=True)
        return (sum(xs) / n, sum(ys) / n)
    return (cx / (3 * a), cy / (3 * a))


def _seg_point(p: Point, a: Point, b: Point) -> float:
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / length2))
    return math.hypot(p[0] - ax - t * dx, p[1] - ay - t * dy)


def polygon_distance(p: tuple[Point, ...], q: tuple[Point, ...]) -> float:
    """Smallest distance between two polygons' boundaries or 0 when they overlap, metres."""
    px = np.array([v[0] for v in p])
    py = np.array([v[1] for v in p])
    qx = np.array([v[0] for v in q])
    qy = np.array([v[1] for v in q])
    if contains(q, px, py).any() or contains(p, qx, qy).any():
        return 0.0
    best = math.inf
    for a_poly, b_poly in ((p, q), (q, p)):
        n = len(b_poly)
        for v in a_poly:
            for i in range(n):
                best = min(best, _seg_point(v, b_poly[i], b_poly[(i + 1) % n]))
    return best


def sample_points(polygon: tuple[Point, ...], spacing: float, cap: int) -> FloatArray:
    """Grid points inside ``polygon`` (at most ``cap``, coarsening the grid as needed).

    Always returns at least one point (the centroid) so that thin zones are represented.
    """
    xs = [v[0] for v in polygon]
    ys = [v[1] for v in polygon]
    step = spacing
    while True:
        gx = np.arange(min(xs) + step / 2, max(xs), step)
        gy = np.arange(min(ys) + step / 2, max(ys), step)
        mx, my = np.meshgrid(gx, gy)
        mx, my = mx.ravel(), my.ravel()
        keep = contains(polygon, mx, my)
        if keep.sum() <= cap:
            break
        step *= 1.25
    points = np.column_stack([mx[keep], my[keep]])
    if points.shape[0] == 0:
        points = np.array([centroid(polygon)])
    return points
