"""Versioned payload codecs for every topic, with validation. Pure.

Every decoder takes the topic (for error messages) and the raw bytes, and either returns a
fully validated value or raises `PayloadError` naming the field: a consumer never half-applies
a message. The wire format is documented in docs/mqtt.md; ``v`` is 1 for all of them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proximity.errors import InputError
from proximity.readings import Event
from proximity.store import Store, dump_store, parse_store

from .errors import PayloadError
from .topics import valid_id

VERSION = 1
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_DEVICE_CHARS = 128
RSSI_RANGE = (-127.0, 20.0)
"""Plausible RSSI and tx power, dBm (HCI reports int8)."""

Row = tuple[float, str, float, float | None]
"""One reading: (ts seconds, device id, rssi dBm, tx_power dBm at 1 m or None)."""


@dataclass(frozen=True)
class ReadingsBatch:
    """One gateway's readings of one batch window.

    Attributes:
        gateway: Gateway id.
        boot_id: Id of the gateway process run that made the batch.
        seq: Sequence number within the boot, from 0, contiguous.
        floor: Lowest seq of this boot the gateway still holds; lower ones were acknowledged
            or dropped by the outbox size bound, so a consumer must not wait for them.
        t0: Window start, seconds (gateway clock).
        t1: Window end, seconds: the gateway sends no later reading with ``ts < t1``.
        rows: The readings, ``ts`` within ``[t0, t1)``.
        final: The source ended (replay or simulation): no more batches from this boot.
    """

    gateway: str
    boot_id: str
    seq: int
    floor: int
    t0: float
    t1: float
    rows: tuple[Row, ...] = ()
    final: bool = False


@dataclass(frozen=True)
class Status:
    """Retained online/offline status. ``started`` (wall seconds) orders boots."""

    state: str
    boot_id: str
    started: float
    ts: float

    def newer_than(self, other: Status) -> bool:
        """Whether this status, received after ``other``, supersedes it.

        A later boot (``started``) always wins, so an older boot's stale will never marks a
        newer boot offline; within a boot, arrival order decides."""
        if self.boot_id != other.boot_id:
            return (self.started, self.boot_id) > (other.started, other.boot_id)
        return True  # same boot: the latest message wins (a will carries no time of death)


@dataclass(frozen=True)
class Ack:
    """End-to-end acknowledgement: every batch of ``boot_id`` up to ``seq`` is processed."""

    boot_id: str
    seq: int


@dataclass(frozen=True)
class Health:
    """Aggregate health counters of a gateway (never anything per device)."""

    boot_id: str
    ts: float
    counters: dict[str, float] = field(default_factory=dict)


# --- helpers -------------------------------------------------------------------------------


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _load(topic: str, payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(topic, None, f"payload of {len(payload)} bytes is too large")
    try:
        data = json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise PayloadError(topic, None, f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PayloadError(topic, None, "payload must be a JSON object")
    v = data.get("v")
    if v != VERSION or isinstance(v, bool):
        raise PayloadError(topic, "v", f"unsupported version {v!r} (expected {VERSION})")
    return data


def _num(topic: str, data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PayloadError(topic, key, f"expected a finite number, got {value!r}")
    return float(value)


def _int(topic: str, data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(topic, key, f"expected an integer >= 0, got {value!r}")
    return value


def _ident(topic: str, data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not valid_id(value):
        raise PayloadError(topic, key, f"expected an id (letters, digits, _.-), got {value!r}")
    return value


def _only(topic: str, data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            raise PayloadError(topic, key, "unknown key")


# --- readings ------------------------------------------------------------------------------

_BATCH_KEYS = ("v", "gateway", "boot_id", "seq", "floor", "t0", "t1", "readings", "final")


def encode_batch(batch: ReadingsBatch) -> bytes:
    """The wire form of a batch (rows as ``[ts, device, rssi, tx_power|null]``)."""
    obj: dict[str, Any] = {
        "v": VERSION,
        "gateway": batch.gateway,
        "boot_id": batch.boot_id,
        "seq": batch.seq,
        "floor": batch.floor,
        "t0": round(batch.t0, 6),
        "t1": round(batch.t1, 6),
        "readings": [[round(ts, 6), dev, rssi, tx] for ts, dev, rssi, tx in batch.rows],
    }
    if batch.final:
        obj["final"] = True
    return _dumps(obj)


def _row(topic: str, i: int, item: Any) -> Row:
    where = f"readings[{i}]"
    if not isinstance(item, list) or len(item) != 4:
        raise PayloadError(topic, where, "expected [ts, device, rssi, tx_power]")
    ts, dev, rssi, tx = item
    if not isinstance(dev, str) or not dev or len(dev) > MAX_DEVICE_CHARS:
        raise PayloadError(topic, where + ".device", "expected a non-empty device id")
    lo, hi = RSSI_RANGE
    if tx is not None and (
        isinstance(tx, bool) or not isinstance(tx, int | float) or not lo <= tx <= hi
    ):
        raise PayloadError(topic, where + ".tx_power", f"expected dBm or null, got {tx!r}")
    tx_power = None if tx is None else float(tx)
    return (_ts(topic, where, ts), dev, _rssi(topic, where, rssi), tx_power)


def _ts(topic: str, where: str, ts: Any) -> float:
    """``ts`` of the row at ``where``, a finite number."""
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise PayloadError(topic, where + ".ts", f"expected a finite number, got {ts!r}")
    return float(ts)


def _rssi(topic: str, where: str, rssi: Any) -> float:
    """``rssi`` of the row at ``where``, dBm within `RSSI_RANGE`."""
    lo, hi = RSSI_RANGE
    if isinstance(rssi, bool) or not isinstance(rssi, int | float) or not lo <= rssi <= hi:
        raise PayloadError(topic, where + ".rssi", f"expected dBm in [{lo}, {hi}], got {rssi!r}")
    return float(rssi)


def decode_batch(topic: str, payload: bytes) -> ReadingsBatch:
    """Validate a readings batch. Rows must lie within ``[t0, t1)``."""
    data = _load(topic, payload)
    _only(topic, data, _BATCH_KEYS)
    gateway = _ident(topic, data, "gateway")
    boot_id = _ident(topic, data, "boot_id")
    seq = _int(topic, data, "seq")
    floor = _int(topic, data, "floor")
    if floor > seq:
        raise PayloadError(topic, "floor", f"floor {floor} is above seq {seq}")
    t0 = _num(topic, data, "t0")
    t1 = _num(topic, data, "t1")
    if t1 < t0:
        raise PayloadError(topic, "t1", f"window end {t1} is before its start {t0}")
    final = data.get("final", False)
    if not isinstance(final, bool):
        raise PayloadError(topic, "final", "expected true or false")
    items = data.get("readings")
    if not isinstance(items, list):
        raise PayloadError(topic, "readings", "expected a list of readings")
    rows = tuple(_row(topic, i, item) for i, item in enumerate(items))
    for i, row in enumerate(rows):
        if not t0 <= row[0] < t1:
            raise PayloadError(topic, f"readings[{i}].ts", f"{row[0]} is outside [{t0}, {t1})")
    return ReadingsBatch(gateway, boot_id, seq, floor, t0, t1, rows, final)


# --- phone sightings (the iPhone path) -----------------------------------------------------

_SIGHTING_KEYS = ("v", "source", "readings")


def decode_sightings(topic: str, payload: bytes) -> list[tuple[float, str, str, float]]:
    """Validate the API's sightings message ``{"v": 1, "source": "app", "readings":
    [[ts, gateway, subject, rssi], ...]}``; rows as ``(ts, gateway, subject, rssi)``."""
    data = _load(topic, payload)
    _only(topic, data, _SIGHTING_KEYS)
    if data.get("source") != "app":
        raise PayloadError(topic, "source", f"expected 'app', got {data.get('source')!r}")
    items = data.get("readings")
    if not isinstance(items, list):
        raise PayloadError(topic, "readings", "expected a list of readings")
    rows: list[tuple[float, str, str, float]] = []
    for i, item in enumerate(items):
        where = f"readings[{i}]"
        if not isinstance(item, list) or len(item) != 4:
            raise PayloadError(topic, where, "expected [ts, gateway, subject, rssi]")
        ts, gateway, subject, rssi = item
        if not isinstance(gateway, str) or not valid_id(gateway):
            raise PayloadError(topic, where + ".gateway", f"expected a gateway id, got {gateway!r}")
        if not isinstance(subject, str) or not subject or len(subject) > MAX_DEVICE_CHARS:
            raise PayloadError(topic, where + ".subject", "expected a non-empty subject id")
        rows.append((_ts(topic, where, ts), gateway, subject, _rssi(topic, where, rssi)))
    return rows


# --- status, ack, health -------------------------------------------------------------------


def encode_status(status: Status) -> bytes:
    """The wire form of a status."""
    return _dumps(
        {
            "v": VERSION,
            "state": status.state,
            "boot_id": status.boot_id,
            "started": round(status.started, 6),
            "ts": round(status.ts, 6),
        }
    )


def decode_status(topic: str, payload: bytes) -> Status:
    """Validate a status message (``state`` online or offline)."""
    data = _load(topic, payload)
    _only(topic, data, ("v", "state", "boot_id", "started", "ts"))
    state = data.get("state")
    if state not in ("online", "offline"):
        raise PayloadError(topic, "state", f"expected 'online' or 'offline', got {state!r}")
    return Status(
        state, _ident(topic, data, "boot_id"), _num(topic, data, "started"), _num(topic, data, "ts")
    )


def encode_ack(ack: Ack) -> bytes:
    """The wire form of an ack."""
    return _dumps({"v": VERSION, "boot_id": ack.boot_id, "seq": ack.seq})


def decode_ack(topic: str, payload: bytes) -> Ack:
    """Validate an ack."""
    data = _load(topic, payload)
    _only(topic, data, ("v", "boot_id", "seq"))
    return Ack(_ident(topic, data, "boot_id"), _int(topic, data, "seq"))


def encode_health(health: Health) -> bytes:
    """The wire form of a health report."""
    obj: dict[str, Any] = {"v": VERSION, "boot_id": health.boot_id, "ts": round(health.ts, 6)}
    obj.update(health.counters)
    return _dumps(obj)


def decode_health(topic: str, payload: bytes) -> Health:
    """Validate a health report: every key besides v, boot_id, ts is a finite number."""
    data = _load(topic, payload)
    counters: dict[str, float] = {}
    for key in data:
        if key not in ("v", "boot_id", "ts"):
            counters[key] = _num(topic, data, key)
    return Health(_ident(topic, data, "boot_id"), _num(topic, data, "ts"), counters)


# --- config and events ---------------------------------------------------------------------


def encode_config(store: Store) -> bytes:
    """The retained config message of ``store`` (the store file schema as JSON)."""
    return _dumps({"v": VERSION, "store": dump_store(store)})


def decode_config(topic: str, payload: bytes) -> Store:
    """Validate a config message with the store-file rules (errors name the field)."""
    data = _load(topic, payload)
    _only(topic, data, ("v", "store"))
    inner = data.get("store")
    if not isinstance(inner, dict):
        raise PayloadError(topic, "store", "expected the store file as an object")
    text = json.dumps(inner, indent=1)
    try:
        return parse_store(text, f"mqtt:{topic}")
    except InputError as exc:
        field = f"store.{exc.field}" if exc.field else "store"
        raise PayloadError(topic, field, exc.message) from exc


def encode_event(event: Event) -> bytes:
    """An event as published on the events topic (the contract's JSON object)."""
    return _dumps(event.to_json())


def decode_event(topic: str, payload: bytes) -> dict[str, Any]:
    """Validate an event object (for consumers); returns the JSON object."""
    try:
        data = json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise PayloadError(topic, None, f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PayloadError(topic, None, "payload must be a JSON object")
    for key in ("type", "device", "event_id"):
        if not isinstance(data.get(key), str):
            raise PayloadError(topic, key, "expected a string")
    _num(topic, data, "ts")
    return data
