"""Presence: decided zones become contract events with the promised ordering."""

from __future__ import annotations

import dataclasses

from proximity.presence import Presence
from proximity.store import Store

from . import walks


def immediate() -> Store:
    """The test store with every move published at once (no held moves)."""
    store = walks.store()
    return dataclasses.replace(store, engine=store.engine.without_holds())


def test_walk_through_private_zone_and_out() -> None:
    p = Presence(immediate())
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
    p = Presence(immediate())
    p.update("d", "entrance", 0.0)
    p.update("d", "back", 3.0)
    assert p.tick(100.0) == []
    p.update("d", "entrance", 200.0)
    (dwell,) = p.tick(300.0)
    assert dwell.ts == 205.0 and dwell.dwell_s == 5.0
    assert p.tick(400.0) == []


def test_a_short_excursion_to_the_street_is_not_a_new_visit() -> None:
    p = Presence(walks.store())
    p.update("d", "entrance", 0.0)
    assert p.update("d", "street", 30.0) == []  # held for visit_gap_s (more than 16 s)
    assert [(e.type, e.ts) for e in p.tick(45.0)] == [("zone_dwell", 5.0)]
    assert p.update("d", "back", 46.0) == []  # a move inside the store, held min_stay_s
    assert [(e.type, e.zone, e.ts) for e in p.tick(100.0)] == [
        ("zone_exit", "entrance", 46.0),
        ("zone_enter", "back", 46.0),
    ]


def test_a_held_exit_is_confirmed_with_the_time_it_happened() -> None:
    p = Presence(walks.store())
    p.update("d", "entrance", 0.0)
    p.update("d", "street", 3.0)
    gap = walks.store().engine.visit_gap_s
    assert p.tick(3.0 + gap - 0.5) == []
    ev = p.tick(3.0 + gap)
    assert [(e.type, e.zone, e.ts) for e in ev] == [
        ("zone_exit", "entrance", 3.0),
        ("store_exit", None, 3.0),
        ("zone_enter", "street", 3.0),
    ]
    assert p.visit_of("d") is None


def test_silence_while_an_exit_is_held_ends_the_visit_at_once() -> None:
    p = Presence(walks.store())
    p.update("d", "back", 0.0)
    p.update("d", "street", 10.0)
    ev = p.update("d", None, 12.0)
    assert [(e.type, e.ts) for e in ev] == [
        ("zone_exit", 10.0),
        ("store_exit", 10.0),
        ("zone_enter", 10.0),
        ("zone_exit", 12.0),
    ]
    assert p.tracked() == 0


def test_dwell_falling_due_during_a_held_exit_waits_for_the_outcome() -> None:
    p = Presence(walks.store())
    p.update("d", "entrance", 0.0)
    p.update("d", "street", 2.0)  # dwell (5 s) would be due at 5.0, after leaving
    assert p.tick(10.0) == []
    ev = p.update("d", "entrance", 11.0)  # came back: the stay never ended
    assert [(e.type, e.ts) for e in ev] == [("zone_dwell", 5.0)]
    assert p.tick(12.0) == []


def test_a_short_stay_in_another_zone_is_dropped_and_a_long_one_published() -> None:
    p = Presence(walks.store())
    stay = walks.store().engine.min_stay_s
    p.update("d", "entrance", 0.0)
    assert p.update("d", "back", 20.0) == []
    back = p.update("d", "entrance", 24.0)  # back within min_stay_s: the move never happened
    assert [(e.type, e.zone) for e in back] == [("zone_dwell", "entrance")]
    assert p.tick(40.0) == []
    assert p.update("d", "back", 50.0) == []
    assert p.tick(50.0 + stay - 0.1) == []
    ev = p.tick(50.0 + stay)
    assert [(e.type, e.zone, e.ts) for e in ev] == [
        ("zone_exit", "entrance", 50.0),
        ("zone_enter", "back", 50.0),
    ]


def test_a_zone_made_private_during_a_stay_produces_no_dwell() -> None:
    store = immediate()
    p = Presence(store)
    p.update("d", "entrance", 0.0)
    zones = tuple(
        dataclasses.replace(z, kind="private") if z.id == "entrance" else z for z in store.zones
    )
    p.set_store(dataclasses.replace(store, zones=zones))
    assert p.tick(100.0) == []


def test_an_entry_is_stamped_when_decided_and_says_since_when_the_device_came_in() -> None:
    p = Presence(immediate())
    ev = p.update("d", "street", 10.0)
    ev += p.update("d", "entrance", 16.0, 0.9, entered_at=13.5)
    assert [(e.type, e.zone, e.ts, e.since) for e in ev] == [
        ("zone_enter", "street", 10.0, None),
        ("zone_exit", "street", 16.0, 10.0),
        ("store_entry", None, 16.0, 13.5),
        ("zone_enter", "entrance", 16.0, None),
    ]
    # within the visit the estimate is ignored; the visit's exit says when it began
    ev = p.update("d", "back", 30.0, 0.9, entered_at=20.0)
    assert [(e.type, e.ts) for e in ev] == [("zone_exit", 30.0), ("zone_enter", 30.0)]
    (exit_,) = [e for e in p.update("d", None, 50.0) if e.type == "store_exit"]
    assert (exit_.since, exit_.dwell_s) == (13.5, 50.0 - 13.5)
    # an estimate before the device's previous event is cut to that event
    q = Presence(immediate())
    q.update("e", "street", 10.0)
    ev = q.update("e", "entrance", 16.0, entered_at=4.0)
    assert [(e.ts, e.since) for e in ev if e.type == "store_entry"] == [(16.0, 10.0)]


