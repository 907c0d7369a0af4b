"""Coupons at the till: verify locks the coupon to one POS, redeem uses it once.

Both steps are single conditional UPDATEs, so two tills racing for one coupon cannot both win.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from ..models import Coupon, CouponStatus


class CouponError(Exception):
    """A coupon that cannot be verified or redeemed (the message says why)."""


def verify(
    session: Session, store_id: str, code: str, customer_id: int, pos: str, now: float,
    lock_s: float,
) -> Coupon:  # fmt: skip
    """Check the coupon belongs to this customer and store and is valid; lock it to ``pos``.

    A lock older than ``lock_s`` (an abandoned till) may be taken over.

    Raises:
        CouponError: Unknown, someone else's, expired, used, or locked by another till.
    """
    coupon = session.exec(select(Coupon).where(Coupon.code == code)).first()
    if coupon is None or coupon.store_id != store_id or coupon.customer_id != customer_id:
        raise CouponError("no such coupon for this customer in this store")
    if coupon.status == CouponStatus.REDEEMED:
        raise CouponError("coupon already redeemed")
    if not coupon.issued_at <= now < coupon.valid_until:
        raise CouponError("coupon is not valid now")
    result = session.execute(
        update(Coupon)
        .where(
            col(Coupon.id) == coupon.id,
            or_(
                col(Coupon.status) == CouponStatus.ISSUED,
                and_(col(Coupon.status) == CouponStatus.LOCKED,
                     or_(col(Coupon.locked_by) == pos, col(Coupon.locked_at) < now - lock_s)),
            ),
        )
        .values(status=CouponStatus.LOCKED, locked_by=pos, locked_at=now)
    )  # fmt: skip
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise CouponError("coupon is locked by another till")
    session.refresh(coupon)
    return coupon


def redeem(session: Session, store_id: str, code: str, pos: str, now: float) -> Coupon:
    """Use a coupon this till verified (locked).

    Raises:
        CouponError: Not verified by this till first, or already redeemed.
    """
    coupon = session.exec(select(Coupon).where(Coupon.code == code)).first()
    if coupon is None or coupon.store_id != store_id:
        raise CouponError("no such coupon in this store")
    result = session.execute(
        update(Coupon)
        .where(
            col(Coupon.id) == coupon.id,
            col(Coupon.status) == CouponStatus.LOCKED,
            col(Coupon.locked_by) == pos,
            col(Coupon.valid_until) > now,
        )
        .values(status=CouponStatus.REDEEMED, redeemed_at=now)
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise CouponError("coupon must be verified by this till first (or it was redeemed)")
    session.refresh(coupon)
    return coupon
