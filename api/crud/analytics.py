"""Store analytics over a time range: footfall, visits, dwell, alert response, coupons.

Counts of visits and footfall are over pseudonymous subjects; nothing here names a customer.
Hours are local to the store (``HH`` 00..23).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from pydantic import BaseModel
from sqlmodel import Session, col, select

from ..models import Alert, Coupon, CouponStatus, Store, Visit, ZoneVisit
from ..rules import local_time

DWELL_EDGES_S = (30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)
"""Upper edges of the dwell histogram, seconds (the last bucket is open)."""


class DwellStats(BaseModel):
    zone: str
    visits: int
    median_s: float | None
    p90_s: float | None
    histogram: dict[str, int]


class Analytics(BaseModel):
    store_id: str
    start: float
    end: float
    footfall_by_hour: dict[str, int]
    visits: int
    visitors: int
    repeat_visitors: int
    dwell: list[DwellStats]
    alerts: int
    alerts_claimed: int
    alert_response_median_s: float | None
    alert_response_p90_s: float | None
    coupons_issued: int
    coupons_redeemed: int
    coupon_conversion: float | None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _bucket(dwell: float) -> str:
    for edge in DWELL_EDGES_S:
        if dwell < edge:
            return f"<{edge:g}"
    return f">={DWELL_EDGES_S[-1]:g}"


def compute(session: Session, store: Store, start: float, end: float) -> Analytics:
    """Analytics of ``store`` for visits starting in [start, end) (seconds since the epoch)."""
    visits = session.exec(
        select(Visit).where(
            Visit.store_id == store.id, col(Visit.started_at) >= start, col(Visit.started_at) < end
        )
    ).all()
    hours: Counter[str] = Counter()
    for v in visits:
        hours[f"{local_time(v.started_at, store.timezone).hour:02d}"] += 1
    per_subject = Counter(v.subject for v in visits if v.subject != "erased")
    zone_rows = session.exec(
        select(ZoneVisit).where(
            ZoneVisit.store_id == store.id,
            col(ZoneVisit.entered_at) >= start,
            col(ZoneVisit.entered_at) < end,
            col(ZoneVisit.dwell_s).is_not(None),
        )
    ).all()
    by_zone: dict[str, list[float]] = defaultdict(list)
    for z in zone_rows:
        by_zone[z.zone].append(float(z.dwell_s or 0.0))
    dwell = [
        DwellStats(
            zone=zone,
            visits=len(values),
            median_s=_quantile(values, 0.5),
            p90_s=_quantile(values, 0.9),
            histogram=dict(Counter(_bucket(d) for d in values)),
        )
        for zone, values in sorted(by_zone.items())
    ]
    alerts = session.exec(
        select(Alert).where(
            Alert.store_id == store.id, col(Alert.created_at) >= start, col(Alert.created_at) < end
        )
    ).all()
    responses = [a.claimed_at - a.created_at for a in alerts if a.claimed_at is not None]
    coupons = session.exec(
        select(Coupon).where(
            Coupon.store_id == store.id, col(Coupon.issued_at) >= start, col(Coupon.issued_at) < end
        )
    ).all()
    redeemed = sum(1 for c in coupons if c.status == CouponStatus.REDEEMED)
    return Analytics(
        store_id=store.id, start=start, end=end, footfall_by_hour=dict(sorted(hours.items())),
        visits=len(visits), visitors=len(per_subject),
        repeat_visitors=sum(1 for n in per_subject.values() if n > 1), dwell=dwell,
        alerts=len(alerts), alerts_claimed=len(responses),
        alert_response_median_s=_quantile(responses, 0.5),
        alert_response_p90_s=_quantile(responses, 0.9), coupons_issued=len(coupons),
        coupons_redeemed=redeemed,
        coupon_conversion=redeemed / len(coupons) if coupons else None,
    )  # fmt: skip
