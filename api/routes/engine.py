"""What store engines use: the resolution table, HTTP event ingest, and phone sightings."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from sqlmodel import select

from ..crud import customers as customers_crud
from ..crud.ingest import ingest
from ..deps import RATE_LIMITED, Access, AppState, SessionDep, StateDep, rate_limit
from ..models import (
    Beacon,
    Customer,
    EventIn,
    IngestResult,
    Purpose,
    SightingBatch,
    SightingResult,
    Store,
)
from ..security import Principal
from ..sightings import check_sighting
from .stores import get_store

router = APIRouter(tags=["engine"])


@router.get("/stores/{store_id}/resolution-table",
            dependencies=[Depends(Access("service"))])  # fmt: skip
def resolution_table(
    session: SessionDep,
    state: StateDep,
    store_id: str,
    purpose: Purpose | None = None,
    ts: Annotated[float | None, Query(allow_inf_nan=False, ge=0, le=1e11)] = None,
) -> dict[str, Any]:
    """Tokens of the windows around now -> pseudonymous subject ids, for customers with
    consent (``purpose``, or any purpose). The body is `proximity.tokens.ResolutionTable`'s
    JSON form, which a hub loads with ``hub.resolution.url``."""
    store = get_store(session, store_id)
    table = customers_crud.resolution_table(
        session, state.vault, store.tenant, state.clock() if ts is None else ts,
        state.settings.table_period_s, purpose,
    )  # fmt: skip
    return table.to_json()


def publish_outcome(state: AppState, store_id: str, outcome: Any, session: Any) -> None:
    """Announce the alerts an ingest raised or ended on the live feed."""
    from ..crud.alerts import feed_message

    for alert in [*outcome.alerts, *outcome.ended]:
        state.feed.publish(store_id, feed_message(session, alert))


@router.post("/stores/{store_id}/events", response_model=IngestResult,
             dependencies=[Depends(Access("service"))])  # fmt: skip
def post_event(session: SessionDep, state: StateDep, store_id: str, body: EventIn) -> IngestResult:
    """Ingest one contract event over HTTP (same path as the MQTT consumer)."""
    get_store(session, store_id)
    outcome = ingest(session, store_id, body, state.clock(), state.settings.live_max_age_s)
    publish_outcome(state, store_id, outcome, session)
    return IngestResult(
        event_id=body.event_id, duplicate=outcome.duplicate, live=outcome.live,
        alerts=[a.id for a in outcome.alerts if a.id is not None],
        coupons=[c.id for c in outcome.coupons if c.id is not None],
    )  # fmt: skip


@router.post("/me/sightings", response_model=SightingResult, responses=RATE_LIMITED)
def post_sightings(
    body: SightingBatch,
    session: SessionDep,
    state: StateDep,
    caller: Annotated[Principal, Depends(Access("app"))],
) -> SightingResult:
    """The iPhone path: the app reports store beacons it ranged. Each rotating minor is checked
    against the store secret for the sighting's time (a report from home or a replay of an old
    window is rejected); valid ones go to the store engine as readings of the beacon's gateway,
    under the customer's pseudonymous subject id, on ``prox/v1/{store}/sightings``.

    Rate-limited per app credential (``limits.sightings``): every sighting, accepted or
    rejected, is one guess of a 16-bit minor and costs one token; a batch the bucket cannot
    pay for is refused whole (429) before anything is checked."""
    limiter = state.limiters.get("sightings")
    if limiter is not None and len(body.sightings) > limiter.limit.burst:
        raise RequestValidationError([{
            "type": "too_long", "loc": ("body", "sightings"), "input": None,
            "msg": f"at most {limiter.limit.burst} sightings per request (the rate limit's burst)",
        }])  # fmt: skip
    rate_limit(state, "sightings", f"customer:{caller.customer}", len(body.sightings))
    customer = session.get(Customer, caller.customer)
    if customer is None or customer.id is None or customer.subject is None:
        raise HTTPException(404, "no such customer (erased?)")
    if not customers_crud.granted_purposes(session, customer.id):
        raise HTTPException(403, "no consent: sightings are not accepted")
    now = state.clock()
    rejected: list[str] = []
    rows: dict[str, list[list[Any]]] = {}
    for i, s in enumerate(body.sightings):
        store = session.get(Store, s.store_id)
        beacon = session.exec(
            select(Beacon).where(Beacon.store_id == s.store_id, Beacon.beacon == s.beacon)
        ).first()
        secret = state.vault.open(store.secret_enc) if store is not None else None
        reason = check_sighting(
            secret, s.beacon if beacon else None, s.minor, s.ts, now,
            state.settings.sighting_max_age_s, state.settings.table_period_s,
        )  # fmt: skip
        if reason is not None or beacon is None:
            rejected.append(f"sightings[{i}]: {reason}")
            continue
        rows.setdefault(s.store_id, []).append([s.ts, beacon.gateway, customer.subject, s.rssi])
    for store_id, readings in rows.items():
        payload = {"v": 1, "source": "app", "readings": sorted(readings)}
        state.publisher.publish(
            f"prox/v1/{store_id}/sightings", json.dumps(payload, separators=(",", ":")).encode()
        )
    return SightingResult(accepted=sum(len(r) for r in rows.values()), rejected=rejected)
