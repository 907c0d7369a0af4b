"""Reading and writing the offline files of the contract (edge module: this one touches disk).

Every problem with a file's content becomes an `InputError` naming the file, the line and the
field, so the CLI can print one line and exit 2. Formats (see ARCHITECTURE.md):

* store file (YAML) -> `load_store`;
* readings CSV ``ts,gateway,device,rssi[,tx_power]`` -> `read_readings`;
* labeled samples CSV ``ts,gateway,device,rssi,zone`` -> `read_samples`;
* events JSON lines -> `write_events`;
* calibration model JSON -> `load_model` / `save_model` (generic `read_json` / `write_json`).

Reading CSV is built for millions of rows: the text is split into whole columns, numbers are
converted column by column and validated with numpy, and only when something is wrong is the
file walked again row by row (with `csv`) to name the first bad line. Both passes apply the same
rules; ``tests/test_files.py`` checks that they agree.
"""

from __future__ import annotations

import csv
import gc
import io
import itertools
import json
import math
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import numpy.typing as npt

from .errors import InputError
from .readings import Event
from .store import Store, parse_store

if TYPE_CHECKING:
    from .fingerprint import FingerprintModel

FloatArray = npt.NDArray[np.float64]
PathLike = str | os.PathLike[str]

READINGS_COLUMNS = ("ts", "gateway", "device", "rssi")
"""Required header of a readings CSV (an optional trailing ``tx_power`` may follow)."""

SAMPLES_COLUMNS = ("ts", "gateway", "device", "rssi", "zone")
"""Header of a labeled samples CSV."""

TX_POWER_MIN_DBM = -127.0
TX_POWER_MAX_DBM = 20.0
"""Bounds of a calibrated RSSI at 1 m (the int8 range a frame can carry, capped at +20 dBm)."""


@dataclass(frozen=True)
class Readings:
    """Readings CSV as columns, in file order.

    Attributes:
        ts: Seconds in the readings' clock.
        gateway: Gateway id per row (each one is in the store).
        device: Device id per row (never empty).
        rssi: Received strength, dBm (finite, <= 0).
        tx_power: Calibrated RSSI at 1 m, dBm; NaN where the file leaves it empty or has no
            ``tx_power`` column.
    """

    ts: FloatArray
    gateway: list[str]
    device: list[str]
    rssi: FloatArray
    tx_power: FloatArray

    def __len__(self) -> int:
        return len(self.gateway)

    def slice(self, start: int, stop: int) -> Readings:
        """Rows ``start`` to ``stop`` (exclusive), as a new `Readings` sharing the arrays."""
        return Readings(
            self.ts[start:stop],
            self.gateway[start:stop],
            self.device[start:stop],
            self.rssi[start:stop],
            self.tx_power[start:stop],
        )

    def chunks(self, rows: int) -> Iterator[Readings]:
        """Consecutive slices of at most ``rows`` rows, in file order."""
        if rows <= 0:
            raise ValueError("rows must be positive")
        for start in range(0, len(self), rows):
            yield self.slice(start, start + rows)


@dataclass(frozen=True)
class Samples:
    """Labeled samples CSV as columns, in file order (units as in `Readings`).

    Attributes:
        ts: Seconds.
        gateway: Gateway id per row (each one is in the store).
        device: Device id per row.
        rssi: dBm.
        zone: The zone the surveyor really was in (each one is in the store).
    """

    ts: FloatArray
    gateway: list[str]
    device: list[str]
    rssi: FloatArray
    zone: list[str]

    def __len__(self) -> int:
        return len(self.gateway)


# --- store and generic text ----------------------------------------------------------------


def load_store(path: PathLike) -> Store:
    """Read and validate a store file.

    Raises:
        InputError: The file cannot be read or is not a valid store file.
    """
    source = os.fspath(path)
    return parse_store(read_text(source), source)


