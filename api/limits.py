"""Per-caller rate limits: small in-process token buckets. Pure apart from a lock.

A caller's bucket holds at most ``burst`` tokens and gains ``per_s`` tokens a second; a call
costing ``cost`` tokens goes through when that many are there (and spends them), else it is
refused without spending anything and told how long until it would go through. Buckets live
in this process only: behind a load balancer with R API processes a caller gets up to R times
the limit.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

from .settings import LimitSettings, RateLimit


class RateLimiter:
    """Token buckets of one limit, one per caller key.

    Args:
        name: The limit's name (in the 429 detail).
        limit: Burst and refill rate.
        unit: What a token stands for, plural ("sightings", "calls").
        max_callers: Buckets kept; the least recently used one is forgotten beyond it.
    """

    def __init__(self, name: str, limit: RateLimit, unit: str, max_callers: int) -> None:
        self.name = name
        self.limit = limit
        self.unit = unit
        self.max_callers = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def take(self, key: str, now: float, cost: int = 1) -> float:
        """Spend ``cost`` tokens of ``key``'s bucket at ``now`` (seconds).

        Returns:
            0.0 when granted; otherwise the seconds until the bucket holds ``cost`` tokens
            (``math.inf`` when ``cost`` is more than ``burst``), nothing spent.
        """
        burst, per_s = float(self.limit.burst), self.limit.per_s
        with self._lock:
            tokens, at = self._buckets.pop(key, (burst, now))
            # a clock stepped back refills nothing but takes nothing away either
            tokens = min(burst, tokens + max(0.0, now - at) * per_s)
            if tokens >= cost:
                tokens -= cost
                wait = 0.0
            else:
                wait = math.inf if cost > burst else (cost - tokens) / per_s
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
        return wait

    def describe(self) -> str:
        """The limit in words, e.g. ``200 sightings at once, then 2 per second``."""
        return f"{self.limit.burst} {self.unit} at once, then {self.limit.per_s:g} per second"


def make_limiters(settings: LimitSettings) -> dict[str, RateLimiter]:
    """The app's limiters by name (none when limits are disabled)."""
    if not settings.enabled:
        return {}
    return {
        "sightings": RateLimiter("sightings", settings.sightings, "sightings",
                                 settings.max_callers),
        "enroll": RateLimiter("enroll", settings.enroll, "calls", settings.max_callers),
    }  # fmt: skip
