"""The naive baseline on tiny synthetic streams."""

from __future__ import annotations

import dataclasses

import pytest

from proximity.baseline import Baseline, centroid, contains, gateway_zones
from proximity.errors import InputError
from proximity.readings import Event
from proximity.store import Store, parse_store

STORE = """
store: {id: t, name: Test}
gateways:
  - {id: gw-door, position: [3, 1]}
  - {id: gw-sales, position: [10, 6]}
  - {id: gw-far, position: [30, 30]}
zones:
  - {id: street, kind: outside, polygon: [[-5, -4], [25, -4], [25, 0], [-5, 0]]}
  - {id: entrance, kind: entrance, polygon: [[0, 0], [6, 0], [6, 4], [0, 4]]}
  - {id: sales, kind: sales, polygon: [[6, 0], [20, 0], [20, 12], [6, 12]]}
"""

# (ts, gateway, rssi): the sales gateway gets stronger at 2 s, the door again at 3 s
STREAM = [
    (0.0, "gw-door", -60.0),
    (1.0, "gw-sales", -70.0),
    (2.0, "gw-sales", -55.0),
    (3.0, "gw-door", -54.0),
]


@pytest.fixture
def store() -> Store:
    return parse_store(STORE, "store.yaml")


def feed(base: Baseline, rows: list[tuple[float, str, float]], device: str = "d") -> None:
    base.ingest_rows(
        [r[0] for r in rows], [r[1] for r in rows], [device] * len(rows), [r[2] for r in rows]
    )


def kinds(events: list[Event]) -> list[tuple[str, str | None, float]]:
    return [(e.type, e.zone, e.ts) for e in events]


def test_gateway_zones_by_polygon_then_nearest_centroid(store: Store) -> None:
    zones = gateway_zones(store)
    assert zones == {"gw-door": "entrance", "gw-sales": "sales", "gw-far": "sales"}


def test_switches_on_every_stronger_reading_and_exits_after_30_s(store: Store) -> None:
    base = Baseline(store)
    feed(base, STREAM)
    events = base.advance(10.0)
    assert kinds(events) == [
        ("store_entry", None, 0.0),
        ("zone_enter", "entrance", 0.0),
        ("zone_exit", "entrance", 2.0),
        ("zone_enter", "sales", 2.0),
        ("zone_exit", "sales", 3.0),
        ("zone_enter", "entrance", 3.0),
    ]
    assert base.zone_of("d") == "entrance"
    assert base.advance(32.9) == []
    assert kinds(base.advance(40.0)) == [
        ("zone_exit", "entrance", 33.0),
        ("store_exit", None, 33.0),
    ]
    assert base.zone_of("d") is None


def test_return_after_silence_is_a_new_visit(store: Store) -> None:
    base = Baseline(store)
    feed(base, [(0.0, "gw-door", -60.0), (50.0, "gw-door", -60.0)])
    events = base.flush()
    assert [e.type for e in events] == [
        "store_entry",
        "zone_enter",
        "zone_exit",
        "store_exit",
        "store_entry",
        "zone_enter",
    ]
    assert events[3].ts == 30.0
    assert events[0].visit_id != events[4].visit_id


def test_flush_invents_no_exit(store: Store) -> None:
    base = Baseline(store)
    feed(base, STREAM)
    events = base.flush()
    assert [e.type for e in events][-1] == "zone_enter"
    assert base.flush() == []


