"""One PNG per scenario: a shopper's raw and smoothed RSSI, decided zone and true zone.

Edge module (writes a file). Uses matplotlib's Agg backend, so it needs no display.
The smoothed values come from the engine's own trace (`proximity.engine.Engine.traces`),
so the plot shows exactly what the engine decided on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from .evaluate import IN_STORE, NOWHERE, Segment
from .readings import FloatArray
from .store import Store


@dataclass(frozen=True)
class DeviceTrace:
    """What the plot shows for one device.

    Attributes:
        device: Device id.
        raw_ts: Time of each raw reading, seconds.
        raw_gateway: Gateway id of each raw reading.
        raw_rssi: RSSI of each raw reading, dBm.
        smooth_ts: Time of each smoothed vector, seconds.
        smooth: Smoothed RSSI, dBm, one row per ``smooth_ts``, one column per store gateway
            (NaN where the gateway does not hear the device).
        decided: Decided label segments (from the events).
        truth: True zone segments.
    """

    device: str
    raw_ts: FloatArray
    raw_gateway: Sequence[str]
    raw_rssi: FloatArray
    smooth_ts: FloatArray
    smooth: FloatArray
    decided: Sequence[Segment]
    truth: Sequence[Segment]


def plot_device(path: str, store: Store, trace: DeviceTrace, *, title: str) -> None:
    """Write the PNG for ``trace`` to ``path``.

    The x axis is the readings' clock (seconds), limited to the span of the true segments.
    """
    t0 = min(s[0] for s in trace.truth)
    t1 = max(s[1] for s in trace.truth)
    fig, (ax, bands) = plt.subplots(
        2,
        1,
        sharex=True,
        figsize=(12, 6.5),
        gridspec_kw={"height_ratios": [3, 1]},
        constrained_layout=True,
    )
    colors = plt.get_cmap("tab10")
    gateway_ids = [g.id for g in store.gateways]
    raw_gw = np.asarray(trace.raw_gateway)
    for j, gid in enumerate(gateway_ids):
        color = colors(j % 10)
        mask = raw_gw == gid
        if mask.any():
            ax.plot(
                trace.raw_ts[mask],
                trace.raw_rssi[mask],
                ".",
                color=color,
                markersize=3,
                alpha=0.35,
            )
        if trace.smooth.size and np.isfinite(trace.smooth[:, j]).any():
            ax.plot(trace.smooth_ts, trace.smooth[:, j], "-", color=color, linewidth=1.6, label=gid)
    ax.set_ylabel("RSSI (dBm)")
    ax.set_title(f"{title}: device {trace.device} (points: raw readings, lines: engine smoothed)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(title="gateway", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)

    labels = [z.id for z in store.zones] + [IN_STORE, NOWHERE]
    palette = {label: colors(i % 10) for i, label in enumerate(labels)}
    palette[NOWHERE] = (0.92, 0.92, 0.92, 1.0)
    palette[IN_STORE] = (0.6, 0.6, 0.6, 1.0)
    used: set[str] = set()
    for row, segments in ((1, trace.decided), (0, trace.truth)):
        for s, e, label in segments:
            s, e = max(s, t0), min(e, t1)
            if e <= s:
                continue
            used.add(label)
            bands.broken_barh([(s, e - s)], (row - 0.4, 0.8), color=palette.get(label, "k"))
    bands.set_yticks([0, 1], ["true zone", "decided zone"])
    bands.set_xlabel("time (s, readings' clock)")
    handles = [Patch(color=palette[label]) for label in labels if label in used]
    bands.legend(
        handles,
        [label for label in labels if label in used],
        title="zone",
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=8,
    )
    bands.set_xlim(t0, t1)
    fig.savefig(path, dpi=110)
    plt.close(fig)
