"""The FastAPI application: routers, state, and the lifespan (MQTT link, escalation ticker)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.routing import BaseRoute

from .consumer import BusClosedError, Consumer, IngestLink
from .crud.alerts import escalate_due, feed_message
from .db import make_engine
from .deps import AppState, Public
from .feed import Feed
from .limits import make_limiters
from .models import Message
from .publisher import MemoryPublisher, Publisher, QueuePublisher
from .routes import alerts, analytics, coupons, customers, floor, staff, stores
from .routes import engine as engine_routes
from .routes.pages import mount_pages
from .security import Vault
from .settings import Settings

log = logging.getLogger("proximity.api")

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Message, "description": text}
    for code, text in [
        (401, "No or bad bearer token"),
        (403, "Not allowed for this caller"),
        (404, "No such resource"),
        (409, "Conflict with the resource's state"),
    ]
}


def escalate_once(state: AppState) -> int:
    """Escalate or expire due alerts now and announce them; returns how many changed."""
    settings = state.settings.alerts
    with Session(state.engine) as session:
        changed = escalate_due(session, state.clock(), settings.escalate_s, settings.expire_s)
        for alert in changed:
            state.feed.publish(alert.store_id, feed_message(session, alert))
    return len(changed)


async def _ticker(state: AppState) -> None:
    while True:
        await asyncio.sleep(state.settings.alerts.tick_s)
        try:
            await asyncio.to_thread(escalate_once, state)
        except Exception:  # keep ticking through a database hiccup
            log.exception("alert escalation failed")


async def _mqtt(state: AppState, consumer: Consumer, publisher: QueuePublisher) -> None:
    s = state.settings.mqtt
    link = IngestLink(s, consumer)

    async def pump() -> None:
        while True:
            topic, payload = await publisher.queue.get()
            while True:
                await link.connected.wait()
                try:
                    await link.publish(topic, payload)
                    break
                except BusClosedError:
                    await asyncio.sleep(s.reconnect_s)

    async with asyncio.TaskGroup() as group:
        group.create_task(link.run())
        group.create_task(pump())


def quiet_closed_socket_writes(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Loop exception handler: aiomqtt registers a socket writer through ``call_soon_threadsafe``,
    so when the connection closes in between (at shutdown, or when the broker goes) the queued
    ``add_writer`` meets a closed descriptor and asyncio logs a traceback for nothing. That one
    case is logged at debug level; everything else goes to the default handler."""
    exc = context.get("exception")
    if (
        isinstance(exc, OSError)
        and exc.errno == errno.EBADF
        and "add_writer" in repr(context.get("handle"))
    ):
        log.debug("a write was queued on an MQTT socket that closed meanwhile: %s", exc)
        return
    loop.default_exception_handler(context)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Callable[[], float] = time.time,
    publisher: Publisher | None = None,
    background: bool = True,
) -> FastAPI:
    """Build the app.

    Args:
        settings: Settings (default: from the environment).
        engine: Database engine (default: from ``settings.database_url``).
        clock: Wall clock, seconds since the epoch (tests inject one).
        publisher: Outgoing MQTT messages (default: the broker link when MQTT is enabled,
            else kept in memory).
        background: Run the escalation ticker and the MQTT link in the lifespan.
    """
    settings = settings or Settings()
    state = AppState(
        settings=settings,
        engine=engine or make_engine(settings.database_url),
        vault=Vault(settings.master_key),
        feed=Feed(),
        publisher=publisher or MemoryPublisher(),
        clock=clock,
        limiters=make_limiters(settings.limits),
    )
    consumer = Consumer(state)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        previous_handler = loop.get_exception_handler()
        if previous_handler is None:
            loop.set_exception_handler(quiet_closed_socket_writes)
        state.feed.bind(loop)
        tasks: list[asyncio.Task[None]] = []
        if background:
            tasks.append(asyncio.create_task(_ticker(state)))
            if settings.mqtt.enabled:
                queue_publisher = QueuePublisher(loop)
                if publisher is None:
                    state.publisher = queue_publisher
                tasks.append(asyncio.create_task(_mqtt(state, consumer, queue_publisher)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await asyncio.sleep(0)  # let callbacks queued by the closing connection run
            if previous_handler is None:
                loop.set_exception_handler(None)

    app = FastAPI(
        title="Proximity API",
        version="1",
        summary="Stores, consent, events, rules, associate alerts and coupons.",
        lifespan=lifespan,
    )
    app.state.prox = state
    app.state.consumer = consumer
    for module in (stores, customers, engine_routes, staff, alerts, floor, coupons, analytics):
        app.include_router(module.router, responses=ERRORS)
    mount_pages(app)

    @app.get("/health", tags=["health"], dependencies=[Depends(Public())])
    def health() -> dict[str, object]:
        """Liveness and ingest counters (no personal data)."""
        return {"ok": True, "ingested": consumer.ingested, "duplicates": consumer.duplicates,
                "dead_letters": consumer.dead_letters, "retries": consumer.retries}  # fmt: skip

    return app


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route of ``app``, through included routers (for the access-matrix test)."""
    out: list[APIRoute] = []

    def walk(routes: list[BaseRoute]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                out.append(route)
            elif hasattr(route, "original_router"):
                walk(list(route.original_router.routes))

    walk(list(app.routes))
    return out
