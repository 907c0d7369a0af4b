"""Why store entries are missed: each true entry put in one class by its nearest decision.

::

    python -m bench.entries [--scenario config/scenarios/default.yaml] [--seeds 7-16]

Simulates each run, replays it through the engine and classifies every true entry (a device
stepping from the street into the store while the run was recording) by the ``store_entry``
decisions (``ts``) of the same device:

* **within 5 s**: one is stamped within 5 s of the crossing (what entry recall counts; recall
  pairs one decision with one entry, so it can read a little lower);
* **decided early**: none is, but one was stamped more than 5 s before the crossing while
  the device was still outside (placed in the store as it walked up the pavement);
* **late 5-10 s**, **late 10-20 s**, **late > 20 s**: the first one after the crossing came
  that much later (before the device's next true exit);
* **none**: no decision for this visit at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bench.sweep import engine_runs, scenario_runs
from proximity.evaluate import Segment, TruthInterval, true_segments

MATCH_S = 5.0
"""The window of entry recall (``proximity eval``)."""

CLASSES = (
    "within 5 s",
    "decided early",
    "late 5-10 s",
    "late 10-20 s",
    "late > 20 s",
    "none",
)


def classify(truth: Sequence[Segment], entries: Sequence[float], in_store: set[str]) -> list[str]:
    """The class of each true entry of one device.

    Args:
        truth: The device's true segments ``(start, end, zone)`` in time order.
        entries: ``ts`` of the device's ``store_entry`` events.
        in_store: Zones that count as in the store.

    Returns:
        One of `CLASSES` per true entry, in time order (an entry at the very start of the
        truth is not one: the device was there before the run began).
    """
    out: list[str] = []
    for i, (start, _, zone) in enumerate(truth):
        if i == 0 or zone not in in_store or truth[i - 1][2] in in_store:
            continue
        outside_since = truth[i - 1][0]
        leaves = [s for s, _, z in truth[i + 1 :] if z not in in_store]
        until = leaves[0] if leaves else float("inf")
        if any(abs(t - start) <= MATCH_S for t in entries):
            out.append("within 5 s")
        elif any(outside_since <= t < start - MATCH_S for t in entries):
            out.append("decided early")
        else:
            later = [t - start for t in entries if start + MATCH_S < t < until]
            if not later:
                out.append("none")
            elif min(later) <= 10.0:
                out.append("late 5-10 s")
            elif min(later) <= 20.0:
                out.append("late 10-20 s")
            else:
                out.append("late > 20 s")
    return out


def count(scenario_path: str, seeds: list[int]) -> Counter[str]:
    """Class -> true entries, over all runs."""
    out: Counter[str] = Counter()
    for sim, events in engine_runs(scenario_path, seeds, "entries"):
        in_store = {z.id for z in sim.store.zones if z.in_store}
        entries: dict[str, list[float]] = {}
        for e in events:
            if e.type == "store_entry":
                entries.setdefault(e.device, []).append(e.ts)
        by_device: dict[str, list[TruthInterval]] = {}
        for item in sim.truth:
            by_device.setdefault(item.device, []).append(item)
        for device, items in sorted(by_device.items()):
            truth = true_segments(items, device)
            out.update(classify(truth, entries.get(device, []), in_store))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    counts = scenario_runs("bench.entries", __doc__ or "", argv, count)
    if counts is None:
        return 2
    total = sum(counts.values())
    print(f"{'true entries':16} {total:>5}")
    for name in CLASSES:
        share = f"{100 * counts[name] / total:.1f} %" if total else "-"
        print(f"{name:16} {counts[name]:>5} ({share})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
