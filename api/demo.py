"""``proximity demo``: the whole product live on this machine (edge module).

Starts, in order: a Mosquitto on a free port (unless ``--broker`` names one), the API on SQLite
in the work directory (its MQTT consumer on that broker), seeds it (the simulated store with its
zones, gateways and layout, three associates on shift, rules, and customers: a gold-tier regular,
a customer with a pickup order waiting, one who opted out of offers, and a gold customer who
arrives later), then the store side of `gateway.demo` (the hub and one gateway process per
gateway with the ``sim`` source). It prints the pages' URLs, a live status line, a line for the
first alert, and stops everything on Ctrl-C (or SIGTERM): gateways, hub, broker, then the API.

The API runs on the simulation's clock (seconds since the simulation started, times ``speed``):
the simulated gateways stamp readings from 0, and the API only alerts on events younger than
``LIVE_MAX_AGE_S``. The simulated phones carry the simulator's keys, so the demo links each
seeded customer to a simulated shopper's pseudonymous subject directly in the database (what
enrollment does for a real app) and grants the consents the scenario calls for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway import demo as store_demo
from proximity.errors import InputError

Say = Callable[[str], None]
TOKEN_DAYS = 30.0


class SimClock:
    """The simulation's clock for the API: 0 until `start`, then wall seconds x ``speed``."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._t0: float | None = None

    def start(self) -> None:
        """The gateways start now (their readings are stamped from 0)."""
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        if self._t0 is None:
            return 0.0
        return (time.monotonic() - self._t0) * self.speed


@dataclass(frozen=True)
class Persona:
    """A seeded customer and the consents she gave."""

    name: str
    tier: str
    purposes: tuple[str, ...]
    preferences: dict[str, Any] = field(default_factory=dict)
    purchases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    pickup: str | None = None
    primary: str | None = None


ALL = ("associate_recognition", "offers", "analytics")
PERSONAS = (
    Persona("Maria Gonzalez", "gold", ALL, {"size": "M", "likes": ["dresses", "linen"]},
            ("linen dress", "silk scarf", "sandals"), ("regular",), primary="Anna"),
    Persona("James Okafor", "standard", ALL, {"size": "L"}, ("rain jacket",),
            pickup="PU-1042"),
    Persona("Sofia Rossi", "silver", ("associate_recognition", "analytics"),
            {"prefers": "to browse alone first"}, ("wool coat",), ("no-offers",)),
    Persona("Lena Fischer", "gold", ALL, {"size": "S", "likes": ["shoes"]},
            ("ankle boots", "leather bag"), ("regular",), primary="Ben"),
)  # fmt: skip
"""The first three are shoppers already in the store when it opens; the last arrives later."""

ASSOCIATES = (("Anna", ["womens", "entrance"]), ("Ben", ["mens", "shoes"]),
              ("Chloe", ["checkout", "pickup"]))  # fmt: skip

RULES: tuple[dict[str, Any], ...] = (
    {"name": "Gold customer arrives", "trigger": "store_entry", "tiers": ["gold"],
     "action": "alert", "message": "Gold customer just walked in: greet her by name."},
    {"name": "Pickup order waiting", "trigger": "pickup_waiting", "action": "alert",
     "message": "Pickup order waiting: bring it to the pickup counter."},
    {"name": "Silver customer browsing", "trigger": "zone_dwell", "zone": None,
     "min_dwell_s": 20, "tiers": ["silver"], "action": "alert",
     "message": "Silver customer lingering: offer help when she looks up."},
    {"name": "Welcome coupon", "trigger": "store_entry", "action": "coupon",
     "coupon_text": "20 % off dresses for the next two hours", "coupon_valid_s": 7200},
)  # fmt: skip


# --- picking simulated shoppers for the personas --------------------------------------------


def pick_subjects(result: Any, count: int) -> list[str]:
    """Subjects of app phones and fobs for the personas: all but the last already inside at the
    start with the longest visits, the last the first shopper to arrive after 30 s."""
    inside: list[tuple[float, str]] = []
    later: list[tuple[float, str]] = []
    for i, device in enumerate(result.devices):
        if device.role != "shopper" or not device.subject or device.hardware == "foreign":
            continue
        start, end = float(result.lifetimes[i][0]), float(result.lifetimes[i][1])
        if start <= 0.0:
            inside.append((-(end - start), device.subject))
        elif start >= 30.0:
            later.append((start, device.subject))
    inside.sort()
    later.sort()
    chosen = [s for _, s in inside[: count - 1]] + [s for _, s in later[:1]]
    if len(chosen) < count:
        raise InputError(
            "scenario", None, "population.shoppers", f"needs {count - 1} shoppers inside at "
            f"the start and one arriving later for the demo's customers",
        )  # fmt: skip
    return chosen


