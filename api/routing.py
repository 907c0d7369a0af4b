"""Who an associate alert goes to, and where it escalates. Pure.

Levels, in order: ``primary`` (the customer's primary associate, if on shift in this store),
``zone`` (on-shift associates covering the alert's zone), ``store`` (every on-shift associate;
with nobody on shift, the store's feed at large). An offered alert nobody claimed within the
escalation time moves to the next level that has someone new; at ``store`` it stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LEVELS = ("primary", "zone", "store")


@dataclass(frozen=True)
class Staff:
    """An associate as routing sees them."""

    id: int
    zones: frozenset[str]
    on_shift: bool


def targets(level: str, staff: Sequence[Staff], zone: str | None, primary: int | None) -> list[int]:
    """Associate ids an alert at ``level`` is offered to (may be empty)."""
    on = [s for s in staff if s.on_shift]
    if level == "primary":
        return [s.id for s in on if s.id == primary]
    if level == "zone":
        return sorted(s.id for s in on if zone is not None and zone in s.zones)
    return sorted(s.id for s in on)


def route(
    staff: Sequence[Staff],
    zone: str | None,
    primary: int | None,
    after: str | None = None,
    current: Sequence[int] = (),
) -> tuple[str, list[int]]:
    """The first level after ``after`` (from the start when None) that reaches someone new.

    Args:
        staff: The store's associates.
        zone: The zone the customer is in (None at store entry).
        primary: The customer's primary associate id.
        after: The alert's current level, or None for a new alert.
        current: Associates the alert is offered to now.

    Returns:
        (level, associate ids). ``store`` with whatever it reaches when nothing earlier does.
    """
    start = 0 if after is None else LEVELS.index(after) + 1
    for level in LEVELS[start:]:
        ids = targets(level, staff, zone, primary)
        if ids and set(ids) != set(current):
            return level, ids
    return "store", targets("store", staff, zone, primary)
