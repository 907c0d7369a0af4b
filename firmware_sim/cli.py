"""Command-line entry of the simulator (``proximity simulate --scenario SC.yaml --out DIR``)."""

from __future__ import annotations

import argparse
import sys
import time

from proximity.errors import InputError

from .output import write_outputs
from .scenario import load_scenario
from .simulate import simulate


def run_simulate(scenario_path: str, out_dir: str) -> int:
    """Simulate the scenario at ``scenario_path`` and write its files into ``out_dir``.

    Prints a progress line on stderr when stderr is a terminal, and a one-line summary on
    stdout.

    Returns:
        0 on success, 2 on bad input or an unwritable output directory (one line on stderr).
    """
    try:
        scenario = load_scenario(scenario_path)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tty = sys.stderr.isatty()

    def progress(fraction: float) -> None:
        print(f"\rsimulating {scenario.name}: {fraction * 100:5.1f} %", end="", file=sys.stderr)

    started = time.perf_counter()
    result = simulate(scenario, progress if tty else None)
    if tty:
        print(file=sys.stderr)
    try:
        write_outputs(result, out_dir)
    except OSError as exc:
        print(f"error: {out_dir}: cannot write outputs: {exc.strerror or exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - started
    print(
        f"{scenario.name}: {len(result.readings)} readings, {len(result.truth)} truth intervals, "
        f"{scenario.duration_s:g} s simulated in {wall:.1f} s "
        f"({scenario.duration_s / max(wall, 1e-9):.0f}x real time) -> {out_dir}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m firmware_sim --scenario SC.yaml --out DIR``."""
    parser = argparse.ArgumentParser(prog="firmware_sim", description=__doc__)
    parser.add_argument("--scenario", required=True, help="scenario YAML file")
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args(argv)
    return run_simulate(args.scenario, args.out)