def test_chunking_does_not_change_the_events(store: Store) -> None:
    rows = [
        (t * 0.7, "gw-door" if (t // 3) % 2 else "gw-sales", -50.0 - (t % 5)) for t in range(80)
    ]
    rows += [(100.0, "gw-sales", -60.0)]
    whole = Baseline(store)
    feed(whole, rows)
    expected = whole.flush()
    chunked = Baseline(store)
    out: list[Event] = []
    for start in range(0, len(rows), 7):
        feed(chunked, rows[start : start + 7])
        out += chunked.advance(rows[min(start + 7, len(rows) - 1)][0])
    out += chunked.flush()
    assert kinds(out) == kinds(expected)
    assert any(e.type == "store_exit" for e in expected)


def test_a_stale_gateway_value_is_forgotten(store: Store) -> None:
    base = Baseline(store)
    rows = [(0.0, "gw-door", -40.0)] + [(float(t), "gw-sales", -70.0) for t in range(1, 41, 5)]
    feed(base, rows)
    events = base.flush()
    # the door's -40 dBm wins until it is 30 s old; the next sales reading (31 s) switches
    assert kinds(events)[-2:] == [("zone_exit", "entrance", 31.0), ("zone_enter", "sales", 31.0)]


def test_devices_are_independent_and_late_rows_counted(store: Store) -> None:
    base = Baseline(store)
    feed(base, [(0.0, "gw-door", -60.0)], device="a")
    feed(base, [(0.5, "gw-sales", -60.0)], device="b")
    events = base.advance(1.0)
    assert {(e.device, e.zone) for e in events if e.type == "zone_enter"} == {
        ("a", "entrance"),
        ("b", "sales"),
    }
    feed(base, [(0.8, "gw-sales", -30.0)], device="a")
    assert base.late_readings == 1
    assert base.advance(2.0) == []


def test_unknown_gateway_is_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        feed(Baseline(store), [(0.0, "gw-attic", -50.0)])


def test_store_without_geometry_is_input_error() -> None:
    store = parse_store(
        "store: {id: t}\ngateways: [{id: g}]\nzones: [{id: z, kind: sales}]\n", "s.yaml"
    )
    with pytest.raises(InputError, match="polygons"):
        Baseline(store)
    store = parse_store(
        "store: {id: t}\ngateways: [{id: g}]\n"
        "zones: [{id: z, kind: sales, polygon: [[0, 0], [1, 0], [1, 1]]}]\n",
        "s.yaml",
    )
    with pytest.raises(InputError, match=r"gateways\[0\]\.position"):
        Baseline(store)


def test_geometry_helpers() -> None:
    square = ((0.0, 0.0), (4.0, 0.0), (4.0, 2.0), (0.0, 2.0))
    assert centroid(square) == pytest.approx((2.0, 1.0))
    assert contains(square, (1.0, 1.0))
    assert contains(square, (4.0, 1.0))  # on the boundary
    assert not contains(square, (5.0, 1.0))
    assert not contains(square, (1.0, -0.1))


def reference(
    store: Store, rows: list[tuple[float, str, str, float]], timeout: float = 30.0
) -> list[tuple[str, str | None, float, str]]:
    """The baseline's rule written the obvious way: one reading at a time."""
    from proximity.presence import Presence

    zones = gateway_zones(store)
    presence = Presence(  # naive: every decision published at once
        dataclasses.replace(store, engine=store.engine.without_holds())
    )
    latest: dict[str, dict[str, tuple[float, float]]] = {}
    heard: dict[str, float] = {}
    events: list[Event] = []
    for t, g, d, r in sorted(rows, key=lambda x: x[0]):
        if d in heard and t - heard[d] > timeout:
            events += presence.update(d, None, heard[d] + timeout)
            latest[d] = {}
        heard[d] = t
        latest.setdefault(d, {})[g] = (t, r)
        fresh = {gw: v for gw, (s, v) in latest[d].items() if s >= t - timeout}
        events += presence.update(d, zones[max(fresh, key=lambda gw: fresh[gw])], t)
    end = max(r[0] for r in rows)
    for d, last in heard.items():
        if last + timeout <= end:
            events += presence.update(d, None, last + timeout)
    return sorted(((e.type, e.zone, e.ts, e.device) for e in events), key=lambda x: (x[3], x[2]))


def test_matches_the_one_reading_at_a_time_rule(store: Store) -> None:
    import random

    seed = 20240607
    rng = random.Random(seed)
    rows = []
    for d in ("a", "b", "c"):
        t = rng.uniform(0, 5)
        while t < 300:
            rows.append(
                (t, rng.choice(["gw-door", "gw-sales", "gw-far"]), d, rng.uniform(-90, -40))
            )
            t += rng.choice([0.1, 1.0, 1.0, 5.0, 40.0])
    base = Baseline(store)
    base.ingest_rows([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                     [r[3] for r in rows])  # fmt: skip
    got = base.advance(max(r[0] for r in rows) + 1e-9)
    got_k = sorted(((e.type, e.zone, e.ts, e.device) for e in got), key=lambda x: (x[3], x[2]))
    assert got_k == reference(store, rows), f"seed {seed}"
    assert any(k[0] == "store_exit" for k in got_k)
