"""The edge privacy filter. Pure.

Only configured beacons (by frame key) and app tokens pass. Everything else is dropped inside
the scan callback, before anything is logged, queued or counted per device: the filter keeps
only aggregate counters (heard, passed, dropped) and never sees an address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol


class FrameLike(Protocol):
    """What the filter needs of a parsed frame (``proximity.frames.Frame``)."""

    @property
    def tx_power_1m(self) -> int | float | None:
        """Calibrated RSSI at 1 m, dBm, or None."""

    def key(self) -> str | None:
        """Canonical identity string (``token:<hex>``, ``ibeacon:<uuid>:<major>:<minor>``)."""


ParseFn = Callable[[Mapping[int, bytes], Mapping[str, bytes]], FrameLike | None]
"""``parse_advertisement(manufacturer_data, service_data)``."""

TOKEN_PREFIX = "token:"


def default_parser() -> ParseFn:
    """``proximity.frames.parse_advertisement`` (imported when first needed)."""
    from proximity.frames import parse_advertisement

    return parse_advertisement


@dataclass(frozen=True)
class Admitted:
    """An advertisement that may leave the callback: identity and calibrated power only."""

    device: str
    tx_power: float | None


class EdgeFilter:
    """Decides, per advertisement, whether it may leave the scan callback.

    Args:
        beacons: Frame keys of configured beacons; a key ending in ``*`` admits every key
            with that prefix (a fleet of fobs sharing an iBeacon UUID, say).
        app_tokens: Whether app token frames (``token:<hex>``) pass.
        parse: The frame parser (default: ``proximity.frames.parse_advertisement``).
    """

    def __init__(
        self, beacons: Iterable[str], app_tokens: bool = True, parse: ParseFn | None = None
    ) -> None:
        keys = [b.lower() for b in beacons]
        self._exact = frozenset(k for k in keys if not k.endswith("*"))
        self._prefixes = tuple(k[:-1] for k in keys if k.endswith("*"))
        self._tokens = app_tokens
        self._parse = parse or default_parser()
        self.heard = 0
        self.passed = 0
        self.dropped = 0

    def admits_key(self, key: str) -> bool:
        """Whether a frame with identity ``key`` passes."""
        if key.startswith(TOKEN_PREFIX):
            return self._tokens
        return key in self._exact or any(key.startswith(p) for p in self._prefixes)

    def admit(
        self, manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]
    ) -> Admitted | None:
        """The identity of an admitted advertisement, or None (dropped, counted in aggregate)."""
        self.heard += 1
        try:
            frame = self._parse(manufacturer_data, service_data)
        except Exception:  # a parser bug must not let a frame through nor kill the scanner
            frame = None
        key = frame.key() if frame is not None else None
        if frame is None or key is None or not self.admits_key(key.lower()):
            self.dropped += 1
            return None
        self.passed += 1
        tx = frame.tx_power_1m
        return Admitted(key.lower(), None if tx is None else float(tx))
