"""The ``proximity`` command line (edge module).

Offline commands live here: ``replay``, ``calibrate``, ``simulate`` and ``eval``. The live
commands (``gateway``, ``api``, ``demo``) belong to other packages; `LIVE_COMMANDS` names the
module of each, which is imported only when that command runs (so ``proximity replay`` never
imports bleak, aiomqtt or FastAPI). A live command module provides::

    def add_parser(subparsers: argparse._SubParsersAction) -> None  # adds its sub-parser
    def run(ns: argparse.Namespace) -> int                             # exit code

Exit codes: 0 success, 2 bad input (one line on stderr naming file, line and field, never a
traceback) or a usage error, 1 when the command cannot run here (a missing optional dependency,
an operating-system error such as a directory that cannot be written), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import InputError, ProximityError

if TYPE_CHECKING:
    from .engine import Engine
    from .files import Readings
    from .readings import Event
    from .store import Store
    from .zoning import PointModel

PROG = "proximity"

REPLAY_CHUNK_ROWS = 4096
"""Rows fed to the engine per ``ingest_rows`` / ``advance`` step of a replay. About the size of
a few gateway batches of a busy store: the watermark moves in small steps, as it does live."""


@dataclass(frozen=True)
class LiveCommand:
    """A sub-command implemented outside this module, imported only when it runs.

    Attributes:
        name: Sub-command name.
        module: Module with ``add_parser(subparsers)`` and ``run(ns) -> int``.
        help: One line for ``proximity --help`` (so listing commands imports nothing).
        extra: The pip extra that provides its dependencies, for the error message.
    """

    name: str
    module: str
    help: str
    extra: str | None = None


LIVE_COMMANDS: tuple[LiveCommand, ...] = (
    LiveCommand(
        "gateway", "gateway.cli", "run a store gateway or hub (scan, batch, MQTT)", "gateway"
    ),
    LiveCommand("api", "api.cli", "serve the API: events, alerts, coupons, ops console"),
    LiveCommand("demo", "api.demo", "run the whole product live: simulated store, API, pages"),
)


class CommandUnavailableError(ProximityError):
    """A command cannot run in this installation (missing module or optional dependency)."""


# --- offline commands ------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def load_model_for(store: Store, model_path: str) -> PointModel:
    """The engine's zone model from a calibration file, checked against ``store``.

    Raises:
        InputError: The model file is bad or was fitted for other zones or gateways.
    """
    from .files import load_model

    model = load_model(model_path)
    try:
        return model.point_model(store)
    except InputError as exc:
        raise InputError(model_path, exc.line, exc.field, exc.message) from exc


def replay_readings(
    engine: Engine, readings: Readings, chunk_rows: int = REPLAY_CHUNK_ROWS
) -> list[Event]:
    """Feed ``readings`` to ``engine`` in file order and return every event.

    Each chunk is ingested, then the engine advances to the largest ``ts`` seen so far; the
    stream ends with a flush.
    """
    events: list[Event] = []
    watermark = float("-inf")
    for chunk in readings.chunks(chunk_rows):
        engine.ingest_rows(chunk.ts, chunk.gateway, chunk.device, chunk.rssi, chunk.tx_power)
        watermark = max(watermark, float(chunk.ts.max()))
        events.extend(engine.advance(watermark))
    events.extend(engine.flush())
    return events


def cmd_replay(ns: argparse.Namespace) -> int:
    """``proximity replay``: run the engine over a readings file and write its events."""
    from .engine import Engine
    from .files import load_store, read_readings, write_events

    start = time.perf_counter()
    store = load_store(ns.store)
    model = load_model_for(store, ns.model) if ns.model else None
    readings = read_readings(ns.readings, store)
    loaded = time.perf_counter()
    engine = Engine(store, model)
    events = replay_readings(engine, readings)
    decided = time.perf_counter()
    written = write_events(ns.out, events)
    end = time.perf_counter()
    n = len(readings)
    devices = len(set(readings.device))
    rate = n / (end - start) if end > start else float("inf")
    late = engine.stats.late_readings
    _log(
        f"replay: {n:,} readings, {devices:,} devices, {written:,} events"
        f"{f', {late:,} late readings ignored' if late else ''} -> {ns.out} "
        f"in {end - start:.2f} s ({rate:,.0f} readings/s; read {loaded - start:.2f} s, "
        f"engine {decided - loaded:.2f} s, write {end - decided:.2f} s)"
    )
    return 0


def cmd_calibrate(ns: argparse.Namespace) -> int:
    """``proximity calibrate``: fit a fingerprint zone model from labeled samples."""
    from .files import load_store, read_samples, save_model
    from .fingerprint import fit

    start = time.perf_counter()
    store = load_store(ns.store)
    samples = read_samples(ns.samples, store)
    if not len(samples):
        raise InputError(ns.samples, None, None, "no samples: nothing to calibrate from")
    model = fit(store, samples.ts, samples.gateway, samples.device, samples.rssi, samples.zone)
    save_model(ns.out, model)
    _log(
        f"calibrate: {len(samples):,} samples, {len(store.zones)} zones, "
        f"{len(store.gateways)} gateways -> {ns.out} in {time.perf_counter() - start:.2f} s"
    )
    return 0


def cmd_simulate(ns: argparse.Namespace) -> int:
    """``proximity simulate``: write store.yaml, readings.csv and truth.jsonl for a scenario."""
    from firmware_sim.cli import run_simulate

    return run_simulate(ns.scenario, ns.out)


def cmd_eval(ns: argparse.Namespace) -> int:
    """``proximity eval``: simulate, replay, score the engine beside a naive baseline."""
    from .evalcmd import run

    return run(ns.scenario, as_json=ns.json, plot_dir=ns.plot_dir, seeds=ns.seeds)


# --- parser ----------------------------------------------------------------------------------


Handler = Callable[[argparse.Namespace], int]


def _add_offline(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay",
        help="run the engine offline over a readings file",
        description="Run the engine over a readings CSV as fast as it can; write JSON lines.",
    )
    p.add_argument("--store", required=True, metavar="S.yaml", help="store file (YAML)")
    p.add_argument(
        "--readings",
        required=True,
        metavar="R.csv",
        help="readings CSV: ts,gateway,device,rssi[,tx_power]",
    )
    p.add_argument("--model", metavar="M.json", help="calibration model from `calibrate`")
    p.add_argument("--out", required=True, metavar="E.jsonl", help="events output (JSON lines)")
    p.set_defaults(handler=cmd_replay)

    p = sub.add_parser(
        "calibrate",
        help="fit a zone model from labeled samples",
        description="Fit a fingerprint zone model from samples labeled with the true zone.",
    )
    p.add_argument("--store", required=True, metavar="S.yaml", help="store file (YAML)")
    p.add_argument(
        "--samples", required=True, metavar="L.csv", help="samples CSV: ts,gateway,device,rssi,zone"
    )
    p.add_argument("--out", required=True, metavar="M.json", help="model output (JSON)")
    p.set_defaults(handler=cmd_calibrate)

    p = sub.add_parser(
        "simulate",
        help="simulate a store: store.yaml, readings.csv, truth.jsonl",
        description="Simulate a scenario and write store.yaml, readings.csv and truth.jsonl.",
    )
    p.add_argument("--scenario", required=True, metavar="SC.yaml", help="scenario file (YAML)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.set_defaults(handler=cmd_simulate)

    p = sub.add_parser(
        "eval",
        help="simulate, replay and score the engine beside a naive baseline",
        description="Simulate a scenario, replay it, score against the truth, print a table.",
    )
    p.add_argument("--scenario", required=True, metavar="SC.yaml", help="scenario file (YAML)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.add_argument("--plot-dir", metavar="DIR", help="also write plots (PNG) into DIR")
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="simulate N runs (the scenario's seed and the next N-1) and score them together",
    )
    p.set_defaults(handler=cmd_eval)


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is not an option)."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def _load_live(command: LiveCommand) -> Any:
    try:
        return importlib.import_module(command.module)
    except ImportError as exc:
        hint = (
            f" (install it with: pip install 'proximity-engine[{command.extra}]')"
            if command.extra
            else ""
        )
        raise CommandUnavailableError(
            f"the '{command.name}' command is not available: {exc}{hint}"
        ) from exc


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser. Only the live command named in ``argv`` (if any) is imported."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="BLE proximity engine for in-store recognition of opted-in shoppers.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_offline(sub)
    chosen = _chosen_command(argv)
    for live in LIVE_COMMANDS:
        if live.name == chosen:
            module = _load_live(live)
            module.add_parser(sub)
            sub.choices[live.name].set_defaults(handler=module.run)
        else:
            sub.add_parser(live.name, help=live.help, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (the console script exits with it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(args)
        ns = parser.parse_args(args)
        handler: Handler | None = getattr(ns, "handler", None)
        if handler is None:
            parser.error(f"the '{ns.command}' command cannot be run this way")
        return handler(ns)
    except InputError as exc:
        _error(str(exc))
        return 2
    except ProximityError as exc:
        _error(str(exc))
        return 1
    except BrokenPipeError:
        # stdout was closed early (``proximity eval | head``): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        # The environment refused something (a directory not writable, a device busy).
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _error(message: str) -> None:
    one_line = message.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    print(f"{PROG}: error: {one_line}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
