"""The live alert feed: in-process fan-out of alert changes to Server-Sent Events clients.

One `Feed` per API process. Ingest and escalation run in worker threads; `publish` is
thread-safe and hands each message to the subscribers of its store on the event loop.
Behind a load balancer every process has its own feed: the ingest worker that raised an
alert only reaches the SSE clients connected to it (see docs/api.md).

Every message gets an SSE ``id`` (``<boot>-<seq>``, per store) and the last `REPLAY` messages
of each store are kept, so a client that reconnects with ``Last-Event-ID`` (EventSource does
this by itself) first receives what it missed. An id of another boot (the API restarted) or
one older than the buffer replays the whole buffer; clients dedupe by alert id and status.
A client that opens a new stream itself (a browser's EventSource gives up after an HTTP error)
passes the last id it saw as ``?last_event_id=``. After the replay a stream sends an
``event: ping`` (no data) with the current id, so even a client that has seen no alert yet has
an id to resume from; idle streams get an ``event: ping`` every ``keepalive_s``, so a page can
tell a dead connection from a quiet store.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

REPLAY = 500
"""Messages kept per store for clients reconnecting with ``Last-Event-ID``."""

Item = tuple[int, dict[str, Any]]
PING = "event: ping\ndata\n\n"
"""Keep-alive an EventSource dispatches (an empty ``data`` field; comments are invisible to it)."""


class Feed:
    """Fan-out of JSON messages per store."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: dict[str, set[asyncio.Queue[Item]]] = {}
        self._recent: dict[str, deque[Item]] = {}
        self._seq: dict[str, int] = {}
        self.boot = secrets.token_hex(4)

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
        seq = self._seq.get(store_id, 0) + 1
        self._seq[store_id] = seq
        item = (seq, message)
        self._recent.setdefault(store_id, deque(maxlen=REPLAY)).append(item)
        for queue in list(self._subscribers.get(store_id, ())):
            if queue.full():
                continue
            queue.put_nowait(item)

    def missed(self, store_id: str, last_event_id: str | None) -> list[Item]:
        """Buffered messages after ``last_event_id`` (all of them for another boot's id)."""
        recent = list(self._recent.get(store_id, ()))
        if not last_event_id:
            return []
        boot, _, seq = last_event_id.partition("-")
        if boot != self.boot or not seq.isdigit():
            return recent
        after = int(seq)
        return [item for item in recent if item[0] > after]

    def subscriber_count(self, store_id: str) -> int:
        """How many clients follow ``store_id``."""
        return len(self._subscribers.get(store_id, ()))

    def _frame(self, item: Item) -> str:
        seq, message = item
        data = json.dumps(message, sort_keys=True)
        return f"id: {self.boot}-{seq}\nevent: alert\ndata: {data}\n\n"

    async def stream(
        self, store_id: str, keepalive_s: float = 15.0, last_event_id: str | None = None
    ) -> AsyncIterator[str]:
        """SSE text for one client: missed messages after ``last_event_id`` first, then
        ``event: alert`` messages as they come, and ``event: ping`` keep-alives."""
        queue: asyncio.Queue[Item] = asyncio.Queue(1000)
        self._subscribers.setdefault(store_id, set()).add(queue)
        backlog = self.missed(store_id, last_event_id)  # same loop turn: no gap, no overlap
        position = self._seq.get(store_id, 0)
        try:
            yield "retry: 1000\n: connected\n\n"
            for item in backlog:
                yield self._frame(item)
            # where this stream starts: a client that has seen no alert yet can still resume
            yield f"id: {self.boot}-{position}\n{PING}"
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), keepalive_s)
                except TimeoutError:
                    yield PING
                    continue
                yield self._frame(item)
        finally:
            self._subscribers[store_id].discard(queue)
