"""Event ingest: record once per ``event_id``, keep visits, run the rules, act.

Idempotent: a second event with the same ``event_id`` changes nothing (the unique index on
``rawevent.event_id`` settles races between ingest workers). An event whose ``ts`` is more than
``live_max_age_s`` before the API's clock is recorded and updates visits but triggers no rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from .. import rules
from ..models import (
    LIVE_ALERT_STATES,
    Alert,
    Coupon,
    Customer,
    EventIn,
    PickupOrder,
    Purpose,
    RawEvent,
    Rule,
    RuleDecision,
    Store,
    Visit,
    ZoneVisit,
)
from ..security import new_coupon_code
from . import alerts as alerts_crud
from .customers import granted_purposes


@dataclass
class Outcome:
    """What one event did."""

    duplicate: bool = False
    live: bool = False
    alerts: list[Alert] = field(default_factory=list)
    ended: list[Alert] = field(default_factory=list)
    coupons: list[Coupon] = field(default_factory=list)
    decisions: list[RuleDecision] = field(default_factory=list)


def _open_visit(session: Session, store_id: str, subject: str) -> Visit | None:
    return session.exec(
        select(Visit)
        .where(Visit.store_id == store_id, Visit.subject == subject, col(Visit.ended_at).is_(None))
        .order_by(col(Visit.started_at).desc())
    ).first()


def _visit_for(
    session: Session, store_id: str, event: EventIn, customer: Customer | None, analytics: bool
) -> Visit:
    visit: Visit | None = None
    if event.visit_id is not None:
        visit = session.exec(
            select(Visit).where(Visit.store_id == store_id, Visit.visit_key == event.visit_id)
        ).first()
    elif event.type != "store_entry":
        visit = _open_visit(session, store_id, event.device)
    if visit is None:
        key = event.visit_id or f"{event.device}@{event.ts:.3f}"
        # a store_entry's ``since`` is the engine's estimate of when she came in
        began = event.since if event.type == "store_entry" and event.since is not None else None
        visit = Visit(store_id=store_id, visit_key=key, subject=event.device,
                      customer_id=customer.id if customer and analytics else None,
                      started_at=event.ts if began is None else min(began, event.ts))  # fmt: skip
        session.add(visit)
        session.flush()
    return visit


def _track(session: Session, visit: Visit, event: EventIn) -> None:
    assert visit.id is not None
    if event.type == "zone_enter" and event.zone is not None:
        session.add(ZoneVisit(visit_id=visit.id, store_id=visit.store_id, zone=event.zone,
                              entered_at=event.ts))  # fmt: skip
    elif event.type == "zone_exit" and event.zone is not None:
        open_zone = session.exec(
            select(ZoneVisit)
            .where(
                ZoneVisit.visit_id == visit.id,
                ZoneVisit.zone == event.zone,
                col(ZoneVisit.exited_at).is_(None),
            )
            .order_by(col(ZoneVisit.entered_at).desc())
        ).first()
        if open_zone is None:
            since = event.since if event.since is not None else event.ts
            open_zone = ZoneVisit(visit_id=visit.id, store_id=visit.store_id, zone=event.zone,
                                  entered_at=since)  # fmt: skip
        open_zone.exited_at = event.ts
        open_zone.dwell_s = max(0.0, event.ts - open_zone.entered_at)
        session.add(open_zone)
    elif event.type == "store_exit":
        visit.ended_at = event.ts
        session.add(visit)


def _spec(rule: Rule) -> rules.RuleSpec:
    assert rule.id is not None
    return rules.RuleSpec(
        id=rule.id, trigger=rule.trigger, action=rule.action, enabled=rule.enabled,
        zone=rule.zone, min_dwell_s=rule.min_dwell_s, tiers=tuple(rule.tiers),
        tags=tuple(rule.tags), purpose=rule.purpose, weekdays=tuple(rule.weekdays),
        start_time=rule.start_time, end_time=rule.end_time, quiet_start=rule.quiet_start,
        quiet_end=rule.quiet_end, cooldown_s=rule.cooldown_s, once_per_visit=rule.once_per_visit,
    )  # fmt: skip


def _history(
    session: Session, store: Store, customer_id: int, visit_key: str, ts: float
) -> rules.History:
    fired = session.exec(
        select(RuleDecision).where(
            RuleDecision.customer_id == customer_id, col(RuleDecision.fired).is_(True)
        )
    ).all()
    start = rules.day_start(ts, store.timezone)
    last: dict[int, float] = {}
    for d in fired:
        last[d.rule_id] = max(last.get(d.rule_id, d.ts), d.ts)
    live = session.exec(
        select(Alert.id).where(
            Alert.store_id == store.id,
            Alert.visit_key == visit_key,
            col(Alert.status).in_(LIVE_ALERT_STATES),
        )
    ).first()
    return rules.History(
        fired_this_visit=frozenset(d.rule_id for d in fired if d.visit_key == visit_key),
        last_fired=tuple(last.items()),
        fired_today=sum(1 for d in fired if start <= d.ts),
        live_alert=live is not None,
    )


def ingest(
    session: Session, store_id: str, event: EventIn, now: float, live_max_age_s: float
) -> Outcome:
    """Record ``event`` of ``store_id`` and act on it. Commits.

    Args:
        session: Database session.
        store_id: The store whose engine sent the event.
        event: The contract event.
        now: The API's clock, seconds since the epoch.
        live_max_age_s: Older events are recorded but trigger nothing.

    Returns:
        What happened (nothing but ``duplicate`` for an event seen before).
    """
    outcome = Outcome()
    if session.exec(select(RawEvent.id).where(RawEvent.event_id == event.event_id)).first():
        return Outcome(duplicate=True)
    store = session.get(Store, store_id)
    outcome.live = store is not None and now - event.ts <= live_max_age_s
    raw = RawEvent(event_id=event.event_id, store_id=store_id, type=event.type,
                   subject=event.device, zone=event.zone, ts=event.ts, received_at=now,
                   live=outcome.live, payload=event.model_dump(exclude_none=True))  # fmt: skip
    session.add(raw)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return Outcome(duplicate=True)
    if store is None:
        session.commit()
        return outcome
    customer = session.exec(select(Customer).where(Customer.subject == event.device)).first()
    consents = granted_purposes(session, customer.id) if customer and customer.id else frozenset()
    visit = _visit_for(session, store_id, event, customer, Purpose.ANALYTICS.value in consents)
    _track(session, visit, event)
    if event.type == "store_exit":
        outcome.ended = alerts_crud.end_visit(session, store_id, visit.visit_key, now)
    if outcome.live and customer is not None and customer.id is not None and consents:
        _run_rules(session, store, customer, consents, visit, event, now, outcome)
    session.commit()
    return outcome


def _run_rules(
    session: Session,
    store: Store,
    customer: Customer,
    consents: frozenset[str],
    visit: Visit,
    event: EventIn,
    now: float,
    outcome: Outcome,
) -> None:
    assert customer.id is not None
    waiting = session.exec(
        select(PickupOrder.id).where(
            PickupOrder.customer_id == customer.id,
            PickupOrder.store_id == store.id,
            PickupOrder.status == "waiting",
        )
    ).first()
    subject = rules.Subject(
        tier=customer.tier, tags=frozenset(customer.tags), consents=consents,
        no_approach=bool(customer.preferences.get("no_approach", False)),
        pickup_waiting=waiting is not None,
    )  # fmt: skip
    rows = session.exec(select(Rule).where(Rule.store_id == store.id).order_by(col(Rule.id))).all()
    by_id = {r.id: r for r in rows}
    occurrence = rules.Occurrence(event.type, event.zone, event.ts, event.dwell_s)
    history = _history(session, store, customer.id, visit.visit_key, event.ts)
    decisions = rules.decide_all(
        [_spec(r) for r in rows], occurrence, subject, history, store.timezone, store.daily_cap
    )
    for decision in decisions:
        row = RuleDecision(rule_id=decision.rule_id, customer_id=customer.id,
                           event_id=event.event_id, visit_key=visit.visit_key,
                           fired=decision.fired, reason=decision.reason, ts=event.ts)  # fmt: skip
        session.add(row)
        outcome.decisions.append(row)
        if not decision.fired:
            continue
        rule = by_id[decision.rule_id]
        if rule.action == "alert":
            outcome.alerts.append(
                alerts_crud.create(
                    session,
                    store.id,
                    customer,
                    rule.id,
                    visit.visit_key,
                    event.zone,
                    rule.message,
                    event.ts,
                    now,
                )
            )
        else:
            coupon = Coupon(code=new_coupon_code(), store_id=store.id, customer_id=customer.id,
                            rule_id=rule.id, visit_key=visit.visit_key, text=rule.coupon_text,
                            issued_at=now, valid_until=now + rule.coupon_valid_s)  # fmt: skip
            session.add(coupon)
            outcome.coupons.append(coupon)
    session.flush()
