"""Fingerprint zoning: a street surveyed only in front of the shop still explains passers-by."""

from __future__ import annotations

import numpy as np

from proximity.engine import Engine
from proximity.errors import InputError
from proximity.fingerprint import FingerprintModel, fit
from proximity.readings import Event

from . import walks

Row = tuple[float, str, str, float]

# Where the surveyor walks in each zone: the street only on the pavement by the door.
SURVEY = {
    "street": ((3.0, -1.5), (7.0, -1.5)),
    "entrance": ((2.0, 2.0), (8.0, 2.0)),
    "back": ((2.0, 6.0), (5.0, 9.0)),
    "fitting": ((8.0, 5.0), (9.0, 9.0)),
}
PER_ZONE_S = 60.0


def back_and_forth(t0: float, a: tuple[float, float], b: tuple[float, float]) -> walks.Path:
    """From ``a`` to ``b`` and back every 30 s, for ``PER_ZONE_S`` from ``t0``."""

    def path(t: float) -> tuple[float, float] | None:
        s = t - t0
        if not 0.0 <= s < PER_ZONE_S:
            return None
        f = abs((s / 15.0) % 2.0 - 1.0)
        return (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]))

    return path


def survey() -> tuple[list[Row], list[str]]:
    """Labeled samples: a 1 s phone walking back and forth in each zone in turn."""
    rows: list[Row] = []
    labels: list[str] = []
    for k, (zone, (a, b)) in enumerate(SURVEY.items()):
        t0 = k * PER_ZONE_S
        path = back_and_forth(t0, a, b)
        part = walks.readings(path, "surveyor", 1.0, seed=10 + k, until=t0 + PER_ZONE_S)
        rows += part
        labels += [zone] * len(part)
    return rows, labels


def model() -> FingerprintModel:
    rows, labels = survey()
    ts, gws, devs, rssi = zip(*rows, strict=True)
    return fit(walks.store(), list(ts), list(gws), list(devs), list(rssi), labels)


def replay(rows: list[Row], m: FingerprintModel) -> list[Event]:
    store = walks.store()
    engine = Engine(store, m.point_model(store))
    ts, gws, devs, rssi = zip(*rows, strict=True)
    engine.ingest_rows(
        np.array(ts, dtype=np.float64), list(gws), list(devs), np.array(rssi, dtype=np.float64)
    )
    return engine.flush()


def passer(t: float) -> tuple[float, float] | None:
    """Along the far side of the pavement, 30 m either side of the door, at 1.2 m/s."""
    x = -25.0 + 1.2 * t
    return (x, -5.0) if x <= 35.0 else None


def test_weak_street_vectors_score_as_street() -> None:
    store = walks.store()
    pm = model().point_model(store)
    zones = list(pm.zone_ids)
    # a device well beyond the surveyed pavement: every gateway weaker, the near one most,
    # the far ones barely or not at all
    est = np.array(
        [
            [-59 - 22 * np.log10(d) for d in (12.0, 17.0, 13.0)],
            [-59 - 22 * np.log10(12.0), np.nan, np.nan],
            [-59 - 22 * np.log10(20.0), -59 - 22 * np.log10(22.0), np.nan],
        ]
    )
    ll = pm.loglik(est, np.full(3, -59.0), store.engine)
    assert [zones[i] for i in ll.argmax(axis=1)] == ["street"] * 3
    # the surveyed statistics are still there: each zone's first point is its survey
    first = np.r_[0, np.flatnonzero(np.diff(pm.point_zone)) + 1]
    assert [zones[z] for z in pm.point_zone[first]] == zones
    assert (pm.point_zone == zones.index("street")).sum() > 1


def test_passer_by_beyond_the_survey_gets_no_store_entry() -> None:
    m = model()
    for seed in range(4):
        events = replay(walks.readings(passer, "p", 1.0, seed=seed, until=50.0), m)
        assert not [e for e in events if e.type == "store_entry"], seed


def test_shopper_still_placed_inside_with_the_model() -> None:
    events = replay(walks.readings(walks.shopper, "s", 1.0, seed=3), model())
    kinds = [(e.type, e.zone) for e in events]
    assert ("store_entry", None) in kinds
    assert ("zone_enter", "back") in kinds


def test_calibration_fits_per_gateway_offsets_of_the_geometry() -> None:
    rows, labels = survey()
    # the back gateway reads 6 dB hot, which the store file does not say
    rows = [(t, g, d, r + 6.0 if g == "back" else r) for t, g, d, r in rows]
    ts, gws, devs, rssi = zip(*rows, strict=True)
    m = fit(walks.store(), list(ts), list(gws), list(devs), list(rssi), labels)
    assert m.geo_offset_db is not None
    off = dict(zip(m.gateways, m.geo_offset_db.tolist(), strict=True))
    assert 4.0 < off["back"] - (off["door"] + off["left"]) / 2 < 8.0


def test_model_file_keeps_offsets_and_version_1_still_loads() -> None:
    m = model()
    assert m.geo_offset_db is not None
    data = m.to_json()
    assert data["version"] == 2
    back = FingerprintModel.from_json(data, "m.json")
    assert back.geo_offset_db is not None
    assert np.allclose(back.geo_offset_db, m.geo_offset_db, atol=1e-3)
    old = {k: v for k, v in data.items() if k != "geo_offset_db"} | {"version": 1}
    v1 = FingerprintModel.from_json(old, "m.json")
    assert v1.geo_offset_db is None
    store = walks.store()
    # without offsets the street is extrapolated from the survey, as before
    assert (v1.point_model(store).point_zone == 0).sum() == 5
    # with them it also scores as the geometric model's street points beyond the survey
    assert (back.point_model(store).point_zone == 0).sum() > 5
    for bad in ({"version": 3}, {"geo_offset_db": [1.0]}):
        try:
            FingerprintModel.from_json(data | bad, "m.json")
        except InputError:
            continue
        raise AssertionError(bad)
