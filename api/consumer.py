"""The MQTT side of the API: event ingest and gateway status/health.

Subscribes (QoS 1) to ``prox/v1/+/events``, ``prox/v1/+/gw/+/status`` and
``prox/v1/+/gw/+/health``. Each payload is validated at the edge (``gateway.codec`` and the
`EventIn` model); a malformed one is counted as a dead letter and logged, never a crash. Events
go through the same `api.crud.ingest.ingest` as ``POST /stores/{id}/events``, one at a time in
arrival order, in a worker thread so the event loop keeps serving the SSE feed.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import ValidationError
from sqlmodel import Session, select

from gateway import codec
from gateway.errors import PayloadError
from gateway.topics import PREFIX

from .crud.alerts import feed_message
from .crud.ingest import ingest
from .deps import AppState
from .models import EventIn, Gateway

log = logging.getLogger("proximity.api.mqtt")

SUBSCRIPTIONS = [f"{PREFIX}/+/events", f"{PREFIX}/+/gw/+/status", f"{PREFIX}/+/gw/+/health"]


class Consumer:
    """Handles messages from the broker for one API process.

    Args:
        state: The app's state (database, clock, feed, settings).
    """

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.dead_letters = 0
        self.ingested = 0
        self.duplicates = 0

    async def on_message(self, topic: str, payload: bytes) -> None:
        """Dispatch one message (never raises for a bad payload)."""
        parts = topic.split("/")
        try:
            if len(parts) == 4 and parts[3] == "events":
                await asyncio.to_thread(self._event, parts[2], topic, payload)
            elif len(parts) == 6 and parts[3] == "gw" and parts[5] in ("status", "health"):
                await asyncio.to_thread(self._gateway, parts[2], parts[4], parts[5], topic,
                                        payload)  # fmt: skip
        except (PayloadError, ValidationError) as exc:
            self.dead_letters += 1
            log.warning("dead letter on %s: %s", topic, str(exc).splitlines()[0])

    def _event(self, store_id: str, topic: str, payload: bytes) -> None:
        data = codec.decode_event(topic, payload)
        event = EventIn.model_validate(data)
        state = self.state
        with Session(state.engine) as session:
            outcome = ingest(session, store_id, event, state.clock(),
                             state.settings.live_max_age_s)  # fmt: skip
            if outcome.duplicate:
                self.duplicates += 1
                return
            self.ingested += 1
            for alert in [*outcome.alerts, *outcome.ended]:
                state.feed.publish(store_id, feed_message(session, alert))

    def _gateway(self, store_id: str, gateway: str, kind: str, topic: str, payload: bytes) -> None:
        with Session(self.state.engine) as session:
            row = session.exec(
                select(Gateway).where(Gateway.store_id == store_id, Gateway.gateway == gateway)
            ).first()
            if row is None:
                return  # not registered: nothing to show it on
            if kind == "status":
                status = codec.decode_status(topic, payload)
                if row.boot_id is not None and row.started is not None:
                    previous = codec.Status(row.state, row.boot_id, row.started, row.status_ts or 0)
                    if not status.newer_than(previous):
                        return
                row.state, row.boot_id = status.state, status.boot_id
                row.started, row.status_ts = status.started, status.ts
            else:
                health = codec.decode_health(topic, payload)
                row.health = dict(health.counters)
                row.health_ts = health.ts
            session.add(row)
            session.commit()
