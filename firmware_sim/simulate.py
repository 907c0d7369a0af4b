"""Run a scenario: people -> advertising events -> receptions -> readings, truth and samples.

`simulate` produces one set of receptions (every device, foreign ones included); the offline
readings (`SimResult.readings`) and the live adverts (`firmware_sim.live.adverts`) are two views
of it. Deterministic: the same scenario and seed give the same result, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from proximity.store import Store

from . import people as people_mod
from .geometry import zone_of
from .identity import Identities, SimDevice
from .people import Track
from .radio import Emissions, Receptions, World, build_world, channel_offsets, emissions, receive
from .scenario import Scenario

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]

TRUTH_STEP_S = 0.1
"""Time resolution of the ground-truth zone intervals, seconds."""


@dataclass
class Readings:
    """Readings columns (``ts,gateway,device,rssi,tx_power``), sorted by ``ts``.

    Attributes:
        ts: Seconds.
        gateway: Gateway ids (object array of str).
        device: Resolved pseudonymous subject ids (object array of str).
        rssi: dBm, integers.
        tx_power: Calibrated RSSI at 1 m carried by the frame, dBm.
    """

    ts: FloatArray
    gateway: ObjArray
    device: ObjArray
    rssi: IntArray
    tx_power: IntArray

    def __len__(self) -> int:
        return int(self.ts.shape[0])


@dataclass
class Samples(Readings):
    """Labeled calibration samples: readings plus the true zone id of each."""

    zone: ObjArray = field(default_factory=lambda: np.empty(0, dtype=object))


@dataclass(frozen=True)
class TruthInterval:
    """Where a device really was: ``zone`` (None: in no zone) from ``start`` to ``end`` (s)."""

    device: str
    role: str
    hardware: str
    zone: str | None
    start: float
    end: float

    def to_json(self) -> dict[str, object]:
        """The interval as a truth.jsonl object."""
        return {
            "device": self.device,
            "role": self.role,
            "hardware": self.hardware,
            "zone": self.zone,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
        }


@dataclass
class SimResult:
    """Everything one simulation run produced.

    Attributes:
        scenario: The scenario that was run.
        store: The store as the engine sees it (no hidden truths).
        devices: Every transmitter, foreign ones included.
        tracks: Movement of each device's carrier (same order as ``devices``).
        lifetimes: (start, end) seconds each device is in the simulation.
        emissions: Every advertising event.
        receptions: Every received advertisement, foreign ones included.
        readings: The offline view: resolved readings of app phones, fobs and badges.
        truth: Ground-truth zone intervals of every non-foreign device.
        samples: Labeled calibration samples, when the scenario asks for them.
        world: The hidden radio truth (gateway offsets, shadowing).
        stats: Counts for scenario.json.
    """

    scenario: Scenario
    store: Store
    devices: list[SimDevice]
    tracks: list[Track]
    lifetimes: FloatArray
    emissions: Emissions
    receptions: Receptions
    readings: Readings
    truth: list[TruthInterval]
    samples: Samples | None
    world: World
    stats: dict[str, object]


def simulate(scenario: Scenario, progress: Callable[[float], None] | None = None) -> SimResult:
    """Simulate ``scenario``.

    Args:
        scenario: A validated scenario.
        progress: Called now and then with the fraction done (0..1).
    """
    seeds = np.random.SeedSequence(scenario.seed).spawn(7)
    rng_people, rng_world, rng_ident, rng_timing, rng_radio, rng_cal, rng_chan = (
        np.random.default_rng(s) for s in seeds
    )

    def report(fraction: float) -> None:
        if progress is not None:
            progress(min(1.0, max(0.0, fraction)))

    tracks = people_mod.make_people(scenario, rng_people)
    world = build_world(scenario, rng_world)
    ident = Identities(rng_ident)
    tx_offset = np.empty(len(tracks))
    for i, track in enumerate(tracks):
        hw = scenario.hardware[track.hardware]
        ident.add(track.role, track.hardware, hw.tx_power)
        tx_offset[i] = hw.offset_db + rng_ident.normal(0.0, hw.sd_db)
    report(0.05)

    lifetimes = np.array(
        [[max(0.0, tr.start), min(scenario.duration_s, tr.end)] for tr in tracks], dtype=np.float64
    ).reshape(-1, 2)
    intervals = np.array([scenario.hardware[tr.hardware].interval_s for tr in tracks])
    em = _emissions(tracks, lifetimes, intervals, rng_timing)
    report(0.12)

    chan = channel_offsets(scenario.radio, rng_chan, len(tracks), world.n_gateways)
    rec = receive(world, em, tx_offset, chan, rng_radio, progress=lambda f: report(0.12 + 0.6 * f))
    readings, unresolved = _readings(rec, ident, scenario.store)
    report(0.8)
    truth = _truth(tracks, ident.devices, lifetimes, scenario.store)
    report(0.88)
    samples = _samples(scenario, world, rng_cal) if scenario.calibration is not None else None
    report(1.0)

    counts: dict[str, int] = {}
    for dev in ident.devices:
        k = f"{dev.role}_{dev.hardware}"
        counts[k] = counts.get(k, 0) + 1
    stats: dict[str, object] = {
        "devices": counts,
        "advertising_events": len(em),
        "receptions": dict(rec.stats),
        "readings": len(readings),
        "unresolved_readings": unresolved,
        "samples": len(samples) if samples is not None else 0,
        "truth_intervals": len(truth),
        "max_concurrent_devices": _max_concurrent(lifetimes, ident.devices),
    }
    return SimResult(
        scenario=scenario,
        store=scenario.store,
        devices=ident.devices,
        tracks=tracks,
        lifetimes=lifetimes,
        emissions=em,
        receptions=rec,
        readings=readings,
        truth=truth,
        samples=samples,
        world=world,
        stats=stats,
    )


def _emissions(
    tracks: list[Track], lifetimes: FloatArray, intervals: FloatArray, rng: np.random.Generator
) -> Emissions:
    t, dev = emissions(lifetimes[:, 0], lifetimes[:, 1], intervals, rng)
    x = np.empty_like(t)
    y = np.empty_like(t)
    heading = np.empty_like(t)
    order = np.argsort(dev, kind="stable")
    bounds = np.searchsorted(dev[order], np.arange(len(tracks) + 1))
    for i, track in enumerate(tracks):
        idx = order[bounds[i] : bounds[i + 1]]
        if idx.size == 0:
            continue
        x[idx], y[idx] = track.position(t[idx])
        heading[idx] = track.heading_at(t[idx])
    return Emissions(t=t, device=dev, x=x, y=y, heading=heading)


def _readings(rec: Receptions, ident: Identities, store: Store) -> tuple[Readings, int]:
    """The offline view: non-foreign receptions with devices resolved from frame bytes."""
    own = np.array([d.subject is not None for d in ident.devices], dtype=bool)
    mask = own[rec.device] if len(ident.devices) else np.zeros(len(rec), dtype=bool)
    dev = rec.device[mask]
    ts = rec.t[mask]
    subj, tx, subjects = ident.resolve(dev, ts)
    ok = subj >= 0
    gw_ids = np.array([g.id for g in store.gateways], dtype=object)
    subj_arr = np.array(subjects, dtype=object)
    readings = Readings(
        ts=ts[ok],
        gateway=gw_ids[rec.gateway[mask][ok]],
        device=subj_arr[subj[ok]] if subjects else np.empty(0, dtype=object),
        rssi=rec.rssi[mask][ok],
        tx_power=tx[ok],
    )
    return readings, int((~ok).sum())


def _truth(
    tracks: list[Track], devices: list[SimDevice], lifetimes: FloatArray, store: Store
) -> list[TruthInterval]:
    """Contiguous zone intervals of the true position of every non-foreign device."""
    polygons = [z.polygon for z in store.zones if z.polygon is not None]
    zone_ids = [z.id for z in store.zones if z.polygon is not None]
    out: list[TruthInterval] = []
    for track, dev, (start, end) in zip(tracks, devices, lifetimes, strict=True):
        if dev.subject is None or end <= start:
            continue
        ts = np.arange(start, end, TRUTH_STEP_S)
        x, y = track.position(ts)
        zones = zone_of(x, y, polygons)
        change = np.flatnonzero(np.diff(zones)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(ts)]])
        for a, b in zip(starts, ends, strict=True):
            z = int(zones[a])
            out.append(
                TruthInterval(
                    device=dev.subject,
                    role=dev.role,
                    hardware=dev.hardware,
                    zone=zone_ids[z] if z >= 0 else None,
                    start=float(ts[a]),
                    end=float(ts[b]) if b < len(ts) else float(end),
                )
            )
    return out


def _samples(scenario: Scenario, world: World, rng: np.random.Generator) -> Samples:
    """The calibration walk through the same radio world, labeled with the true zone."""
    track, periods = people_mod.surveyor(scenario, rng)
    ident = Identities(rng)
    hw = scenario.hardware["phone"]
    ident.add("surveyor", "phone", hw.tx_power)
    tx_offset = np.array([hw.offset_db + rng.normal(0.0, hw.sd_db)])
    life = np.array([[track.start, track.end]])
    em = _emissions([track], life, np.array([hw.interval_s]), rng)
    chan = channel_offsets(scenario.radio, rng, 1, world.n_gateways)
    rec = receive(world, em, tx_offset, chan, rng)
    readings, _ = _readings(rec, ident, scenario.store)
    polygons = [z.polygon for z in scenario.store.zones if z.polygon is not None]
    zone_ids = np.array([z.id for z in scenario.store.zones if z.polygon is not None], dtype=object)
    ev = rec.event
    true_zone = zone_of(em.x[ev], em.y[ev], polygons)
    surveyed = np.full(len(rec), -1, dtype=np.int64)
    index = {zid: i for i, zid in enumerate(zone_ids)}
    for zid, a, b in periods:
        surveyed[(rec.t >= a) & (rec.t < b)] = index[zid]
    keep = (true_zone >= 0) & (true_zone == surveyed)
    return Samples(
        ts=readings.ts[keep],
        gateway=readings.gateway[keep],
        device=readings.device[keep],
        rssi=readings.rssi[keep],
        tx_power=readings.tx_power[keep],
        zone=zone_ids[true_zone[keep]],
    )


def _max_concurrent(lifetimes: FloatArray, devices: list[SimDevice]) -> int:
    own = np.array([d.subject is not None for d in devices], dtype=bool)
    if not own.any():
        return 0
    life = lifetimes[own]
    edges = np.concatenate([life[:, 0], life[:, 1]])
    delta = np.concatenate([np.ones(len(life)), -np.ones(len(life))])
    order = np.lexsort((delta, edges))
    return int(np.cumsum(delta[order]).max())
