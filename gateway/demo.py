"""The store side of the demo: a simulated store live on this machine (edge module).

``python -m gateway.demo`` runs it alone; ``proximity demo`` (`api.demo`) adds the API.

`start_store_side` starts a Mosquitto on a free port (or uses a given broker), the store's hub
and one gateway process per gateway of the scenario's store, each with the ``sim`` source
paced at ``speed`` x real time. It returns a `StoreSide` whose ``stop()`` ends every process it
started (gateways first, then the hub, then the broker), so the demo (and, later, a demo that
also serves the API) leaves nothing behind.

The demo process itself only watches the bus: a status line with events/s, devices in the
store and the last event (`StatusBoard`, pure). Ctrl-C (or SIGTERM) stops everything cleanly.

Files (configs, state, logs of every process) go to ``--workdir`` (default: a temporary
directory removed at the end). The hub gets a resolution table covering the whole run and the
beacon registry of the simulated fobs and badges, as the API would hand them over; gateways
get only the beacons' frame-key prefix, so foreign devices are dropped at their edge.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from proximity import tokens
from proximity.errors import InputError
from proximity.store import dump_store

from . import codec, topics
from .cli import PARENT_ENV
from .errors import GatewayError, PayloadError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "config" / "scenarios" / "default.yaml"
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
STOP_WAIT_S = 5.0
"""Seconds a process gets to exit after SIGINT/SIGTERM before it is killed."""

Say = Callable[[str], None]


class DemoError(GatewayError):
    """The demo cannot run here (no Mosquitto, a process died); the message says why."""


# --- planning: files for every process -------------------------------------------------------


@dataclass(frozen=True)
class DemoPlan:
    """What the store side of the demo runs, as files in ``workdir``.

    Attributes:
        workdir: Directory of configs, state and logs.
        store_id: The simulated store's id (topics ``prox/v1/{store_id}/...``).
        gateways: Gateway ids, one process each.
        hub_config: Settings file of the hub.
        gateway_configs: Settings file of each gateway.
        duration_s: Length of the simulated run, seconds of simulation time.
        subjects: Opted-in subjects (phones, fobs, badges) the hub can resolve.
    """

    workdir: Path
    store_id: str
    gateways: list[str]
    hub_config: Path
    gateway_configs: dict[str, Path]
    duration_s: float
    subjects: int


def resolution_table(keys: Mapping[str, bytes], duration_s: float) -> tokens.ResolutionTable:
    """A table covering every token window of a run of ``duration_s`` seconds from 0 (plus one
    window either side for clock drift), as the API would hand the hub."""
    period = tokens.DEFAULT_PERIOD_S
    windows = tuple(range(-1, math.ceil(duration_s / period) + 1))
    table: dict[bytes, str] = {}
    for subject, key in keys.items():
        for window in windows:
            table[tokens.derive_token(key, window)] = subject
    return tokens.ResolutionTable(table, windows, period)


def plan_store_side(
    scenario: Path,
    workdir: Path,
    host: str,
    port: int,
    speed: float,
    keepalive_s: int = 15,
) -> DemoPlan:
    """Simulate ``scenario`` once and write the hub's and gateways' files into ``workdir``.

    State files of a previous demo in ``workdir`` (outboxes, hub journal) are removed so the
    run starts afresh.

    Raises:
        InputError: The scenario is invalid (file, line, field).
    """
    from firmware_sim.scenario import load_scenario
    from firmware_sim.simulate import simulate

    loaded = load_scenario(str(scenario))
    result = simulate(loaded)
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in [*workdir.glob("*.outbox.db*"), *workdir.glob("hub.db*")]:
        stale.unlink()
    store = result.store
    store_file = workdir / "store.json"
    store_file.write_text(json.dumps(dump_store(store), indent=1))
    keys = {d.subject: d.key for d in result.devices if d.subject and d.key is not None}
    beacons: dict[str, str] = {}
    prefixes: set[str] = set()
    for d in result.devices:
        if d.beacon is not None and d.subject:
            uuid, major, minor = d.beacon
            beacons[f"ibeacon:{uuid}:{major}:{minor}".lower()] = d.subject
            prefixes.add(f"ibeacon:{uuid}:*".lower())
    duration = float(loaded.duration_s)
    table_file = workdir / "table.json"
    table_file.write_text(json.dumps(resolution_table(keys, duration).to_json()))
    mqtt = {"host": host, "port": port, "keepalive_s": keepalive_s}
    hub_config = workdir / "hub.json"
    hub_config.write_text(
        json.dumps(
            {
                "store": store.id,
                "role": "hub",
                "mqtt": mqtt,
                "hub": {
                    "store_file": str(store_file),
                    "state": str(workdir / "hub.db"),
                    "grace_s": 120,
                    "resolution": {"file": str(table_file)},
                    "beacons": beacons,
                },
            },
            indent=1,
        )
    )
    configs: dict[str, Path] = {}
    for gw in store.gateways:
        path = workdir / f"{gw.id}.json"
        path.write_text(
            json.dumps(
                {
                    "store": store.id,
                    "gateway": gw.id,
                    "source": "sim",
                    "mqtt": mqtt,
                    "sim": {
                        "scenario": str(scenario.resolve()),
                        "speed": speed,
                        "exit_when_done": True,
                    },
                    "outbox": {"path": str(workdir / f"{gw.id}.outbox.db")},
                    "filter": {"beacons": sorted(prefixes), "app_tokens": True},
                    "health_s": 5,
                    "resend_s": 5,
                },
                indent=1,
            )
        )
        configs[gw.id] = path
    return DemoPlan(
        workdir, store.id, [g.id for g in store.gateways], hub_config, configs, duration,
        len(keys) + len(beacons),
    )  # fmt: skip


# --- processes -------------------------------------------------------------------------------


def find_mosquitto() -> str:
    """Path of the mosquitto binary.

    Raises:
        DemoError: It is not installed.
    """
    found = shutil.which("mosquitto") or next(
        (p for p in MOSQUITTO_PATHS if Path(p).exists()), None
    )
    if found is None:
        raise DemoError(
            "mosquitto not found: install it (apt-get install mosquitto) or give --broker HOST:PORT"
        )
    return found


def free_port() -> int:
    """An unused TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    """Wait until ``host:port`` accepts connections (``proc`` must stay alive meanwhile).

    Raises:
        DemoError: The process exited or the port did not open in time.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"mosquitto exited with code {proc.returncode}")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise DemoError(f"mosquitto did not open port {port} within {timeout_s:.0f} s")


@dataclass
class StoreSide:
    """Handles on the running store side; ``stop()`` ends every process it started.

    Attributes:
        plan: The files the processes run from.
        host: Broker host.
        port: Broker port.
        broker: The Mosquitto process, or None when an external broker is used.
        hub: The hub process.
        gateways: Gateway id -> process.
    """

    plan: DemoPlan
    host: str
    port: int
    broker: subprocess.Popen[bytes] | None = None
    hub: subprocess.Popen[bytes] | None = None
    gateways: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def log_of(self, name: str) -> Path:
        """Log file of process ``name`` (``mosquitto``, ``hub`` or a gateway id)."""
        return self.plan.workdir / f"{name}.log"

    def processes(self) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
        """(name, process) of everything started, in stopping order."""
        yield from self.gateways.items()
        if self.hub is not None:
            yield "hub", self.hub
        if self.broker is not None:
            yield "mosquitto", self.broker

    def gateways_running(self) -> int:
        """Gateway processes still running (a gateway exits once its simulation is sent)."""
        return sum(1 for p in self.gateways.values() if p.poll() is None)

    def stop(self) -> None:
        """Stop every process started: the gateways, then the hub, then the broker (SIGINT,
        SIGKILL after STOP_WAIT_S). Idempotent."""
        groups: list[list[subprocess.Popen[bytes] | None]] = [
            list(self.gateways.values()),
            [self.hub],
            [self.broker],
        ]
        for group in groups:
            procs = [p for p in group if p is not None]
            for proc in procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + STOP_WAIT_S
            for proc in procs:
                try:
                    proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for handle in self._logs:
            handle.close()
        self._logs.clear()

    def __enter__(self) -> StoreSide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.log_of(name), "ab")  # noqa: SIM115 (closed by stop())
        self._logs.append(log)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env[PARENT_ENV] = str(os.getpid())  # a gateway or hub left orphaned stops by itself
        # Own session: a Ctrl-C in the terminal reaches the demo only, which stops the
        # processes in order (gateways, hub, broker).
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.plan.workdir, env=env,
            start_new_session=True,
        )  # fmt: skip


def start_store_side(
    scenario: Path,
    workdir: Path,
    speed: float = 1.0,
    broker: tuple[str, int] | None = None,
    say: Say = print,
) -> StoreSide:
    """Start the store side of the demo: broker (unless given), hub, then the gateways.

    Args:
        scenario: Simulator scenario file.
        workdir: Directory for configs, state and logs.
        speed: Simulation seconds per wall second.
        broker: ``(host, port)`` of a running broker; None starts a Mosquitto on a free port.
        say: Progress messages.

    Returns:
        Handles; call ``stop()`` (or use it as a context manager) to end every process.

    Raises:
        InputError: The scenario is invalid.
        DemoError: Mosquitto is missing or did not start.
    """
    mosquitto = find_mosquitto() if broker is None else None
    host, port = broker if broker is not None else ("127.0.0.1", free_port())
    say(f"simulating {scenario} ...")
    plan = plan_store_side(scenario, workdir, host, port, speed)
    say(
        f"store {plan.store_id}: {len(plan.gateways)} gateways, {plan.subjects} opted-in "
        f"subjects, {plan.duration_s:.0f} s of simulation at {speed:g}x"
    )
    side = StoreSide(plan, host, port)
    try:
        if mosquitto is not None:
            conf = workdir / "mosquitto.conf"
            conf.write_text(
                f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 100000\n"
            )
            side.broker = side._spawn("mosquitto", [mosquitto, "-c", str(conf)])
            wait_for_port(host, port, 10.0, side.broker)
            say(f"mosquitto listening on {host}:{port}")
        python = [sys.executable, "-m", "gateway", "--config"]
        side.hub = side._spawn("hub", [*python, str(plan.hub_config)])
        say("hub started")
        for gw, conf_path in plan.gateway_configs.items():
            side.gateways[gw] = side._spawn(gw, [*python, str(conf_path)])
        say(f"{len(side.gateways)} gateways started (each simulates its radio first)")
    except BaseException:
        side.stop()
        raise
    return side


# --- watching the bus ------------------------------------------------------------------------


class StatusBoard:
    """What the status line shows, from events and statuses seen on the bus. Pure.

    Args:
        gateways: Gateway ids of the store.
        rate_window_s: Events/s is averaged over this many wall seconds.
    """

    def __init__(self, gateways: list[str], rate_window_s: float = 10.0) -> None:
        self.gateways = list(gateways)
        self.rate_window_s = rate_window_s
        self.status: dict[str, codec.Status] = {}
        self.in_store: set[str] = set()
        self.events = 0
        self.seen: set[str] = set()
        self.last: dict[str, Any] | None = None
        self._times: deque[float] = deque()

    def on_event(self, event: Mapping[str, Any], now: float) -> None:
        """An event arrived at wall time ``now`` (duplicates by ``event_id`` are ignored)."""
        event_id = str(event.get("event_id"))
        if event_id in self.seen:
            return
        self.seen.add(event_id)
        self.events += 1
        self._times.append(now)
        device = str(event.get("device"))
        if event.get("type") == "store_entry":
            self.in_store.add(device)
        elif event.get("type") == "store_exit":
            self.in_store.discard(device)
        self.last = dict(event)

    def on_status(self, gateway: str, status: codec.Status) -> None:
        """A gateway's status message (an older boot's never overrides a newer one's)."""
        known = self.status.get(gateway)
        if known is None or status.newer_than(known):
            self.status[gateway] = status

    def online(self) -> int:
        """Gateways whose latest status is online."""
        return sum(1 for s in self.status.values() if s.state == "online")

    def rate(self, now: float) -> float:
        """Events per second over the last ``rate_window_s`` wall seconds."""
        while self._times and self._times[0] < now - self.rate_window_s:
            self._times.popleft()
        return len(self._times) / self.rate_window_s

    def line(self, now: float) -> str:
        """The status line."""
        last = "-"
        if self.last is not None:
            e = self.last
            zone = f" {e.get('zone')}" if e.get("zone") else ""
            last = f"{e.get('type')} {e.get('device')}{zone} @ {float(e.get('ts', 0)):.1f} s"
        return (
            f"gateways online {self.online()}/{len(self.gateways)} | "
            f"events/s {self.rate(now):.1f} | events {self.events} | "
            f"in store {len(self.in_store)} | last: {last}"
        )


