"""The radio model recovers what it was configured with: path loss, walls, body, collisions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware_sim import simulate
from firmware_sim.radio import (
    Emissions,
    build_world,
    channel_offsets,
    emissions,
    mean_rssi,
    receive,
    rician_db,
)
from firmware_sim.scenario import Scenario, parse_scenario

BASE = """\
scenario: {{name: radio, seed: {seed}, duration_s: {duration}}}
store:
  store: {{id: lab}}
  gateways:
    - {{id: gw-a, position: [3, 3]}}
    - {{id: gw-b, position: [17, 3]}}
    - {{id: gw-c, position: [3, 12]}}
    - {{id: gw-d, position: [17, 12]}}
    - {{id: gw-e, position: [8, 3]}}
    - {{id: gw-f, position: [12, 3]}}
    - {{id: gw-g, position: [8, 12]}}
    - {{id: gw-h, position: [12, 12]}}
  zones:
    - {{id: street, kind: outside, polygon: [[-20, -8], [40, -8], [40, 0], [-20, 0]]}}
    - {{id: west, kind: sales, polygon: [[0, 0], [10, 0], [10, 15], [0, 15]]}}
    - {{id: east, kind: sales, polygon: [[10, 0], [20, 0], [20, 15], [10, 15]]}}
layout:
  door: [10, 0]
  sidewalk: {{x: [-20, 40], y: [-4.5, -1.5]}}
walls: {walls}
radio: {{path_loss_n: {n}, body_db: {body}, floor_dbm: {floor}, host_drop: {drop}}}
population:
  shoppers: {{per_hour: 0}}
  passersby: {{per_hour: 0}}
  staff: {{count: {staff}, hardware: badge, dwell_median_s: 20}}
