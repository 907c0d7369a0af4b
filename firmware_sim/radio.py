"""The radio model: which gateway hears which advertising event, and how strongly.

RSSI = P1m + dTx(device) + dRx(gateway) - 10 n log10(d) - walls - body + shadowing(x)
       + channel offset(link, channel) + Rician fading(packet), rounded to an integer dBm,
received only above the sensitivity floor, without an ALOHA collision at that gateway, and when
the host does not drop it (FIELD_NOTES "RSSI model for the simulator").

Everything is vectorised over (advertising event x gateway), in chunks of events.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .geometry import segments_cross
from .scenario import Radio, Scenario, Wall

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SHADOW_STEP_M = 0.5
"""Grid spacing of the shadowing field, metres."""

_CHUNK_EVENTS = 100_000


@dataclass
class World:
    """The hidden radio truth of one store.

    Attributes:
        gx: Gateway x, metres.
        gy: Gateway y, metres.
        gw_offset_db: True receiver offset per gateway, dB (never written to the store file).
        walls: Walls crossing paths lose their ``loss_db``.
        shadow: Shadowing field per gateway, dB, shape (gateways, ny, nx).
        origin: (x, y) of the field's cell (0, 0), metres.
        radio: Radio parameters.
    """

    gx: FloatArray
    gy: FloatArray
    gw_offset_db: FloatArray
    walls: tuple[Wall, ...]
    shadow: FloatArray
    origin: tuple[float, float]
    radio: Radio

    @property
    def n_gateways(self) -> int:
        """Number of gateways."""
        return int(self.gx.shape[0])

    def shadowing(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """Shadowing (dB) at points ``x, y`` for every gateway: shape (len(x), gateways).

        Bilinear interpolation of the field; points outside it take the nearest edge cell.
        """
        ny, nx = self.shadow.shape[1:]
        fx = np.clip((x - self.origin[0]) / SHADOW_STEP_M, 0, nx - 1.001)
        fy = np.clip((y - self.origin[1]) / SHADOW_STEP_M, 0, ny - 1.001)
        ix = fx.astype(np.int64)
        iy = fy.astype(np.int64)
        wx = (fx - ix)[:, None]
        wy = (fy - iy)[:, None]
        s = self.shadow
        v00 = s[:, iy, ix].T
        v01 = s[:, iy, ix + 1].T
        v10 = s[:, iy + 1, ix].T
        v11 = s[:, iy + 1, ix + 1].T
        top = v00 * (1 - wx) + v01 * wx
        bottom = v10 * (1 - wx) + v11 * wx
        return np.asarray(top * (1 - wy) + bottom * wy, dtype=np.float64)


def build_world(scenario: Scenario, rng: np.random.Generator) -> World:
    """Draw the hidden truth: gateway offsets and per-gateway shadowing fields."""
    radio = scenario.radio
    gateways = scenario.store.gateways
    gx = np.array([g.position[0] if g.position else 0.0 for g in gateways], dtype=np.float64)
    gy = np.array([g.position[1] if g.position else 0.0 for g in gateways], dtype=np.float64)
    offsets = rng.normal(0.0, radio.gateway_sd_db, size=len(gateways))
    for i, g in enumerate(gateways):
        if g.id in radio.gateway_offsets_db:
            offsets[i] = radio.gateway_offsets_db[g.id]
    xs = [p[0] for z in scenario.store.zones if z.polygon for p in z.polygon]
    ys = [p[1] for z in scenario.store.zones if z.polygon for p in z.polygon]
    xs += [*scenario.layout.sidewalk_x, *gx.tolist()]
    ys += [*scenario.layout.sidewalk_y, *gy.tolist()]
    margin = 5.0
    x0, x1 = min(xs) - margin, max(xs) + margin
    y0, y1 = min(ys) - margin, max(ys) + margin
    nx = math.ceil((x1 - x0) / SHADOW_STEP_M) + 2
    ny = math.ceil((y1 - y0) / SHADOW_STEP_M) + 2
    shadow = np.stack(
        [
            _correlated_field(
                rng, ny, nx, radio.shadow_corr_m / 2 / SHADOW_STEP_M, radio.shadow_sigma_db
            )
            for _ in gateways
        ]
    )
    return World(
        gx=gx,
        gy=gy,
        gw_offset_db=offsets,
        walls=scenario.walls,
        shadow=shadow,
        origin=(x0, y0),
        radio=radio,
    )


def _correlated_field(
    rng: np.random.Generator, ny: int, nx: int, corr_cells: float, sigma_db: float
) -> FloatArray:
    """White noise smoothed by a Gaussian of ``corr_cells`` cells, renormalised to ``sigma_db``.

    The field's autocorrelation is exp(-d^2 / (4 corr_cells^2)): it falls to 1/e at a distance
    of twice the kernel width, which is why the caller passes half the correlation distance.
    """
    half = max(1, math.ceil(3 * corr_cells))
    noise = rng.standard_normal((ny + 2 * half, nx + 2 * half))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / max(corr_cells, 1e-6)) ** 2)
    k /= k.sum()
    smooth = np.apply_along_axis(lambda r: np.convolve(r, k, mode="valid"), 1, noise)
    smooth = np.apply_along_axis(lambda c: np.convolve(c, k, mode="valid"), 0, smooth)
    sd = float(smooth.std())
    if sd <= 0 or sigma_db <= 0:
        return np.zeros((ny, nx))
    return np.asarray(smooth / sd * sigma_db, dtype=np.float64)


def channel_offsets(
    radio: Radio, rng: np.random.Generator, n_devices: int, n_gateways: int
) -> FloatArray:
    """Per-(device, gateway, channel 37/38/39) offset, dB: N(0, sd) plus occasional deep nulls."""
    off = rng.normal(0.0, radio.channel_sd_db, size=(n_devices, n_gateways, 3))
    null = rng.random((n_devices, n_gateways, 3)) < radio.null_prob
    depth = rng.uniform(radio.null_db[0], radio.null_db[1], size=(n_devices, n_gateways, 3))
    return np.asarray(off - np.where(null, depth, 0.0), dtype=np.float64)


@dataclass
class Emissions:
    """Advertising events in time order (one per device per advertising interval).

    Attributes:
        t: Event time, seconds.
        device: Index of the emitting device.
        x: True position x, metres.
        y: True position y, metres.
        heading: Body heading, radians.
    """

    t: FloatArray
    device: IntArray
    x: FloatArray
    y: FloatArray
    heading: FloatArray

    def __len__(self) -> int:
        return int(self.t.shape[0])


@dataclass
class Receptions:
    """Received advertisements in time order, then gateway order.

    Attributes:
        t: Reception time, seconds (the advertising event's time).
        gateway: Gateway index.
        device: Device index.
        rssi: Received strength, integer dBm.
        event: Index of the advertising event in the `Emissions`.
        stats: Counts: ``attempts`` (event x gateway), ``in_range`` (above the floor),
            ``collided``, ``dropped`` (host), ``received``.
    """

    t: FloatArray
    gateway: IntArray
    device: IntArray
    rssi: IntArray
    event: IntArray
    stats: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.t.shape[0])


def mean_rssi(
    world: World,
    x: FloatArray,
    y: FloatArray,
    heading: FloatArray | None,
    tx_offset_db: FloatArray,
) -> FloatArray:
    """Deterministic part of RSSI (dBm), shape (len(x), gateways): everything but the channel
    offset and fast fading."""
    r = world.radio
    dx = world.gx[None, :] - x[:, None]
    dy = world.gy[None, :] - y[:, None]
    dist = np.sqrt(dx * dx + dy * dy + r.height_m**2)
    dist = np.maximum(dist, 0.1)
    rssi = r.p1m_dbm + tx_offset_db[:, None] + world.gw_offset_db[None, :]
    rssi = rssi - 10.0 * r.path_loss_n * np.log10(dist)
    for wall in world.walls:
        if wall.loss_db <= 0:
            continue
        for g in range(world.n_gateways):
            crossed = segments_cross(
                x, y, float(world.gx[g]), float(world.gy[g]), (wall.start, wall.end)
            )
            rssi[:, g] -= np.where(crossed, wall.loss_db, 0.0)
    if heading is not None and r.body_db > 0:
        to_gw = np.arctan2(dy, dx)
        diff = np.abs((to_gw - heading[:, None] + np.pi) % (2 * np.pi) - np.pi)
        rssi = rssi - np.where(diff > math.radians(r.body_angle_deg), r.body_db, 0.0)
    rssi = rssi + world.shadowing(x, y)
    return np.asarray(rssi, dtype=np.float64)


def rician_db(rng: np.random.Generator, k_db: float, shape: tuple[int, ...]) -> FloatArray:
    """Fast-fading gain (dB) of a Rician channel with K factor ``k_db``, unit mean power."""
    k = 10.0 ** (k_db / 10.0)
    los = math.sqrt(k / (k + 1.0))
    scatter = math.sqrt(1.0 / (2.0 * (k + 1.0)))
    re = los + scatter * rng.standard_normal(shape)
    im = scatter * rng.standard_normal(shape)
    power = np.maximum(re * re + im * im, 1e-6)
    return np.asarray(10.0 * np.log10(power), dtype=np.float64)


def receive(
    world: World,
    em: Emissions,
    tx_offset_db: FloatArray,
    chan_offset_db: FloatArray,
    rng: np.random.Generator,
    progress: Callable[[float], None] | None = None,
) -> Receptions:
    """Which gateways hear which advertising events, with what RSSI.

    Args:
        world: The hidden radio truth.
        em: Advertising events, sorted by time.
        tx_offset_db: True transmit offset per device (P1m deviation and hardware), dB.
        chan_offset_db: Per-(device, gateway, channel) offsets, dB.
        rng: Random source for channels, fading and host drops.
        progress: Called with the fraction done (0..1).
    """
    r = world.radio
    n_gw = world.n_gateways
    gw_idx = np.arange(n_gw)
    ev_parts: list[IntArray] = []
    gw_parts: list[IntArray] = []
    rssi_parts: list[FloatArray] = []
    n = len(em)
    for lo in range(0, n, _CHUNK_EVENTS):
        hi = min(n, lo + _CHUNK_EVENTS)
        dev = em.device[lo:hi]
        mean = mean_rssi(world, em.x[lo:hi], em.y[lo:hi], em.heading[lo:hi], tx_offset_db[dev])
        channel = rng.integers(0, 3, size=mean.shape)
        rssi = mean + chan_offset_db[dev[:, None], gw_idx[None, :], channel]
        rssi += rician_db(rng, r.rician_k_db, mean.shape)
        rssi = np.round(rssi)
        ev, gw = np.nonzero(rssi >= r.floor_dbm)
        ev_parts.append(ev.astype(np.int64) + lo)
        gw_parts.append(gw.astype(np.int64))
        rssi_parts.append(rssi[ev, gw])
        if progress is not None:
            progress(0.9 * hi / max(n, 1))
    ev_all = np.concatenate(ev_parts) if ev_parts else np.empty(0, np.int64)
    gw_all = np.concatenate(gw_parts) if gw_parts else np.empty(0, np.int64)
    rssi_all = np.concatenate(rssi_parts) if rssi_parts else np.empty(0)
    t_all = em.t[ev_all]
    collided = np.zeros(ev_all.shape[0], dtype=bool)
    airtime = r.airtime_us * 1e-6
    for g in range(n_gw):
        sel = np.flatnonzero(gw_all == g)
        if sel.size < 2:
            continue
        gap = np.diff(t_all[sel]) < airtime
        hit = np.zeros(sel.size, dtype=bool)
        hit[1:] |= gap
        hit[:-1] |= gap
        collided[sel] = hit
    dropped = rng.random(ev_all.shape[0]) < r.host_drop
    keep = ~collided & ~dropped
    stats = {
        "attempts": n * n_gw,
        "in_range": int(ev_all.shape[0]),
        "collided": int(collided.sum()),
        "dropped": int((dropped & ~collided).sum()),
        "received": int(keep.sum()),
    }
    if progress is not None:
        progress(1.0)
    return Receptions(
        t=t_all[keep],
        gateway=gw_all[keep],
        device=em.device[ev_all[keep]],
        rssi=rssi_all[keep].astype(np.int64),
        event=ev_all[keep],
        stats=stats,
    )


def emissions(
    starts: FloatArray,
    ends: FloatArray,
    intervals: FloatArray,
    rng: np.random.Generator,
) -> tuple[FloatArray, IntArray]:
    """Advertising instants of every device, in time order.

    Each device advertises from a random phase after ``starts[i]`` every ``intervals[i]``
    seconds plus an advDelay uniform in 0..10 ms per event, until ``ends[i]``.

    Returns:
        Times (seconds) and device indices, sorted by time.
    """
    times: list[FloatArray] = []
    devs: list[IntArray] = []
    for i in range(starts.shape[0]):
        span = float(ends[i] - starts[i])
        if span <= 0:
            continue
        interval = float(intervals[i])
        count = int(span / interval) + 2
        steps = interval + rng.uniform(0.0, 0.010, size=count)
        t = starts[i] + rng.uniform(0.0, interval) + np.cumsum(steps) - steps[0]
        t = t[t < ends[i]]
        times.append(t)
        devs.append(np.full(t.shape[0], i, dtype=np.int64))
    if not times:
        return np.empty(0), np.empty(0, np.int64)
    t_all = np.concatenate(times)
    d_all = np.concatenate(devs)
    order = np.argsort(t_all, kind="stable")
    return t_all[order], d_all[order]
