"""What the associate feed and the ops console need beyond the resource routes: the store
layout (map and zone editor; saving it publishes the retained engine config), live anonymous
occupancy per zone, and the customer card of an alert."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlmodel import Session, col, func, select

from ..deps import Access, RowId, SessionDep, StateDep
from ..layouts import LayoutError, keep_layout, publish_retained, read_layout, validate_layout
from ..models import Alert, Customer, PickupOrder, Visit, Zone, ZoneVisit
from .stores import get_store

log = logging.getLogger("proximity.api.floor")
router = APIRouter(tags=["floor"])
OPS = Depends(Access("ops"))
FLOOR = Depends(Access("ops", "associate"))


class LayoutIn(BaseModel):
    """A store file as JSON (``store``, ``gateways``, ``zones``, ``engine``)."""

    store: dict[str, Any]
    gateways: list[dict[str, Any]] = Field(default_factory=list, max_length=500)
    zones: list[dict[str, Any]] = Field(default_factory=list, max_length=500)
    engine: dict[str, Any] = Field(default_factory=dict)


class LayoutOut(BaseModel):
    """The layout as kept, and whether it reached the broker as the retained config."""

    layout: dict[str, Any]
    published: bool
    detail: str


@router.get("/stores/{store_id}/layout", response_model=dict[str, Any], dependencies=[FLOOR])
def get_layout(session: SessionDep, store_id: str) -> dict[str, Any]:
    """The store file the engine runs with (as last saved here), for the map."""
    get_store(session, store_id)
    layout = read_layout(session, store_id)
    if layout is None:
        raise HTTPException(404, f"no layout for store {store_id!r} yet")
    return layout


def _sync_zones(session: Session, store_id: str, layout: dict[str, Any]) -> None:
    """Zone rows follow the layout's zones (kind and dwell threshold)."""
    rows = {z.zone: z for z in session.exec(select(Zone).where(Zone.store_id == store_id)).all()}
    for item in layout["zones"]:
        row = rows.get(item["id"]) or Zone(store_id=store_id, zone=item["id"], kind=item["kind"])
        row.kind = item["kind"]
        row.dwell_s = item.get("dwell_s")
        session.add(row)
    session.commit()


@router.put("/stores/{store_id}/layout", response_model=LayoutOut, dependencies=[OPS])
async def save_layout(
    session: SessionDep, state: StateDep, store_id: str, body: LayoutIn
) -> LayoutOut:
    """Validate the store file, keep it, and publish it as the retained config of the store
    (``prox/v1/{store}/config``) so the running engine uses it from its next events. A
    layout that is not a valid store file is refused whole (422 naming the field)."""
    get_store(session, store_id)
    try:
        store = validate_layout(store_id, body.model_dump(mode="json"))
    except LayoutError as exc:
        loc = ["body", *(exc.field.split(".") if exc.field else [])]
        raise HTTPException(
            422, [{"loc": loc, "msg": exc.message, "type": "value_error.layout"}]
        ) from exc
    layout = keep_layout(session, store, state.clock())
    _sync_zones(session, store_id, layout)  # commits both
    if not state.settings.mqtt.enabled:
        return LayoutOut(layout=layout, published=False, detail="MQTT is not enabled")
    try:
        await publish_retained(state.settings.mqtt, store)
    except OSError as exc:
        log.warning("layout of %s kept but not published: %s", store_id, exc)
        return LayoutOut(layout=layout, published=False, detail=str(exc))
    return LayoutOut(layout=layout, published=True, detail="published as the retained config")


class Occupancy(BaseModel):
    """Anonymous head counts: devices in the store and per zone, right now."""

    store_id: str
    in_store: int
    zones: dict[str, int]


@router.get("/stores/{store_id}/occupancy", response_model=Occupancy, dependencies=[FLOOR])
def occupancy(
    session: SessionDep,
    state: StateDep,
    store_id: str,
    window_s: Annotated[float, Query(gt=0, le=7 * 86400)] = 4 * 3600,
) -> Occupancy:
    """Open visits and their current zone (visits begun within ``window_s`` seconds, so a
    visit whose exit was never received does not count forever). Counts only."""
    get_store(session, store_id)
    since = state.clock() - window_s
    open_visits = (
        select(Visit.id)
        .where(Visit.store_id == store_id, col(Visit.ended_at).is_(None))
        .where(col(Visit.started_at) >= since)
    )
    in_store = session.exec(select(func.count()).select_from(open_visits.subquery())).one()
    rows = session.exec(
        select(ZoneVisit.zone, func.count(func.distinct(ZoneVisit.visit_id)))
        .where(ZoneVisit.store_id == store_id, col(ZoneVisit.exited_at).is_(None))
        .where(col(ZoneVisit.visit_id).in_(open_visits))
        .group_by(ZoneVisit.zone)
    ).all()
    return Occupancy(store_id=store_id, in_store=int(in_store), zones={z: int(n) for z, n in rows})


class Card(BaseModel):
    """What an associate sees about the customer of an alert."""

    alert_id: int
    customer_id: int
    name: str
    initials: str
    tier: str
    preferences: dict[str, Any]
    recent_purchases: list[str]
    pickup_orders: list[str] = Field(description="References of waiting pickup orders.")
    zone_now: str | None = Field(description="Zone the customer is in now (None: unknown).")
    in_store: bool
    zone_since: float | None = Field(description="Entered ``zone_now`` at, seconds.")


def initials(name: str) -> str:
    """Up to two capital initials of ``name`` ("maria de la cruz" -> "MC")."""
    words = [w for w in name.replace("-", " ").split() if w[:1].isalpha()]
    if not words:
        return "?"
    picked = [words[0], words[-1]] if len(words) > 1 else words[:1]
    return "".join(w[0].upper() for w in picked)


@router.get("/stores/{store_id}/alerts/{alert_id}/card", response_model=Card,
            dependencies=[FLOOR])  # fmt: skip
def alert_card(session: SessionDep, store_id: str, alert_id: RowId) -> Card:
    """The customer card of an alert: profile the customer agreed to share, waiting pickup
    orders, and where in the store she is now."""
    alert = session.get(Alert, alert_id)
    if alert is None or alert.store_id != store_id:
        raise HTTPException(404, f"no alert {alert_id}")
    customer = session.get(Customer, alert.customer_id)
    if customer is None:
        raise HTTPException(404, f"no customer for alert {alert_id}")
    orders = session.exec(
        select(PickupOrder.reference).where(
            PickupOrder.customer_id == alert.customer_id,
            PickupOrder.store_id == store_id,
            PickupOrder.status == "waiting",
        )
    ).all()
    visit = session.exec(
        select(Visit).where(Visit.store_id == store_id, Visit.visit_key == alert.visit_key)
    ).first()
    zone_now: str | None = None
    since: float | None = None
    in_store = visit is not None and visit.ended_at is None
    if visit is not None and in_store:
        current = session.exec(
            select(ZoneVisit)
            .where(ZoneVisit.visit_id == visit.id, col(ZoneVisit.exited_at).is_(None))
            .order_by(col(ZoneVisit.entered_at).desc())
        ).first()
        if current is not None:
            zone_now, since = current.zone, current.entered_at
    return Card(
        alert_id=alert_id, customer_id=alert.customer_id, name=customer.name,
        initials=initials(customer.name), tier=customer.tier,
        preferences=dict(customer.preferences), recent_purchases=list(customer.recent_purchases),
        pickup_orders=list(orders), zone_now=zone_now, in_store=in_store, zone_since=since,
    )  # fmt: skip