# --- the API in a thread -----------------------------------------------------------------------


class ApiServer:
    """The API (uvicorn) serving in a background thread of this process."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn

        self.app = app
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                access_log=False, lifespan="on",
                                timeout_graceful_shutdown=2)  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="api", daemon=True)

    def start(self, timeout_s: float = 20.0) -> None:
        """Start serving; returns once the server accepts requests.

        Raises:
            store_demo.DemoError: It did not start in time.
        """
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise store_demo.DemoError("the API did not start (is the port free?)")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop serving and wait for the thread (SSE clients are cut off)."""
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(10.0)


# --- seeding -------------------------------------------------------------------------------------


@dataclass
class Seeded:
    """What the seed created: ids and ready-made access tokens."""

    store_id: str
    ops_token: str
    associate_tokens: dict[str, str]
    customers: dict[str, int]


def seed(base_url: str, app: Any, result: Any, subjects: list[str], now: float) -> Seeded:
    """Fill the API through its routes (store, zones, gateways, layout, associates, rules,
    customers, a pickup order), then link customers to simulated subjects with consents."""
    from sqlmodel import Session

    from .crud.customers import grant
    from .models import Customer, Purpose
    from .security import Principal, issue_token
    from .settings import Settings

    state = app.state.prox
    settings: Settings = state.settings
    exp = now + TOKEN_DAYS * 86400
    store = result.store
    ops = issue_token(settings.auth_secret, Principal(role="ops", store=None, exp=exp))
    h = {"Authorization": f"Bearer {ops}"}

    def call(method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {**h, "Content-Type": "application/json"}
        request = urllib.request.Request(base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")[:300]
            raise store_demo.DemoError(f"seeding {method} {path}: {exc.code} {text}") from exc

    call("POST", "/stores", {"id": store.id, "name": store.name,
                             "timezone": store.timezone or "UTC", "daily_cap": 10})  # fmt: skip
    for zone in store.zones:
        call("POST", f"/stores/{store.id}/zones",
             {"zone": zone.id, "kind": zone.kind, "dwell_s": zone.dwell_s})  # fmt: skip
    for gw in store.gateways:
        call("POST", f"/stores/{store.id}/gateways", {"gateway": gw.id})
    from proximity.store import dump_store

    call("PUT", f"/stores/{store.id}/layout", dump_store(store))
    associates: dict[str, int] = {}
    for name, zones in ASSOCIATES:
        row = call("POST", f"/stores/{store.id}/associates",
                   {"name": name, "zones": zones, "on_shift": True})  # fmt: skip
        associates[name] = row["id"]
    sales = next((z.id for z in store.zones if z.kind == "sales"), None)
    for rule in RULES:
        body = dict(rule)
        if "zone" in body and body["zone"] is None:
            body["zone"] = sales
        call("POST", f"/stores/{store.id}/rules", body)
    customers: dict[str, int] = {}
    for persona in PERSONAS:
        row = call("POST", "/customers", {
            "name": persona.name, "tier": persona.tier, "tags": list(persona.tags),
            "preferences": persona.preferences, "recent_purchases": list(persona.purchases),
            "primary_associate_id": associates.get(persona.primary or ""),
        })  # fmt: skip
        customers[persona.name] = row["id"]
        if persona.pickup:
            call("POST", f"/stores/{store.id}/orders",
                 {"customer_id": row["id"], "reference": persona.pickup})  # fmt: skip
    with Session(state.engine) as session:
        for persona, subject in zip(PERSONAS, subjects, strict=True):
            customer = session.get(Customer, customers[persona.name])
            assert customer is not None and customer.id is not None
            customer.subject = subject
            session.add(customer)
            grant(session, customer.id, [Purpose(p) for p in persona.purposes], "demo-1", now)
        session.commit()
    tokens = {
        name: issue_token(settings.auth_secret, Principal(
            role="associate", store=store.id, associate=aid, exp=exp))
        for name, aid in associates.items()
    }  # fmt: skip
    return Seeded(store.id, ops, tokens, customers)


# --- the status line ---------------------------------------------------------------------------


class AlertWatch:
    """Alerts raised so far, read from the API's database (for the status line)."""

    def __init__(self, engine: Any, store_id: str) -> None:
        self.engine = engine
        self.store_id = store_id
        self.count = 0
        self.first: str | None = None

    def poll(self) -> str | None:
        """Refresh; returns a line describing the first alert the first time one exists."""
        from sqlmodel import Session, col, func, select

        from .models import Alert, Customer

        with Session(self.engine) as session:
            self.count = int(session.exec(
                select(func.count()).select_from(Alert).where(Alert.store_id == self.store_id)
            ).one())  # fmt: skip
            if self.first is not None or self.count == 0:
                return None
            alert = session.exec(select(Alert).order_by(col(Alert.id))).first()
            assert alert is not None
            customer = session.get(Customer, alert.customer_id)
            who = f"{customer.name} ({customer.tier})" if customer else "a customer"
            self.first = f"first alert: {who} at {alert.zone or 'the entrance'}: {alert.message}"
            return self.first


# --- command line --------------------------------------------------------------------------------


def add_parser(subparsers: Any) -> None:
    """Register ``demo [--scenario F] [--speed X] [--broker H:P] [--host H] [--port P]
    [--workdir DIR]``."""
    p = subparsers.add_parser(
        "demo",
        help="run the whole product live: simulated store, hub, API, pages",
        description="Start a Mosquitto (unless --broker), the API on SQLite with seeded "
        "customers, associates and rules, and a simulated store (hub and gateways); print "
        "the associate feed and ops console URLs. Ctrl-C stops everything.",
    )
    p.add_argument("--scenario", default=str(store_demo.DEFAULT_SCENARIO),
                   help="simulator scenario")  # fmt: skip
    p.add_argument("--speed", type=float, default=1.0,
                   help="simulation seconds per wall second (default 1)")  # fmt: skip
    p.add_argument("--broker", help="HOST:PORT of a running broker (default: start a Mosquitto)")
    p.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="API port (0: any free port)")
    p.add_argument("--workdir", help="keep configs, database and logs here (default: temporary)")
    p.set_defaults(func=run)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _start_broker(workdir: Path, say: Say) -> tuple[subprocess.Popen[bytes], int]:
    binary = store_demo.find_mosquitto()
    port = store_demo.free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 100000\n")  # fmt: skip
    with open(workdir / "mosquitto.log", "ab") as log:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        store_demo.wait_for_port("127.0.0.1", port, 10.0, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    say(f"[1/5] mosquitto listening on 127.0.0.1:{port}")
    return proc, port


def _check_args(ns: argparse.Namespace) -> tuple[Path, tuple[str, int] | None]:
    if not ns.speed > 0 or not math.isfinite(ns.speed):
        raise InputError("command line", None, "--speed", f"must be > 0, got {ns.speed}")
    if not 0 <= ns.port <= 65535:
        raise InputError("command line", None, "--port", f"must be 0..65535, got {ns.port}")
    broker = store_demo.parse_broker(ns.broker) if ns.broker else None
    scenario = Path(ns.scenario)
    if not scenario.is_file():
        raise InputError(str(scenario), None, None, "no such scenario file")
    return scenario, broker


def run(ns: argparse.Namespace) -> int:
    """Run the demo until Ctrl-C; exit code 0, 1 (it could not run) or 2 (bad input)."""
    try:
        scenario, broker = _check_args(ns)
    except InputError as exc:
        print(f"proximity demo: {exc}", file=sys.stderr)
        return 2
    tty = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns - 1

    def say(message: str) -> None:
        if tty:
            print("\r" + " " * width + "\r", end="")
        print(message, flush=True)

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    store_demo.honour_ctrl_c()
    temp = None if ns.workdir else tempfile.TemporaryDirectory(prefix="proximity-demo-")
    workdir = Path(ns.workdir) if ns.workdir else Path(temp.name)  # type: ignore[union-attr]
    workdir.mkdir(parents=True, exist_ok=True)
    broker_proc: subprocess.Popen[bytes] | None = None
    server: ApiServer | None = None
    side: store_demo.StoreSide | None = None
    code, reason = 0, "stopped"
    try:
        if broker is None:
            broker_proc, port = _start_broker(workdir, say)
            broker = ("127.0.0.1", port)
        else:
            say(f"[1/5] using the broker at {broker[0]}:{broker[1]}")
        side, server = _start_all(ns, scenario, workdir, broker, say)
        side.broker = broker_proc  # stopped last, after the hub
        broker_proc = None
        reason = _live(side, server, ns, say, tty, width)
    except KeyboardInterrupt:
        reason = "interrupted"
    except InputError as exc:
        print(f"\nproximity demo: {exc}", file=sys.stderr)
        code, reason = 2, ""
    except store_demo.DemoError as exc:
        code, reason = 1, str(exc)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop
        say("stopping: API, gateways, hub, broker ...")
        if server is not None:
            server.stop()
        if side is not None:
            side.stop()
        if broker_proc is not None:
            broker_proc.terminate()
            broker_proc.wait()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if temp is not None:
            temp.cleanup()
    if reason:
        print(f"proximity demo: {reason}", file=sys.stderr if code else sys.stdout, flush=True)
    return code


def _start_all(
    ns: argparse.Namespace, scenario: Path, workdir: Path, broker: tuple[str, int], say: Say
) -> tuple[store_demo.StoreSide, ApiServer]:
    from firmware_sim.scenario import load_scenario
    from firmware_sim.simulate import simulate

    from .main import create_app
    from .migrate import upgrade
    from .settings import MqttSettings, Settings

    say(f"[2/5] simulating {scenario.name} to pick the demo's customers ...")
    result = simulate(load_scenario(str(scenario)))
    subjects = pick_subjects(result, len(PERSONAS))
    clock = SimClock(ns.speed)
    database = f"sqlite:///{workdir / 'api.db'}"
    client_id = f"prox-demo-api-{store_demo.free_port()}"
    # a clean session: an id used once must not leave a queue behind on a --broker
    mqtt = MqttSettings(enabled=True, host=broker[0], port=broker[1], client_id=client_id,
                        persistent_session=False)  # fmt: skip
    settings = Settings(database_url=database, mqtt=mqtt)
    upgrade(database)
    app = create_app(settings, clock=clock)
    port = ns.port or store_demo.free_port()
    server = ApiServer(app, ns.host, port)
    server.start()
    say(f"[3/5] API on http://{ns.host}:{port} (SQLite {workdir / 'api.db'})")
    try:
        seeded = seed(f"http://{ns.host}:{port}", app, result, subjects, now=0.0)
    except BaseException:
        server.stop()
        raise
    say(f"[4/5] seeded: store {seeded.store_id}, {len(ASSOCIATES)} associates, "
        f"{len(RULES)} rules, customers {', '.join(seeded.customers)}")  # fmt: skip
    try:
        clock.start()
        side = store_demo.start_store_side(scenario, workdir, ns.speed, broker,
                                           lambda m: say("      " + m))  # fmt: skip
    except BaseException:
        server.stop()
        raise
    base = f"http://{ns.host}:{port}/ui"
    store = seeded.store_id
    say("[5/5] ready. Open:")
    for name, token in seeded.associate_tokens.items():
        say(f"  associate feed ({name}): {base}/feed.html?store={store}&token={token}")
    say(f"  ops console:            {base}/ops.html?store={store}&token={seeded.ops_token}")
    say(f"  API docs:               http://{ns.host}:{port}/docs")
    say("ready (Ctrl-C to stop)")
    return side, server


def _live(
    side: store_demo.StoreSide,
    server: ApiServer,
    ns: argparse.Namespace,
    say: Say,
    tty: bool,
    width: int,
) -> str:
    board = store_demo.StatusBoard(side.plan.gateways)
    alerts = AlertWatch(server.app.state.prox.engine, side.plan.store_id)
    shown = [0.0]
    started = time.monotonic()

    def show(line: str) -> None:
        first = alerts.poll()
        if first is not None:
            say(f"{first} ({time.monotonic() - started:.0f} s after start)")
        line = f"{line} | alerts {alerts.count}"
        if tty:
            print("\r" + line[:width].ljust(width), end="", flush=True)
        elif time.monotonic() - shown[0] >= 10:
            shown[0] = time.monotonic()
            print(line, flush=True)

    reason = asyncio.run(store_demo.watch(side, board, show))
    say(f"{reason}; the API and pages stay up until Ctrl-C")
    while True:
        time.sleep(1.0)
        show(board.line(time.monotonic()))
        if not server.thread.is_alive():
            return "the API stopped"
