"""The store file (contract): gateways, zones and engine tuning.

``parse_store(text, source)`` validates a YAML store file and returns a `Store`. Unknown keys,
wrong types, duplicate ids and impossible geometry are `InputError`s naming the line and field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from . import yamldoc
from .errors import InputError
from .tuning import EngineConfig, config_keys

ZONE_KINDS = ("outside", "entrance", "sales", "checkout", "pickup", "private")
"""Zone kinds. ``outside`` is not in the store; ``private`` produces no events."""

Point = tuple[float, float]


@dataclass(frozen=True)
class Gateway:
    """A receiving gateway: ``position`` in metres, ``rx_offset_db`` its receive offset, dB."""

    id: str
    position: Point | None = None
    rx_offset_db: float = 0.0
    name: str | None = None


@dataclass(frozen=True)
class Zone:
    """A zone of the floor plan. ``dwell_s`` is the zone_dwell threshold (None: no dwell event)."""

    id: str
    kind: str
    polygon: tuple[Point, ...] | None = None
    dwell_s: float | None = None
    name: str | None = None

    @property
    def in_store(self) -> bool:
        """Whether being in this zone means being in the store."""
        return self.kind != "outside"

    @property
    def private(self) -> bool:
        """Whether this zone must produce no events."""
        return self.kind == "private"


@dataclass(frozen=True)
class Store:
    """A validated store file."""

    id: str
    name: str
    gateways: tuple[Gateway, ...]
    zones: tuple[Zone, ...]
    engine: EngineConfig = field(default_factory=EngineConfig)
    timezone: str | None = None

    def gateway_index(self) -> dict[str, int]:
        """Gateway id -> column index used by the engine's arrays."""
        return {g.id: i for i, g in enumerate(self.gateways)}

    def zone_index(self) -> dict[str, int]:
        """Zone id -> index used by the engine's arrays."""
        return {z.id: i for i, z in enumerate(self.zones)}

    @property
    def geometric(self) -> bool:
        """Whether every gateway has a position and every zone a polygon."""
        return all(g.position is not None for g in self.gateways) and all(
            z.polygon is not None for z in self.zones
        )


_TOP = ("store", "gateways", "zones", "engine")
_STORE = ("id", "name", "timezone")
_GATEWAY = ("id", "position", "rx_offset_db", "name")
_ZONE = ("id", "kind", "polygon", "dwell_s", "name")


def parse_store(text: str, source: str) -> Store:
    """Parse and validate a store file.

    Args:
        text: The YAML text.
        source: File name for error messages.

    Raises:
        InputError: Anything wrong with the file, with line and field.
    """
    doc = yamldoc.parse(text, source)
    if doc.data is None:
        raise InputError(source, None, None, "the store file is empty")
    top = doc.mapping((), _TOP, required=("store", "gateways", "zones"))
    meta = doc.mapping(("store",), _STORE, required=("id",))
    store_id = doc.string(("store", "id"))
    name = doc.string(("store", "name")) if "name" in meta else store_id
    timezone = doc.string(("store", "timezone")) if meta.get("timezone") is not None else None

    gateways = [_gateway(doc, i) for i in range(len(doc.sequence(("gateways",))))]
    if not gateways:
        raise doc.error(("gateways",), "a store needs at least one gateway")
    _unique(doc, "gateways", [g.id for g in gateways])

    zones = [_zone(doc, i) for i in range(len(doc.sequence(("zones",))))]
    if not zones:
        raise doc.error(("zones",), "a store needs at least one zone")
    _unique(doc, "zones", [z.id for z in zones])
    if not any(z.in_store for z in zones):
        raise doc.error(
            ("zones",), "at least one zone must be inside the store (kind not 'outside')"
        )

    engine = parse_engine(doc, ("engine",)) if top.get("engine") is not None else EngineConfig()
    return Store(
        id=store_id,
        name=name,
        gateways=tuple(gateways),
        zones=tuple(zones),
        engine=engine,
        timezone=timezone,
    )


