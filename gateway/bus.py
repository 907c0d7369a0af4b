"""The message bus: one small interface, the real MQTT link (aiomqtt 2.x) and a fake beside it.

`MqttLink` is the only place that talks to a broker: one ``aiomqtt.Client`` per process, used
with ``async with`` inside the documented reconnect loop (exponential backoff, 0.5 s doubling to
30 s). Subscriptions are renewed on every connection; incoming messages are handed to one
handler, one at a time, in arrival order.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import GatewayError
from .topics import matches

Handler = Callable[[str, bytes], Awaitable[None]]
log = logging.getLogger("proximity.gateway.mqtt")


class BusClosedError(GatewayError):
    """Publishing while the broker is unreachable: retry after the next connection."""


class Bus(Protocol):
    """What gateway and hub need of a broker connection."""

    connected: asyncio.Event

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish; returns once the broker has it (QoS 1: PUBACK). Raises `BusClosedError`."""


@dataclass(frozen=True)
class MqttSettings:
    """Broker connection settings. ``keepalive_s`` also bounds how soon a dead client's last
    will fires (the broker waits 1.5 x keepalive)."""

    host: str = "localhost"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    client_id: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True)
class Will:
    """Last will: published by the broker when the connection dies without a DISCONNECT."""

    topic: str
    payload: bytes
    retain: bool = True


class MqttLink:
    """The real bus. ``run()`` keeps a connection up until cancelled.

    Args:
        settings: Broker settings.
        subscriptions: Topic filters subscribed (QoS 1) on every connection.
        on_message: Called for each incoming message, serially.
        on_connect: Called (as a task) after each successful connection and subscription.
        will: Last will, or None.
    """

    def __init__(
        self,
        settings: MqttSettings,
        subscriptions: list[str],
        on_message: Handler,
        on_connect: Callable[[], Coroutine[Any, Any, None]] | None = None,
        will: Will | None = None,
    ) -> None:
        self.settings = settings
        self.subscriptions = subscriptions
        self.on_message = on_message
        self.on_connect = on_connect
        self.will = will
        self.connected = asyncio.Event()
        self.connections = 0
        self._client: object | None = None

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish through the current connection (raises `BusClosedError` when there is none)."""
        import aiomqtt

        client = self._client
        if not isinstance(client, aiomqtt.Client):
            raise BusClosedError("not connected to the broker")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=10)
        except aiomqtt.MqttError as exc:
            raise BusClosedError(f"publish failed: {exc}") from exc

    def _client_kwargs(self) -> dict[str, object]:
        import aiomqtt

        s = self.settings
        kwargs: dict[str, object] = {
            "hostname": s.host,
            "port": s.port,
            "username": s.username,
            "password": s.password,
            "identifier": s.client_id,
            "keepalive": s.keepalive_s,
            "timeout": max(5.0, float(s.keepalive_s)),
            "max_queued_outgoing_messages": 10_000,
        }
        if self.will is not None:
            kwargs["will"] = aiomqtt.Will(self.will.topic, self.will.payload, 1, self.will.retain)
        if s.tls:
            context = ssl.create_default_context(cafile=s.ca_file)
            if s.cert_file:
                context.load_cert_chain(s.cert_file, s.key_file)
            kwargs["tls_context"] = context
        return kwargs

    async def run(self) -> None:
        """Connect, subscribe, dispatch; reconnect with backoff whenever the link drops."""
        import aiomqtt

        backoff = 0.5
        while True:
            try:
                async with aiomqtt.Client(**self._client_kwargs()) as client:  # type: ignore[arg-type]
                    self._client = client
                    for topic in self.subscriptions:
                        await client.subscribe(topic, qos=1)
                    self.connections += 1
                    self.connected.set()
                    backoff = 0.5
                    log.info("connected to %s:%d", self.settings.host, self.settings.port)
                    if self.on_connect is not None:
                        task: asyncio.Task[None] = asyncio.create_task(self.on_connect())
                        task.add_done_callback(_log_failure)
                    async for message in client.messages:
                        payload = message.payload
                        if not isinstance(payload, bytes | bytearray):
                            payload = str(payload).encode() if payload is not None else b""
                        await self.on_message(message.topic.value, bytes(payload))
            except aiomqtt.MqttError as exc:
                log.warning(
                    "broker %s:%d unreachable (%s); retrying in %.1f s",
                    self.settings.host,
                    self.settings.port,
                    exc,
                    backoff,
                )
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("on-connect task failed: %s", task.exception())


class MemoryBroker:
    """An in-memory broker for unit tests: wildcard routing and retained messages."""

    def __init__(self) -> None:
        self.retained: dict[str, bytes] = {}
        self.log: list[tuple[str, bytes]] = []
        self._subs: list[tuple[str, Handler]] = []

    async def subscribe(self, pattern: str, handler: Handler) -> None:
        """Route matching messages to ``handler``; retained ones are delivered at once."""
        self._subs.append((pattern, handler))
        for topic, payload in list(self.retained.items()):
            if matches(pattern, topic):
                await handler(topic, payload)

    async def deliver(self, topic: str, payload: bytes, retain: bool) -> None:
        """Publish into the broker."""
        self.log.append((topic, payload))
        if retain:
            if payload:
                self.retained[topic] = payload
            else:
                self.retained.pop(topic, None)
        for pattern, handler in list(self._subs):
            if matches(pattern, topic):
                await handler(topic, payload)


class MemoryBus:
    """The fake `Bus` over a `MemoryBroker`; ``connected`` can be cleared to simulate outages."""

    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker
        self.connected = asyncio.Event()
        self.connected.set()

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish (raises `BusClosedError` while ``connected`` is clear)."""
        if not self.connected.is_set():
            raise BusClosedError("memory bus is down")
        await self.broker.deliver(topic, payload, retain)