def test_a_held_exit_released_early_keeps_the_time_it_happened() -> None:
    p = Presence(walks.store())
    p.update("d", "entrance", 0.0)
    assert p.release_held("d", 1.0) == []  # nothing held
    p.update("d", "street", 3.0)
    assert p.held_move("d") == ("exit", 3.0)
    ev = p.release_held("d", 9.0)  # the decider sees the device walking away
    assert [(e.type, e.zone, e.ts, e.published) for e in ev] == [
        ("zone_exit", "entrance", 3.0, 9.0),
        ("store_exit", None, 3.0, 9.0),
        ("zone_enter", "street", 3.0, 9.0),
    ]
    assert p.visit_of("d") is None and p.held_move("d") is None
    assert p.tick(3.0 + walks.store().engine.visit_gap_s) == []  # not published twice


def test_release_publishes_any_held_move_once_with_the_time_it_was_decided() -> None:
    p = Presence(walks.store())
    p.update("d", "entrance", 0.0)
    assert p.held_move("d") is None and p.release_held("d", 1.0) == []
    p.update("d", "back", 20.0)  # a move inside the store, held min_stay_s
    assert p.held_move("d") == ("inside", 20.0)  # not an exit
    released = p.release_held("d", 21.0)
    assert [(e.type, e.zone, e.ts, e.published) for e in released] == [
        ("zone_dwell", "entrance", 5.0, 21.0),
        ("zone_exit", "entrance", 20.0, 21.0),
        ("zone_enter", "back", 20.0, 21.0),
    ]
    assert p.tick(30.0) == []  # its place in the hold queue is skipped
    p.update("d", "street", 40.0)
    assert p.held_move("d") == ("exit", 40.0)


def entry_held(seconds: float = 8.0) -> Store:
    """The test store with entries held ``seconds`` (the rest as configured)."""
    store = walks.store()
    return dataclasses.replace(
        store, engine=dataclasses.replace(store.engine, entry_hold_s=seconds)
    )


def test_a_passer_by_briefly_placed_inside_gets_no_entry() -> None:
    p = Presence(entry_held())
    street = p.update("d", "street", 0.0)
    assert p.update("d", "entrance", 10.0, 0.8) == []  # held
    assert p.update("d", "street", 15.0) == []  # back out within the hold: never came in
    assert p.tick(100.0) == []
    assert [(e.type, e.zone) for e in street] == [("zone_enter", "street")]
    assert p.zone_of("d") == "street" and p.visit_of("d") is None


def test_a_held_entry_is_published_after_the_hold_with_the_time_of_the_move() -> None:
    p = Presence(entry_held())
    p.update("d", "street", 0.0)
    p.update("d", "entrance", 10.0, 0.8, entered_at=8.5)
    assert p.tick(17.9) == []
    events = p.tick(18.0)
    assert [(e.type, e.zone, e.ts, e.published) for e in events] == [
        ("zone_exit", "street", 10.0, 18.0),
        ("store_entry", None, 10.0, 18.0),
        ("zone_enter", "entrance", 10.0, 18.0),
        ("zone_dwell", "entrance", 15.0, 18.0),  # the entrance's 5 s, counted from the move
    ]
    assert events[1].since == 8.5 and events[1].confidence == 0.8
    assert p.visit_of("d") is not None


def test_a_held_entry_is_published_at_once_when_the_device_goes_deeper_in() -> None:
    p = Presence(entry_held())
    p.update("d", "street", 0.0)
    p.update("d", "entrance", 10.0, 0.8)
    events = p.update("d", "back", 13.0, 0.9)  # the move to the back is then held min_stay_s
    assert [(e.type, e.zone, e.ts, e.published) for e in events] == [
        ("zone_exit", "street", 10.0, 13.0),
        ("store_entry", None, 10.0, 13.0),
        ("zone_enter", "entrance", 10.0, 13.0),
    ]
    later = p.tick(13.0 + walks.store().engine.min_stay_s)
    assert [(e.type, e.zone, e.ts) for e in later] == [
        ("zone_exit", "entrance", 13.0),
        ("zone_enter", "back", 13.0),
    ]


def test_a_device_that_falls_silent_during_a_held_entry_never_came_in() -> None:
    p = Presence(entry_held())
    p.update("d", "street", 0.0)
    p.update("d", "entrance", 10.0)
    events = p.update("d", None, 12.0)
    assert [(e.type, e.zone, e.ts) for e in events] == [("zone_exit", "street", 12.0)]
    assert p.tick(100.0) == [] and p.tracked() == 0
