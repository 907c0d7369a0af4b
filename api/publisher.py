"""Outgoing MQTT messages: one small interface, the real client behind it, a fake beside it."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger("proximity.api.publisher")


class Publisher(Protocol):
    """Something that publishes MQTT messages (QoS 1)."""

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue ``payload`` for ``topic``; never blocks the caller."""


class MemoryPublisher:
    """Keeps what was published (tests, and a server running without MQTT)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes) -> None:
        """Record the message."""
        self.messages.append((topic, payload))


class QueuePublisher:
    """Hands messages to the MQTT task of the app's event loop (thread-safe).

    Args:
        loop: The event loop the MQTT client runs in.
        maxsize: Messages held while the broker is away; older ones are dropped beyond it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int = 10_000) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize)
        self.dropped = 0

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue the message from any thread."""
        self.loop.call_soon_threadsafe(self._put, topic, payload)

    def _put(self, topic: str, payload: bytes) -> None:
        try:
            self.queue.put_nowait((topic, payload))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("MQTT publish queue full; dropped a message for %s", topic)