async def watch(
    side: StoreSide,
    board: StatusBoard,
    show: Callable[[str], None],
    interval_s: float = 1.0,
    idle_exit_s: float = 5.0,
) -> str:
    """Follow the bus until the run is over; returns why it ended.

    The run is over when every gateway has exited (its simulation sent and acknowledged) and
    no event arrived for ``idle_exit_s``, or when the hub (or the broker) died.

    Raises:
        DemoError: The hub or the broker died.
    """
    import aiomqtt

    store = side.plan.store_id
    last_event = time.monotonic()

    async def consume() -> None:
        nonlocal last_event
        while True:
            try:
                async with aiomqtt.Client(
                    side.host, side.port, identifier=f"demo-{os.getpid()}", keepalive=10
                ) as client:
                    await client.subscribe(topics.events(store), qos=1)
                    await client.subscribe(topics.all_gateways(store, "status"), qos=1)
                    async for message in client.messages:
                        payload = message.payload
                        if not isinstance(payload, bytes | bytearray):
                            continue
                        now = time.monotonic()
                        ref = topics.parse(message.topic.value)
                        try:
                            if ref is not None and ref.kind == "events":
                                board.on_event(
                                    codec.decode_event(message.topic.value, bytes(payload)), now
                                )
                                last_event = now
                            elif ref is not None and ref.gateway and payload:
                                status = codec.decode_status(message.topic.value, bytes(payload))
                                board.on_status(ref.gateway, status)
                        except PayloadError:
                            continue
            except aiomqtt.MqttError:
                await asyncio.sleep(0.5)

    task = asyncio.create_task(consume())
    try:
        while True:
            await asyncio.sleep(interval_s)
            now = time.monotonic()
            show(board.line(now))
            for name, proc in (("hub", side.hub), ("mosquitto", side.broker)):
                if proc is not None and proc.poll() is not None:
                    raise DemoError(
                        f"the {name} exited with code {proc.returncode}; see {side.log_of(name)}"
                    )
            if side.gateways and side.gateways_running() == 0 and now - last_event > idle_exit_s:
                failed = [g for g, p in side.gateways.items() if p.returncode not in (0, None)]
                if failed:
                    raise DemoError(
                        f"gateway {failed[0]} exited with code "
                        f"{side.gateways[failed[0]].returncode}; see {side.log_of(failed[0])}"
                    )
                return "simulation finished: every gateway sent its readings"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- command line ----------------------------------------------------------------------------


