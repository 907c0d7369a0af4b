"""Scenario files: what the simulator simulates (store, radio, people, hardware).

A scenario is YAML (see docs/simulator.md). Parsing is strict: unknown keys, wrong types and
impossible values are `proximity.errors.InputError`s naming file, line and field. The store is
either a path to a store file (relative to the scenario) or an inline mapping in the store-file
schema.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from proximity import yamldoc
from proximity.errors import InputError
from proximity.store import Store, parse_store

Point = tuple[float, float]

HARDWARE_KINDS = ("phone", "fob", "badge", "foreign")
"""Device kinds: ``phone`` runs the retailer's app (rotating token), ``fob`` and ``badge`` are
iBeacons, ``foreign`` is anyone else's device (Apple/Google/Microsoft adverts the gateway must
drop; it still occupies the air and collides)."""

ROLES = ("shopper", "passerby", "staff")


@dataclass(frozen=True)
class Wall:
    """A straight wall; a radio path crossing it loses ``loss_db`` (dB)."""

    start: Point
    end: Point
    loss_db: float
    name: str | None = None


@dataclass(frozen=True)
class Layout:
    """Where people come from.

    Attributes:
        door: The door on the shopfront (metres). The store is at y > door y, the street below.
        sidewalk_y: (low, high) band of the sidewalk, metres.
        sidewalk_x: (west, east) ends of the sidewalk, metres; people appear and vanish there.
        fixture_margin_m: How far inside a zone's edges people stop to browse, metres. Zone
            boundaries are usually drawn along aisles, and shoppers dwell at fixtures, not in
            the aisle; 0.3 puts browsing spots anywhere but against a wall.
    """

    door: Point
    sidewalk_y: tuple[float, float]
    sidewalk_x: tuple[float, float]
    fixture_margin_m: float = 0.3


@dataclass(frozen=True)
class Radio:
    """The hidden radio truth (FIELD_NOTES "RSSI model for the simulator"). dB and dBm."""

    p1m_dbm: float = -59.0
    path_loss_n: float = 2.2
    shadow_sigma_db: float = 4.0
    shadow_corr_m: float = 2.0
    rician_k_db: float = 6.0
    channel_sd_db: float = 3.0
    null_prob: float = 0.05
    null_db: tuple[float, float] = (10.0, 20.0)
    body_db: float = 10.0
    body_angle_deg: float = 120.0
    device_sd_db: float = 5.0
    gateway_sd_db: float = 3.0
    gateway_offsets_db: dict[str, float] = field(default_factory=dict)
    floor_dbm: float = -95.0
    host_drop: float = 0.05
    height_m: float = 1.3
    airtime_us: float = 376.0


@dataclass(frozen=True)
class Hardware:
    """One kind of device.

    Attributes:
        interval_s: Advertising interval, seconds (advDelay 0-10 ms is added per event).
        tx_power: Nominal RSSI at 1 m the frame carries, dBm.
        offset_db: Mean true transmit offset of this kind (dB, hidden).
        sd_db: Spread of the true offset between units of this kind (dB, hidden).
    """

    interval_s: float
    tx_power: int
    offset_db: float
    sd_db: float


@dataclass(frozen=True)
class Shoppers:
    """Shoppers who enter the store (app phones or fobs)."""

    per_hour: float = 60.0
    initial: int = 0
    hardware: dict[str, float] = field(default_factory=lambda: {"phone": 0.7, "fob": 0.3})
    visit_median_s: float = 900.0
    visit_sigma: float = 0.7
    dwell_median_s: float = 60.0
    dwell_sigma: float = 0.9
    zone_weights: dict[str, float] = field(default_factory=dict)
    speed_mps: tuple[float, float] = (0.5, 1.5)


@dataclass(frozen=True)
class Passersby:
    """People walking along the sidewalk without entering."""

    per_hour: float = 200.0
    hardware: dict[str, float] = field(default_factory=lambda: {"phone": 0.8, "fob": 0.2})
    speed_mps: tuple[float, float] = (0.8, 1.5)
    pause_prob: float = 0.15
    pause_s: tuple[float, float] = (3.0, 20.0)


@dataclass(frozen=True)
class Staff:
    """Staff in the store for the whole duration."""

    count: int = 0
    hardware: dict[str, float] = field(default_factory=lambda: {"badge": 1.0})
    dwell_median_s: float = 120.0
    zone_weights: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Calibration:
    """A surveyor walking slowly inside every zone (``per_zone_s`` seconds each)."""

    per_zone_s: float
    speed_mps: float = 0.5


@dataclass(frozen=True)
class Scenario:
    """A validated scenario."""

    name: str
    seed: int
    duration_s: float
    description: str
    store: Store
    layout: Layout
    walls: tuple[Wall, ...]
    radio: Radio
    shoppers: Shoppers
    passersby: Passersby
    staff: Staff
    hardware: dict[str, Hardware]
    calibration: Calibration | None
    source: str = "<scenario>"


_DEFAULT_HARDWARE = {
    "phone": Hardware(interval_s=1.0, tx_power=-59, offset_db=0.0, sd_db=5.0),
    "fob": Hardware(interval_s=0.1, tx_power=-59, offset_db=0.0, sd_db=1.5),
    "badge": Hardware(interval_s=0.25, tx_power=-59, offset_db=0.0, sd_db=1.5),
    "foreign": Hardware(interval_s=0.5, tx_power=-59, offset_db=0.0, sd_db=5.0),
}

_TOP = (
    "scenario",
    "store",
    "layout",
    "walls",
    "radio",
    "population",
    "hardware",
    "calibration",
)


def load_scenario(path: str) -> Scenario:
    """Read and validate the scenario file at ``path``.

    Raises:
        InputError: The file cannot be read or anything in it is wrong (file, line, field).
    """
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise InputError(path, None, None, f"cannot read scenario: {exc.strerror}") from exc
    return parse_scenario(text, path, base_dir=os.path.dirname(path) or ".")


def parse_scenario(text: str, source: str, base_dir: str = ".") -> Scenario:
    """Parse scenario ``text``; a store path is resolved against ``base_dir``.

    Raises:
        InputError: Anything wrong, with line and field.
    """
    doc = yamldoc.parse(text, source)
    if doc.data is None:
        raise InputError(source, None, None, "the scenario file is empty")
    top = doc.mapping((), _TOP, required=("scenario", "store", "layout"))
    meta = doc.mapping(("scenario",), ("name", "seed", "duration_s", "description"), ("name",))
    name = doc.string(("scenario", "name"))
    seed = doc.integer(("scenario", "seed"), minimum=0) if "seed" in meta else 0
    duration = (
        doc.number(("scenario", "duration_s"), minimum=1, maximum=86400)
        if "duration_s" in meta
        else 1800.0
    )
    description = str(meta["description"]).strip() if meta.get("description") is not None else ""
    store = _store(doc, base_dir)
    layout = _layout(doc)
    walls = (
        tuple(_wall(doc, i) for i in range(len(doc.sequence(("walls",))))) if "walls" in top else ()
    )
    radio = _radio(doc, store) if top.get("radio") is not None else Radio()
    hardware = _hardware(doc, radio.device_sd_db, "hardware" in top)
    shoppers, passersby, staff = (
        _population(doc, store)
        if top.get("population") is not None
        else (
            Shoppers(),
            Passersby(),
            Staff(),
        )
    )
    calibration = _calibration(doc) if top.get("calibration") is not None else None
    return Scenario(
        name=name,
        seed=seed,
        duration_s=duration,
        description=description,
        store=store,
        layout=layout,
        walls=walls,
        radio=radio,
        shoppers=shoppers,
        passersby=passersby,
        staff=staff,
        hardware=hardware,
        calibration=calibration,
        source=source,
    )


# --- sections -------------------------------------------------------------------------------


def _store(doc: yamldoc.Doc, base_dir: str) -> Store:
    value = doc.get(("store",))
    if isinstance(value, str):
        path = os.path.normpath(value if os.path.isabs(value) else os.path.join(base_dir, value))
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise doc.error(
                ("store",), f"cannot read store file '{value}': {exc.strerror}"
            ) from exc
        store = parse_store(text, path)
    elif isinstance(value, dict):
        text = yaml.safe_dump(value, sort_keys=False)
        try:
            store = parse_store(text, doc.source)
        except InputError as exc:
            inner = _parse_path(exc.field) if exc.field else ()
            raise doc.error(("store", *inner), exc.message) from exc
    else:
        raise doc.error(("store",), "expected a store file path or an inline store mapping")
    for i, gw in enumerate(store.gateways):
        if gw.position is None:
            raise doc.error(
                ("store",), f"gateway '{gw.id}' (#{i + 1}) needs a position to be simulated"
            )
    for zone in store.zones:
        if zone.polygon is None:
            raise doc.error(("store",), f"zone '{zone.id}' needs a polygon to be simulated")
    return store


def _parse_path(text: str) -> yamldoc.Path:
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", text):
        parts.append(int(index) if index else name)
    return tuple(parts)


def _range(
    doc: yamldoc.Doc, path: yamldoc.Path, minimum: float | None = None
) -> tuple[float, float]:
    items = doc.sequence(path)
    if len(items) != 2:
        raise doc.error(path, f"expected [low, high], got {len(items)} values")
    low = doc.number((*path, 0), minimum=minimum)
    high = doc.number((*path, 1), minimum=minimum)
    if high < low:
        raise doc.error(path, f"low {low:g} is above high {high:g}")
    return (low, high)


def _layout(doc: yamldoc.Doc) -> Layout:
    raw = doc.mapping(
        ("layout",), ("door", "sidewalk", "fixture_margin_m"), required=("door", "sidewalk")
    )
    door = doc.point(("layout", "door"))
    doc.mapping(("layout", "sidewalk"), ("x", "y"), required=("x", "y"))
    sx = _range(doc, ("layout", "sidewalk", "x"))
    sy = _range(doc, ("layout", "sidewalk", "y"))
    if not sx[0] < door[0] < sx[1]:
        raise doc.error(("layout", "sidewalk", "x"), f"must contain the door's x ({door[0]:g})")
    if not sy[1] <= door[1]:
        raise doc.error(
            ("layout", "sidewalk", "y"), "the sidewalk must lie below the door (y < door y)"
        )
    margin = (
        doc.number(("layout", "fixture_margin_m"), minimum=0, maximum=10)
        if "fixture_margin_m" in raw
        else Layout.fixture_margin_m
    )
    return Layout(door=door, sidewalk_y=sy, sidewalk_x=sx, fixture_margin_m=margin)


def _wall(doc: yamldoc.Doc, i: int) -> Wall:
    path: yamldoc.Path = ("walls", i)
    raw = doc.mapping(path, ("from", "to", "loss_db", "name"), required=("from", "to", "loss_db"))
    return Wall(
        start=doc.point((*path, "from")),
        end=doc.point((*path, "to")),
        loss_db=doc.number((*path, "loss_db"), minimum=0, maximum=60),
        name=doc.string((*path, "name")) if raw.get("name") is not None else None,
    )


_RADIO_BOUNDS: dict[str, tuple[float, float]] = {
    "p1m_dbm": (-100, 0),
    "path_loss_n": (1, 6),
    "shadow_sigma_db": (0, 20),
    "shadow_corr_m": (0.1, 20),
    "rician_k_db": (-20, 40),
    "channel_sd_db": (0, 20),
    "null_prob": (0, 1),
    "body_db": (0, 40),
    "body_angle_deg": (0, 180),
    "device_sd_db": (0, 20),
    "gateway_sd_db": (0, 20),
    "floor_dbm": (-130, -30),
    "host_drop": (0, 0.99),
    "height_m": (0, 10),
    "airtime_us": (0, 10000),
}


def _radio(doc: yamldoc.Doc, store: Store) -> Radio:
    raw = doc.mapping(("radio",), (*_RADIO_BOUNDS, "null_db", "gateway_offsets_db"))
    values: dict[str, Any] = {}
    for key, (low, high) in _RADIO_BOUNDS.items():
        if key in raw:
            values[key] = doc.number(("radio", key), minimum=low, maximum=high)
    if "null_db" in raw:
        values["null_db"] = _range(doc, ("radio", "null_db"), minimum=0)
    if raw.get("gateway_offsets_db") is not None:
        ids = [g.id for g in store.gateways]
        offsets = doc.mapping(("radio", "gateway_offsets_db"), ids)
        values["gateway_offsets_db"] = {
            key: doc.number(("radio", "gateway_offsets_db", key), minimum=-40, maximum=40)
            for key in offsets
        }
    return Radio(**values)


def _hardware(doc: yamldoc.Doc, device_sd_db: float, present: bool) -> dict[str, Hardware]:
    """Hardware kinds; phones' and foreign devices' spread defaults to radio.device_sd_db."""
    out = dict(_DEFAULT_HARDWARE)
    for kind in ("phone", "foreign"):
        out[kind] = dataclasses.replace(out[kind], sd_db=device_sd_db)
    if not present or doc.get(("hardware",)) is None:
        return out
    raw = doc.mapping(("hardware",), HARDWARE_KINDS)
    for kind in raw:
        path: yamldoc.Path = ("hardware", kind)
        spec = doc.mapping(path, ("interval_s", "tx_power", "offset_db", "sd_db"))
        base = out[kind]
        out[kind] = Hardware(
            interval_s=(
                doc.number((*path, "interval_s"), minimum=0.02, maximum=10.24)
                if "interval_s" in spec
                else base.interval_s
            ),
            tx_power=(
                int(doc.number((*path, "tx_power"), minimum=-100, maximum=0))
                if "tx_power" in spec
                else base.tx_power
            ),
            offset_db=(
                doc.number((*path, "offset_db"), minimum=-40, maximum=40)
                if "offset_db" in spec
                else base.offset_db
            ),
            sd_db=doc.number((*path, "sd_db"), minimum=0, maximum=20)
            if "sd_db" in spec
            else base.sd_db,
        )
    return out


def _mix(doc: yamldoc.Doc, path: yamldoc.Path, allowed: tuple[str, ...]) -> dict[str, float]:
    value = doc.get(path)
    if isinstance(value, str):
        if value not in allowed:
            raise doc.error(path, f"unknown hardware '{value}' (one of {', '.join(allowed)})")
        return {value: 1.0}
    raw = doc.mapping(path, allowed)
    mix = {key: doc.number((*path, key), minimum=0) for key in raw}
    if sum(mix.values()) <= 0:
        raise doc.error(path, "the hardware shares must add up to more than 0")
    return mix


def _weights(doc: yamldoc.Doc, path: yamldoc.Path, store: Store) -> dict[str, float]:
    ids = [z.id for z in store.zones if z.in_store]
    raw = doc.mapping(path, ids)
    return {key: doc.number((*path, key), minimum=0) for key in raw}


def _population(doc: yamldoc.Doc, store: Store) -> tuple[Shoppers, Passersby, Staff]:
    top = doc.mapping(("population",), ("shoppers", "passersby", "staff"))
    shoppers, passersby, staff = Shoppers(), Passersby(), Staff()
    if top.get("shoppers") is not None:
        p: yamldoc.Path = ("population", "shoppers")
        raw = doc.mapping(
            p,
            (
                "per_hour",
                "initial",
                "hardware",
                "visit_median_s",
                "visit_sigma",
                "dwell_median_s",
                "dwell_sigma",
                "zone_weights",
                "speed_mps",
            ),
        )
        shoppers = Shoppers(
            per_hour=doc.number((*p, "per_hour"), minimum=0, maximum=100000)
            if "per_hour" in raw
            else shoppers.per_hour,
            initial=doc.integer((*p, "initial"), minimum=0) if "initial" in raw else 0,
            hardware=_mix(doc, (*p, "hardware"), HARDWARE_KINDS)
            if "hardware" in raw
            else shoppers.hardware,
            visit_median_s=doc.number((*p, "visit_median_s"), minimum=10)
            if "visit_median_s" in raw
            else shoppers.visit_median_s,
            visit_sigma=doc.number((*p, "visit_sigma"), minimum=0, maximum=3)
            if "visit_sigma" in raw
            else shoppers.visit_sigma,
            dwell_median_s=doc.number((*p, "dwell_median_s"), minimum=1)
            if "dwell_median_s" in raw
            else shoppers.dwell_median_s,
            dwell_sigma=doc.number((*p, "dwell_sigma"), minimum=0, maximum=3)
            if "dwell_sigma" in raw
            else shoppers.dwell_sigma,
            zone_weights=_weights(doc, (*p, "zone_weights"), store)
            if raw.get("zone_weights") is not None
            else {},
            speed_mps=_range(doc, (*p, "speed_mps"), minimum=0.1)
            if "speed_mps" in raw
            else shoppers.speed_mps,
        )
    if top.get("passersby") is not None:
        p = ("population", "passersby")
        raw = doc.mapping(p, ("per_hour", "hardware", "speed_mps", "pause_prob", "pause_s"))
        passersby = Passersby(
            per_hour=doc.number((*p, "per_hour"), minimum=0, maximum=100000)
            if "per_hour" in raw
            else passersby.per_hour,
            hardware=_mix(doc, (*p, "hardware"), HARDWARE_KINDS)
            if "hardware" in raw
            else passersby.hardware,
            speed_mps=_range(doc, (*p, "speed_mps"), minimum=0.1)
            if "speed_mps" in raw
            else passersby.speed_mps,
            pause_prob=doc.number((*p, "pause_prob"), minimum=0, maximum=1)
            if "pause_prob" in raw
            else passersby.pause_prob,
            pause_s=_range(doc, (*p, "pause_s"), minimum=0)
            if "pause_s" in raw
            else passersby.pause_s,
        )
    if top.get("staff") is not None:
        p = ("population", "staff")
        raw = doc.mapping(p, ("count", "hardware", "dwell_median_s", "zone_weights"))
        staff = Staff(
            count=doc.integer((*p, "count"), minimum=0) if "count" in raw else 0,
            hardware=_mix(doc, (*p, "hardware"), HARDWARE_KINDS)
            if "hardware" in raw
            else staff.hardware,
            dwell_median_s=doc.number((*p, "dwell_median_s"), minimum=1)
            if "dwell_median_s" in raw
            else staff.dwell_median_s,
            zone_weights=_weights(doc, (*p, "zone_weights"), store)
            if raw.get("zone_weights") is not None
            else {},
        )
    return shoppers, passersby, staff


def _calibration(doc: yamldoc.Doc) -> Calibration:
    raw = doc.mapping(("calibration",), ("per_zone_s", "speed_mps"), required=("per_zone_s",))
    return Calibration(
        per_zone_s=doc.number(("calibration", "per_zone_s"), minimum=1, maximum=3600),
        speed_mps=doc.number(("calibration", "speed_mps"), minimum=0.1, maximum=3)
        if "speed_mps" in raw
        else 0.5,
    )
