"""Rule evaluation: does a rule fire for this customer event, and if not, why. Pure.

Time comes in as data (``ts``, seconds since the epoch, and the store's time zone); history
(what fired before) comes in as a `History`. The database side builds both
(`api.crud.ingest`).

Checks, in order (the first that fails is the recorded reason):

1. ``trigger``: the event is not what the rule waits for (not recorded: most events match
   no rule). ``zone_dwell`` fires when the engine reports a dwell of at least ``min_dwell_s``.
2. ``consent``: the customer lacks the purpose the action needs (associate recognition for
   alerts, offers for coupons) or the rule's own purpose.
3. ``audience``: tier not among the rule's tiers, or none of the rule's tags.
4. ``schedule``: outside the rule's weekdays or local start/end time.
5. ``quiet_hours``: inside the rule's local quiet hours (which may span midnight).
6. ``once_per_visit``: the rule already fired in this visit.
7. ``cooldown``: the rule fired for this customer less than ``cooldown_s`` ago.
8. ``daily_cap``: the customer already got the store's cap of firings today (local day,
   every rule counted together).
9. ``prefers_no_approach``: an alert for a customer who asked not to be approached.
10. ``live_alert``: an alert while the visit already has a live alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

ALERT_PURPOSE = "associate_recognition"
COUPON_PURPOSE = "offers"
FIRED = "fired"


@dataclass(frozen=True)
class RuleSpec:
    """The parts of a rule that decide whether it fires (see `api.models.RuleBase`)."""

    id: int
    trigger: str
    action: str
    enabled: bool = True
    zone: str | None = None
    min_dwell_s: float = 0.0
    tiers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    purpose: str | None = None
    weekdays: tuple[int, ...] = ()
    start_time: str | None = None
    end_time: str | None = None
    quiet_start: str | None = None
    quiet_end: str | None = None
    cooldown_s: float = 0.0
    once_per_visit: bool = True


@dataclass(frozen=True)
class Subject:
    """The customer as the rules see it."""

    tier: str
    tags: frozenset[str]
    consents: frozenset[str]
    no_approach: bool = False
    pickup_waiting: bool = False


@dataclass(frozen=True)
class Occurrence:
    """What happened: a contract event of the customer.

    Attributes:
        type: Event type (``store_entry``, ``zone_enter``, ``zone_dwell``, ...).
        zone: Zone id, None for ``store_*``.
        ts: Time of the event, seconds since the epoch.
        dwell_s: Dwell the engine reports for ``zone_dwell``, seconds.
    """

    type: str
    zone: str | None
    ts: float
    dwell_s: float | None = None


@dataclass(frozen=True)
class History:
    """What fired before, for cooldown, once-per-visit, cap and live-alert checks.

    Attributes:
        fired_this_visit: Rule ids that fired in this visit.
        last_fired: Rule id -> time it last fired for this customer, seconds.
        fired_today: Firings for this customer since local midnight (every rule).
        live_alert: Whether this visit has a live (offered or claimed) alert.
    """

    fired_this_visit: frozenset[int] = frozenset()
    last_fired: tuple[tuple[int, float], ...] = ()
    fired_today: int = 0
    live_alert: bool = False


@dataclass(frozen=True)
class Decision:
    """Whether a rule fired, and the reason (``fired`` or the first check that failed)."""

    rule_id: int
    fired: bool
    reason: str


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def in_window(local: time, start: str | None, end: str | None) -> bool:
    """Whether ``local`` is in [start, end) (HH:MM, local); a window may span midnight.

    A missing bound is open; equal bounds mean the whole day.
    """
    if start is None and end is None:
        return True
    lo = _hhmm(start) if start is not None else time(0, 0)
    hi = _hhmm(end) if end is not None else None
    if hi is None:
        return local >= lo
    if lo == hi:
        return True
    if lo < hi:
        return lo <= local < hi
    return local >= lo or local < hi


def local_time(ts: float, timezone: str) -> datetime:
    """The wall-clock time in ``timezone`` of ``ts`` (seconds since the epoch)."""
    return datetime.fromtimestamp(ts, ZoneInfo(timezone))


def day_start(ts: float, timezone: str) -> float:
    """Seconds since the epoch of the local midnight starting the day of ``ts``."""
    local = local_time(ts, timezone)
    midnight = datetime.combine(local.date(), time(0, 0), tzinfo=local.tzinfo)
    return midnight.timestamp()


def matches_trigger(rule: RuleSpec, occ: Occurrence, subject: Subject) -> bool:
    """Whether ``occ`` is what ``rule`` waits for."""
    if rule.trigger == "store_entry":
        return occ.type == "store_entry"
    if rule.trigger == "zone_enter":
        return occ.type == "zone_enter" and rule.zone in (None, occ.zone)
    if rule.trigger == "zone_dwell":
        return (
            occ.type == "zone_dwell"
            and rule.zone in (None, occ.zone)
            and (occ.dwell_s or 0.0) >= rule.min_dwell_s
        )
    if rule.trigger == "pickup_waiting":
        return occ.type == "store_entry" and subject.pickup_waiting
    return False


def decide(
    rule: RuleSpec,
    occ: Occurrence,
    subject: Subject,
    history: History,
    timezone: str,
    daily_cap: int,
) -> Decision | None:
    """Evaluate one rule for one event of one customer.

    Args:
        rule: The rule.
        occ: The event.
        subject: The customer (tier, tags, consents, preferences).
        history: Earlier firings.
        timezone: The store's IANA time zone, for schedule, quiet hours and the daily cap.
        daily_cap: Most firings per customer per local day, every rule together.

    Returns:
        None when the rule is disabled or its trigger does not match; otherwise the decision.
    """
    if not rule.enabled or not matches_trigger(rule, occ, subject):
        return None

    def no(reason: str) -> Decision:
        return Decision(rule.id, False, reason)

    needed = {ALERT_PURPOSE if rule.action == "alert" else COUPON_PURPOSE}
    if rule.purpose is not None:
        needed.add(rule.purpose)
    if not needed <= subject.consents:
        return no("consent")
    if rule.tiers and subject.tier not in rule.tiers:
        return no("audience")
    if rule.tags and not subject.tags.intersection(rule.tags):
        return no("audience")
    local = local_time(occ.ts, timezone)
    if rule.weekdays and local.weekday() not in rule.weekdays:
        return no("schedule")
    if not in_window(local.time(), rule.start_time, rule.end_time):
        return no("schedule")
    if (rule.quiet_start is not None or rule.quiet_end is not None) and in_window(
        local.time(), rule.quiet_start, rule.quiet_end
    ):
        return no("quiet_hours")
    if rule.once_per_visit and rule.id in history.fired_this_visit:
        return no("once_per_visit")
    last = dict(history.last_fired).get(rule.id)
    if last is not None and rule.cooldown_s > 0 and occ.ts - last < rule.cooldown_s:
        return no("cooldown")
    if history.fired_today >= daily_cap:
        return no("daily_cap")
    if rule.action == "alert":
        if subject.no_approach:
            return no("prefers_no_approach")
        if history.live_alert:
            return no("live_alert")
    return Decision(rule.id, True, FIRED)


def decide_all(
    rules: Sequence[RuleSpec],
    occ: Occurrence,
    subject: Subject,
    history: History,
    timezone: str,
    daily_cap: int,
) -> list[Decision]:
    """Evaluate rules in order; a firing counts against the cap (and live alert) of the next.

    Returns:
        One decision per rule whose trigger matched, in the order of ``rules``.
    """
    out: list[Decision] = []
    fired_visit = set(history.fired_this_visit)
    last = dict(history.last_fired)
    today = history.fired_today
    live = history.live_alert
    for rule in rules:
        current = History(frozenset(fired_visit), tuple(last.items()), today, live)
        decision = decide(rule, occ, subject, current, timezone, daily_cap)
        if decision is None:
            continue
        out.append(decision)
        if decision.fired:
            fired_visit.add(rule.id)
            last[rule.id] = occ.ts
            today += 1
            live = live or rule.action == "alert"
    return out
