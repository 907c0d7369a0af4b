"""Associate alerts: list, live feed (SSE), claim, resolve."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import StreamingResponse
from sqlmodel import col, select

from ..crud import alerts as crud
from ..deps import Access, RowId, SessionDep, StateDep
from ..models import LIVE_ALERT_STATES, Alert, AlertClaim, AlertPublic
from ..security import Principal
from .stores import get_store

router = APIRouter(tags=["alerts"])
FloorDep = Annotated[Principal, Depends(Access("ops", "associate"))]


@router.get("/stores/{store_id}/alerts", response_model=list[AlertPublic])
def list_alerts(
    session: SessionDep, store_id: str, caller: FloorDep, live: bool = True, limit: int = 100
) -> list[AlertPublic]:
    """Alerts of the store, newest first (live ones only unless ``live=false``)."""
    get_store(session, store_id)
    query = select(Alert).where(Alert.store_id == store_id)
    if live:
        query = query.where(col(Alert.status).in_(LIVE_ALERT_STATES))
    query = query.order_by(col(Alert.id).desc()).limit(max(1, min(limit, 500)))
    return [crud.public(session, a) for a in session.exec(query).all()]


@router.get("/stores/{store_id}/alerts/feed",
            responses={200: {"content": {"text/event-stream": {}}}})  # fmt: skip
async def alert_feed(
    state: StateDep,
    store_id: str,
    caller: FloorDep,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
    resume_after: Annotated[str | None, Query(alias="last_event_id", max_length=64)] = None,
) -> StreamingResponse:
    """Live alert changes as Server-Sent Events (``event: alert``, JSON data as in the list,
    ``id`` per message; ``event: ping`` when idle). Browsers' EventSource may pass the token as
    ``?access_token=``; on reconnecting it sends ``Last-Event-ID`` and receives the messages it
    missed first. A new EventSource cannot set that header: ``?last_event_id=`` does the same
    (the header wins, as it is the newer id of a stream opened with the query)."""
    return StreamingResponse(
        state.feed.stream(store_id, last_event_id=last_event_id or resume_after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _alert(session: SessionDep, store_id: str, alert_id: RowId) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None or alert.store_id != store_id:
        raise HTTPException(404, f"no alert {alert_id}")
    return alert


@router.post("/stores/{store_id}/alerts/{alert_id}/claim", response_model=AlertPublic)
def claim_alert(
    session: SessionDep,
    state: StateDep,
    store_id: str,
    alert_id: RowId,
    caller: FloorDep,
    body: AlertClaim | None = None,
) -> AlertPublic:
    """An associate takes the alert (ops may claim on behalf of an associate)."""
    alert = _alert(session, store_id, alert_id)
    who = caller.associate if caller.role == "associate" else (body.associate_id if body else None)
    if who is None:
        raise HTTPException(422, "associate_id is required when ops claim an alert")
    try:
        crud.claim(session, alert, who, state.clock())
    except crud.AlertConflictError as exc:
        raise HTTPException(409, str(exc)) from exc
    session.commit()
    out = crud.public(session, alert)
    state.feed.publish(store_id, out.model_dump(mode="json"))
    return out


@router.post("/stores/{store_id}/alerts/{alert_id}/resolve", response_model=AlertPublic)
def resolve_alert(
    session: SessionDep, state: StateDep, store_id: str, alert_id: RowId, caller: FloorDep
) -> AlertPublic:
    """The associate who claimed the alert (or ops) closes it."""
    alert = _alert(session, store_id, alert_id)
    who = caller.associate if caller.role == "associate" else None
    try:
        crud.resolve(session, alert, who, state.clock())
    except crud.AlertConflictError as exc:
        raise HTTPException(409, str(exc)) from exc
    session.commit()
    out = crud.public(session, alert)
    state.feed.publish(store_id, out.model_dump(mode="json"))
    return out
