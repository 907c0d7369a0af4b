"""The live alert feed: in-process fan-out of alert changes to Server-Sent Events clients.

One `Feed` per API process. Ingest and escalation run in worker threads; `publish` is
thread-safe and hands each message to the subscribers of its store on the event loop.
Behind a load balancer every process has its own feed: the ingest worker that raised an
alert only reaches the SSE clients connected to it (see docs/api.md).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any


class Feed:
    """Fan-out of JSON messages per store."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the event loop the SSE responses run in."""
        self._loop = loop

    def publish(self, store_id: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every subscriber of ``store_id`` (from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(store_id, message)
        else:
            loop.call_soon_threadsafe(self._deliver, store_id, message)

    def _deliver(self, store_id: str, message: dict[str, Any]) -> None:
        for queue in list(self._subscribers.get(store_id, ())):
            if queue.full():
                continue
            queue.put_nowait(message)

    def subscriber_count(self, store_id: str) -> int:
        """How many clients follow ``store_id``."""
        return len(self._subscribers.get(store_id, ()))

    async def stream(self, store_id: str, keepalive_s: float = 15.0) -> AsyncIterator[str]:
        """SSE text for one client: ``event: alert`` messages and comment keep-alives."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(1000)
        self._subscribers.setdefault(store_id, set()).add(queue)
        try:
            yield ": connected\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), keepalive_s)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"event: alert\ndata: {json.dumps(message, sort_keys=True)}\n\n"
        finally:
            self._subscribers[store_id].discard(queue)
