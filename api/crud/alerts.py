"""Associate alerts: creation with routing, claim, resolve, escalation and expiry."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from .. import routing
from ..models import (
    LIVE_ALERT_STATES,
    Alert,
    AlertPublic,
    AlertStatus,
    Associate,
    Customer,
    PickupOrder,
)


class AlertConflictError(Exception):
    """An alert cannot move that way (already claimed, resolved, or not the claimer)."""


def staff_of(session: Session, store_id: str) -> list[routing.Staff]:
    """The store's associates as routing sees them."""
    rows = session.exec(select(Associate).where(Associate.store_id == store_id)).all()
    return [routing.Staff(a.id or 0, frozenset(a.zones), a.on_shift) for a in rows]


def _primary(session: Session, customer: Customer, store_id: str) -> int | None:
    if customer.primary_associate_id is None:
        return None
    associate = session.get(Associate, customer.primary_associate_id)
    if associate is None or associate.store_id != store_id:
        return None
    return associate.id


def create(
    session: Session,
    store_id: str,
    customer: Customer,
    rule_id: int | None,
    visit_key: str,
    zone: str | None,
    message: str,
    event_ts: float,
    now: float,
) -> Alert:
    """A new offered alert, routed to its first level."""
    level, ids = routing.route(
        staff_of(session, store_id), zone, _primary(session, customer, store_id)
    )
    assert customer.id is not None
    alert = Alert(store_id=store_id, customer_id=customer.id, rule_id=rule_id,
                  visit_key=visit_key, zone=zone, message=message, level=level,
                  associate_ids=ids, event_ts=event_ts, created_at=now, offered_at=now)  # fmt: skip
    session.add(alert)
    session.flush()
    return alert


def public(session: Session, alert: Alert) -> AlertPublic:
    """The alert as the feed and list show it (the customer's name, tier, purchases)."""
    customer = session.get(Customer, alert.customer_id)
    waiting = session.exec(
        select(PickupOrder.id).where(
            PickupOrder.customer_id == alert.customer_id,
            PickupOrder.store_id == alert.store_id,
            PickupOrder.status == "waiting",
        )
    ).first()
    assert alert.id is not None
    return AlertPublic(
        id=alert.id, store_id=alert.store_id, customer_id=alert.customer_id,
        customer_name=customer.name if customer else "", tier=customer.tier if customer else "",
        recent_purchases=list(customer.recent_purchases) if customer else [],
        pickup_waiting=waiting is not None, rule_id=alert.rule_id, visit_key=alert.visit_key,
        zone=alert.zone, message=alert.message, status=alert.status, level=alert.level,
        associate_ids=list(alert.associate_ids), claimed_by=alert.claimed_by,
        event_ts=alert.event_ts, created_at=alert.created_at, offered_at=alert.offered_at,
        claimed_at=alert.claimed_at, resolved_at=alert.resolved_at, escalations=alert.escalations,
    )  # fmt: skip


def feed_message(session: Session, alert: Alert) -> dict[str, Any]:
    """JSON for the SSE feed."""
    return public(session, alert).model_dump(mode="json")


def claim(session: Session, alert: Alert, associate_id: int, now: float) -> Alert:
    """Offered -> claimed by ``associate_id``.

    Raises:
        AlertConflictError: The alert is not offered any more.
    """
    if alert.status != AlertStatus.OFFERED:
        raise AlertConflictError(f"alert is {alert.status}, not offered")
    alert.status = AlertStatus.CLAIMED
    alert.claimed_by = associate_id
    alert.claimed_at = now
    session.add(alert)
    return alert


def resolve(session: Session, alert: Alert, associate_id: int | None, now: float) -> Alert:
    """Claimed -> resolved (by the claimer, or by ops when ``associate_id`` is None).

    Raises:
        AlertConflictError: Not claimed, or claimed by someone else.
    """
    if alert.status != AlertStatus.CLAIMED:
        raise AlertConflictError(f"alert is {alert.status}, not claimed")
    if associate_id is not None and alert.claimed_by != associate_id:
        raise AlertConflictError("alert is claimed by another associate")
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at = now
    session.add(alert)
    return alert


def end_visit(session: Session, store_id: str, visit_key: str, now: float) -> list[Alert]:
    """The customer left: their live alerts for that visit expire."""
    alerts = session.exec(
        select(Alert).where(
            Alert.store_id == store_id,
            Alert.visit_key == visit_key,
            col(Alert.status).in_(LIVE_ALERT_STATES),
        )
    ).all()
    for alert in alerts:
        alert.status = AlertStatus.EXPIRED
        alert.resolved_at = now
        session.add(alert)
    return list(alerts)


def escalate_due(session: Session, now: float, escalate_s: float, expire_s: float) -> list[Alert]:
    """Move on offered alerts unclaimed for ``escalate_s``; expire live ones older than
    ``expire_s``. Commits.

    Returns:
        The alerts that changed.
    """
    changed: list[Alert] = []
    offered = session.exec(
        select(Alert).where(
            col(Alert.status).in_(LIVE_ALERT_STATES),
            col(Alert.offered_at) <= now - min(escalate_s, expire_s),
        )
    ).all()
    for alert in offered:
        if now - alert.created_at >= expire_s:
            alert.status = AlertStatus.EXPIRED
            alert.resolved_at = now
        elif alert.status == AlertStatus.OFFERED and alert.level != "store":
            customer = session.get(Customer, alert.customer_id)
            primary = _primary(session, customer, alert.store_id) if customer else None
            level, ids = routing.route(
                staff_of(session, alert.store_id), alert.zone, primary, alert.level,
                alert.associate_ids,
            )  # fmt: skip
            alert.level = level
            alert.associate_ids = ids
            alert.offered_at = now
            alert.escalations += 1
        else:
            continue
        session.add(alert)
        changed.append(alert)
    session.commit()
    return changed
