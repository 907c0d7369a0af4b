"""Rotating tokens: derivation, the engine's resolution table, and rotating store-beacon minors.

Android phones, fobs and badges advertise an 8-byte token that changes every time window
(Eddystone-EID style)::

    token = HMAC-SHA256(key, b"prox/token/v1" + window as 8-byte signed big-endian)[:8]
    window = floor(ts / period_s)            # period_s = 1024 s by default

The key is the subject's secret (>= 16 bytes); it lives with the API only. The API gives the
store engine a `ResolutionTable` (token -> pseudonymous subject id) for the windows around now,
so the engine can resolve tokens without ever holding a key. Windows w-1, w, w+1 are covered to
absorb clock drift between phone and gateway.

For iPhones the direction is reversed: store gateways transmit an iBeacon whose minor rotates
with a store secret (`rotating_minor`), and the API accepts a phone's sighting only if the minor
it reports is valid for the sighting's time (`verify_minor`), which rejects replays from home.

Pure: no clock (time comes in as ``ts``), no randomness, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import InputError

__all__ = [
    "DEFAULT_PERIOD_S",
    "DRIFT_WINDOWS",
    "MIN_KEY_LEN",
    "TOKEN_LEN",
    "ResolutionTable",
    "build_table",
    "derive_token",
    "rotating_minor",
    "verify_minor",
    "window_index",
]

DEFAULT_PERIOD_S = 1024
"""Token window, seconds (2**10 s, about 17 min: about as long as a phone keeps its random
address, so a token does not outlive the address it is sent from by much)."""

TOKEN_LEN = 8
"""Token length, bytes."""

MIN_KEY_LEN = 16
"""Shortest accepted secret (subject key or store secret), bytes (128 bits)."""

DRIFT_WINDOWS = 1
"""Windows accepted either side of the current one (clock drift between phone and gateway)."""

_TOKEN_LABEL = b"prox/token/v1"
_MINOR_LABEL = b"prox/minor/v1"
_TABLE_FORMAT_VERSION = 1


def _check_period(period_s: int) -> None:
    if isinstance(period_s, bool) or not isinstance(period_s, int) or period_s <= 0:
        raise ValueError(f"period_s must be a positive integer (seconds), got {period_s!r}")


def _check_key(name: str, key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_LEN:
        raise ValueError(f"{name} must be at least {MIN_KEY_LEN} bytes")


def _window_bytes(window: int) -> bytes:
    if isinstance(window, bool) or not isinstance(window, int):
        raise ValueError(f"window must be an integer, got {window!r}")
    try:
        return window.to_bytes(8, "big", signed=True)
    except OverflowError:
        raise ValueError(f"window {window} does not fit in 64 bits") from None


def window_index(ts: float, period_s: int = DEFAULT_PERIOD_S) -> int:
    """The time window ``ts`` falls in: ``floor(ts / period_s)``.

    Args:
        ts: Time, seconds (any epoch, but the same one as the other side uses).
        period_s: Window length, seconds.

    Returns:
        The window index (negative for negative ``ts``).

    Raises:
        ValueError: ``ts`` is not finite or ``period_s`` is not a positive integer.
    """
    _check_period(period_s)
    if not math.isfinite(ts):
        raise ValueError(f"ts must be a finite number of seconds, got {ts!r}")
    return int(ts // period_s)


def derive_token(key: bytes, window: int) -> bytes:
    """The 8-byte token a subject with ``key`` advertises during ``window``.

    Keys should be random and of one fixed length (32 bytes is a good choice): as with any HMAC,
    keys that differ only by trailing zero bytes are the same key.

    Args:
        key: The subject's secret key, at least 16 bytes.
        window: Window index (see `window_index`), encoded as 8-byte signed big-endian.

    Returns:
        ``HMAC-SHA256(key, b"prox/token/v1" + window)[:8]``.

    Raises:
        ValueError: The key is shorter than 16 bytes or the window does not fit in 64 bits.
    """
    _check_key("key", key)
    message = _TOKEN_LABEL + _window_bytes(window)
    return hmac.new(key, message, hashlib.sha256).digest()[:TOKEN_LEN]


class ResolutionTable(Mapping[bytes, str]):
    """Immutable map from tokens to pseudonymous subject ids for a few consecutive windows.

    Built by the API (`build_table`) and handed to the store engine, which resolves the tokens
    it hears without holding any key. JSON form (see `to_json`)::

        {"version": 1, "period_s": 1024, "windows": [w-1, w, w+1],
         "tokens": {"<16 hex digits>": "<subject id>", ...}}

    Args:
        tokens: Token (8 bytes) -> subject id.
        windows: The window indices the tokens were derived for.
        period_s: Window length, seconds.

    Raises:
        ValueError: A token is not 8 bytes, a subject id is empty, or a period is not positive.
    """

    __slots__ = ("_tokens", "period_s", "windows")

    def __init__(
        self,
        tokens: Mapping[bytes, str],
        windows: tuple[int, ...],
        period_s: int = DEFAULT_PERIOD_S,
    ) -> None:
        _check_period(period_s)
        copied: dict[bytes, str] = {}
        for token, subject in tokens.items():
            if not isinstance(token, bytes) or len(token) != TOKEN_LEN:
                raise ValueError(f"token must be {TOKEN_LEN} bytes, got {token!r}")
            if not isinstance(subject, str) or not subject:
                raise ValueError(f"subject id must be a non-empty string, got {subject!r}")
            copied[token] = subject
        self._tokens = copied
        self.windows: tuple[int, ...] = tuple(sorted(set(windows)))
        self.period_s: int = period_s

    def resolve(self, token: bytes) -> str | None:
        """The subject id behind ``token``, or None if the token is not in the table."""
        return self._tokens.get(token)

    def covers(self, ts: float) -> bool:
        """Whether the table has tokens for the window that ``ts`` (seconds) falls in."""
        if not math.isfinite(ts):
            return False
        return window_index(ts, self.period_s) in self.windows

    def __getitem__(self, token: bytes) -> str:
        return self._tokens[token]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def __repr__(self) -> str:
        return (
            f"ResolutionTable({len(self)} tokens, windows={self.windows}, period_s={self.period_s})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResolutionTable):
            return NotImplemented
        return (
            self._tokens == other._tokens
            and self.windows == other.windows
            and self.period_s == other.period_s
        )

    def to_json(self) -> dict[str, Any]:
        """The table as a JSON-ready dict (tokens as lower-case hex, sorted)."""
        return {
            "version": _TABLE_FORMAT_VERSION,
            "period_s": self.period_s,
            "windows": list(self.windows),
            "tokens": {token.hex(): self._tokens[token] for token in sorted(self._tokens)},
        }

    @classmethod
    def from_json(cls, data: Any, source: str) -> ResolutionTable:
        """Validate and load the JSON form written by `to_json`.

        Args:
            data: The decoded JSON value.
            source: Where it came from (file name, ``"payload"``), for error messages.

        Returns:
            The table.

        Raises:
            InputError: Naming the field at fault: not an object, unknown or missing keys,
                wrong version, a period that is not a positive integer, windows that are not
                integers, a token that is not 16 hex digits, an empty subject id, or the same
                token given twice.
        """

        def fail(field: str | None, message: str) -> InputError:
            return InputError(source, None, field, message)

        if not isinstance(data, dict):
            raise fail(None, f"expected a JSON object, got {type(data).__name__}")
        allowed = ("version", "period_s", "windows", "tokens")
        for name in data:
            if name not in allowed:
                raise fail(str(name), f"unknown key (expected one of {', '.join(allowed)})")
        for name in allowed:
            if name not in data:
                raise fail(name, "missing")
        version = data["version"]
        if version != _TABLE_FORMAT_VERSION or isinstance(version, bool):
            raise fail("version", f"unsupported version {version!r} (expected 1)")
        period_s = data["period_s"]
        if isinstance(period_s, bool) or not isinstance(period_s, int) or period_s <= 0:
            raise fail("period_s", f"expected a positive integer (seconds), got {period_s!r}")
        windows = data["windows"]
        if not isinstance(windows, list):
            raise fail("windows", f"expected a list of integers, got {type(windows).__name__}")
        for i, window in enumerate(windows):
            if isinstance(window, bool) or not isinstance(window, int):
                raise fail(f"windows[{i}]", f"expected an integer, got {window!r}")
            if not -(2**63) <= window < 2**63:
                raise fail(f"windows[{i}]", f"window {window} does not fit in 64 bits")
        raw_tokens = data["tokens"]
        if not isinstance(raw_tokens, dict):
            raise fail("tokens", f"expected an object, got {type(raw_tokens).__name__}")
        tokens: dict[bytes, str] = {}
        for text, subject in raw_tokens.items():
            field = f"tokens.{text}"
            token = _parse_token_hex(text)
            if token is None:
                raise fail(field, f"token must be {2 * TOKEN_LEN} hex digits")
            if not isinstance(subject, str) or not subject:
                raise fail(field, f"subject id must be a non-empty string, got {subject!r}")
            if token in tokens:
                raise fail(field, "token given twice (keys differ only in case)")
            tokens[token] = subject
        return cls(tokens, tuple(windows), period_s)


def _parse_token_hex(text: object) -> bytes | None:
    if not isinstance(text, str) or len(text) != 2 * TOKEN_LEN:
        return None
    try:
        token = bytes.fromhex(text)
    except ValueError:
        return None
    # fromhex skips whitespace between digit pairs: insist on exactly 8 bytes.
    return token if len(token) == TOKEN_LEN else None


def build_table(
    keys: Mapping[str, bytes], ts: float, period_s: int = DEFAULT_PERIOD_S
) -> ResolutionTable:
    """Tokens of every subject for the window of ``ts`` and the one either side.

    Args:
        keys: Pseudonymous subject id -> that subject's secret key (>= 16 bytes).
        ts: Time, seconds, in the clock the phones and gateways share.
        period_s: Window length, seconds.

    Returns:
        A table covering windows w-1, w and w+1 where w = ``window_index(ts, period_s)``.

    Raises:
        ValueError: A key is too short, a subject id is empty, or two subjects share a token
            (which in practice means they were given the same key).
    """
    center = window_index(ts, period_s)
    windows = tuple(range(center - DRIFT_WINDOWS, center + DRIFT_WINDOWS + 1))
    tokens: dict[bytes, str] = {}
    for subject, key in keys.items():
        if not isinstance(subject, str) or not subject:
            raise ValueError(f"subject id must be a non-empty string, got {subject!r}")
        for window in windows:
            token = derive_token(key, window)
            other = tokens.get(token)
            if other is not None and other != subject:
                raise ValueError(
                    f"subjects {other!r} and {subject!r} share token {token.hex()} "
                    f"in window {window}: are they using the same key?"
                )
            tokens[token] = subject
    return ResolutionTable(tokens, windows, period_s)


def rotating_minor(store_secret: bytes, beacon_id: str, window: int) -> int:
    """The iBeacon minor a store beacon transmits during ``window``.

    ``HMAC-SHA256(store_secret, b"prox/minor/v1" + window as 8-byte signed big-endian +
    beacon_id as UTF-8)``, first two bytes as a big-endian integer.

    Args:
        store_secret: The store's secret, at least 16 bytes.
        beacon_id: The beacon (gateway) id.
        window: Window index (see `window_index`).

    Returns:
        The minor, 0..65535.

    Raises:
        ValueError: The secret is shorter than 16 bytes or the window does not fit in 64 bits.
    """
    _check_key("store_secret", store_secret)
    message = _MINOR_LABEL + _window_bytes(window) + beacon_id.encode("utf-8")
    digest = hmac.new(store_secret, message, hashlib.sha256).digest()
    return (digest[0] << 8) | digest[1]


def verify_minor(
    store_secret: bytes,
    beacon_id: str,
    minor: int,
    ts: float,
    period_s: int = DEFAULT_PERIOD_S,
) -> bool:
    """Whether ``minor`` is what ``beacon_id`` transmits around ``ts`` (windows w-1..w+1).

    A 16-bit value is guessed with probability 3/65536 per try; the API must rate-limit
    reports, and uses this check to reject sightings replayed from an old window.

    Args:
        store_secret: The store's secret, at least 16 bytes.
        beacon_id: The beacon (gateway) id the sighting names.
        minor: The minor the phone reports.
        ts: Time of the sighting, seconds.
        period_s: Window length, seconds.

    Returns:
        True if ``minor`` matches the beacon's minor in window w-1, w or w+1 of ``ts``.

    Raises:
        ValueError: The secret is too short, or ``ts``/``period_s`` are invalid.
    """
    center = window_index(ts, period_s)
    if isinstance(minor, bool) or not isinstance(minor, int) or not 0 <= minor <= 0xFFFF:
        _check_key("store_secret", store_secret)
        return False
    return any(
        rotating_minor(store_secret, beacon_id, window) == minor
        for window in range(center - DRIFT_WINDOWS, center + DRIFT_WINDOWS + 1)
    )
