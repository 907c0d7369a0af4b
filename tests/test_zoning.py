"""Zone likelihoods: the device's offset is integrated out, and a model splits by side."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from proximity.engine import Engine
from proximity.store import parse_store
from proximity.zoning import geometric_model

from . import walks


def test_a_less_known_offset_pays_for_its_freedom() -> None:
    store = walks.store()
    cfg = dataclasses.replace(store.engine, body_prob=0.0)
    model = geometric_model(store)
    back = model.zone_ids.index("back")
    point = int(np.flatnonzero(model.point_zone == back)[0])
    p1m = np.array([cfg.p1m_dbm])
    est = (model.mu[point] + cfg.p1m_dbm)[None, :]  # what the model predicts there, every gateway

    def score(sd: float, body: float = 0.0) -> float:
        c = dataclasses.replace(cfg, body_prob=body)
        return float(model.fit(est, p1m, c, np.array([sd])).zone_ll[0, back])

    # a perfect fit either way; the vaguer offset costs the Gaussian marginal's log term
    heard = model.inv_var[point].sum()
    expected = -0.5 * np.log1p(heard * 36.0) + 0.5 * np.log1p(heard * 4.0)
    assert score(6.0) - score(2.0) == pytest.approx(expected)
    assert expected < -0.5
    assert score(6.0, body=0.3) < score(2.0, body=0.3)  # the body-blocking re-score too


def test_a_model_restricted_to_some_points_scores_the_other_zones_impossible() -> None:
    store = walks.store()
    model = geometric_model(store)
    street = model.zone_ids.index("street")
    inside = model.subset(model.point_zone != street)
    est = np.array([[-70.0, -80.0, -75.0]])
    ll = inside.fit(est, np.array([-59.0]), store.engine).zone_ll
    assert ll[0, street] == -np.inf
    assert np.isfinite(np.delete(ll[0], street)).all()


def _walked(store_yaml: str | None) -> tuple[float, float]:
    store = walks.store() if store_yaml is None else parse_store(store_yaml, "one.yaml")
    rows = walks.readings(walks.shopper, "s", 1.0, seed=2)
    if store_yaml is not None:
        rows = [r for r in rows if r[1] == "door"]
    engine = Engine(store)
    ts, gws, devs, rssi = zip(*rows, strict=True)
    engine.ingest_rows(ts, gws, devs, rssi)
    engine.advance(max(ts))
    slot = engine._slot_of_code[engine.devices.index["s"]]
    return float(engine._s.off_n[slot]), float(engine._s.off_out_n[slot])


def test_each_side_of_the_door_learns_its_own_offset() -> None:
    inside, outside = _walked(None)  # on the pavement, then in the store
    assert inside > 0.0 and outside > 0.0


def test_a_one_gateway_store_keeps_one_shared_offset() -> None:
    one = walks.STORE_YAML.replace(
        "  - {id: back, position: [5, 8]}\n  - {id: left, position: [1, 4]}\n", ""
    )
    shared, outside = _walked(one)
    assert shared > 0.0 and outside == 0.0
