"""``proximity gateway``: run a gateway, a hub, or both (``local``) over MQTT (edge module).

``add_parser`` registers the sub-command; ``run`` validates the settings (one line on stderr
and exit code 2 for any mistake) and runs the asyncio program until interrupted, or, with a
finite source and ``exit_when_done``, until every batch was acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from proximity.errors import InputError

from . import codec, topics
from .batcher import Batcher
from .bus import BusClosedError, MqttLink, Will
from .config import Settings, load_settings
from .errors import ParentGoneError, ScannerError
from .node import GatewayNode, NodeSettings
from .outbox import Outbox
from .privacy import EdgeFilter
from .sources import Recorder, Source, replay_source, sim_source

log = logging.getLogger("proximity.gateway")


def add_parser(subparsers: Any) -> None:
    """Register ``gateway --config FILE [--role ...] [--source ...] [--record FILE]``."""
    p = subparsers.add_parser(
        "gateway",
        help="run a store gateway or hub (scan, batch, MQTT)",
        description="Run a store gateway (scan, filter, batch, outbox, MQTT), the store's hub "
        "(engine over MQTT), or both in one process (local). See docs/gateway.md.",
    )
    p.add_argument("--config", required=True, help="settings file (YAML)")
    p.add_argument("--role", choices=("gateway", "hub", "local"), help="overrides 'role'")
    p.add_argument("--source", choices=("bleak", "sim", "replay"), help="overrides 'source'")
    p.add_argument("--record", help="append admitted advertisements to this replay file")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    """Run the command; exit code 0, 1 (cannot run here) or 2 (bad input)."""
    logging.basicConfig(
        level=logging.DEBUG if getattr(ns, "verbose", False) else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        path = Path(ns.config)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(str(path), None, None, f"cannot read: {exc.strerror}") from exc
        settings = load_settings(
            text, str(path), role=ns.role, input_kind=ns.source, record=ns.record
        )
        return asyncio.run(main(settings))
    except InputError as exc:
        print(f"proximity gateway: {exc}", file=sys.stderr)
        return 2
    except ScannerError as exc:
        print(f"proximity gateway: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except ParentGoneError as exc:
        log.warning("%s; stopping", exc)
        return 0


PARENT_ENV = "PROXIMITY_PARENT_PID"
"""Set by a supervisor (the demo) that starts this process in its own session: when the
process with that id is no longer this one's parent, this one stops (outbox and journal
closed as on Ctrl-C) instead of running on as an orphan."""


async def exit_with_parent(pid: int, every_s: float = 1.0) -> None:
    """Raise `ParentGoneError` once ``pid`` is no longer this process's parent."""
    while os.getppid() == pid:
        await asyncio.sleep(every_s)
    raise ParentGoneError(f"the process that started this one (pid {pid}) is gone")


def _source(s: Settings, resume: float | None) -> Source:
    if s.source == "replay":
        assert s.replay_file is not None
        return replay_source(s.replay_file, s.speed, resume)
    if s.source == "sim":
        assert s.sim_scenario is not None and s.gateway is not None
        return sim_source(s.sim_scenario, s.gateway, s.speed, resume)
    from .bleak_source import BleakSource

    return BleakSource(s.bleak.adapter, s.bleak.active, s.bleak.watchdog_s)


def _build_hub(s: Settings, bus: Any) -> tuple[Any, Any]:
    from proximity.cli import load_model_for
    from proximity.files import load_store

    from .hub import Hub
    from .journal import Journal
    from .resolver import Resolver, TableRefresher, load_table

    assert s.hub.store_file is not None
    store = load_store(s.hub.store_file)
    if store.id != s.store:
        raise InputError(s.hub.store_file, None, "store.id",
                         f"store file is for {store.id!r}, settings say {s.store!r}")  # fmt: skip
    model = load_model_for(store, s.hub.model) if s.hub.model else None

    def load() -> Any:
        return load_table(s.hub.table_file, s.hub.table_url, s.hub.credential_env,
                          s.hub.table_cache)  # fmt: skip

    resolver = Resolver(load(), s.hub.beacons)
    refresher = None
    if s.hub.table_file or s.hub.table_url:
        refresher = TableRefresher(resolver, load, s.hub.refresh_s)
    hub = Hub(
        store, bus, Journal(s.hub.state), resolver, model, s.hub.grace_s, s.hub.offline_grace_s,
        compact_every=s.hub.compact_every,
    )  # fmt: skip
    return hub, refresher


