"""Store analytics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ..crud.analytics import Analytics, compute
from ..deps import Access, SessionDep, StateDep
from .stores import get_store

router = APIRouter(tags=["analytics"])
Seconds = Annotated[float | None, Query(allow_inf_nan=False, ge=0, le=1e11)]


@router.get("/stores/{store_id}/analytics", response_model=Analytics,
            dependencies=[Depends(Access("ops"))])  # fmt: skip
def analytics(
    session: SessionDep, state: StateDep, store_id: str, start: Seconds = None, end: Seconds = None
) -> Analytics:
    """Footfall per local hour, visits and repeat visitors, dwell per zone, alert response
    time and coupon conversion for visits starting in [start, end) (default: the last 24 h)."""
    store = get_store(session, store_id)
    stop = state.clock() if end is None else end
    return compute(session, store, stop - 86400 if start is None else start, stop)
