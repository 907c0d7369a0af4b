"""Scoring against hand-built truth, where every metric's right answer is known."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from proximity.errors import InputError
from proximity.evaluate import IN_STORE, NOWHERE, decided_segments, score
from proximity.presence import Presence
from proximity.readings import Event
from proximity.store import Store, parse_store

STORE = """
store: {id: t, name: Test}
gateways:
  - {id: gw-door, position: [3, 1]}
  - {id: gw-sales, position: [10, 6]}
zones:
  - {id: street, kind: outside, polygon: [[-5, -4], [25, -4], [25, 0], [-5, 0]]}
  - {id: entrance, kind: entrance, polygon: [[0, 0], [6, 0], [6, 4], [0, 4]]}
  - {id: sales, kind: sales, polygon: [[6, 0], [20, 0], [20, 12], [6, 12]]}
  - {id: fitting, kind: private, polygon: [[0, 4], [6, 4], [6, 12], [0, 12]]}
engine: {min_stay_s: 0, visit_gap_s: 0, entry_hold_s: 0}  # decisions become events as they are
"""


@dataclass(frozen=True)
class T:
    device: str
    role: str
    hardware: str
    zone: str | None
    start: float
    end: float


@pytest.fixture
def store() -> Store:
    return parse_store(STORE, "store.yaml")


# One shopper's life: 150 s in the store (20..170), 50 s out of it.
VISIT: list[tuple[float, str | None]] = [
    (0, None),
    (10, "street"),
    (20, "entrance"),
    (50, "sales"),
    (100, "fitting"),
    (120, "sales"),
    (150, "entrance"),
    (170, "street"),
    (180, None),
]
END = 200.0


def truth_of(
    device: str, steps: list[tuple[float, str | None]], role: str = "shopper", hw: str = "phone"
) -> list[T]:
    ends = [t for t, _ in steps[1:]] + [END]
    return [T(device, role, hw, z, t, e) for (t, z), e in zip(steps, ends, strict=True)]


def events_of(store: Store, device: str, steps: list[tuple[float, str | None]]) -> list[Event]:
    presence = Presence(store)
    out: list[Event] = []
    for t, z in steps:
        out += presence.update(device, z, t)
    return out


def shifted(steps: list[tuple[float, str | None]], dt: float) -> list[tuple[float, str | None]]:
    return [(t + dt if t > 0 else t, z) for t, z in steps]


def test_perfect_events_score_perfectly(store: Store) -> None:
    m = score(store, truth_of("a", VISIT), events_of(store, "a", VISIT))
    assert m.truth_s == pytest.approx(200)
    assert m.in_store_s == pytest.approx(150)
    assert m.accuracy == pytest.approx(1.0)
    assert m.in_store_accuracy == pytest.approx(1.0)
    assert (m.true_entries, m.entry_events, m.entries_matched) == (1, 1, 1)
    assert (m.true_exits, m.exits_matched, m.exit_any_share) == (1, 1, 1.0)
    assert m.entry_latency["phone"].p50 == pytest.approx(0)
    assert m.spurious_zone_enters == 0
    # true stays in public in-store zones: entrance, sales, sales, entrance
    assert (m.true_stays, m.stays_matched) == (4, 4)
    assert m.dwell_error.p95 == pytest.approx(0)
    # the fitting room shows as "in the store, no zone"
    assert m.confusion["fitting"] == {IN_STORE: pytest.approx(20)}


def test_three_seconds_late_everywhere(store: Store) -> None:
    m = score(store, truth_of("a", VISIT), events_of(store, "a", shifted(VISIT, 3)))
    assert m.entry_latency["phone"].p50 == pytest.approx(3)
    assert m.entry_latency["all"].n == 1
    assert m.exit_latency["phone"].p95 == pytest.approx(3)
    # true changes into public in-store zones: entrance@20, sales@50, sales@120, entrance@150
    assert m.zone_latency["all"].n == 4
    assert m.zone_latency["all"].p50 == pytest.approx(3)
    # five in-store transitions each wrong for 3 s (20, 50, 100, 120, 150) out of 150 s
    assert m.in_store_accuracy == pytest.approx(135 / 150)
    # leaving at 170 shows entrance for 3 s while truly on the street; None<->street is fine
    assert m.out_of_store_accuracy == pytest.approx(47 / 50)
    assert m.accuracy == pytest.approx(182 / 200)
    assert m.spurious_zone_enters == 0
    assert m.dwell_error.p50 == pytest.approx(0)


def test_entry_outside_window_is_missed(store: Store) -> None:
    m = score(store, truth_of("a", VISIT), events_of(store, "a", shifted(VISIT, 6)))
    assert m.entry_recall == 0.0
    assert m.entry_precision == 0.0
    m = score(store, truth_of("a", VISIT), events_of(store, "a", shifted(VISIT, 6)), match_s=6)
    assert m.entry_recall == 1.0


def test_flap_adds_spurious_changes_and_dwell_error(store: Store) -> None:
    steps = sorted([*VISIT, (70.0, "entrance"), (71.0, "sales")], key=lambda s: s[0])
    m = score(store, truth_of("a", VISIT), events_of(store, "a", steps))
    # entrance@70 (true entrance changes at 20 and 150) and sales@71 (true at 50, 120)
    assert m.spurious_zone_enters == 2
    assert m.zone_enters == 6
    assert m.spurious_per_device_hour == pytest.approx(2 / (150 / 3600))
    # the true sales stay [50, 100) is best overlapped by [71, 100): 29 s vs 50 s
    assert (70.0, 71.0, "entrance") in decided_segments(store, events_of(store, "a", steps), "a")
    assert m.dwell_error.n == 4
    assert m.dwell_error.mean == pytest.approx(21 / 4)
    assert m.in_store_accuracy == pytest.approx(149 / 150)


def test_flap_at_a_true_change_pairs_one_to_one(store: Store) -> None:
    steps = sorted([*VISIT, (51.0, "entrance"), (52.0, "sales")], key=lambda s: s[0])
    m = score(store, truth_of("a", VISIT), events_of(store, "a", steps))
    # sales@50 pairs with the true change; sales@52 cannot pair with it again; entrance@51
    # is within 10 s of no true change into the entrance
    assert m.spurious_zone_enters == 2


def test_passer_by_entry_counts(store: Store) -> None:
    walk = [(0.0, None), (30.0, "street"), (40.0, None)]
    truth = truth_of("p1", walk, role="passerby") + truth_of("p2", walk, role="passerby")
    events = events_of(store, "p1", [(31.0, "entrance"), (35.0, None)])
    m = score(store, truth, events)
    assert (m.passersby, m.passersby_entered) == (2, 1)
    assert m.passerby_false_entry_rate == pytest.approx(0.5)
    assert m.true_entries == 0
    assert m.entry_recall is None
    assert m.entry_precision == 0.0
    # in-store zone_enter with no true change: spurious; no in-store truth time at all
    assert m.spurious_zone_enters == 1
    assert m.spurious_per_device_hour is None
    assert m.in_store_accuracy is None
    assert m.out_of_store_accuracy == pytest.approx((400 - 4) / 400)


def test_private_zone_needs_the_visit_to_stay_open(store: Store) -> None:
    truth = truth_of("a", [(0.0, None), (10.0, "entrance"), (20.0, "fitting"), (50.0, None)])
    hidden = events_of(store, "a", [(10.0, "entrance"), (20.0, "fitting"), (50.0, None)])
    gone = events_of(store, "a", [(10.0, "entrance"), (20.0, None)])
    wrong = events_of(store, "a", [(10.0, "entrance"), (20.0, "sales"), (50.0, None)])
    assert score(store, truth, hidden).in_store_accuracy == pytest.approx(1.0)
    # leaving the store when entering the fitting room is wrong for the 30 s inside it
    m = score(store, truth, gone)
    assert m.in_store_accuracy == pytest.approx(10 / 40)
    assert m.confusion["fitting"] == {NOWHERE: pytest.approx(30)}
    assert m.exits_matched == 0
    assert m.exit_any_share == 1.0  # a store_exit did come, 30 s early, during the visit
    assert score(store, truth, wrong).in_store_accuracy == pytest.approx(10 / 40)


def test_never_placing_anyone_cannot_win(store: Store) -> None:
    m = score(store, truth_of("a", VISIT), [])
    assert m.in_store_accuracy == 0.0
    assert m.out_of_store_accuracy == 1.0
    assert m.accuracy == pytest.approx(50 / 200)
    assert m.entry_recall == 0.0
    assert m.entry_precision is None
    assert m.exit_recall == 0.0
    assert m.stays_matched == 0
    assert m.dwell_error.n == 0


def test_entry_matching_is_one_to_one(store: Store) -> None:
    ev = events_of(store, "a", [(21.0, "entrance"), (22.0, None), (23.0, "entrance")])
    m = score(store, truth_of("a", [(0.0, None), (20.0, "entrance")]), ev)
    assert (m.true_entries, m.entry_events, m.entries_matched) == (1, 2, 1)
    assert m.entry_precision == pytest.approx(0.5)
    assert m.entry_latency["all"].p50 == pytest.approx(1)


def test_exit_late_beyond_window_still_counts_as_happened(store: Store) -> None:
    truth = truth_of("a", [(0.0, None), (10.0, "entrance"), (40.0, None)])
    late = events_of(store, "a", [(10.0, "entrance"), (100.0, None)])
    m = score(store, truth, late, exit_match_s=25)
    assert (m.true_exits, m.exits_matched) == (1, 0)
    assert m.exit_any_share == 1.0
    m = score(store, truth, late, exit_match_s=60)
    assert m.exit_latency["phone"].p50 == pytest.approx(60)
    never = events_of(store, "a", [(10.0, "entrance")])
    m = score(store, truth, never)
    assert m.exit_any_share == 0.0
    assert m.windows["exit"] == pytest.approx(store.engine.exit_timeout_s + 10)


def test_latency_split_by_hardware(store: Store) -> None:
    steps = [(0.0, None), (20.0, "entrance")]
    truth = truth_of("ph", steps, hw="phone") + truth_of("fb", steps, hw="fob")
    events = events_of(store, "ph", [(23.0, "entrance")]) + events_of(
        store, "fb", [(21.0, "entrance")]
    )
    m = score(store, truth, events)
    assert m.entry_latency["phone"].p50 == pytest.approx(3)
    assert m.entry_latency["fob"].p50 == pytest.approx(1)
    assert m.entry_latency["all"].n == 2
    assert m.entry_latency["all"].mean == pytest.approx(2)


def test_device_starting_in_the_store_enters_at_its_start(store: Store) -> None:
    # "s" was inside when the recording began: found, not entered; "p" appears inside later
    truth = truth_of("s", [(0.0, "sales")], role="staff", hw="badge")
    truth += truth_of("p", [(100.0, "sales")], role="shopper", hw="badge")
    events = events_of(store, "s", [(1.5, "sales")]) + events_of(store, "p", [(101.5, "sales")])
    m = score(store, truth, events)
    assert m.true_entries == 1
    assert m.entry_events == 1
    assert m.entry_precision == 1.0
    assert m.entry_latency["badge"].p50 == pytest.approx(1.5)
    assert m.entry_latency["badge"].n == 1
    assert m.true_exits == 0


def test_events_of_unknown_devices_are_unmatched(store: Store) -> None:
    m = score(store, truth_of("a", VISIT), events_of(store, "ghost", [(5.0, "sales")]))
    assert m.entry_events == 1
    assert m.entry_precision == 0.0
    assert m.spurious_zone_enters == 1


def test_unknown_truth_zone_is_input_error(store: Store) -> None:
    with pytest.raises(InputError, match="unknown zone 'attic'"):
        score(store, [T("a", "shopper", "phone", "attic", 0, 1)], [])


def test_to_json_is_plain_data(store: Store) -> None:
    import json

    data = score(store, truth_of("a", VISIT), events_of(store, "a", shifted(VISIT, 3))).to_json()
    again = json.loads(json.dumps(data))
    assert again["entry_latency"]["phone"]["p50"] == pytest.approx(3)
    assert again["confusion"]["sales"]["sales"] == pytest.approx(74)


def test_exit_after_the_next_entry_does_not_count(store: Store) -> None:
    # two visits; the events never end the first one, and end the second at 190
    truth = truth_of("a", [(0.0, None), (10.0, "entrance"), (40.0, None), (100.0, "entrance"),
                           (150.0, None)])  # fmt: skip
    events = events_of(store, "a", [(10.0, "entrance"), (190.0, None)])
    m = score(store, truth, events, exit_match_s=60)
    assert (m.true_entries, m.true_exits) == (2, 2)
    assert m.exit_any_share == pytest.approx(0.5)
    assert m.exits_matched == 1
    assert m.exit_latency["all"].p50 == pytest.approx(40)


def test_pick_device_prefers_a_whole_visit_through_several_zones(store: Store) -> None:
    from proximity.evaluate import pick_device

    whole = truth_of("whole", VISIT)
    cut = truth_of("cut", [(0.0, None), (10.0, "entrance"), (20.0, "sales"), (30.0, "entrance")])
    short = truth_of("short", [(0.0, None), (10.0, "entrance"), (20.0, None)])
    staff = truth_of("staff", VISIT, role="staff")
    assert pick_device(store, whole + cut + short + staff) == "whole"
    assert pick_device(store, cut + short) == "short"
    assert pick_device(store, staff) is None


def test_matching_takes_the_closest_event_first(store: Store) -> None:
    # a stray entry 3 s early (then gone), the real one 1 s late
    ev = events_of(store, "a", [(17.0, "entrance"), (18.0, None), (21.0, "entrance")])
    m = score(store, truth_of("a", [(0.0, None), (20.0, "entrance")]), ev)
    assert m.entries_matched == 1
    assert m.entry_latency["all"].p50 == pytest.approx(1)
    assert m.entry_precision == pytest.approx(0.5)


def test_latency_is_measured_to_release_matching_to_the_time_stamp(store: Store) -> None:
    """A move held until confirmed is stamped when decided but out only when released: the
    latency is to its release (what an associate sees), the match and accuracy to its stamp."""
    from dataclasses import replace

    on_time = events_of(store, "a", VISIT)
    held = [replace(e, published=e.ts + 20.0) for e in on_time]
    m = score(store, truth_of("a", VISIT), held)
    assert (m.true_entries, m.entries_matched) == (1, 1)
    assert m.entry_latency["phone"].p50 == pytest.approx(20)
    assert m.exit_latency["phone"].p50 == pytest.approx(20)
    assert m.zone_latency["all"].p50 == pytest.approx(20)
    assert m.in_store_accuracy == pytest.approx(1.0)
