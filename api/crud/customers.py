"""Customers, enrollment, consent, keys, erasure and the engine's resolution table."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from proximity import tokens

from ..models import (
    LIVE_ALERT_STATES,
    Alert,
    AlertStatus,
    Consent,
    ConsentPublic,
    Coupon,
    CouponStatus,
    Customer,
    DeviceKey,
    Purpose,
    Visit,
)
from ..security import Vault, new_key, subject_id


def consents_of(session: Session, customer_id: int) -> list[Consent]:
    """Every consent row of a customer, by purpose."""
    rows = session.exec(select(Consent).where(Consent.customer_id == customer_id)).all()
    return sorted(rows, key=lambda c: c.purpose)


def granted_purposes(session: Session, customer_id: int) -> frozenset[str]:
    """Purposes the customer has granted and not withdrawn."""
    return frozenset(c.purpose for c in consents_of(session, customer_id) if c.granted)


def consent_public(rows: Iterable[Consent]) -> list[ConsentPublic]:
    """Rows as the API shows them."""
    return [
        ConsentPublic(
            purpose=Purpose(c.purpose),
            granted=c.granted,
            notice_version=c.notice_version,
            granted_at=c.granted_at,
            withdrawn_at=c.withdrawn_at,
        )
        for c in rows
    ]


def assign_subject(session: Session, customer: Customer, secret: str) -> None:
    """Give a freshly inserted customer its pseudonymous subject id."""
    assert customer.id is not None
    customer.subject = subject_id(secret, customer.id)
    session.add(customer)


def grant(
    session: Session, customer_id: int, purposes: Iterable[Purpose], notice: str, now: float
) -> None:
    """Grant ``purposes`` under notice version ``notice`` (re-granting updates the version)."""
    existing = {c.purpose: c for c in consents_of(session, customer_id)}
    for purpose in dict.fromkeys(purposes):
        row = existing.get(purpose.value)
        if row is None:
            row = Consent(customer_id=customer_id, purpose=purpose.value, granted=True,
                          notice_version=notice, granted_at=now)  # fmt: skip
        else:
            row.granted = True
            row.notice_version = notice
            row.granted_at = now
            row.withdrawn_at = None
        session.add(row)


def ensure_key(session: Session, vault: Vault, customer_id: int, now: float) -> bytes | None:
    """Create the customer's device key if there is none; return it only when new."""
    existing = session.exec(select(DeviceKey).where(DeviceKey.customer_id == customer_id)).first()
    if existing is not None:
        return None
    key = new_key()
    session.add(DeviceKey(customer_id=customer_id, key_enc=vault.seal(key), created_at=now))
    return key


def _cancel_live(session: Session, customer_id: int, now: float) -> list[Alert]:
    alerts = session.exec(
        select(Alert).where(
            Alert.customer_id == customer_id, col(Alert.status).in_(LIVE_ALERT_STATES)
        )
    ).all()
    for alert in alerts:
        alert.status = AlertStatus.CANCELLED
        alert.resolved_at = now
        session.add(alert)
    return list(alerts)


def withdraw(
    session: Session, customer_id: int, purposes: Iterable[Purpose], now: float
) -> list[Alert]:
    """Withdraw ``purposes``. With none left the device key is deleted, so every token of the
    customer becomes unresolvable. Live alerts stop at once when recognition is withdrawn.

    Returns:
        Alerts cancelled (to announce on the feed).
    """
    chosen = {p.value for p in purposes}
    for row in consents_of(session, customer_id):
        if row.purpose in chosen and row.granted:
            row.granted = False
            row.withdrawn_at = now
            session.add(row)
    session.flush()
    cancelled: list[Alert] = []
    if Purpose.ASSOCIATE_RECOGNITION.value in chosen:
        cancelled = _cancel_live(session, customer_id, now)
    if not granted_purposes(session, customer_id):
        for key in session.exec(select(DeviceKey).where(DeviceKey.customer_id == customer_id)):
            session.delete(key)
    return cancelled


def erase(session: Session, customer: Customer, now: float) -> list[Alert]:
    """Remove the customer's personal data; keep a tombstone row for counts and foreign keys.

    Deletes the key and consents, blanks the profile, drops the subject id (so the engine's
    pseudonym no longer maps to anyone), unlinks visits and deletes unredeemed coupons.
    """
    assert customer.id is not None
    cancelled = _cancel_live(session, customer.id, now)
    for row in session.exec(select(DeviceKey).where(DeviceKey.customer_id == customer.id)):
        session.delete(row)
    for consent in consents_of(session, customer.id):
        session.delete(consent)
    for visit in session.exec(select(Visit).where(Visit.customer_id == customer.id)):
        visit.customer_id = None
        visit.subject = "erased"
        session.add(visit)
    for coupon in session.exec(
        select(Coupon).where(
            Coupon.customer_id == customer.id, Coupon.status != CouponStatus.REDEEMED
        )
    ):
        session.delete(coupon)
    for alert in session.exec(select(Alert).where(Alert.customer_id == customer.id)):
        alert.message = ""
        session.add(alert)
    customer.name = "erased"
    customer.tier = "standard"
    customer.tags = []
    customer.preferences = {}
    customer.notes = ""
    customer.recent_purchases = []
    customer.primary_associate_id = None
    customer.subject = None
    customer.erased_at = now
    session.add(customer)
    return cancelled


def resolution_table(
    session: Session,
    vault: Vault,
    tenant: str,
    ts: float,
    period_s: int,
    purpose: Purpose | None = None,
) -> tokens.ResolutionTable:
    """Tokens of windows w-1..w+1 around ``ts`` -> subject id, for consenting customers.

    Args:
        session: Database session.
        vault: Decrypts the device keys.
        tenant: Customers of this tenant only.
        ts: Time, seconds since the epoch.
        period_s: Token window, seconds.
        purpose: Only customers with this purpose; None: any granted purpose.
    """
    query = (
        select(Customer, DeviceKey)
        .join(DeviceKey, col(DeviceKey.customer_id) == col(Customer.id))
        .where(Customer.tenant == tenant, col(Customer.erased_at).is_(None))
    )
    wanted = [purpose.value] if purpose is not None else [p.value for p in Purpose]
    consenting = select(Consent.customer_id).where(
        col(Consent.purpose).in_(wanted), col(Consent.granted).is_(True)
    )
    query = query.where(col(Customer.id).in_(consenting))
    keys: dict[str, bytes] = {}
    for customer, key in session.exec(query):
        if customer.subject is not None:
            keys[customer.subject] = vault.open(key.key_enc)
    return tokens.build_table(keys, ts, period_s)