async def cancel_all(tasks: list[asyncio.Task[Any]], rounds: int = 3) -> None:
    """Cancel ``tasks`` and wait for them, cancelling again those still running after 2 s.

    Python 3.11's ``asyncio.wait_for`` (inside aiomqtt's publish) can swallow a cancellation
    that races with its result; the task then goes on to its next await, where a second
    cancellation ends it. Shutdown never hangs on it."""
    pending = [t for t in tasks if not t.done()]
    for _ in range(rounds):
        if not pending:
            return
        for task in pending:
            task.cancel()
        _, still = await asyncio.wait(pending, timeout=2.0)
        pending = list(still)
    if pending:
        log.warning("%d tasks did not stop", len(pending))


async def main(s: Settings) -> int:
    """The asyncio program for one process (one MQTT client)."""
    boot_id = secrets.token_hex(8)
    started = time.time()
    node: GatewayNode | None = None
    hub: Any = None
    handlers: list[tuple[list[str], Any]] = []

    async def on_message(topic: str, payload: bytes) -> None:
        for patterns, handler in handlers:
            if any(topics.matches(p, topic) for p in patterns):
                await handler(topic, payload)

    async def on_connect() -> None:
        if node is not None:
            await node.on_connect()
        if hub is not None:
            await hub.on_connect()

    will = None
    client_id = s.mqtt.client_id
    if s.role in ("gateway", "local"):
        assert s.gateway is not None
        offline = codec.Status("offline", boot_id, started, started)
        will = Will(topics.status(s.store, s.gateway), codec.encode_status(offline))
        client_id = client_id or f"{s.gateway}-{boot_id}"
    client_id = client_id or f"hub-{s.store}-{boot_id}"
    from dataclasses import replace

    link = MqttLink(replace(s.mqtt, client_id=client_id), [], on_message, on_connect, will)
    loops: list[Coroutine[Any, Any, None]] = [link.run()]
    outbox: Outbox | None = None
    recorder: Recorder | None = None

    if s.role in ("hub", "local"):
        hub, refresher = _build_hub(s, link)
        handlers.append((hub.subscriptions(), hub.on_message))
        if refresher is not None:
            loops.append(refresher.run())

        async def hub_ticks() -> None:
            while True:
                await asyncio.sleep(0.5)
                await hub.tick()

        loops.append(hub_ticks())
    if s.role in ("gateway", "local"):
        assert s.gateway is not None
        outbox = Outbox(s.outbox, s.gateway, s.max_batches, s.durable)
        recorder = Recorder(s.record) if s.record else None
        node = GatewayNode(
            NodeSettings(s.store, s.gateway, boot_id, started, s.health_s, s.resend_s),
            _source(s, outbox.resume_t),
            EdgeFilter(s.beacons, s.app_tokens),
            Batcher(s.window_s, s.max_readings),
            outbox,
            link,
            recorder,
        )
        handlers.append((node.subscriptions(), node.on_message))
        loops += [node.run_source(), node.publisher(), node.ticker(), node.health_loop()]
    link.subscriptions = [p for patterns, _ in handlers for p in patterns]
    parent = os.environ.get(PARENT_ENV)
    if parent and parent.isdigit():
        loops.append(exit_with_parent(int(parent)))
    log.info("%s %s of store %s starting (boot %s)", s.role, s.gateway or "", s.store, boot_id)

    tasks = [asyncio.create_task(c) for c in loops]
    try:
        if node is not None and s.exit_when_done:
            done = asyncio.create_task(node.drained())
            while not done.done() and not any(
                t.done() and (t.cancelled() or t.exception() is not None) for t in tasks
            ):
                await asyncio.wait([done, *tasks], timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
            if done.done():
                with contextlib.suppress(BusClosedError):
                    await link.publish(
                        topics.status(s.store, node.s.gateway),
                        codec.encode_status(node.status("offline")),
                        retain=True,
                    )
                log.info("source done and every batch acknowledged; exiting")
            done.cancel()
        else:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return 0
    finally:
        await cancel_all(tasks)
        if outbox is not None:
            outbox.close()
        if recorder is not None:
            recorder.close()
        if hub is not None:
            hub.journal.close()