"""


def scenario(
    *,
    seed: int = 1,
    duration: float = 300,
    walls: str = "[]",
    n: float = 2.2,
    body: float = 0,
    floor: float = -95,
    drop: float = 0.05,
    staff: int = 4,
) -> Scenario:
    text = BASE.format(
        seed=seed,
        duration=duration,
        walls=walls,
        n=n,
        body=body,
        floor=floor,
        drop=drop,
        staff=staff,
    )
    return parse_scenario(text, "radio.yaml")


@pytest.mark.parametrize("n", [2.2, 3.0])
def test_path_loss_exponent_is_recovered(n: float) -> None:
    """Regress RSSI on log10(distance) over a no-wall, no-body run (floor out of the way).

    One gateway's shadowing field alone moves its estimate by about +-0.5 (4 dB patches near
    or far from it), so 16 independent stores (seeds, 8 gateways each) are pooled: the
    remaining scatter is about +-0.05.
    """
    centred_x: list[np.ndarray] = []
    centred_y: list[np.ndarray] = []
    for seed in range(16):
        sc = scenario(n=n, floor=-120, duration=120, staff=15, seed=seed)
        result = simulate(sc)
        rec, em = result.receptions, result.emissions
        gx = result.world.gx[rec.gateway]
        gy = result.world.gy[rec.gateway]
        x, y = em.x[rec.event], em.y[rec.event]
        d = np.sqrt((x - gx) ** 2 + (y - gy) ** 2 + sc.radio.height_m**2)
        near = d < 10
        assert near.sum() > 5_000
        # gateways have hidden rx offsets: one common slope, an intercept per (store, gateway)
        logd = np.log10(d[near])
        rssi = rec.rssi[near].astype(float)
        gw = rec.gateway[near]
        counts = np.bincount(gw)
        centred_x.append(logd - (np.bincount(gw, logd) / counts)[gw])
        centred_y.append(rssi - (np.bincount(gw, rssi) / counts)[gw])
    lx = np.concatenate(centred_x)
    ly = np.concatenate(centred_y)
    recovered = -float(np.dot(lx, ly) / np.dot(lx, lx)) / 10
    print(f"configured n={n}, recovered n={recovered:.3f} from {lx.size} receptions")
    assert recovered == pytest.approx(n, abs=0.15)


def test_walls_attenuate_exactly_their_loss() -> None:
    wall = "[{from: [10, -1], to: [10, 16], loss_db: 12, name: partition}]"
    open_world = build_world(scenario(), np.random.default_rng(5))
    walled = build_world(scenario(walls=wall), np.random.default_rng(5))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 20, 2000)
    y = rng.uniform(0, 15, 2000)
    offset = np.zeros(2000)
    diff = mean_rssi(open_world, x, y, None, offset) - mean_rssi(walled, x, y, None, offset)
    gx = walled.gx[None, :]
    crossing = (x[:, None] < 10) != (gx < 10)
    assert np.allclose(diff[crossing], 12.0)
    assert np.allclose(diff[~crossing], 0.0)


def test_walls_reduce_what_is_heard_end_to_end() -> None:
    concrete = "[{from: [10, -1], to: [10, 16], loss_db: 30}]"
    quiet = simulate(scenario(walls=concrete, seed=3))
    loud = simulate(scenario(seed=3))
    assert len(quiet.receptions) < 0.85 * len(loud.receptions)


def test_body_blocks_gateways_behind_the_wearer() -> None:
    world = build_world(scenario(body=10), np.random.default_rng(1))
    x = np.array([10.0, 10.0])
    y = np.array([7.5, 7.5])
    towards_a = math.atan2(3 - 7.5, 3 - 10)
    facing = mean_rssi(world, x, y, np.array([towards_a, towards_a + math.pi]), np.zeros(2))
    # gw-a (index 0) is in front for the first, behind for the second
    assert facing[0, 0] - facing[1, 0] == pytest.approx(10.0)


def test_rician_fading_has_unit_mean_power_and_field_spread() -> None:
    fade = rician_db(np.random.default_rng(2), 6.0, (200_000,))
    assert np.mean(10 ** (fade / 10)) == pytest.approx(1.0, abs=0.01)
    assert 2.0 <= float(np.std(fade)) <= 4.5


def test_shadowing_is_spatially_correlated_with_configured_sigma() -> None:
    world = build_world(scenario(), np.random.default_rng(9))
    field = world.shadow[0]
    assert float(field.std()) == pytest.approx(4.0, rel=0.01)
    near = np.corrcoef(field[:, :-1].ravel(), field[:, 1:].ravel())[0, 1]
    far = np.corrcoef(field[:, :-20].ravel(), field[:, 20:].ravel())[0, 1]
    assert near > 0.8
    assert abs(far) < 0.3


def _collision_fraction(n_devices: int) -> float:
    sc = scenario(drop=0.0)
    world = build_world(sc, np.random.default_rng(0))
    rng = np.random.default_rng(n_devices)
    starts = np.zeros(n_devices)
    ends = np.full(n_devices, 60.0)
    t, dev = emissions(starts, ends, np.full(n_devices, 0.1), rng)
    em = Emissions(
        t=t,
        device=dev,
        x=np.full(t.shape, 5.0),
        y=np.full(t.shape, 5.0),
        heading=np.zeros(t.shape),
    )
    chan = channel_offsets(sc.radio, rng, n_devices, world.n_gateways)
    rec = receive(world, em, np.zeros(n_devices), chan, rng)
    return rec.stats["collided"] / rec.stats["in_range"]


def test_collisions_grow_with_density_like_pure_aloha() -> None:
    fractions = {n: _collision_fraction(n) for n in (5, 40, 120)}
    assert fractions[5] < fractions[40] < fractions[120]
    for n, frac in fractions.items():
        g = n / 0.105 * 376e-6
        print(f"{n} fobs: collided {frac:.3f}, pure ALOHA {1 - math.exp(-2 * g):.3f}")
        assert frac == pytest.approx(1 - math.exp(-2 * g), abs=0.03)


def test_host_drop_rate() -> None:
    result = simulate(scenario(drop=0.2, seed=4))
    stats = result.receptions.stats
    assert stats["dropped"] / (stats["in_range"] - stats["collided"]) == pytest.approx(
        0.2, abs=0.01
    )


def test_advertising_timing() -> None:
    rng = np.random.default_rng(0)
    t, dev = emissions(np.array([0.0, 5.0]), np.array([100.0, 50.0]), np.array([1.0, 0.1]), rng)
    assert np.all(np.diff(t) >= 0)
    for i, interval in ((0, 1.0), (1, 0.1)):
        gaps = np.diff(t[dev == i])
        assert gaps.min() >= interval
        assert gaps.max() <= interval + 0.010
        assert gaps.mean() == pytest.approx(interval + 0.005, abs=0.002)
    assert t[dev == 1].min() >= 5.0
    assert t[dev == 1].max() < 50.0
