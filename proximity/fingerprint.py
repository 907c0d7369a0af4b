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
from .zoning import PointModel, adjacency

MODEL_VERSION = 1
_MIN_SD_DB = 2.0  # a zone-gateway spread is never trusted below 2 dB (few samples, same spot)
_P_HEARD_BOUNDS = (0.02, 0.98)
_BEYOND_M = (5.0, 10.0, 20.0, 40.0)
"""How much further than the surveyed pavement an outside zone's extra points lie, metres:
a passer-by across the road or 10-40 m along it (see `_beyond_survey`)."""


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
    """

    zones: tuple[str, ...]
    gateways: tuple[str, ...]
    mean_db: FloatArray
    sd_db: FloatArray
    p_heard: FloatArray
    samples: tuple[int, ...]

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

    def to_json(self) -> dict[str, Any]:
        """JSON form (version 1)."""

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
        }

    @staticmethod
    def from_json(data: Any, source: str) -> FingerprintModel:
        """Parse and validate the JSON form.

        Raises:
            InputError: Wrong version, missing keys or shapes that do not agree.
        """
        if not isinstance(data, dict):
            raise InputError(source, None, None, "a model must be a JSON object")
        if data.get("version") != MODEL_VERSION or data.get("kind") != "fingerprint":
            raise InputError(
                source, None, "version", f"expected a fingerprint model version {MODEL_VERSION}"
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
        return FingerprintModel(
            tuple(zones),
            tuple(gateways),
            matrix("mean_db"),
            matrix("sd_db"),
            p_heard,
            tuple(samples),
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
    )


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
    # above the floor: a logistic stand-in for the normal CDF, as for silent gateways
    scale = 1.7 / np.sqrt(var)
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
        here = 1.0 / (1.0 + np.exp(-scale[z] * (mu[z] - floor_rel)))
        for extra in _BEYOND_M:
            m = -10.0 * n * np.log10(np.sqrt(d0 * d0 + extra * extra))
            there = 1.0 / (1.0 + np.exp(-scale[z] * (m - floor_rel)))
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
