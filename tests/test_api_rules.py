"""Pure rule evaluation and alert routing, time injected (no database)."""

from __future__ import annotations

import pytest

from api import routing
from api.rules import (
    History,
    Occurrence,
    RuleSpec,
    Subject,
    day_start,
    decide,
    decide_all,
    in_window,
)
from api.sightings import check_sighting
from proximity import tokens

T0 = 1_767_261_600.0  # 2026-01-01 10:00 UTC (Thursday)
ALL = frozenset({"associate_recognition", "offers", "analytics"})
GOLD = Subject(tier="gold", tags=frozenset({"dresses"}), consents=ALL)
ENTRY = Occurrence("store_entry", None, T0)


def spec(**kw: object) -> RuleSpec:
    base: dict[str, object] = {"id": 1, "trigger": "store_entry", "action": "coupon"}
    base.update(kw)
    return RuleSpec(**base)  # type: ignore[arg-type]


def reason(
    rule: RuleSpec,
    subject: Subject = GOLD,
    occ: Occurrence = ENTRY,
    history: History | None = None,
    tz: str = "UTC",
    cap: int = 5,
) -> str | None:
    d = decide(rule, occ, subject, history or History(), tz, cap)
    return None if d is None else d.reason


def test_reasons_in_order() -> None:
    assert reason(spec()) == "fired"
    assert reason(spec(trigger="zone_enter")) is None
    assert reason(spec(enabled=False)) is None
    assert reason(spec(), Subject("gold", frozenset(), frozenset({"analytics"}))) == "consent"
    assert (
        reason(spec(action="alert"), Subject("gold", frozenset(), frozenset({"offers"})))
        == "consent"
    )
    assert reason(spec(tiers=("silver",))) == "audience"
    assert reason(spec(tags=("shoes",))) == "audience"
    assert reason(spec(weekdays=(0,))) == "schedule"  # Thursday is 3
    assert reason(spec(weekdays=(3,))) == "fired"
    assert reason(spec(start_time="11:00", end_time="20:00")) == "schedule"
    assert reason(spec(quiet_start="09:00", quiet_end="10:30")) == "quiet_hours"
    assert reason(spec(quiet_start="09:00", quiet_end="10:30"), tz="Europe/Paris") == "fired"
    assert reason(spec(), history=History(fired_this_visit=frozenset({1}))) == "once_per_visit"
    assert (
        reason(
            spec(once_per_visit=False, cooldown_s=600), history=History(last_fired=((1, T0 - 599),))
        )
        == "cooldown"
    )
    assert (
        reason(
            spec(once_per_visit=False, cooldown_s=600), history=History(last_fired=((1, T0 - 601),))
        )
        == "fired"
    )
    assert reason(spec(), history=History(fired_today=5)) == "daily_cap"
    no = Subject("gold", frozenset(), ALL, no_approach=True)
    assert reason(spec(action="alert"), no) == "prefers_no_approach"
    assert reason(spec(action="alert"), history=History(live_alert=True)) == "live_alert"


def test_dwell_and_pickup_triggers() -> None:
    dwell = spec(trigger="zone_dwell", zone="dresses", min_dwell_s=60)
    assert reason(dwell, occ=Occurrence("zone_dwell", "dresses", T0, 59)) is None
    assert reason(dwell, occ=Occurrence("zone_dwell", "dresses", T0, 60)) == "fired"
    assert reason(dwell, occ=Occurrence("zone_dwell", "shoes", T0, 600)) is None
    pickup = spec(trigger="pickup_waiting", action="alert")
    assert reason(pickup) is None
    waiting = Subject("gold", frozenset(), ALL, pickup_waiting=True)
    assert reason(pickup, waiting) == "fired"


def test_decide_all_counts_firings_against_the_cap() -> None:
    rules = [spec(id=1), spec(id=2, action="alert"), spec(id=3, action="alert")]
    got = [(d.rule_id, d.reason) for d in decide_all(rules, ENTRY, GOLD, History(), "UTC", 2)]
    assert got == [(1, "fired"), (2, "fired"), (3, "daily_cap")]
    got = [(d.rule_id, d.reason) for d in decide_all(rules, ENTRY, GOLD, History(), "UTC", 5)]
    assert got == [(1, "fired"), (2, "fired"), (3, "live_alert")]


@pytest.mark.parametrize(
    ("hhmm", "start", "end", "inside"),
    [
        ("23:30", "22:00", "07:00", True),
        ("06:59", "22:00", "07:00", True),
        ("07:00", "22:00", "07:00", False),
        ("12:00", "22:00", "07:00", False),
        ("12:00", "09:00", "17:00", True),
        ("17:00", "09:00", "17:00", False),
        ("03:00", "05:00", "05:00", True),
        ("03:00", None, "04:00", True),
    ],
)
def test_windows_span_midnight(hhmm: str, start: str | None, end: str | None, inside: bool) -> None:
    from datetime import time

    h, m = hhmm.split(":")
    assert in_window(time(int(h), int(m)), start, end) is inside


def test_day_start_in_store_zone() -> None:
    assert day_start(T0, "UTC") == T0 - 10 * 3600
    ny = day_start(T0, "America/New_York")  # 05:00 local on Jan 1 -> midnight local = 05:00 UTC
    assert ny == T0 - 5 * 3600


def test_routing_levels() -> None:
    staff = [
        routing.Staff(1, frozenset({"dresses"}), True),
        routing.Staff(2, frozenset(), True),
        routing.Staff(3, frozenset({"dresses"}), False),
    ]
    assert routing.route(staff, "dresses", primary=2) == ("primary", [2])
    assert routing.route(staff, "dresses", primary=3) == ("zone", [1])  # primary off shift
    assert routing.route(staff, "dresses", 2, after="primary", current=[2]) == ("zone", [1])
    assert routing.route(staff, "dresses", 2, after="zone", current=[1]) == ("store", [1, 2])
    assert routing.route(staff, None, None) == ("store", [1, 2])
    assert routing.route([], None, None) == ("store", [])


def test_sighting_check() -> None:
    secret = b"s" * 32
    minor = tokens.rotating_minor(secret, "b1", tokens.window_index(T0))
    assert check_sighting(secret, "b1", minor, T0, T0 + 5, 30, 1024) is None
    assert check_sighting(secret, "b1", minor, T0, T0 + 60, 30, 1024) == "stale or future timestamp"
    assert "replay" in str(check_sighting(secret, "b1", minor, T0 + 5000, T0 + 5000, 30, 1024))
    assert check_sighting(None, "b1", minor, T0, T0, 30, 1024) == "unknown store"
