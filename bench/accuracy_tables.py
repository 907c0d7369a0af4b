"""The tables of docs/accuracy.md, as Markdown, from the JSON the measuring commands write.

::

    .venv/bin/proximity eval --scenario config/scenarios/default.yaml --json > out/default.json
    ...                                          # busy, boutique, hard likewise
    .venv/bin/python -m bench.impairments         # writes out/impairments.json
    .venv/bin/python -m bench.devices             # writes out/devices.json
    .venv/bin/python -m bench.pathloss            # writes out/pathloss.json
    .venv/bin/proximity eval --scenario config/scenarios/default.yaml --seeds 10 --json \
        > out/default-seeds.json                  # ten runs scored together, likewise
    .venv/bin/python -m bench.accuracy_tables out # prints every table

Numbers are only ever copied from those files, never typed in.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

SCENARIOS = ("default", "busy", "boutique", "hard")
HARDWARE = ("phone", "fob", "badge")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _lat(m: dict[str, Any], kind: str, hw: str) -> str:
    stat = m[kind].get(hw)
    if not stat or not stat["n"]:
        return "-"
    return f"{stat['p50']:.1f} / {stat['p95']:.1f} s"


def scenario_table(data: dict[str, Any]) -> str:
    """One scenario's engine / engine+fp / baseline table."""
    names = data["columns"]
    ms = [data["metrics"][n] for n in names]
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("zone accuracy, in-store time", [_pct(m["in_store_accuracy"]) for m in ms])
    row("zone accuracy, street time", [_pct(m["out_of_store_accuracy"]) for m in ms])
    row("zone accuracy, all time", [_pct(m["accuracy"]) for m in ms])
    row("store entry recall (5 s)", [_pct(m["entry_recall"]) for m in ms])
    row("store entry precision", [_pct(m["entry_precision"]) for m in ms])
    row("passers-by given a store entry", [_pct(m["passerby_false_entry_rate"]) for m in ms])
    row("spurious zone changes per device-hour", [_num(m["spurious_per_device_hour"]) for m in ms])
    row("visits that got a store exit", [_pct(m["exit_any_share"]) for m in ms])
    row("store exits within the exit window", [_pct(m["exit_recall"]) for m in ms])
    for kind, label in (
        ("entry_latency", "entry"),
        ("exit_latency", "exit"),
        ("zone_latency", "zone"),
    ):
        for hw in HARDWARE:
            if any(m[kind].get(hw, {}).get("n") for m in ms):
                row(f"{label} latency p50 / p95, {hw}", [_lat(m, kind, hw) for m in ms])
    m = ms[0]
    counts = (
        f"{m['true_entries']} / {m['true_exits']} / {m['passersby']} / {m['in_store_s'] / 3600:.2f}"
    )
    row(
        "true entries / exits / passers-by / in-store device-hours", [counts] + [""] * (len(ms) - 1)
    )
    return "\n".join(lines)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``k / n`` (``n`` > 0)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _rate(k: int, n: int) -> str:
    if not n:
        return "-"
    lo, hi = wilson(k, n)
    return f"{100 * k / n:.1f} % ({100 * lo:.0f}-{100 * hi:.0f})"


