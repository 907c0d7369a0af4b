"""The MQTT side of the API: event ingest and gateway status/health.

Subscribes (QoS 1) to ``prox/v1/+/events``, ``prox/v1/+/gw/+/status`` and
``prox/v1/+/gw/+/health`` on a persistent session (MQTT 3.1.1, clean session off, the fixed
``mqtt.client_id``): while the API is away the broker keeps the subscriptions and queues the
QoS 1 messages for it. Each payload is validated at the edge (``gateway.codec`` and the
`EventIn` model); a malformed one is counted as a dead letter and logged, never a crash. Events
go through the same `api.crud.ingest.ingest` as ``POST /stores/{id}/events``, one at a time in
arrival order, in a worker thread so the event loop keeps serving the SSE feed.

A QoS 1 message is acknowledged (PUBACK) only once it is settled: its event committed (or
found to be a duplicate), or set aside as a dead letter. aiomqtt 2.5 acknowledges on receipt
and has no API to do otherwise (empicano/aiomqtt#345), so `IngestLink` turns on paho-mqtt's
own manual acknowledgement (``manual_ack_set``, ``ack(mid, qos)``) on the paho client under
aiomqtt, before connecting. A process that stops or dies before the commit leaves the message
unacknowledged in its session and the broker delivers it again; ingest is idempotent on
``event_id``, so a message delivered twice is counted once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from gateway import codec
from gateway.errors import PayloadError
from gateway.topics import PREFIX

from .crud.alerts import feed_message
from .crud.ingest import ingest
from .deps import AppState
from .models import EventIn, Gateway
from .settings import MqttSettings

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger("proximity.api.mqtt")

SUBSCRIPTIONS = [f"{PREFIX}/+/events", f"{PREFIX}/+/gw/+/status", f"{PREFIX}/+/gw/+/health"]
RETRY_MAX_S = 30.0
"""Longest wait between two attempts at a message while the database fails."""


class BusClosedError(Exception):
    """Publishing failed: no connection to the broker."""


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
        self.retries = 0

    async def on_message(self, topic: str, payload: bytes) -> None:
        """Handle one message until it is settled; then (only then) it may be acknowledged.

        Settled: committed (or a duplicate), not for us, or set aside as a dead letter (bad
        payload, or an unexpected error on this message, logged with its traceback). A
        database error (connection lost, server restarting, SQLite busy, schema missing) is
        no reason to drop an event: the message is tried again with backoff for as long as
        the error lasts (counted in ``retries``). Cancelling leaves it unsettled.
        """
        delay = self.state.settings.mqtt.reconnect_s
        while True:
            try:
                await self._dispatch(topic, payload)
                return
            except (PayloadError, ValidationError) as exc:
                self.dead_letters += 1
                log.warning("dead letter on %s: %s", topic, str(exc).splitlines()[0])
                return
            except SQLAlchemyError as exc:
                self.retries += 1
                log.warning("database error on %s (%s); trying again in %.1f s", topic,
                            str(exc).splitlines()[0], delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            except Exception:  # a bug on one payload must not stall the store's ingest
                self.dead_letters += 1
                log.exception("dead letter on %s: unexpected error", topic)
                return

    async def _dispatch(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        if len(parts) == 4 and parts[3] == "events":
            await asyncio.to_thread(self._event, parts[2], topic, payload)
        elif len(parts) == 6 and parts[3] == "gw" and parts[5] in ("status", "health"):
            await asyncio.to_thread(self._gateway, parts[2], parts[4], parts[5], topic, payload)

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


class IngestLink:
    """The API's broker connection: ingest on a persistent session, acknowledging each message
    after `Consumer.on_message` settled it, and publishing (checked sightings).
    ``run()`` keeps the connection up until cancelled.

    Args:
        settings: Broker settings (``client_id`` names the session).
        consumer: Settles incoming messages.
        keepalive_s: MQTT keepalive, seconds.
    """

    def __init__(self, settings: MqttSettings, consumer: Consumer, keepalive_s: int = 10) -> None:
        self.settings = settings
        self.consumer = consumer
        self.keepalive_s = keepalive_s
        self.connected = asyncio.Event()
        self.connections = 0
        self._client: aiomqtt.Client | None = None

    def _new_client(self) -> aiomqtt.Client:
        import aiomqtt

        s = self.settings
        client = aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=s.client_id,
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=not s.persistent_session,
            keepalive=self.keepalive_s,
            timeout=max(5.0, float(self.keepalive_s)),
            max_queued_outgoing_messages=10_000,
        )
        # Before connecting: a session's queued messages arrive right after CONNACK, and
        # paho would acknowledge any that came before this switch on receipt.
        client._client.manual_ack_set(True)
        return client

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        """Publish through the current connection (raises `BusClosedError` when there is none)."""
        import aiomqtt

        client = self._client
        if client is None:
            raise BusClosedError("not connected to the broker")
        try:
            await client.publish(topic, payload, qos=qos, timeout=10)
        except aiomqtt.MqttError as exc:
            raise BusClosedError(f"publish failed: {exc}") from exc

    async def run(self) -> None:
        """Connect, subscribe, settle and acknowledge; reconnect with backoff when it drops."""
        import aiomqtt

        backoff = 0.5
        while True:
            try:
                client = self._new_client()
                async with client:
                    self._client = client
                    for topic in SUBSCRIPTIONS:
                        await client.subscribe(topic, qos=1)
                    self.connections += 1
                    self.connected.set()
                    backoff = 0.5
                    log.info("connected to %s:%d as %s", self.settings.host, self.settings.port,
                             self.settings.client_id)  # fmt: skip
                    async for message in client.messages:
                        payload = message.payload
                        if not isinstance(payload, bytes | bytearray):
                            payload = str(payload).encode() if payload is not None else b""
                        await self.consumer.on_message(message.topic.value, bytes(payload))
                        if message.qos > 0:
                            client._client.ack(message.mid, message.qos)
            except aiomqtt.MqttError as exc:
                log.warning("broker %s:%d unreachable (%s); retrying in %.1f s",
                            self.settings.host, self.settings.port, exc, backoff)  # fmt: skip
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
