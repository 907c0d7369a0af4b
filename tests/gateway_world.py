"""A small simulated store for the gateway tests: real frame bytes, foreign adverts, and the
readings the engine should get (computed independently of the gateway code)."""

from __future__ import annotations

import itertools
import json
import math
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from gateway import codec
from gateway.batcher import Batcher
from gateway.privacy import EdgeFilter
from gateway.sources import Advert, advert_to_json, read_adverts
from proximity import frames, tokens

STORE_YAML = """\
store: {id: e2e, name: E2E store}
gateways:
  - {id: gw-door, position: [3.0, 0.5]}
  - {id: gw-sales, position: [10.0, 6.0]}
  - {id: gw-check, position: [17.0, 2.0]}
  - {id: gw-back, position: [10.0, 12.0]}
zones:
  - {id: street, kind: outside, polygon: [[-5, -6], [25, -6], [25, 0], [-5, 0]]}
  - {id: entrance, kind: entrance, polygon: [[0, 0], [6, 0], [6, 4], [0, 4]]}
  - {id: sales, kind: sales, polygon: [[6, 0], [14, 0], [14, 14], [6, 14]]}
  - {id: checkout, kind: checkout, polygon: [[14, 0], [20, 0], [20, 6], [14, 6]]}
"""
GATEWAYS = {"gw-door": (3.0, 0.5), "gw-sales": (10.0, 6.0), "gw-check": (17.0, 2.0),
            "gw-back": (10.0, 12.0)}  # fmt: skip
FOB_UUID = uuid.UUID("f0b0f0b0-0000-4000-8000-000000000001")
T0 = 1_700_000_000.0
ROUTE = [(-3.0, -3.0), (3.0, 2.0), (10.0, 6.0), (17.0, 3.0), (3.0, 2.0), (-3.0, -3.0)]
MARKER = b"\xde\xad\xbe\xef"


@dataclass
class World:
    """Files of one simulated run."""

    root: Path
    store: Path
    table: Path
    replays: dict[str, Path]
    expected_csv: Path
    beacons: dict[str, str]
    foreign_markers: list[str] = field(default_factory=list)
    foreign_uuid: str = ""
    expected_rows: int = 0


def _pos(t: float, start: float, speed: float, dwell: float) -> tuple[float, float] | None:
    """Position along ROUTE (m) at time t (s from T0), pausing ``dwell`` s at each corner."""
    t -= start
    if t < 0:
        return None
    for (x0, y0), (x1, y1) in itertools.pairwise(ROUTE):
        seg = math.hypot(x1 - x0, y1 - y0) / speed
        if t < seg:
            f = t / seg
            return (x0 + f * (x1 - x0), y0 + f * (y1 - y0))
        t -= seg
        if t < dwell:
            return (x1, y1)
        t -= dwell
    return None


def build(root: Path, duration_s: float = 60.0, foreign: int = 10_000, seed: int = 3) -> World:
    """Write store, resolution table, one replay file per gateway, and expected readings."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    store = root / "store.yaml"
    store.write_text(STORE_YAML)
    keys = {f"subj-{i:02d}": bytes([i + 1]) * 16 for i in range(6)}
    table = tokens.build_table(keys, T0)
    table_path = root / "table.json"
    table_path.write_text(json.dumps(table.to_json()))
    # devices: (name, kind, start, speed, dwell, interval, tx)
    devices = []
    for i, subject in enumerate(keys):
        devices.append((subject, "phone", 2.0 + 4 * i, 1.2, 8.0, 0.5, -59))
    for i in range(3):
        devices.append((f"fob-{i}", "fob", 1.0 + 6 * i, 1.0, 6.0, 0.25, -62))
    devices.append(("stranger", "alien-ibeacon", 3.0, 1.1, 5.0, 0.25, -60))
    beacons = {f"ibeacon:{FOB_UUID}:1:{i}": f"fob-{i}" for i in range(3)}
    adverts: dict[str, list[Advert]] = {g: [] for g in GATEWAYS}
    expected: list[tuple[float, str, str, int, int]] = []
    for name, kind, start, speed, dwell, interval, tx in devices:
        t = start + rng.random() * interval
        while t < duration_s:
            pos = _pos(t, start, speed, dwell)
            ts = round(T0 + t, 3)
            if pos is not None:
                if kind == "phone":
                    token = tokens.derive_token(keys[name], tokens.window_index(ts))
                    cid, data = frames.build_app_token(token, tx)
                elif kind == "fob":
                    cid, data = frames.build_ibeacon(FOB_UUID, 1, int(name[-1]), tx)
                else:
                    cid, data = frames.build_ibeacon(FOB_UUID, 2, 9, tx)
                for gw, (gx, gy) in GATEWAYS.items():
                    d = max(0.5, math.hypot(pos[0] - gx, pos[1] - gy))
                    rssi = round(tx - 22 * math.log10(d) + rng.gauss(0, 3))
                    if rssi < -95 or rng.random() < 0.05:
                        continue
                    adverts[gw].append(Advert(ts, {cid: data}, {}, rssi))
                    if kind != "alien-ibeacon":
                        expected.append((ts, gw, name, rssi, tx))
            t += interval * (0.9 + 0.2 * rng.random())
    markers = []
    for _ in range(foreign):
        marker = MARKER + rng.randbytes(6)
        markers.append(marker.hex())
        gw = rng.choice(list(GATEWAYS))
        ts = round(T0 + rng.random() * duration_s, 3)
        company = rng.choice([0x0006, 0x0075, 0x004C, 0x00E0, 0x0157])
        if rng.random() < 0.5:
            adv = Advert(ts, {company: marker + rng.randbytes(rng.randrange(0, 12))}, {}, -70)
        else:
            svc = "0000fe9f-0000-1000-8000-00805f9b34fb"
            adv = Advert(ts, {}, {svc: marker}, -75)
        adverts[gw].append(adv)
    replays = {}
    for gw, items in adverts.items():
        items.sort(key=lambda a: a.ts)
        path = root / f"{gw}.jsonl"
        path.write_text("".join(advert_to_json(a) + "\n" for a in items))
        replays[gw] = path
    expected.sort()
    csv = root / "readings.csv"
    csv.write_text(
        "ts,gateway,device,rssi,tx_power\n"
        + "".join(f"{ts:.3f},{gw},{dev},{rssi},{tx}\n" for ts, gw, dev, rssi, tx in expected)
    )
    return World(root, store, table_path, replays, csv, beacons, markers,
                 str(FOB_UUID) + ":2", len(expected))  # fmt: skip


def batches(world: World) -> list[tuple[str, bytes]]:
    """What the four gateways would publish, as (gateway, payload) in the order they would
    arrive (by window end, then gateway): the edge filter and 0.5 s batches of a gateway."""
    out: list[tuple[float, str, bytes]] = []
    for gw, path in world.replays.items():
        filt = EdgeFilter([f"ibeacon:{FOB_UUID}:1:*"])
        batcher = Batcher(0.5)
        windows = []
        for a in read_adverts(path):
            got = filt.admit(a.manufacturer_data, a.service_data)
            if got is not None:
                windows += batcher.add(a.ts, got.device, a.rssi, got.tx_power)
        last = batcher.finish(T0 + 41)
        for seq, w in enumerate([*windows, last]):
            batch = codec.ReadingsBatch(gw, "boot1", seq, 0, w.t0, w.t1, w.rows, w is last)
            out.append((w.t1, gw, codec.encode_batch(batch)))
    out.sort(key=lambda x: (x[0], x[1]))
    return [(gw, p) for _, gw, p in out]
