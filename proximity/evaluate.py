"""Scoring contract events against ground truth.

``score(store, truth, events)`` compares the events a zoning method emitted (engine or
baseline) with where every device really was, and returns `Metrics`. Every metric is defined
in the docstring of its `Metrics` field; the definitions are repeated in docs/accuracy.md.

Vocabulary used throughout (all times in seconds, in the readings' clock):

* **truth**: per device, contiguous intervals ``[start, end)`` with a zone id or ``None``
  (nowhere near the store). Adjacent intervals with the same zone are merged first.
* **in store**: a zone whose kind is not ``outside`` (``private`` zones are in the store).
  ``None`` and ``outside`` zones are *not in the store*. A device's life starts not in the
  store, so a device whose first truth interval is in the store makes a true entry at its start.
* **decided label**: at every instant, what the events say about a device, rebuilt from its
  events in order: ``zone_enter z`` sets the label to ``z``; ``zone_exit`` of the current zone
  and ``store_exit`` clear it. A device with an open visit (after ``store_entry``, before
  ``store_exit``) but no zone is labelled `IN_STORE` (this is what a private zone looks like,
  since private zones emit nothing); otherwise it is `NOWHERE`. Before a device's first event
  it is `NOWHERE`. ``zone_dwell`` does not change the label.
* **true entry**: the start of an in-store interval that follows a not-in-store interval (or
  starts the device's truth). A device already in the store when the recording begins (its
  truth starts at the first moment of the whole truth) did not enter while we watched: that
  start is no true entry, and the engine's store_entry for it (before the device's first true
  exit) is not counted against precision either; it is the engine finding who was there.
  **true exit**: the start of a not-in-store interval that follows
  an in-store one (a device whose truth ends in the store never exits).
* **true zone change into z**: the start of an interval in a public (not private) in-store
  zone ``z``; entries count (the entrance is entered too).
* **matching** is one-to-one per device: among all (truth moment, event) pairs within
  ``+-window``, the closest pairs are taken first, each truth moment and each event at most once.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from .errors import InputError
from .readings import Event
from .store import Store, Zone

NOWHERE = "(nowhere)"
"""Decided/true label: not placed by the events, or truth ``None``."""

IN_STORE = "(in store)"
"""Decided label: open visit but no public zone (what a private zone looks like)."""

ZONE_MATCH_S = 10.0
"""Window for pairing a zone_enter with a true zone change, seconds."""


class TruthInterval(Protocol):
    """Where one device really was during ``[start, end)`` seconds (firmware_sim's record)."""

    @property
    def device(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def hardware(self) -> str: ...

    @property
    def zone(self) -> str | None: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


@dataclass(frozen=True)
class Stat:
    """Distribution of a set of values (seconds). Percentiles are linear-interpolated.

    ``p50``/``p95``/``mean`` are None when ``n`` is 0.
    """

    n: int
    p50: float | None
    p95: float | None
    mean: float | None

    @staticmethod
    def of(values: Sequence[float]) -> Stat:
        """The stat of ``values``."""
        if not values:
            return Stat(0, None, None, None)
        arr = np.asarray(values, dtype=float)
        return Stat(
            len(values),
            float(np.percentile(arr, 50)),
            float(np.percentile(arr, 95)),
            float(arr.mean()),
        )


@dataclass(frozen=True)
class Metrics:
    """How well a stream of events matches the truth. Ratios are in [0, 1]; None when undefined.

    Latency dicts are keyed by hardware (``phone``, ``fob``, ``badge``, ...) plus ``all``.
    """

    truth_s: float
    """Total truth time over all devices, seconds."""
    in_store_s: float
    """Truth time spent in in-store zones (private included), seconds."""
    accuracy: float | None
    """Time-weighted zone accuracy over all truth time: the share of time whose decided label
    is correct. Correct means: true public in-store zone ``z`` -> label ``z``; true private zone
    ``p`` -> label `IN_STORE` (or ``p``); true ``None`` or outside zone -> `NOWHERE` or any
    outside zone. Never placing anyone scores well here on a street-heavy scenario, hence:"""
    in_store_accuracy: float | None
    """The headline: the same, restricted to in-store truth time (never placing anyone scores 0;
    placing everyone in the store all the time is caught by ``out_of_store_accuracy``)."""
    out_of_store_accuracy: float | None
    """The same, restricted to not-in-store truth time (passers-by, before/after visits)."""
    confusion: dict[str, dict[str, float]]
    """Seconds of truth label (zone id or `NOWHERE`) x decided label (zone id, `IN_STORE`,
    `NOWHERE`)."""
    true_entries: int
    """Number of true entries."""
    entry_events: int
    """Number of store_entry events (devices absent from the truth included), less the first
    one of each device that was in the store when the recording began."""
    entries_matched: int
    """True entries paired with a store_entry of the same device within ``match_s``."""
    entry_recall: float | None
    """``entries_matched / true_entries``."""
    entry_precision: float | None
    """``entries_matched / entry_events``."""
    passersby: int
    """Devices whose role is ``passerby``."""
    passersby_entered: int
    """Passers-by with at least one store_entry event."""
    passerby_false_entry_rate: float | None
    """``passersby_entered / passersby``."""
    zone_enters: int
    """zone_enter events into public in-store zones."""
    spurious_zone_enters: int
    """Those not paired with a true zone change into the same zone within +-10 s."""
    spurious_per_device_hour: float | None
    """``spurious_zone_enters`` per hour of ``in_store_s``."""
    true_exits: int
    """Number of true exits."""
    exits_matched: int
    """True exits paired with a store_exit within ``exit_match_s``."""
    exit_recall: float | None
    """``exits_matched / true_exits``."""
    exit_any_share: float | None
    """Share of true exits for which the device got any store_exit after the true entry that
    opened the visit and before its next true entry (or ever): did the visit end at all, on
    time or not ("stuck in the last room" scores 0)."""
    entry_latency: dict[str, Stat]
    """Release of the store_entry (``published``, else ``ts``) - true entry ts, matched pairs,
    seconds: how long after she came in the entry was out."""
    exit_latency: dict[str, Stat]
    """Release of the store_exit - true exit ts, matched pairs, seconds (a street exit held
    for ``visit_gap_s`` counts its hold)."""
    zone_latency: dict[str, Stat]
    """Release of the zone_enter - true zone change ts, matched pairs, seconds."""
    true_stays: int
    """True stays in public in-store zones."""
    stays_matched: int
    """True stays overlapped by at least one decided stay of the same zone."""
    dwell_error: Stat
    """Per matched true stay: the decided stay of the same zone with the most overlap (decided
    stays still open at the end are cut at the device's last truth time);
    ``|decided duration - true duration|``, seconds."""
    windows: dict[str, float] = field(default_factory=dict)
    """Matching windows used, seconds: ``entry``, ``exit``, ``zone``."""

    def to_json(self) -> dict[str, Any]:
        """All metrics as JSON-ready plain data (floats rounded to milliseconds / 1e-4)."""
        out: dict[str, Any] = _round(asdict(self))
        return out


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


Segment = tuple[float, float, str]  # start, end, label (seconds)


@dataclass
class _Device:
    role: str
    hardware: str
    truth: list[Segment]  # merged, in order; label is a zone id or NOWHERE


def score(
    store: Store,
    truth: Iterable[TruthInterval],
    events: Iterable[Event],
    *,
    match_s: float = 5.0,
    zone_match_s: float = ZONE_MATCH_S,
    exit_match_s: float | None = None,
) -> Metrics:
    """Score ``events`` against ``truth`` (see `Metrics` for every definition).

    Args:
        store: The store (zone kinds decide what is in the store and what is private).
        truth: Truth intervals of every device, in any order.
        events: Contract events, in any order across devices (per device in emission order).
        match_s: Window for pairing store_entry with a true entry, seconds.
        zone_match_s: Window for pairing zone_enter with a true zone change, seconds.
        exit_match_s: Window for pairing store_exit with a true exit, seconds; default the
            store's exit timeout + 10 s. Use the same value when comparing two methods.

    Raises:
        InputError: A truth interval names a zone the store does not have.
    """
    zones = {z.id: z for z in store.zones}
    if exit_match_s is None:
        exit_match_s = store.engine.exit_timeout_s + 10.0
    devices = _truth_by_device(truth, zones)
    by_device: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        by_device[ev.device].append(ev)
    for evs in by_device.values():
        evs.sort(key=lambda e: e.ts)  # stable: keeps emission order at equal times

    confusion: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    right = {"all": 0.0, "in": 0.0, "out": 0.0}
    total = {"all": 0.0, "in": 0.0, "out": 0.0}
    true_entries = entries_matched = true_exits = exits_matched = exits_any = 0
    passersby = passersby_entered = zone_enters = spurious = 0
    true_stays = stays_matched = 0
    entry_lat: dict[str, list[float]] = defaultdict(list)
    exit_lat: dict[str, list[float]] = defaultdict(list)
    zone_lat: dict[str, list[float]] = defaultdict(list)
    dwell_err: list[float] = []
    public = {z.id for z in store.zones if z.in_store and not z.private}
    begin = min((info.truth[0][0] for info in devices.values() if info.truth), default=0.0)
    censored_entries = 0

    for device, info in devices.items():
        evs = by_device.get(device, [])
        decided = _decided(evs, zones)
        # latency is measured to the release of the event (a held move is released after its
        # hold), matching to its time stamp
        out_at = {(e.type, e.zone, e.ts): e.ts if e.published is None else e.published for e in evs}
        # --- time-weighted accuracy and confusion ---
        for t0, t1, true_label, label in _overlay(info.truth, decided):
            dt = t1 - t0
            confusion[true_label][label] += dt
            where = "in" if _in_store(true_label, zones) else "out"
            ok = _correct(true_label, label, zones)
            for key in ("all", where):
                total[key] += dt
                right[key] += dt if ok else 0.0
        # --- entries ---
        entries = [s for i, s in enumerate(info.truth) if _is_entry(info.truth, i, zones)]
        exits = [s for i, s in enumerate(info.truth) if _is_exit(info.truth, i, zones)]
        entry_ts = [e.ts for e in evs if e.type == "store_entry"]
        if entries and entries[0][0] <= begin:  # inside before the recording began
            entries = entries[1:]
            first_exit = exits[0][0] if exits else math.inf
            found = [t for t in entry_ts if t < first_exit]
            censored_entries += len(found[:1])
            entry_ts = [t for t in entry_ts if t >= first_exit] + found[1:]
        pairs = _match([s[0] for s in entries], entry_ts, match_s)
        true_entries += len(entries)
        entries_matched += len(pairs)
        for i, j in pairs:
            entry_lat[info.hardware].append(
                out_at[("store_entry", None, entry_ts[j])] - entries[i][0]
            )
        if info.role == "passerby":
            passersby += 1
            passersby_entered += bool(entry_ts)
        # --- exits ---
        exit_ts = [e.ts for e in evs if e.type == "store_exit"]
        pairs = _match([s[0] for s in exits], exit_ts, exit_match_s)
        true_exits += len(exits)
        exits_matched += len(pairs)
        for i, j in pairs:
            exit_lat[info.hardware].append(out_at[("store_exit", None, exit_ts[j])] - exits[i][0])
        for seg in exits:
            since = max((s[0] for s in entries if s[0] < seg[0]), default=-math.inf)
            until = min((s[0] for s in entries if s[0] > seg[0]), default=math.inf)
            exits_any += any(since < t < until for t in exit_ts)
        # --- zone changes ---
        for zone_id in public:
            changes = [s[0] for s in info.truth if s[2] == zone_id]
            enters = [e.ts for e in evs if e.type == "zone_enter" and e.zone == zone_id]
            pairs = _match(changes, enters, zone_match_s)
            zone_enters += len(enters)
            spurious += len(enters) - len(pairs)
            for i, j in pairs:
                zone_lat[info.hardware].append(
                    out_at[("zone_enter", zone_id, enters[j])] - changes[i]
                )
        # --- dwell ---
        end = info.truth[-1][1]
        stays = [(s, min(e, end), z) for s, e, z in decided if z in public and s < end]
        for s0, s1, z in info.truth:
            if z not in public:
                continue
            true_stays += 1
            best: Segment | None = None
            best_overlap = 0.0
            for stay in stays:
                overlap = min(s1, stay[1]) - max(s0, stay[0])
                if stay[2] == z and overlap > best_overlap:
                    best, best_overlap = stay, overlap
            if best is not None:
                stays_matched += 1
                dwell_err.append(abs((best[1] - best[0]) - (s1 - s0)))

    # events of devices the truth does not know are all unpaired
    for device, evs in by_device.items():
        if device not in devices:
            extra = sum(e.type == "zone_enter" and e.zone in public for e in evs)
            zone_enters += extra
            spurious += extra
    entry_events = (
        sum(e.type == "store_entry" for evs in by_device.values() for e in evs) - censored_entries
    )

    in_hours = total["in"] / 3600.0
    return Metrics(
        truth_s=total["all"],
        in_store_s=total["in"],
        accuracy=_ratio(right["all"], total["all"]),
        in_store_accuracy=_ratio(right["in"], total["in"]),
        out_of_store_accuracy=_ratio(right["out"], total["out"]),
        confusion={k: dict(v) for k, v in confusion.items()},
        true_entries=true_entries,
        entry_events=entry_events,
        entries_matched=entries_matched,
        entry_recall=_ratio(entries_matched, true_entries),
        entry_precision=_ratio(entries_matched, entry_events),
        passersby=passersby,
        passersby_entered=passersby_entered,
        passerby_false_entry_rate=_ratio(passersby_entered, passersby),
        zone_enters=zone_enters,
        spurious_zone_enters=spurious,
        spurious_per_device_hour=spurious / in_hours if in_hours > 0 else None,
        true_exits=true_exits,
        exits_matched=exits_matched,
        exit_recall=_ratio(exits_matched, true_exits),
        exit_any_share=_ratio(exits_any, true_exits),
        entry_latency=_by_hardware(entry_lat),
        exit_latency=_by_hardware(exit_lat),
        zone_latency=_by_hardware(zone_lat),
        true_stays=true_stays,
        stays_matched=stays_matched,
        dwell_error=Stat.of(dwell_err),
        windows={"entry": match_s, "exit": exit_match_s, "zone": zone_match_s},
    )


def decided_segments(store: Store, events: Iterable[Event], device: str) -> list[Segment]:
    """The decided label of ``device`` over time, as ``(start, end, label)`` segments.

    The first segment starts at ``-inf`` and the last ends at ``+inf`` (see the module
    docstring for the labels).
    """
    zones = {z.id: z for z in store.zones}
    evs = sorted((e for e in events if e.device == device), key=lambda e: e.ts)
    return _decided(evs, zones)


def true_segments(truth: Iterable[TruthInterval], device: str) -> list[Segment]:
    """Merged truth segments of ``device``: ``(start, end, zone id or NOWHERE)``, seconds."""
    items = sorted((t for t in truth if t.device == device), key=lambda t: t.start)
    return _merge([(t.start, t.end, t.zone if t.zone is not None else NOWHERE) for t in items])


def pick_device(store: Store, truth: Iterable[TruthInterval]) -> str | None:
    """A shopper worth plotting: a visit touching several public in-store zones.

    Among shoppers who were in the store, a whole visit (a true entry and a true exit) comes
    first, then the most distinct public in-store zones (3 counts as "several": more adds
    nothing), then the shortest in-store time (a readable plot), then the device id. None when
    no shopper was in the store.
    """
    zones = {z.id: z for z in store.zones}
    public = {z.id for z in store.zones if z.in_store and not z.private}
    best: tuple[bool, int, float, str] | None = None
    for device, info in _truth_by_device(truth, zones).items():
        if info.role != "shopper":
            continue
        touched = {z for _, _, z in info.truth if z in public}
        inside = sum(e - s for s, e, z in info.truth if _in_store(z, zones))
        whole = any(_is_exit(info.truth, i, zones) for i in range(len(info.truth)))
        whole = whole and not _in_store(info.truth[0][2], zones)
        key = (not whole, -min(len(touched), 3), inside, device)
        if inside > 0 and (best is None or key < best):
            best = key
    return None if best is None else best[3]


def _truth_by_device(truth: Iterable[TruthInterval], zones: dict[str, Zone]) -> dict[str, _Device]:
    raw: dict[str, list[TruthInterval]] = defaultdict(list)
    for item in truth:
        if item.zone is not None and item.zone not in zones:
            raise InputError(
                "truth", None, "zone", f"device '{item.device}': unknown zone '{item.zone}'"
            )
        raw[item.device].append(item)
    out: dict[str, _Device] = {}
    for device, items in raw.items():
        items.sort(key=lambda t: t.start)
        segs = _merge([(t.start, t.end, t.zone if t.zone is not None else NOWHERE) for t in items])
        if segs:
            out[device] = _Device(items[0].role, items[0].hardware, segs)
    return out


def _merge(segs: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for s, e, label in segs:
        if e <= s:
            continue
        if out and out[-1][2] == label and out[-1][1] >= s:
            out[-1] = (out[-1][0], max(out[-1][1], e), label)
        else:
            out.append((s, e, label))
    return out


def _decided(events: Sequence[Event], zones: dict[str, Zone]) -> list[Segment]:
    """Decided label segments from one device's events (in order)."""
    points: list[tuple[float, str]] = []
    zone: str | None = None
    visit = False
    for ev in events:
        if ev.type == "store_entry":
            visit = True
        elif ev.type == "store_exit":
            visit = False
            zone = None
        elif ev.type == "zone_enter":
            zone = ev.zone
        elif ev.type == "zone_exit" and ev.zone == zone:
            zone = None
        label = zone if zone is not None else (IN_STORE if visit else NOWHERE)
        points.append((ev.ts, label))
    segs: list[Segment] = []
    start, label = -math.inf, NOWHERE
    for ts, new in points:
        if new == label:
            continue
        if ts > start:
            segs.append((start, ts, label))
            start = ts
        label = new
    segs.append((start, math.inf, label))
    return _merge(segs)


def _overlay(truth: list[Segment], decided: list[Segment]) -> list[tuple[float, float, str, str]]:
    """Pieces ``(start, end, true label, decided label)`` covering the truth time."""
    out: list[tuple[float, float, str, str]] = []
    j = 0
    for t0, t1, true_label in truth:
        while j < len(decided) and decided[j][1] <= t0:
            j += 1
        k = j
        while k < len(decided) and decided[k][0] < t1:
            s, e = max(t0, decided[k][0]), min(t1, decided[k][1])
            if e > s:
                out.append((s, e, true_label, decided[k][2]))
            k += 1
    return out


def _in_store(label: str | None, zones: dict[str, Zone]) -> bool:
    zone = zones.get(label) if label is not None else None
    return zone is not None and zone.in_store


def _correct(true_label: str, label: str, zones: dict[str, Zone]) -> bool:
    zone = zones.get(true_label)
    if zone is None or not zone.in_store:
        decided = zones.get(label)
        return label == NOWHERE or (decided is not None and not decided.in_store)
    if zone.private:
        return label in (IN_STORE, zone.id)
    return label == zone.id


def _is_entry(truth: list[Segment], i: int, zones: dict[str, Zone]) -> bool:
    return _in_store(truth[i][2], zones) and (i == 0 or not _in_store(truth[i - 1][2], zones))


def _is_exit(truth: list[Segment], i: int, zones: dict[str, Zone]) -> bool:
    return i > 0 and not _in_store(truth[i][2], zones) and _in_store(truth[i - 1][2], zones)


def _match(
    truth_ts: Sequence[float], event_ts: Sequence[float], window: float
) -> list[tuple[int, int]]:
    """One-to-one pairs (truth index, event index) with ``|event - truth| <= window``.

    Closest first: every candidate pair in the window is considered in order of ``|dt|`` (then
    time), and taken when neither side is paired yet. A flapping method's stray event just
    before the real decision therefore does not steal the pairing (nor make latency look
    negative).
    """
    candidates: list[tuple[float, int, int]] = []
    lo = 0
    for i, t in enumerate(truth_ts):
        while lo < len(event_ts) and event_ts[lo] < t - window:
            lo += 1
        j = lo
        while j < len(event_ts) and event_ts[j] <= t + window:
            candidates.append((abs(event_ts[j] - t), i, j))
            j += 1
    candidates.sort()
    used_t: set[int] = set()
    used_e: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for _, i, j in candidates:
        if i not in used_t and j not in used_e:
            used_t.add(i)
            used_e.add(j)
            pairs.append((i, j))
    pairs.sort()
    return pairs


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _by_hardware(values: dict[str, list[float]]) -> dict[str, Stat]:
    out = {hw: Stat.of(v) for hw, v in sorted(values.items())}
    out["all"] = Stat.of([x for v in values.values() for x in v])
    return out