def read_text(path: PathLike) -> str:
    """The UTF-8 text of a file (a leading byte-order mark is dropped).

    Raises:
        InputError: The file is missing, unreadable or not UTF-8 (with the line of the first
            bad byte).
    """
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InputError(source, None, None, f"cannot read the file: {_reason(exc)}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(source, line, None, "the file is not UTF-8 text") from exc


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


# --- CSV tables --------------------------------------------------------------------------


class _BadColumnError(Exception):
    """A column check failed somewhere; the slow path will say where."""


Check = Callable[[str], str | None]
"""A scalar rule for one cell: the reason it is bad, or None."""


@dataclass(frozen=True)
class _Table:
    """Raw columns of a CSV file (strings), by header name, with the file's name."""

    source: str
    header: tuple[str, ...]
    columns: dict[str, list[str]]


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small strings are created.

    The objects built here hold no reference cycles; without this, collections triggered by
    the allocation count triple the time to split a large file.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _csv_rows(text: str, source: str) -> Iterator[tuple[int, list[str]]]:
    """Every non-blank row of ``text`` with its 1-based line number (the slow, exact path)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(source, reader.line_num, None, f"malformed CSV: {exc}") from exc
        if row:
            yield reader.line_num, row


def _split_table(text: str) -> list[list[str]] | None:
    """The header and the columns of ``text``, or None when the fast split is not exact.

    The fast path applies when the text has no quotes and no lone carriage returns: then a CSV
    row is exactly a line split on commas. Blank lines are skipped, as `csv` does. Every line
    must have the header's number of values (else None: the exact path names the bad line).
    """
    if '"' in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    lines = text.split("\n")
    if "" in lines:
        lines = [line for line in lines if line]
    if not lines:
        return []
    header = lines[0].split(",")
    width = len(header)
    del lines[0]
    if set(map(str.count, lines, itertools.repeat(","))) - {width - 1}:
        return None
    joined = ",".join(lines)
    del lines  # free memory as we go: a million rows make several million strings
    flat = joined.split(",") if joined else []
    del joined
    columns = [flat[i::width] for i in range(width)]
    return [header, *columns]


def _read_table(path: PathLike, required: Sequence[str], optional: Sequence[str] = ()) -> _Table:
    """Columns of a CSV file whose header is ``required`` plus a prefix of ``optional``.

    Raises:
        InputError: Unreadable file, or a missing or wrong header.
        _BadColumnError: A row's number of values differs from the header's (the caller's
            row pass finds the first bad row).
    """
    source = os.fspath(path)
    text = read_text(source)
    expected = ",".join(required) + "".join(f"[,{name}]" for name in optional)
    with _no_gc():
        split = _split_table(text)
        if split is not None and split:
            header = tuple(name.strip() for name in split[0])
            _check_header(source, header, required, optional, expected)
            return _Table(source, header, dict(zip(header, split[1:], strict=True)))
        # Exact path: quoted fields, odd line ends, or rows of the wrong width.
        rows = _csv_rows(text, source)
        first = next(rows, None)
        if first is None:
            raise InputError(source, 1, None, f"the file is empty: expected the header {expected}")
        header = tuple(name.strip() for name in first[1])
        _check_header(source, header, required, optional, expected)
        body: list[list[str]] = []
        for _, row in rows:
            if len(row) != len(header):
                raise _BadColumnError  # the row pass names it, or an earlier bad cell
            body.append(row)
        columns = [list(col) for col in zip(*body, strict=True)] if body else [[] for _ in header]
        return _Table(source, header, dict(zip(header, columns, strict=True)))


def _check_header(
    source: str,
    header: tuple[str, ...],
    required: Sequence[str],
    optional: Sequence[str],
    expected: str,
) -> None:
    allowed = (*required, *optional)
    for i, name in enumerate(header):
        if i >= len(allowed):
            raise InputError(
                source, 1, name, f"unexpected column {i + 1} (the header must be {expected})"
            )
        if name != allowed[i]:
            raise InputError(
                source,
                1,
                allowed[i],
                f"header column {i + 1} is '{name}', expected '{allowed[i]}' "
                f"(the header must be {expected})",
            )
    if len(header) < len(required):
        raise InputError(
            source,
            1,
            required[len(header)],
            f"missing column in the header (the header must be {expected})",
        )


def _width_error(source: str, line: int, row: list[str], header: tuple[str, ...]) -> InputError:
    if len(row) < len(header):
        return InputError(
            source,
            line,
            header[len(row)],
            f"missing value: the row has {len(row)} values, the header {len(header)} "
            f"({','.join(header)})",
        )
    return InputError(
        source,
        line,
        None,
        f"the row has {len(row)} values, the header {len(header)} ({','.join(header)})",
    )


def _first_bad_row(source: str, checks: dict[str, Check]) -> InputError:
    """Walk the file row by row and return the error of its first bad row.

    Called only after the column pass found a problem (its header is known to be good), so it
    always finds one; if it did not, the two passes disagree, which is a bug reported as such.
    """
    rows = _csv_rows(read_text(source), source)
    first = next(rows, None)
    names = tuple(name.strip() for name in first[1]) if first else ()
    for line, row in rows:
        if len(row) != len(names):
            return _width_error(source, line, row, names)
        for name, value in zip(names, row, strict=True):
            check = checks.get(name)
            reason = check(value) if check is not None else None
            if reason is not None:
                return InputError(source, line, name, reason)
    raise AssertionError(f"{source}: the column checks and the row checks disagree")


# --- scalar rules (the slow path) ---------------------------------------------------------


def _check_ts(value: str) -> str | None:
    try:
        number = float(value)
    except ValueError:
        return f"expected a time in seconds, got '{value}'"
    if not math.isfinite(number):
        return f"must be a finite number of seconds, got '{value}'"
    return None


def _check_rssi(value: str) -> str | None:
    try:
        number = float(value)
    except ValueError:
        return f"expected a number (dBm), got '{value}'"
    if not math.isfinite(number):
        return f"must be a finite number (dBm), got '{value}'"
    if number > 0:
        return f"must be <= 0 dBm (a received strength), got {value}"
    return None


def _check_tx_power(value: str) -> str | None:
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return f"expected a number (dBm at 1 m) or nothing, got '{value}'"
    if not math.isfinite(number):
        return f"must be a finite number (dBm at 1 m) or nothing, got '{value}'"
    if not TX_POWER_MIN_DBM <= number <= TX_POWER_MAX_DBM:
        return f"must be between {TX_POWER_MIN_DBM:g} and {TX_POWER_MAX_DBM:g} dBm, got {value}"
    return None


def _check_device(value: str) -> str | None:
    return "must not be empty" if not value.strip() else None


def _check_member(kind: str, known: Sequence[str]) -> Check:
    known_set = frozenset(known)
    listing = ", ".join(known)

    def check(value: str) -> str | None:
        if value in known_set:
            return None
        return f"unknown {kind} '{value}' (store has: {listing})"

    return check


# --- column rules (the fast path) --------------------------------------------------------


def _floats(values: list[str]) -> FloatArray:
    try:
        return np.fromiter(map(float, values), np.float64, len(values))
    except ValueError as exc:
        raise _BadColumnError from exc


def _ts_column(values: list[str]) -> FloatArray:
    ts = _floats(values)
    if not np.isfinite(ts).all():
        raise _BadColumnError
    return ts


def _coded_floats(values: list[str], check: Check) -> FloatArray | None:
    """Convert a column with few distinct values through a table of them (None: too many).

    RSSI comes in whole dB and tx_power takes a handful of values, so a million rows hold a
    few dozen distinct strings: each is checked once with the row rule itself and converted
    once, then looked up. Empty cells (allowed by ``check``) become NaN.
    """
    distinct = set(values)
    if len(distinct) * 4 > len(values):
        return None
    table: dict[str, float] = {}
    for value in distinct:
        if check(value) is not None:
            raise _BadColumnError
        table[value] = float(value) if value else math.nan
    return np.fromiter(map(table.__getitem__, values), np.float64, len(values))


def _rssi_column(values: list[str]) -> FloatArray:
    coded = _coded_floats(values, _check_rssi)
    if coded is not None:
        return coded
    rssi = _floats(values)
    if not np.isfinite(rssi).all() or (rssi > 0).any():
        raise _BadColumnError
    return rssi


def _tx_power_column(values: list[str]) -> FloatArray:
    coded = _coded_floats(values, _check_tx_power)
    if coded is not None:
        return coded
    present = np.fromiter(map(bool, values), bool, len(values))
    numbers = _floats(list(itertools.compress(values, present)))
    if not np.isfinite(numbers).all():
        raise _BadColumnError
    if ((numbers < TX_POWER_MIN_DBM) | (numbers > TX_POWER_MAX_DBM)).any():
        raise _BadColumnError
    out = np.full(len(values), np.nan)
    out[present] = numbers
    return out


def _members(values: list[str], known: Iterable[str]) -> list[str]:
    if not set(values) <= set(known):
        raise _BadColumnError
    return values


def _devices(values: list[str]) -> list[str]:
    if any(not device.strip() for device in set(values)):
        raise _BadColumnError
    return values


# --- readings and samples ----------------------------------------------------------------


def read_readings(path: PathLike, store: Store) -> Readings:
    """Read a readings CSV (``ts,gateway,device,rssi[,tx_power]``) for ``store``.

    Rows stay in file order (they may be slightly out of time order between gateways).

    Raises:
        InputError: The first bad row, naming its line and field: wrong number of values, a
            ``ts`` that is not a finite number, an ``rssi`` that is not a finite number <= 0
            dBm, a ``tx_power`` outside -127..20 dBm, an empty device, or a gateway the store
            does not have.
    """
    gateways = [g.id for g in store.gateways]
    try:
        table = _read_table(path, READINGS_COLUMNS, ("tx_power",))
        cols = table.columns
        with _no_gc():
            ts = _ts_column(cols.pop("ts"))
            gateway = _members(cols["gateway"], gateways)
            device = _devices(cols["device"])
            rssi = _rssi_column(cols.pop("rssi"))
            tx_power = (
                _tx_power_column(cols.pop("tx_power"))
                if "tx_power" in cols
                else np.full(len(gateway), np.nan)
            )
    except _BadColumnError:
        checks: dict[str, Check] = {
            "ts": _check_ts,
            "gateway": _check_member("gateway", gateways),
            "device": _check_device,
            "rssi": _check_rssi,
            "tx_power": _check_tx_power,
        }
        raise _first_bad_row(os.fspath(path), checks) from None
    return Readings(ts, gateway, device, rssi, tx_power)


def read_samples(path: PathLike, store: Store) -> Samples:
    """Read a labeled samples CSV (``ts,gateway,device,rssi,zone``) for ``store``.

    Raises:
        InputError: The first bad row, naming its line and field (the readings rules, and a
            zone the store does not have).
    """
    gateways = [g.id for g in store.gateways]
    zones = [z.id for z in store.zones]
    try:
        table = _read_table(path, SAMPLES_COLUMNS)
        cols = table.columns
        with _no_gc():
            ts = _ts_column(cols.pop("ts"))
            gateway = _members(cols["gateway"], gateways)
            device = _devices(cols["device"])
            rssi = _rssi_column(cols.pop("rssi"))
            zone = _members(cols["zone"], zones)
    except _BadColumnError:
        checks: dict[str, Check] = {
            "ts": _check_ts,
            "gateway": _check_member("gateway", gateways),
            "device": _check_device,
            "rssi": _check_rssi,
            "zone": _check_member("zone", zones),
        }
        raise _first_bad_row(os.fspath(path), checks) from None
    return Samples(ts, gateway, device, rssi, zone)


# --- writing -------------------------------------------------------------------------------


def write_atomic(path: PathLike, write: Callable[[TextIO], None]) -> None:
    """Write a text file so that it appears complete or not at all.

    ``write`` fills a temporary file next to ``path``, which is then renamed over ``path``. On
    any failure the temporary file is removed and ``path`` is left as it was. Missing parent
    directories are created.

    Raises:
        InputError: The file cannot be written (no permission, no space, ...).
    """
    target = Path(os.fspath(path))
    source = os.fspath(path)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise InputError(source, None, None, f"cannot write the file: {_reason(exc)}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(source, None, None, f"cannot write the file: {_reason(exc)}") from exc
        raise


def write_events(path: PathLike, events: Iterable[Event]) -> int:
    """Write events as JSON lines (one `Event.to_json` object per line), atomically.

    Returns:
        The number of events written.

    Raises:
        InputError: The file cannot be written.
    """
    count = 0

    def write(handle: TextIO) -> None:
        nonlocal count
        encode = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
        lines = []
        for event in events:
            lines.append(encode(event.to_json()))
            count += 1
        handle.write("\n".join(lines) + ("\n" if lines else ""))

    write_atomic(path, write)
    return count


def write_json(path: PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (NaN and infinities are refused)."""
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"

    def write(handle: TextIO) -> None:
        handle.write(text)

    write_atomic(path, write)


def read_json(path: PathLike) -> Any:
    """Parse a JSON file.

    Raises:
        InputError: Unreadable file, or invalid JSON (with the line of the problem).
    """
    source = os.fspath(path)
    text = read_text(source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            source, exc.lineno, None, f"invalid JSON: {exc.msg} (column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise InputError(source, None, None, "invalid JSON: nested too deeply") from exc


def load_model(path: PathLike) -> FingerprintModel:
    """Read a calibration model written by `save_model` (``proximity calibrate``).

    Raises:
        InputError: Unreadable file, invalid JSON, or JSON that is not a valid model.
    """
    from .fingerprint import FingerprintModel

    source = os.fspath(path)
    return FingerprintModel.from_json(read_json(source), source)


def save_model(path: PathLike, model: FingerprintModel) -> None:
    """Write a calibration model as JSON, atomically."""
    write_json(path, model.to_json())
