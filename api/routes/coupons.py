"""Coupons: the POS verifies (locks) then redeems; ops list them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from sqlmodel import col, select

from ..crud import coupons as crud
from ..deps import Access, SessionDep, StateDep
from ..models import Coupon, CouponPublic, CouponRedeem, CouponVerify
from .stores import get_store

router = APIRouter(tags=["coupons"])
POS = Depends(Access("service", "associate", "ops"))


@router.post("/stores/{store_id}/coupons/verify", response_model=CouponPublic,
             dependencies=[POS])  # fmt: skip
def verify_coupon(
    session: SessionDep, state: StateDep, store_id: str, body: CouponVerify
) -> Coupon:
    """Check a coupon for this customer and lock it to the till (409 when it cannot be used)."""
    get_store(session, store_id)
    try:
        return crud.verify(session, store_id, body.code, body.customer_id, body.pos,
                           state.clock(), state.settings.coupon_lock_s)  # fmt: skip
    except crud.CouponError as exc:
        raise HTTPException(409, str(exc)) from exc


@router.post("/stores/{store_id}/coupons/redeem", response_model=CouponPublic,
             dependencies=[POS])  # fmt: skip
def redeem_coupon(
    session: SessionDep, state: StateDep, store_id: str, body: CouponRedeem
) -> Coupon:
    """Use a coupon the same till verified: single use."""
    get_store(session, store_id)
    try:
        return crud.redeem(session, store_id, body.code, body.pos, state.clock())
    except crud.CouponError as exc:
        raise HTTPException(409, str(exc)) from exc


@router.get("/stores/{store_id}/coupons", response_model=list[CouponPublic],
            dependencies=[Depends(Access("ops"))])  # fmt: skip
def list_coupons(session: SessionDep, store_id: str, limit: int = 200) -> list[Coupon]:
    """Coupons issued in the store, newest first."""
    get_store(session, store_id)
    query = (
        select(Coupon)
        .where(Coupon.store_id == store_id)
        .order_by(col(Coupon.id).desc())
        .limit(max(1, min(limit, 1000)))
    )
    return list(session.exec(query).all())
