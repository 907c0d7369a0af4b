"""Presence: decided zones become contract events with the promised ordering."""

from __future__ import annotations

from proximity.presence import Presence

from . import walks


def test_walk_through_private_zone_and_out() -> None:
    p = Presence(walks.store())
    ev = []
    ev += p.update("d", "street", 1.0)
    ev += p.update("d", "entrance", 5.0, 0.9)
    ev += p.update("d", "fitting", 20.0)
    ev += p.update("d", "back", 40.0)
    ev += p.update("d", "street", 60.0)
    ev += p.update("d", None, 70.0)
    assert [(e.type, e.zone, e.ts) for e in ev] == [
        ("zone_enter", "street", 1.0),
        ("zone_exit", "street", 5.0),
        ("store_entry", None, 5.0),
        ("zone_enter", "entrance", 5.0),
        ("zone_exit", "entrance", 20.0),
        ("zone_enter", "back", 40.0),
        ("zone_exit", "back", 60.0),
        ("store_exit", None, 60.0),
        ("zone_enter", "street", 60.0),
        ("zone_exit", "street", 70.0),
    ]
    visit = {
        e.visit_id
        for e in ev
        if e.type in ("store_entry", "store_exit", "zone_exit") and e.zone != "street"
    }
    assert len(visit) == 1 and None not in visit
    store_exit = next(e for e in ev if e.type == "store_exit")
    assert store_exit.dwell_s == 55.0 and store_exit.since == 5.0
    assert p.tracked() == 0


def test_dwell_is_cancelled_by_leaving_early() -> None:
    p = Presence(walks.store())
    p.update("d", "entrance", 0.0)
    p.update("d", "back", 3.0)
    assert p.tick(100.0) == []
    p.update("d", "entrance", 200.0)
    (dwell,) = p.tick(300.0)
    assert dwell.ts == 205.0 and dwell.dwell_s == 5.0
    assert p.tick(400.0) == []