def add_parser(subparsers: Any) -> None:
    """Register ``demo [--scenario FILE] [--speed X] [--broker HOST:PORT] [--workdir DIR]``."""
    p = subparsers.add_parser(
        "demo",
        help="run a simulated store live, end to end",
        description="Start a Mosquitto, the store's hub and one gateway process per gateway "
        "of a simulated store (sim source), and show events as they happen. Ctrl-C stops "
        "everything.",
    )
    p.add_argument("--scenario", default=str(DEFAULT_SCENARIO), help="simulator scenario")
    p.add_argument(
        "--speed", type=float, default=1.0, help="simulation seconds per wall second (default 1)"
    )
    p.add_argument("--broker", help="HOST:PORT of a running broker (default: start a Mosquitto)")
    p.add_argument("--workdir", help="keep configs, state and logs here (default: temporary)")
    p.set_defaults(func=run)


def parse_broker(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port).

    Raises:
        InputError: Not HOST:PORT with a port in 1..65535.
    """
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InputError("command line", None, "--broker", f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(ns: argparse.Namespace) -> int:
    """Run the demo until the simulation ends or Ctrl-C; exit code 0, 1 or 2 (bad input)."""
    try:
        if not ns.speed > 0 or not math.isfinite(ns.speed):
            raise InputError("command line", None, "--speed", f"must be > 0, got {ns.speed}")
        broker = parse_broker(ns.broker) if ns.broker else None
        scenario = Path(ns.scenario)
        if not scenario.is_file():
            raise InputError(str(scenario), None, None, "no such scenario file")
    except InputError as exc:
        print(f"proximity demo: {exc}", file=sys.stderr)
        return 2
    tty = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns - 1

    def say(message: str) -> None:
        print(message, flush=True)

    shown = [0.0]

    def show(line: str) -> None:
        if tty:
            print("\r" + line[:width].ljust(width), end="", flush=True)
        elif time.monotonic() - shown[0] >= 10:
            shown[0] = time.monotonic()
            print(line, flush=True)

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    honour_ctrl_c()
    temp = None if ns.workdir else tempfile.TemporaryDirectory(prefix="proximity-demo-")
    workdir = Path(ns.workdir) if ns.workdir else Path(temp.name)  # type: ignore[union-attr]
    side: StoreSide | None = None
    board: StatusBoard | None = None
    try:
        side = start_store_side(scenario, workdir, ns.speed, broker, say)
        board = StatusBoard(side.plan.gateways)
        say(f"watching prox/v1/{side.plan.store_id}/events (Ctrl-C to stop)")
        reason = asyncio.run(watch(side, board, show))
        code = 0
    except KeyboardInterrupt:
        reason, code = "interrupted", 0
    except InputError as exc:
        print(f"\nproximity demo: {exc}", file=sys.stderr)
        return 2
    except DemoError as exc:
        reason, code = str(exc), 1
    finally:
        if side is not None:
            side.stop()
        signal.signal(signal.SIGTERM, previous)
        if temp is not None:
            temp.cleanup()
    if tty:
        print()
    if board is not None:
        print(f"{board.events} events, {len(board.in_store)} devices in store at the end")
    print(f"proximity demo: {reason}", file=sys.stderr if code else sys.stdout)
    return code


def honour_ctrl_c() -> None:
    """Stop on Ctrl-C (SIGINT) even when started with it ignored: a shell starts background
    jobs (``cmd &``) that way, and Python then never raises KeyboardInterrupt, so the demo and
    every process it starts would only stop when killed."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    """``python -m gateway.demo [...]``: the store side alone (``proximity demo`` adds the API)."""
    parser = argparse.ArgumentParser(prog="python -m gateway.demo")
    add_parser(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args(["demo", *(sys.argv[1:] if argv is None else argv)])
    return run(ns)


if __name__ == "__main__":
    sys.exit(main())
