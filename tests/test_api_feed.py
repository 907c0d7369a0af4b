"""The SSE feed's framing: replay after ``Last-Event-ID``, the position a new stream announces
(so a client that has seen no alert yet can resume), and keep-alives an EventSource sees."""

from __future__ import annotations

import asyncio
from typing import Any

from api.feed import PING, Feed


async def _frames(stream: Any, count: int) -> list[str]:
    return [await asyncio.wait_for(anext(stream), 5) for _ in range(count)]


def test_stream_replays_after_the_last_id_and_announces_its_position() -> None:
    async def go() -> None:
        feed = Feed()
        feed.bind(asyncio.get_running_loop())
        for n in (1, 2, 3):
            feed.publish("s1", {"id": n})
        fresh = feed.stream("s1")
        hello, position = await _frames(fresh, 2)
        assert hello.startswith("retry: 1000\n: connected")
        assert position == f"id: {feed.boot}-3\n{PING}"  # nothing replayed without an id
        # resuming from that position after two more messages: exactly those two, then the
        # new position
        feed.publish("s1", {"id": 4})
        feed.publish("s1", {"id": 5})
        resumed = feed.stream("s1", last_event_id=f"{feed.boot}-3")
        frames = await _frames(resumed, 4)
        assert frames[1] == f'id: {feed.boot}-4\nevent: alert\ndata: {{"id": 4}}\n\n'
        assert frames[2] == f'id: {feed.boot}-5\nevent: alert\ndata: {{"id": 5}}\n\n'
        assert frames[3] == f"id: {feed.boot}-5\n{PING}"
        # the first stream got them live; another boot's id replays the whole buffer
        assert (await _frames(fresh, 2))[1].startswith(f"id: {feed.boot}-5\n")
        other = feed.stream("s1", last_event_id="0000-9")
        assert len([f for f in await _frames(other, 7) if "event: alert" in f]) == 5
        for stream in (fresh, resumed, other):
            await stream.aclose()
        assert feed.subscriber_count("s1") == 0

    asyncio.run(go())


def test_idle_stream_pings_as_an_event() -> None:
    async def go() -> None:
        feed = Feed()
        feed.bind(asyncio.get_running_loop())
        stream = feed.stream("s1", keepalive_s=0.05)
        frames = await _frames(stream, 3)
        assert frames[2] == PING
        # a dispatched event for EventSource: an event line and an (empty) data field
        assert "event: ping\n" in PING and "\ndata\n" in PING and not PING.startswith(":")
        await stream.aclose()

    asyncio.run(go())
