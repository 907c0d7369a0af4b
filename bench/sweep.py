"""Engine tunings compared over several runs of a scenario, scored together.

::

    python -m bench.sweep --scenario config/scenarios/default.yaml --seeds 1-6 \\
        defaults max_fall_db_per_s=6 entry_hold_s=20,entry_release_prob=0.995

Each run of the scenario (one seed) is simulated once; every variant (``defaults``, or
``knob=value[,knob=value...]`` overrides of `proximity.tuning.EngineConfig`) replays all of
them through the engine, and all runs are scored together (`proximity.evalcmd.pooled_truth`),
so a variant is judged on a few hundred entries and passers-by instead of the few dozen one
30 min run holds. One line per variant on stdout; every variant's full metrics in
``out/sweep-<scenario>.json``. Choose tunings on one range of seeds and check them on another
(``proximity eval --seeds`` starts from the scenario's own seed): a change that only helps the
seeds it was chosen on is noise.

Bad arguments (an unknown knob, a value of the wrong type, a bad seed range) exit with code 2
and one line naming the argument.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from firmware_sim import SimResult, load_scenario, simulate
from proximity.engine import Engine
from proximity.errors import InputError
from proximity.evalcmd import Columns, exit_window, pooled_events, pooled_truth, replay
from proximity.evaluate import Metrics, TruthInterval, score
from proximity.readings import Event
from proximity.store import Store, parse_engine
from proximity.yamldoc import Doc

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


def parse_variant(text: str) -> dict[str, Any]:
    """``defaults`` or ``knob=value[,knob=value...]`` as validated overrides.

    Raises:
        InputError: An unknown knob or a value a store file's ``engine:`` would refuse.
    """
    if text == "defaults":
        return {}
    raw: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise InputError(text, None, None, "expected knob=value[,knob=value...]")
        raw[key.strip()] = yaml.safe_load(value)
    cfg = parse_engine(Doc(text, {"engine": raw}), ("engine",))
    return {key: getattr(cfg, key) for key in raw}


def parse_seeds(text: str) -> list[int]:
    """``A-B`` (inclusive) or ``A,B,C``.

    Raises:
        InputError: Not a range or list of non-negative integers.
    """
    try:
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-", 1))
            seeds = list(range(lo, hi + 1))
        else:
            seeds = [int(x) for x in text.split(",")]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise InputError("--seeds", None, None, f"expected A-B or A,B,C, got {text!r}")
    return seeds


def scenario_runs(
    prog: str,
    doc: str,
    argv: Sequence[str] | None,
    count: Callable[[str, list[int]], T],
    default_seeds: str = "7-16",
) -> T | None:
    """The command line of a bench tool that scores runs of one scenario: parse
    ``--scenario`` and ``--seeds``, return ``count(scenario path, seeds)``, or None after
    saying on stderr what was wrong with the input."""
    ap = argparse.ArgumentParser(prog=f"python -m {prog}", description=doc.split("\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "config" / "scenarios" / "default.yaml"))
    ap.add_argument(
        "--seeds", default=default_seeds, help=f"A-B or A,B,C (default {default_seeds})"
    )
    ns = ap.parse_args(argv)
    try:
        return count(ns.scenario, parse_seeds(ns.seeds))
    except InputError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None


def engine_runs(
    scenario_path: str, seeds: Sequence[int], label: str
) -> Iterator[tuple[SimResult, list[Event]]]:
    """Each seed's run of the scenario, simulated and replayed through the default engine
    (its events), saying on stderr when a seed is done."""
    base = load_scenario(scenario_path)
    for seed in seeds:
        sim = simulate(dataclasses.replace(base, seed=seed))
        yield sim, replay(Engine(sim.store), Columns.of(sim.readings))
        print(f"{label}: seed {seed} done", file=sys.stderr)


def _row(label: str, m: Metrics) -> str:
    def pct(v: float | None) -> str:
        return "    -" if v is None else f"{100 * v:5.1f}"

    def lat(table: dict[str, Any]) -> str:
        stat = table.get("all")
        return "   -/-   " if stat is None or not stat.n else f"{stat.p50:4.1f}/{stat.p95:4.1f}"

    return (
        f"{label:44.44} {pct(m.in_store_accuracy)} {pct(m.out_of_store_accuracy)} "
        f"{pct(m.entry_recall)} {pct(m.entry_precision)} {pct(m.passerby_false_entry_rate)} "
        f"{m.spurious_per_device_hour or 0.0:6.1f}  {lat(m.entry_latency)} {lat(m.exit_latency)}"
    )


def plot_frontier(path: str, results: list[dict[str, Any]], title: str) -> None:
    """Passers-by given an entry against entry latency p95 (phones), one labelled point per
    variant, with its entry recall: the trade-off a store picks its holds on."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=110)
    legend: list[str] = []
    for r in results:
        m = r["metrics"]
        lat = m["entry_latency"].get("phone") or m["entry_latency"].get("all")
        if not lat or lat["p95"] is None or m["passerby_false_entry_rate"] is None:
            continue
        x, y = lat["p95"], 100 * m["passerby_false_entry_rate"]
        ax.plot(x, y, "o", color="tab:blue")
        number = str(len(legend) + 1)
        ax.annotate(number, (x, y), fontsize=8, xytext=(4, 3), textcoords="offset points")
        recall = m["entry_recall"]
        note = "" if recall is None else f" (recall {100 * recall:.0f} %)"
        legend.append(f"{number}: {r['variant']}{note}")
    ax.text(1.02, 1.0, "\n".join(legend), transform=ax.transAxes, va="top", fontsize=7,
            family="monospace")  # fmt: skip
    ax.axhline(1.0, color="tab:green", lw=0.8, ls="--")
    ax.axvline(5.0, color="tab:green", lw=0.8, ls="--")
    ax.text(5.1, 1.1, "targets: p95 <= 5 s, <= 1 %", color="tab:green", fontsize=7)
    ax.set_xlabel("store entry published, p95 after the door, phones (s)")
    ax.set_ylabel("passers-by given a store entry (%)")
    ax.set_title(f"Entry holds: speed against passers-by ({title})", fontsize=10)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "config" / "scenarios" / "default.yaml"))
    ap.add_argument("--seeds", default="1-6", help="A-B or A,B,C (default 1-6)")
    ap.add_argument("variants", nargs="*", default=["defaults"], help="defaults | knob=value,...")
    ap.add_argument(
        "--plot", metavar="PNG", help="also draw passers-by entered against entry latency"
    )
    ap.add_argument(
        "--save", metavar="NAME", help="results file under out/ (default sweep-<scenario>.json)"
    )
    ns = ap.parse_args(argv)
    try:
        seeds = parse_seeds(ns.seeds)
        variants = [(text, parse_variant(text)) for text in ns.variants]
        scenario = load_scenario(ns.scenario)
    except InputError as exc:
        print(f"bench.sweep: {exc}", file=sys.stderr)
        return 2

    runs: list[tuple[int, Store, Sequence[TruthInterval], Columns]] = []
    for seed in seeds:
        t0 = time.perf_counter()
        sim = simulate(dataclasses.replace(scenario, seed=seed))
        cols = Columns.of(sim.readings)
        runs.append((seed, sim.store, sim.truth, cols))
        print(f"sweep: simulated seed {seed} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    truth = pooled_truth([(seed, tr) for seed, _, tr, _ in runs])
    store = runs[0][1]

    print(
        f"{scenario.name}, seeds {ns.seeds} ({len(seeds)} runs scored together); "
        "in-store / street accuracy, entry recall / precision, passers-by entered (%), "
        "spurious /h, entry and exit latency p50/p95 (s)"
    )
    print(f"{'variant':44} {'in':>5} {'out':>5} {'rec':>5} {'prec':>5} {'pb':>5} {'spur':>6}  "
          f"{'entry':9} {'exit':9}")  # fmt: skip
    results: list[dict[str, Any]] = []
    for text, over in variants:
        t0 = time.perf_counter()
        events: list[tuple[int, list[Event]]] = []
        for seed, st, _, cols in runs:
            tuned = dataclasses.replace(st, engine=dataclasses.replace(st.engine, **over))
            events.append((seed, replay(Engine(tuned), cols)))
        m = score(store, truth, pooled_events(events), exit_match_s=exit_window(store))
        print(_row(text, m), f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
        results.append({"variant": text, "overrides": over, "metrics": m.to_json()})
    if ns.plot:
        plot_frontier(ns.plot, results, f"{scenario.name}, seeds {ns.seeds}")
        print(f"sweep: plot -> {ns.plot}", file=sys.stderr)
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    (out / (ns.save or f"sweep-{scenario.name}.json")).write_text(
        json.dumps({"scenario": scenario.name, "seeds": seeds, "variants": results}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