def pooled_table(runs: dict[str, dict[str, Any]]) -> str:
    """Engine against baseline per scenario, each scored over several runs together
    (``proximity eval --seeds``), rates with their 95 % Wilson interval."""
    lines = [
        "| scenario (runs) | column | in-store acc. | street acc. | entry recall | "
        "entry precision | passers-by entered | spurious /h | entry p95 phone / fob | "
        "exit p95 phone / fob | entries / passers-by |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, data in runs.items():
        count = data["title"].split(", ")[1].split(" runs")[0] if " runs" in data["title"] else "1"
        for column in ("engine", "baseline"):
            m = data["metrics"][column]

            def p95(kind: str, hw: str, m: dict[str, Any] = m) -> str:
                stat = m[kind].get(hw)
                return "-" if not stat or not stat["n"] else f"{stat['p95']:.1f}"

            cells = [
                f"{name} ({count})" if column == "engine" else "",
                column,
                _pct(m["in_store_accuracy"]),
                _pct(m["out_of_store_accuracy"]),
                _rate(m["entries_matched"], m["true_entries"]),
                _pct(m["entry_precision"]),
                _rate(m["passersby_entered"], m["passersby"]),
                _num(m["spurious_per_device_hour"]),
                f"{p95('entry_latency', 'phone')} / {p95('entry_latency', 'fob')} s",
                f"{p95('exit_latency', 'phone')} / {p95('exit_latency', 'fob')} s",
                f"{m['true_entries']} / {m['passersby']}" if column == "engine" else "",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def confusion_table(data: dict[str, Any], zones: list[str]) -> str:
    """Truth (rows) against the engine's decided label (columns), share of each row.

    ``zones`` lists the truth rows; private zones, which are never decided, have no column.
    """
    conf = data["metrics"]["engine"]["confusion"]
    decided = {c for row in conf.values() for c in row}
    cols = [z for z in zones if z in decided] + ["(in store)", "(nowhere)"]
    lines = [
        "| true \\ decided | " + " | ".join(cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for z in zones:
        if z not in conf:
            continue
        total = sum(conf[z].values())
        cells = [f"{100 * conf[z].get(c, 0.0) / total:.0f} %" for c in cols]
        lines.append(f"| {z} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _headline(m: dict[str, Any]) -> list[str]:
    """In-store and street accuracy, entry recall and precision, passers-by entered, spurious
    changes per device-hour: the cells every variant table starts with."""
    return [
        _pct(m["in_store_accuracy"]),
        _pct(m["out_of_store_accuracy"]),
        _pct(m["entry_recall"]),
        _pct(m["entry_precision"]),
        _pct(m["passerby_false_entry_rate"]),
        _num(m["spurious_per_device_hour"]),
    ]


def impairments_table(rows: list[dict[str, Any]], first: str = "radio") -> str:
    """The radio breakdown of ``bench.impairments`` (or, with ``first="devices"``, the device
    power variants of ``bench.devices``)."""
    lines = [
        f"| {first} | in-store acc. | street acc. | entry recall | entry precision "
        "| passers-by entered | spurious /h |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r[first]} | " + " | ".join(_headline(r)) + " |")
    return "\n".join(lines)


def pathloss_table(rows: list[dict[str, Any]]) -> str:
    """The readers of ``bench.pathloss``, with the exponent each engine ended at per run."""
    lines = [
        "| path loss | exponent at the end | in-store acc. | street acc. | entry recall "
        "| entry precision | passers-by entered | spurious /h |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ended = ", ".join(f"{n:g}" for n in r.get("exponents") or []) or "-"
        lines.append(f"| {r['path loss']} | {ended} | " + " | ".join(_headline(r)) + " |")
    return "\n".join(lines)


def sweep_table(data: dict[str, Any]) -> str:
    """The variants of one ``bench.sweep`` run (latencies over every kind of device)."""
    lines = [
        "| variant | in-store acc. | street acc. | entry recall | entry precision "
        "| passers-by entered | spurious /h | entry p50 / p95 | exit p50 / p95 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in data["variants"]:
        m = v["metrics"]
        cells = [*_headline(m), _lat(m, "entry_latency", "all"), _lat(m, "exit_latency", "all")]
        lines.append(f"| `{v['variant']}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    folder = Path(argv[1] if len(argv) > 1 else "out")
    imp = folder / "impairments.json"
    if imp.exists():
        print(impairments_table(json.loads(imp.read_text())) + "\n")
    dev = folder / "devices.json"
    if dev.exists():
        print(impairments_table(json.loads(dev.read_text()), first="devices") + "\n")
    loss = folder / "pathloss.json"
    if loss.exists():
        print(pathloss_table(json.loads(loss.read_text())) + "\n")
    pooled = {
        name: json.loads((folder / f"{name}-seeds.json").read_text())
        for name in SCENARIOS
        if (folder / f"{name}-seeds.json").exists()
    }
    if pooled:
        print(pooled_table(pooled) + "\n")
    for name in SCENARIOS:
        path = folder / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        print(f"### {name} ({data['title'].rsplit('(', 1)[-1].rstrip(')')})\n")
        print(scenario_table(data) + "\n")
        if name == "default":
            zones = [
                "street", "entrance", "womens", "mens", "shoes", "checkout", "pickup", "fitting",
            ]  # fmt: skip
            print(confusion_table(data, zones) + "\n")
    for path in sorted(folder.glob("sweep-*.json")):
        data = json.loads(path.read_text())
        seeds = data["seeds"]
        print(f"### {path.name} ({data['scenario']}, seeds {seeds[0]}-{seeds[-1]})\n")
        print(sweep_table(data) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
