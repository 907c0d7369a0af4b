"""How the engine copes with a store whose walls and shelves swallow more or less than it assumes.

``python -m bench.pathloss [--seeds 7-9]`` simulates the default scenario with the path-loss
exponent of the radio set across FIELD_NOTES' range for real rooms (1.5 to 3.5; the engine
starts from 2.2), and scores, over the runs pooled, four readers of the same readings: the
engine as shipped (it starts from 2.2 and moves to another exponent when the devices it hears
fit that one clearly better, ``path_loss_switch_nats``), the engine held at 2.2
(``path_loss_switch_nats: 0``), the engine told the true exponent (``engine: {path_loss_n:
...}`` in the store file), and the naive baseline. It shows how much of a changed radio is
the model's mismatch and how much is the radio itself: a lower exponent carries the street's
signals further into the shop, a higher one leaves fewer gateways hearing a device.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence

from bench.impairments import SCENARIO, header_line, metrics_line, variant_text, write_out
from bench.sweep import parse_seeds
from firmware_sim import simulate
from firmware_sim.scenario import parse_scenario
from proximity.baseline import Baseline
from proximity.engine import Engine
from proximity.errors import InputError
from proximity.evalcmd import Columns, exit_window, pooled_events, pooled_truth, replay
from proximity.evaluate import TruthInterval, score
from proximity.readings import Event
from proximity.store import Store

EXPONENTS = (1.6, 1.8, 2.2, 2.6, 3.0, 3.5)
"""Path-loss exponents of the simulated radio (FIELD_NOTES: 2.2 typical, 1.5 .. 3.5 seen)."""

KEY = "path loss"
"""The first column of the rows written to ``out/pathloss.json``."""


def scenario_text(exponent: float) -> str:
    """The default scenario's YAML with the radio's path-loss exponent replaced."""
    return variant_text({"path_loss_n": exponent})


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.pathloss", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--seeds", default="7-9", help="A-B or A,B,C (default 7-9)")
    ns = ap.parse_args(argv)
    try:
        seeds = parse_seeds(ns.seeds)
    except InputError as exc:
        print(f"bench.pathloss: {exc}", file=sys.stderr)
        return 2
    rows: list[dict[str, object]] = []
    print(header_line(KEY, 34))
    for exponent in EXPONENTS:
        t0 = time.perf_counter()
        base = parse_scenario(scenario_text(exponent), str(SCENARIO), base_dir=str(SCENARIO.parent))
        truths: list[tuple[int, Sequence[TruthInterval]]] = []
        streams: dict[str, list[tuple[int, list[Event]]]] = {}
        ended: dict[str, list[float]] = {}
        leads: list[dict[float, float]] = []
        store: Store | None = None
        for seed in seeds:
            sim = simulate(dataclasses.replace(base, seed=seed))
            store = sim.store
            cols = Columns.of(sim.readings)
            told = dataclasses.replace(
                store, engine=dataclasses.replace(store.engine, path_loss_n=exponent)
            )
            truths.append((seed, sim.truth))
            fixed = dataclasses.replace(
                store, engine=dataclasses.replace(store.engine, path_loss_switch_nats=0.0)
            )
            for label, reader in (
                ("engine", Engine(store)),
                (f"engine fixed at {store.engine.path_loss_n:g}", Engine(fixed)),
                (f"engine told {exponent:g}", Engine(told)),
                ("baseline", Baseline(store)),
            ):
                if label.startswith("engine told") and exponent == store.engine.path_loss_n:
                    continue
                streams.setdefault(label, []).append((seed, replay(reader, cols)))
                if isinstance(reader, Engine):
                    ended.setdefault(label, []).append(reader.path_loss_n)
                    if label == "engine":
                        leads.append(reader.exponent_leads())
        assert store is not None
        truth = pooled_truth(truths)
        for label, runs in streams.items():
            m = score(store, truth, pooled_events(runs), exit_match_s=exit_window(store))
            name = f"n = {exponent:g}, {label}"
            row: dict[str, object] = {KEY: name, "exponents": ended.get(label)}
            if label == "engine":
                row["leads"] = [{f"{n:g}": round(v, 3) for n, v in d.items()} for d in leads]
            rows.append({**row, **m.to_json()})
            print(
                metrics_line(name, m, 34),
                f"  ended at {', '.join(f'{n:g}' for n in ended[label])}" if label in ended else "",
                flush=True,
            )
        for seed, lead in zip(seeds, leads, strict=True):
            text = ", ".join(f"{n:g}: {v:+.2f}" for n, v in lead.items())
            print(f"  seed {seed}, leads over the exponent ended at (nats per device): {text}")
        print(f"  ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    write_out("pathloss.json", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
