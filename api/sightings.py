"""Checking an iPhone sighting of a store beacon. Pure."""

from __future__ import annotations

from proximity import tokens


def check_sighting(
    secret: bytes | None,
    beacon: str | None,
    minor: int,
    ts: float,
    now: float,
    max_age_s: float,
    period_s: int,
) -> str | None:
    """Why a sighting is rejected, or None when it is valid.

    Args:
        secret: The store's secret (None: unknown store).
        beacon: The beacon id (None: not a beacon of that store).
        minor: The rotating minor the phone heard.
        ts: When the phone heard it, seconds since the epoch.
        now: The API's clock, seconds.
        max_age_s: Sightings further than this from ``now`` are stale (or from the future).
        period_s: Token window, seconds.
    """
    if secret is None:
        return "unknown store"
    if beacon is None:
        return "unknown beacon"
    if abs(now - ts) > max_age_s:
        return "stale or future timestamp"
    if not tokens.verify_minor(secret, beacon, minor, ts, period_s):
        return "rotating minor does not match (replay or not in the store)"
    return None
