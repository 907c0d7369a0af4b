"""Stores, zones, gateways (with live health) and store beacons."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel
from sqlmodel import select

from proximity import tokens

from ..deps import Access, SessionDep, StateDep
from ..models import (
    Beacon,
    BeaconCreate,
    BeaconPublic,
    Gateway,
    GatewayCreate,
    GatewayPublic,
    Store,
    StoreCreate,
    StorePublic,
    StoreUpdate,
    Zone,
    ZoneCreate,
    ZonePublic,
)
from ..security import Principal, new_key

router = APIRouter(tags=["stores"])
OPS = Depends(Access("ops"))


def get_store(session: SessionDep, store_id: str) -> Store:
    """The store or 404."""
    store = session.get(Store, store_id)
    if store is None:
        raise HTTPException(404, f"no store {store_id!r}")
    return store


@router.post("/stores", response_model=StorePublic, status_code=201)
def create_store(
    body: StoreCreate,
    session: SessionDep,
    state: StateDep,
    caller: Annotated[Principal, Depends(Access("ops_tenant"))],
) -> Store:
    """Create a store in the caller's tenant (tenant-wide ops only)."""
    if body.tenant != caller.tenant:
        raise HTTPException(403, "store must be in your tenant")
    if session.get(Store, body.id) is not None:
        raise HTTPException(409, f"store {body.id!r} exists")
    store = Store.model_validate(body, update={"secret_enc": state.vault.seal(new_key())})
    session.add(store)
    session.commit()
    session.refresh(store)
    return store


@router.get("/stores", response_model=list[StorePublic])
def list_stores(
    session: SessionDep, caller: Annotated[Principal, Depends(Access("ops"))]
) -> list[Store]:
    """Stores the caller may see."""
    query = select(Store).where(Store.tenant == caller.tenant)
    if caller.store is not None:
        query = query.where(Store.id == caller.store)
    return list(session.exec(query.order_by(Store.id)).all())


@router.get("/stores/{store_id}", response_model=StorePublic,
            dependencies=[Depends(Access("ops", "associate", "service"))])  # fmt: skip
def read_store(session: SessionDep, store_id: str) -> Store:
    """One store."""
    return get_store(session, store_id)


@router.patch("/stores/{store_id}", response_model=StorePublic, dependencies=[OPS])
def update_store(session: SessionDep, store_id: str, body: StoreUpdate) -> Store:
    """Change name, time zone or daily cap."""
    store = get_store(session, store_id)
    if body.timezone is not None:
        StoreCreate.model_validate({"id": store.id, "name": store.name, "timezone": body.timezone})
    store.sqlmodel_update(body.model_dump(exclude_unset=True, exclude_none=True))
    session.add(store)
    session.commit()
    session.refresh(store)
    return store


@router.post("/stores/{store_id}/zones", response_model=ZonePublic, status_code=201,
             dependencies=[OPS])  # fmt: skip
def create_zone(session: SessionDep, store_id: str, body: ZoneCreate) -> Zone:
    """Add a zone (its id must match the store file's)."""
    get_store(session, store_id)
    if session.exec(select(Zone).where(Zone.store_id == store_id, Zone.zone == body.zone)).first():
        raise HTTPException(409, f"zone {body.zone!r} exists")
    zone = Zone.model_validate(body, update={"store_id": store_id})
    session.add(zone)
    session.commit()
    session.refresh(zone)
    return zone


@router.get("/stores/{store_id}/zones", response_model=list[ZonePublic],
            dependencies=[Depends(Access("ops", "associate"))])  # fmt: skip
def list_zones(session: SessionDep, store_id: str) -> list[Zone]:
    """The store's zones."""
    get_store(session, store_id)
    return list(session.exec(select(Zone).where(Zone.store_id == store_id)).all())


@router.post("/stores/{store_id}/gateways", response_model=GatewayPublic, status_code=201,
             dependencies=[OPS])  # fmt: skip
def create_gateway(session: SessionDep, store_id: str, body: GatewayCreate) -> Gateway:
    """Register a gateway (health arrives over MQTT)."""
    get_store(session, store_id)
    exists = session.exec(
        select(Gateway).where(Gateway.store_id == store_id, Gateway.gateway == body.gateway)
    ).first()
    if exists:
        raise HTTPException(409, f"gateway {body.gateway!r} exists")
    gateway = Gateway.model_validate(body, update={"store_id": store_id})
    session.add(gateway)
    session.commit()
    session.refresh(gateway)
    return gateway


@router.get("/stores/{store_id}/gateways", response_model=list[GatewayPublic],
            dependencies=[OPS])  # fmt: skip
def list_gateways(session: SessionDep, store_id: str) -> list[Gateway]:
    """The store's gateways with their latest status and health."""
    get_store(session, store_id)
    return list(session.exec(select(Gateway).where(Gateway.store_id == store_id)).all())


@router.post("/stores/{store_id}/beacons", response_model=BeaconPublic, status_code=201,
             dependencies=[OPS])  # fmt: skip
def create_beacon(session: SessionDep, store_id: str, body: BeaconCreate) -> Beacon:
    """Register a store beacon (an iBeacon a gateway transmits, minor rotating)."""
    get_store(session, store_id)
    exists = session.exec(
        select(Beacon).where(Beacon.store_id == store_id, Beacon.beacon == body.beacon)
    ).first()
    if exists:
        raise HTTPException(409, f"beacon {body.beacon!r} exists")
    beacon = Beacon.model_validate(body, update={"store_id": store_id})
    session.add(beacon)
    session.commit()
    session.refresh(beacon)
    return beacon


@router.get("/stores/{store_id}/beacons", response_model=list[BeaconPublic],
            dependencies=[Depends(Access("ops", "service"))])  # fmt: skip
def list_beacons(session: SessionDep, store_id: str) -> list[Beacon]:
    """The store's beacons."""
    get_store(session, store_id)
    return list(session.exec(select(Beacon).where(Beacon.store_id == store_id)).all())


class Minors(BaseModel):
    beacon: str
    period_s: int
    minors: dict[str, int]


@router.get("/stores/{store_id}/beacons/{beacon}/minors", response_model=Minors,
            dependencies=[Depends(Access("service"))])  # fmt: skip
def beacon_minors(
    session: SessionDep,
    state: StateDep,
    store_id: str,
    beacon: str,
    ts: Annotated[float | None, Query(allow_inf_nan=False, ge=0, le=1e11)] = None,
    windows: Annotated[int, Query(ge=1, le=96)] = 4,
) -> Minors:
    """Minors the gateway transmitting ``beacon`` should send for the next windows (the
    store secret never leaves the API)."""
    store = get_store(session, store_id)
    row = session.exec(
        select(Beacon).where(Beacon.store_id == store_id, Beacon.beacon == beacon)
    ).first()
    if row is None:
        raise HTTPException(404, f"no beacon {beacon!r}")
    secret = state.vault.open(store.secret_enc)
    period = state.settings.table_period_s
    first = tokens.window_index(state.clock() if ts is None else ts, period)
    minors = {
        str(w): tokens.rotating_minor(secret, beacon, w) for w in range(first, first + windows)
    }
    return Minors(beacon=beacon, period_s=period, minors=minors)