def parse_engine(doc: yamldoc.Doc, path: yamldoc.Path) -> EngineConfig:
    """Engine overrides at ``path``: every key must be a known tunable of the right type."""
    raw = doc.mapping(path, config_keys())
    defaults = EngineConfig()
    values: dict[str, Any] = {}
    for key in raw:
        default = getattr(defaults, key)
        if isinstance(default, int) and not isinstance(default, bool):
            values[key] = doc.integer((*path, key), minimum=0)
        elif key in ("p1m_dbm", "floor_dbm"):
            values[key] = doc.number((*path, key), minimum=-130, maximum=20)
        elif key in ("enter_prob",):
            values[key] = doc.number((*path, key), minimum=0.5, maximum=0.99)
        elif key in ("offset_cross_weight",):
            values[key] = doc.number((*path, key), minimum=0, maximum=1)
        else:
            values[key] = doc.number((*path, key), minimum=0)
            if values[key] == 0 and key in ("tick_s", "smooth_tau_s", "sigma_db", "grid_m"):
                raise doc.error((*path, key), "must be > 0")
    return dataclasses.replace(defaults, **values)


def _gateway(doc: yamldoc.Doc, i: int) -> Gateway:
    path: yamldoc.Path = ("gateways", i)
    raw = doc.mapping(path, _GATEWAY, required=("id",))
    return Gateway(
        id=doc.string((*path, "id")),
        position=doc.point((*path, "position")) if raw.get("position") is not None else None,
        rx_offset_db=(
            doc.number((*path, "rx_offset_db"), minimum=-40, maximum=40)
            if raw.get("rx_offset_db") is not None
            else 0.0
        ),
        name=doc.string((*path, "name")) if raw.get("name") is not None else None,
    )


def _zone(doc: yamldoc.Doc, i: int) -> Zone:
    path: yamldoc.Path = ("zones", i)
    raw = doc.mapping(path, _ZONE, required=("id", "kind"))
    kind = doc.string((*path, "kind"))
    if kind not in ZONE_KINDS:
        raise doc.error(
            (*path, "kind"), f"unknown zone kind '{kind}' (one of {', '.join(ZONE_KINDS)})"
        )
    polygon: tuple[Point, ...] | None = None
    if raw.get("polygon") is not None:
        points = doc.sequence((*path, "polygon"))
        polygon = tuple(doc.point((*path, "polygon", j)) for j in range(len(points)))
        if len(polygon) < 3:
            raise doc.error((*path, "polygon"), "a polygon needs at least 3 points")
        if abs(polygon_area(polygon)) < 1e-6:
            raise doc.error((*path, "polygon"), "the polygon has no area")
    dwell = raw.get("dwell_s")
    return Zone(
        id=doc.string((*path, "id")),
        kind=kind,
        polygon=polygon,
        dwell_s=doc.number((*path, "dwell_s"), minimum=0) if dwell is not None else None,
        name=doc.string((*path, "name")) if raw.get("name") is not None else None,
    )


def _unique(doc: yamldoc.Doc, section: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            raise doc.error((section, i, "id"), f"duplicate id '{ident}'")
        seen.add(ident)


def polygon_area(polygon: tuple[Point, ...]) -> float:
    """Signed area (shoelace), square metres."""
    area = 0.0
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        area += x0 * y1 - x1 * y0
    return area / 2.0


def dump_store(store: Store) -> dict[str, Any]:
    """The store as plain data in the store-file schema (for writing YAML)."""
    out: dict[str, Any] = {"store": {"id": store.id, "name": store.name}}
    if store.timezone:
        out["store"]["timezone"] = store.timezone
    out["gateways"] = []
    for g in store.gateways:
        item: dict[str, Any] = {"id": g.id}
        if g.position is not None:
            item["position"] = [g.position[0], g.position[1]]
        if g.rx_offset_db:
            item["rx_offset_db"] = g.rx_offset_db
        if g.name:
            item["name"] = g.name
        out["gateways"].append(item)
    out["zones"] = []
    for z in store.zones:
        zitem: dict[str, Any] = {"id": z.id, "kind": z.kind}
        if z.polygon is not None:
            zitem["polygon"] = [[x, y] for x, y in z.polygon]
        if z.dwell_s is not None:
            zitem["dwell_s"] = z.dwell_s
        if z.name:
            zitem["name"] = z.name
        out["zones"].append(zitem)
    defaults = EngineConfig()
    overrides = {
        f.name: getattr(store.engine, f.name)
        for f in dataclasses.fields(EngineConfig)
        if getattr(store.engine, f.name) != getattr(defaults, f.name)
    }
    out["engine"] = overrides
    return out
