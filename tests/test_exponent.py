"""The engine moves its path-loss exponent only when the devices it hears clearly say so."""

from __future__ import annotations

import dataclasses

import pytest

from bench.impairments import SCENARIO
from bench.pathloss import scenario_text
from firmware_sim import simulate
from firmware_sim.scenario import parse_scenario
from firmware_sim.simulate import SimResult
from proximity.engine import Engine
from proximity.evalcmd import Columns, replay
from proximity.store import Store
from proximity.zoning import geometric_model


def _sim(exponent: float) -> SimResult:
    text = scenario_text(exponent).replace("duration_s: 1800", "duration_s: 600")
    return simulate(parse_scenario(text, str(SCENARIO), base_dir=str(SCENARIO.parent)))


def _engine(store: Store, sim: SimResult, switch_nats: float | None = None) -> Engine:
    cfg = store.engine
    if switch_nats is not None:
        cfg = dataclasses.replace(cfg, path_loss_switch_nats=switch_nats)
    tuned = dataclasses.replace(store, engine=cfg)
    engine = Engine(tuned)
    replay(engine, Columns.of(sim.readings))
    return engine


@pytest.fixture(scope="module")
def dense_room() -> SimResult:
    return _sim(3.5)


def test_a_room_that_swallows_signal_fast_moves_the_exponent(dense_room: SimResult) -> None:
    engine = _engine(dense_room.store, dense_room)
    assert engine.path_loss_n == 3.5
    assert engine.stats.exponent_changes == 1


def test_zero_keeps_the_configured_exponent(dense_room: SimResult) -> None:
    engine = _engine(dense_room.store, dense_room, switch_nats=0.0)
    assert engine.path_loss_n == 2.2
    assert engine.stats.exponent_changes == 0


def test_the_radio_the_model_assumes_keeps_it() -> None:
    sim = _sim(2.2)
    engine = _engine(sim.store, sim)
    assert engine.path_loss_n == 2.2
    assert engine.stats.exponent_changes == 0


def test_a_given_zone_model_is_kept(dense_room: SimResult) -> None:
    model = geometric_model(dense_room.store)
    engine = Engine(dense_room.store, model)
    replay(engine, Columns.of(dense_room.readings))
    assert engine.model is model
    assert engine.stats.exponent_changes == 0


def test_a_store_that_sets_its_exponent_starts_from_it(dense_room: SimResult) -> None:
    engine = _engine(dense_room.store, dense_room)
    assert engine.path_loss_n == 3.5
    same = dataclasses.replace(dense_room.store, name="renamed")
    engine.set_store(same)
    assert engine.path_loss_n == 3.5  # a new store file that leaves the exponent alone
    told = dataclasses.replace(same, engine=dataclasses.replace(same.engine, path_loss_n=3.0))
    engine.set_store(told)
    assert engine.path_loss_n == 3.0
    assert engine.exponent_leads() == {}
