"""Fingerprint zoning: a zone model fitted from labeled samples (``proximity calibrate``).

Labeled samples are readings with the zone the surveyor's device really was in. They go
through the very smoother the engine uses, so the model describes what the engine will see:
for each (zone, gateway) the mean and spread of the smoothed RSSI (relative to the device's
1 m power) and how often the gateway hears a device in that zone at all. Zone geometry is not
needed; adjacency comes from the order in which the samples visit zones (and all zones are
adjacent when that says nothing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError
from .readings import FloatArray, IntArray
from .smoothing import Smoother
from .store import Store
from .tuning import EngineConfig
from .zoning import PointModel, adjacency, geometric_model, heard_probability, log_missed

MODEL_VERSION = 2
"""Version 2 adds ``geo_offset_db``; version 1 files still load (without it)."""
_MIN_SD_DB = 2.0  # a zone-gateway spread is never trusted below 2 dB (few samples, same spot)
_P_HEARD_BOUNDS = (0.02, 0.98)
_BEYOND_M = (5.0, 10.0, 20.0, 40.0)
"""How much further than the surveyed pavement an outside zone's extra points lie, metres:
a passer-by across the road or 10-40 m along it (see `_beyond_survey`)."""
_GEO_MIN_GATEWAYS = 3
"""Geometry places a device only with at least this many gateways (one gateway gives a range,
not a place, and its offset cannot be told from the device's)."""
_GEO_MARGIN_DB = 5.0
"""A geometric street point is kept only if no gateway hears it more than this above the
surveyed mean: the survey speaks for the pavement it walked, geometry for the rest."""
_GEO_ITERATIONS = 3


@dataclass(frozen=True)
class FingerprintModel:
    """Per-(zone, gateway) statistics of smoothed RSSI.

    Attributes:
        zones: Zone ids (rows).
        gateways: Gateway ids (columns).
        mean_db: Mean smoothed RSSI minus the device's 1 m power, dB (NaN: never heard).
        sd_db: Spread of the same, dB.
        p_heard: Share of ticks in which the gateway heard a device in the zone.
        samples: Ticks of evidence per zone.
        geo_offset_db: Per gateway, what the labeled samples read above the geometric
            model's prediction at their best point in the labeled zone, dB; None when the
            store gave no geometry (or too few gateways) at calibration.
    """

    zones: tuple[str, ...]
    gateways: tuple[str, ...]
    mean_db: FloatArray
    sd_db: FloatArray
    p_heard: FloatArray
    samples: tuple[int, ...]
    geo_offset_db: FloatArray | None = None

    def point_model(self, store: Store) -> PointModel:
        """The engine's `PointModel` for ``store`` (zones and gateways must match by id).

        Raises:
            InputError: The model does not fit the store.
        """
        zone_ids = tuple(z.id for z in store.zones)
        gw_ids = tuple(g.id for g in store.gateways)
        if set(zone_ids) != set(self.zones):
            raise InputError(
                "model",
                None,
                "zones",
                f"model zones {sorted(self.zones)} differ from store zones {sorted(zone_ids)}",
            )
        missing = [g for g in gw_ids if g not in self.gateways]
        if missing:
            raise InputError(
                "model",
                None,
                "gateways",
                f"store gateways {missing} are not in the model; calibrate again",
            )
        zi = [self.zones.index(z) for z in zone_ids]
        gi = [self.gateways.index(g) for g in gw_ids]
        mean = self.mean_db[np.ix_(zi, gi)]
        sd = self.sd_db[np.ix_(zi, gi)]
        ph = np.clip(self.p_heard[np.ix_(zi, gi)], *_P_HEARD_BOUNDS)
        cfg = store.engine
        floor_rel = cfg.floor_dbm - cfg.p1m_dbm
        mu = np.where(np.isnan(mean), floor_rel, mean)
        var = np.maximum(np.where(np.isnan(sd), cfg.sigma_db, sd), _MIN_SD_DB) ** 2
        var = var + (cfg.sigma_db / 2) ** 2  # devices differ from the surveyor's beyond an offset
        outside = [i for i, z in enumerate(store.zones) if not z.in_store]
        offset = self._store_offsets(gw_ids)
        if offset is not None and store.geometric:
            mu, var, ph, owner = _geometric_street(store, mean, mu, var, ph, offset)
        else:
            mu, var, ph, owner = _beyond_survey(mu, var, ph, outside, cfg)
        return PointModel(
            zone_ids=zone_ids,
            point_zone=owner,
            mu=mu,
            inv_var=1.0 / var,
            log_heard=np.log(ph),
            log_missed=np.log1p(-ph),
            adjacency=adjacency(store),
        )

    def _store_offsets(self, gw_ids: Sequence[str]) -> FloatArray | None:
        """``geo_offset_db`` in the store's gateway order (None without offsets)."""
        if self.geo_offset_db is None:
            return None
        return np.array([self.geo_offset_db[self.gateways.index(g)] for g in gw_ids])

    def to_json(self) -> dict[str, Any]:
        """JSON form (version 2)."""

        def clean(values: FloatArray) -> list[list[float | None]]:
            return [[None if math.isnan(v) else round(float(v), 3) for v in row] for row in values]

        return {
            "version": MODEL_VERSION,
            "kind": "fingerprint",
            "zones": list(self.zones),
            "gateways": list(self.gateways),
            "mean_db": clean(self.mean_db),
            "sd_db": clean(self.sd_db),
            "p_heard": clean(self.p_heard),
            "samples": list(self.samples),
            "geo_offset_db": (
                None
                if self.geo_offset_db is None
                else [round(float(v), 3) for v in self.geo_offset_db]
            ),
        }

    @staticmethod
    def from_json(data: Any, source: str) -> FingerprintModel:
        """Parse and validate the JSON form.

        Raises:
            InputError: Wrong version, missing keys or shapes that do not agree.
        """
        if not isinstance(data, dict):
            raise InputError(source, None, None, "a model must be a JSON object")
        if data.get("version") not in (1, MODEL_VERSION) or data.get("kind") != "fingerprint":
            raise InputError(
                source,
                None,
                "version",
                f"expected a fingerprint model version 1 or {MODEL_VERSION}",
            )
        for key in ("zones", "gateways", "mean_db", "sd_db", "p_heard", "samples"):
            if key not in data:
                raise InputError(source, None, key, "missing")
        zones, gateways = data["zones"], data["gateways"]
        if not (isinstance(zones, list) and all(isinstance(z, str) for z in zones) and zones):
            raise InputError(source, None, "zones", "must be a non-empty list of zone ids")
        if not (
            isinstance(gateways, list) and all(isinstance(g, str) for g in gateways) and gateways
        ):
            raise InputError(source, None, "gateways", "must be a non-empty list of gateway ids")
        shape = (len(zones), len(gateways))

        def matrix(key: str) -> FloatArray:
            try:
                arr = np.array(
                    [[np.nan if v is None else float(v) for v in row] for row in data[key]],
                    dtype=np.float64,
                )
            except (TypeError, ValueError) as exc:
                raise InputError(source, None, key, "must be a matrix of numbers") from exc
            if arr.shape != shape:
                raise InputError(source, None, key, f"shape {arr.shape} is not {shape}")
            return arr

        samples = data["samples"]
        if not (
            isinstance(samples, list)
            and len(samples) == len(zones)
            and all(isinstance(n, int) for n in samples)
        ):
            raise InputError(source, None, "samples", "must list one integer per zone")
        p_heard = matrix("p_heard")
        if np.nanmin(p_heard) < 0 or np.nanmax(p_heard) > 1:
            raise InputError(source, None, "p_heard", "must lie in [0, 1]")
        raw_offset = data.get("geo_offset_db")
        offset: FloatArray | None = None
        if raw_offset is not None:
            if not (
                isinstance(raw_offset, list)
                and len(raw_offset) == len(gateways)
                and all(isinstance(v, int | float) and math.isfinite(v) for v in raw_offset)
            ):
                raise InputError(source, None, "geo_offset_db", "must list one number per gateway")
            offset = np.array(raw_offset, dtype=np.float64)
        return FingerprintModel(
            tuple(zones),
            tuple(gateways),
            matrix("mean_db"),
            matrix("sd_db"),
            p_heard,
            tuple(samples),
            offset,
        )


def fit(
    store: Store,
    ts: Sequence[float] | FloatArray,
    gateways: Sequence[str],
    devices: Sequence[str],
    rssi: Sequence[float] | FloatArray,
    zones: Sequence[str],
    tx_power: Sequence[float] | FloatArray | None = None,
) -> FingerprintModel:
    """Fit a `FingerprintModel` from labeled samples (all sequences are parallel columns).

    Samples are smoothed per device exactly as the engine smooths readings; each tick of each
    device contributes its smoothed vector to the zone it was labeled with.

    Raises:
        InputError: A zone of the store has no samples (the model could not place anyone there).
    """
    cfg = store.engine
    gw_index = store.gateway_index()
    zone_index = store.zone_index()
    t = np.asarray(ts, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t = t[order]
    g = np.array([gw_index[x] for x in gateways], dtype=np.int64)[order]
    dev_ids: dict[str, int] = {}
    d = np.array([dev_ids.setdefault(x, len(dev_ids)) for x in devices], dtype=np.int64)[order]
    z = np.array([zone_index[x] for x in zones], dtype=np.int64)[order]
    r = np.asarray(rssi, dtype=np.float64)[order]
    tx = (
        np.full(t.size, np.nan)
        if tx_power is None
        else np.asarray(tx_power, dtype=np.float64)[order]
    )
    p1m = np.full(len(dev_ids), cfg.p1m_dbm)
    n_z, n_g = len(store.zones), len(store.gateways)
    sums = np.zeros((n_z, n_g))
    sq = np.zeros((n_z, n_g))
    heard = np.zeros((n_z, n_g))
    ticks = np.zeros(n_z)
    vectors: list[FloatArray] = []
    labels: list[IntArray] = []
    sm = Smoother(len(dev_ids), n_g, cfg)
    label = np.full(len(dev_ids), -1, dtype=np.int64)
    tick_of = np.floor(t / cfg.tick_s).astype(np.int64)
    bounds = np.flatnonzero(np.diff(tick_of)) + 1
    for a, b in zip(np.r_[0, bounds].tolist(), np.r_[bounds, t.size].tolist(), strict=True):
        sl = slice(a, b)
        has = ~np.isnan(tx[sl])
        p1m[d[sl][has]] = tx[sl][has]
        label[d[sl]] = z[sl]
        updated = sm.update(d[sl], g[sl], t[sl], r[sl])
        sm.expire(float(t[b - 1]), updated)
        est = sm.est[updated] - p1m[updated, None]
        zl = label[updated]
        vectors.append(est)
        labels.append(zl)
        seen = ~np.isnan(est)
        np.add.at(sums, zl, np.where(seen, est, 0.0))
        np.add.at(sq, zl, np.where(seen, est * est, 0.0))
        np.add.at(heard, zl, seen.astype(np.float64))
        np.add.at(ticks, zl, 1.0)
    empty = [store.zones[i].id for i in range(n_z) if ticks[i] == 0]
    if empty:
        raise InputError("samples", None, "zone", f"no samples for zone(s) {', '.join(empty)}")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / heard
        sd = np.sqrt(np.maximum(sq / heard - mean * mean, 0.0))
    p_heard = heard / ticks[:, None]
    return FingerprintModel(
        zones=tuple(zn.id for zn in store.zones),
        gateways=tuple(gw.id for gw in store.gateways),
        mean_db=mean,
        sd_db=sd,
        p_heard=p_heard,
        samples=tuple(int(n) for n in ticks),
        geo_offset_db=(
            _geo_offsets(store, np.vstack(vectors), np.concatenate(labels))
            if store.geometric and n_g >= _GEO_MIN_GATEWAYS
            else None
        ),
    )


def _geo_offsets(store: Store, rel: FloatArray, label: IntArray) -> FloatArray:
    """Per-gateway offsets of the geometric model, fitted on labeled smoothed vectors.

    Each labeled vector (RSSI minus the device's 1 m power, NaN where not heard) is placed at
    the geometric model's most likely point within its labeled zone (with the device's offset
    estimated there, and the offsets found so far applied); what each gateway reads above that
    point's prediction, averaged over the vectors, is its offset. A few rounds, since the best
    points move with the offsets.
    """
    cfg = store.engine
    gm = geometric_model(store)
    heard = ~np.isnan(rel)
    h = heard.astype(np.float64)
    x = np.where(heard, rel, 0.0)
    n = h.sum(axis=1, keepdims=True)
    prior = (cfg.sigma_db / cfg.device_offset_sd_db) ** 2
    floor_rel = cfg.floor_dbm - cfg.p1m_dbm
    outside = label[:, None] != gm.point_zone[None, :]
    rows = np.arange(rel.shape[0])
    offset = np.zeros(rel.shape[1])
    for _ in range(_GEO_ITERATIONS):
        mu = gm.mu + offset[None, :]
        a = x.sum(axis=1, keepdims=True) - h @ mu.T
        b = a / (n + prior)
        ss = (x * x).sum(axis=1, keepdims=True) - 2.0 * (x @ mu.T) + h @ (mu * mu).T
        ll = -0.5 * (ss - 2.0 * b * a + b * b * n + prior * b * b) / cfg.sigma_db**2
        silent = log_missed(mu, floor_rel, cfg.sigma_db)
        ll += cfg.miss_weight * ((1.0 - h) @ silent.T)
        ll[outside] = -np.inf
        best = ll.argmax(axis=1)
        resid = np.where(heard, x - gm.mu[best] - b[rows, best][:, None], 0.0)
        count = h.sum(axis=0)
        offset = np.where(count > 0, resid.sum(axis=0) / np.maximum(count, 1.0), 0.0)
    return offset


def _geometric_street(
    store: Store,
    surveyed: FloatArray,
    mu: FloatArray,
    var: FloatArray,
    p_heard: FloatArray,
    offset: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    """Reference points of every zone: its surveyed statistics, and for outside zones the
    geometric model's points beyond the survey.

    The calibration walk samples the street only on the pavement it walked, sometimes thinly;
    passers-by are anywhere along and across it. An outside zone therefore also scores as the
    geometric model's points in its polygon, corrected by the per-gateway offsets fitted at
    calibration, on the fingerprint's own scale: a Gaussian of spread ``sigma_db`` around the
    prediction and a chance of being heard that falls as the prediction nears the floor (as for
    silent gateways). Points that some gateway would hear more than ``_GEO_MARGIN_DB`` above
    the surveyed mean are dropped: the survey speaks for the pavement it walked.

    Returns:
        ``mu``, ``var``, ``p_heard`` per point and the zone index of each point (zones in
        order, each zone's surveyed point first).
    """
    cfg = store.engine
    gm = geometric_model(store)
    gmu = gm.mu + offset[None, :]
    floor_rel = cfg.floor_dbm - cfg.p1m_dbm
    g_ph = np.clip(heard_probability(gmu, floor_rel, cfg.sigma_db), *_P_HEARD_BOUNDS)
    mus: list[FloatArray] = []
    vars_: list[FloatArray] = []
    phs: list[FloatArray] = []
    owner: list[IntArray] = []
    for z, zone in enumerate(store.zones):
        mus.append(mu[z : z + 1])
        vars_.append(var[z : z + 1])
        phs.append(p_heard[z : z + 1])
        owner.append(np.array([z], dtype=np.int64))
        if zone.in_store:
            continue
        ceiling = np.where(np.isnan(surveyed[z]), floor_rel, surveyed[z]) + _GEO_MARGIN_DB
        keep = (gm.point_zone == z) & (gmu <= ceiling[None, :]).all(axis=1)
        k = int(keep.sum())
        mus.append(gmu[keep])
        vars_.append(np.full((k, gmu.shape[1]), cfg.sigma_db**2))
        phs.append(g_ph[keep])
        owner.append(np.full(k, z, dtype=np.int64))
    return np.vstack(mus), np.vstack(vars_), np.vstack(phs), np.concatenate(owner)


def _beyond_survey(
    mu: FloatArray,
    var: FloatArray,
    p_heard: FloatArray,
    outside: Sequence[int],
    cfg: EngineConfig,
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    """Reference points of every zone: its surveyed statistics, and for outside zones more.

    A surveyor walks the pavement in front of the shop; a passer-by is also heard further
    along the street or across it, where every link is longer than any surveyed one. In-store
    zones are bounded and walked whole, the street is not: beyond the surveyed stretch the
    signal only falls off with distance. Each gateway's surveyed mean implies an effective
    distance under the path-loss law (``d0 = 10 ** (-mean / (10 n))``, walls counting as
    distance); ``_BEYOND_M`` metres further the mean is ``-10 n log10(sqrt(d0^2 + D^2))``, so
    the near gateways (door, street-facing) lose much more than the far ones, as measured on
    passers-by. The chance of being heard falls as that mean nears the floor. Spreads stay the
    surveyed ones. The zone scores as its best point, so the surveyed point still counts as
    before and the far points only add explanations for weak or unheard devices.

    Returns:
        ``mu``, ``var``, ``p_heard`` per point (zones in order, each zone's surveyed point
        first) and the zone index of each point.
    """
    n = cfg.path_loss_n
    floor_rel = cfg.floor_dbm - cfg.p1m_dbm
    sd = np.sqrt(var)
    mus: list[FloatArray] = []
    vars_: list[FloatArray] = []
    phs: list[FloatArray] = []
    owner: list[int] = []
    for z in range(mu.shape[0]):
        mus.append(mu[z])
        vars_.append(var[z])
        phs.append(p_heard[z])
        owner.append(z)
        if z not in outside:
            continue
        d0 = 10.0 ** (-np.minimum(mu[z], 0.0) / (10.0 * n))
        here = heard_probability(mu[z], floor_rel, sd[z])
        for extra in _BEYOND_M:
            m = -10.0 * n * np.log10(np.sqrt(d0 * d0 + extra * extra))
            there = heard_probability(m, floor_rel, sd[z])
            mus.append(m)
            vars_.append(var[z])
            phs.append(np.clip(p_heard[z] * there / here, *_P_HEARD_BOUNDS))
            owner.append(z)
    return (
        np.vstack(mus),
        np.vstack(vars_),
        np.vstack(phs),
        np.array(owner, dtype=np.int64),
    )
