"""A straightforward per-reading, pure-Python engine: the yardstick for the vectorised core.

Same model as `proximity.engine` (EWMA smoothing with outlier clipping, point-based zone
likelihood with an estimated device offset and censored silent gateways, an HMM step and the
same hysteresis), written the way one would write it first: one reading at a time, dicts and
loops, no numpy. It is only used by ``make bench`` to report the speed-up of the real engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from proximity.store import Store
from proximity.zoning import geometric_model


@dataclass
class _Device:
    est: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    post: list[float] = field(default_factory=list)
    decided: int = -1
    chal: int = -1
    chal_since: float = 0.0
    last_step: float = -math.inf
    last_seen: float = -math.inf
    n_read: int = 0


class ReferenceEngine:
    """Per-reading pure-Python engine; returns (device, zone, ts) decisions."""

    def __init__(self, store: Store) -> None:
        self.cfg = store.engine
        model = geometric_model(store)
        self.mu = model.mu.tolist()
        self.point_zone = model.point_zone.tolist()
        self.n_zones = len(model.zone_ids)
        self.zone_ids = model.zone_ids
        self.gw = store.gateway_index()
        from proximity.engine import _generator, _initial_prior

        self.q = _generator(model.adjacency, [z.kind for z in store.zones], self.cfg).tolist()
        self.prior = _initial_prior([z.kind for z in store.zones]).tolist()
        self.devices: dict[str, _Device] = {}
        self.decisions: list[tuple[str, str | None, float]] = []
        self._next_timeout_check = -math.inf

    def feed(self, ts: float, gateway: str, device: str, rssi: float) -> None:
        """Process one reading."""
        cfg = self.cfg
        g = self.gw[gateway]
        dev = self.devices.get(device)
        if dev is None:
            dev = self.devices[device] = _Device(post=list(self.prior))
        dev.n_read += 1
        dev.last_seen = max(dev.last_seen, ts)
        old = dev.est.get(g)
        dt_cell = ts - dev.last.get(g, -math.inf)
        if old is None or dt_cell > cfg.stale_s:
            dev.est[g] = rssi
        else:
            x = min(max(rssi, old - cfg.outlier_db), old + cfg.outlier_db)
            dev.est[g] = old + (1 - math.exp(-max(dt_cell, 0.0) / cfg.smooth_tau_s)) * (x - old)
        dev.last[g] = ts
        for gg in list(dev.est):
            if ts - dev.last[gg] > cfg.stale_s:
                del dev.est[gg]
        self._step(device, dev, ts)
        if ts >= self._next_timeout_check:
            self._timeouts(ts)
            self._next_timeout_check = ts + 1.0

    def _zone_ll(self, dev: _Device) -> list[float]:
        cfg = self.cfg
        prior_w = 1.0 / cfg.device_offset_sd_db**2
        inv = 1.0 / cfg.sigma_db**2
        rel = {g: v - cfg.p1m_dbm for g, v in dev.est.items()}
        n_g = len(self.mu[0])
        sums = [0.0] * self.n_zones
        counts = [0] * self.n_zones
        lls = []
        for mu in self.mu:
            num = sum(inv * (r - mu[g]) for g, r in rel.items())
            b = num / (inv * len(rel) + prior_w)
            ll = (
                -0.5 * sum(inv * (r - mu[g] - b) ** 2 for g, r in rel.items())
                - 0.5 * prior_w * b * b
            )
            for g in range(n_g):
                if g not in rel:
                    z = (cfg.floor_dbm - (cfg.p1m_dbm + mu[g])) * (1.7 / cfg.sigma_db)
                    ll += (
                        cfg.miss_weight * -math.log1p(math.exp(-z))
                        if z > -30
                        else (cfg.miss_weight * z)
                    )
            lls.append(ll)
        top = max(lls)
        for p, ll in enumerate(lls):
            zi = self.point_zone[p]
            sums[zi] += math.exp(ll - top)
            counts[zi] += 1
        return [
            math.log(s / c) + top if s > 0 else -math.inf for s, c in zip(sums, counts, strict=True)
        ]

    def _step(self, device: str, dev: _Device, t: float) -> None:
        cfg = self.cfg
        ll = self._zone_ll(dev)
        if math.isinf(dev.last_step):
            prior = list(self.prior)
            dt = cfg.tick_s
        else:
            dt = min(max(t - dev.last_step, 0.0), 10.0)
            prior = [
                dev.post[j] + dt * sum(dev.post[i] * self.q[i][j] for i in range(self.n_zones))
                for j in range(self.n_zones)
            ]
        w = cfg.evidence_per_s * min(max(dt, cfg.tick_s), 2.0)
        top = max(ll)
        logp = [math.log(max(p, 1e-12)) + w * (x - top) for p, x in zip(prior, ll, strict=True)]
        m = max(logp)
        post = [math.exp(x - m) for x in logp]
        total = sum(post)
        dev.post = [p / total for p in post]
        dev.last_step = t
        best = max(range(self.n_zones), key=dev.post.__getitem__)
        if best == dev.decided:
            dev.chal = -1
            return
        if dev.chal != best:
            dev.chal, dev.chal_since = best, t
            return
        if dev.post[best] >= cfg.enter_prob and t - dev.chal_since >= cfg.confirm_s:
            dev.decided, dev.chal = best, -1
            self.decisions.append((device, self.zone_ids[best], t))

    def _timeouts(self, now: float) -> None:
        for device, dev in list(self.devices.items()):
            if dev.last_seen < now - self.cfg.exit_timeout_s:
                if dev.decided >= 0:
                    self.decisions.append((device, None, dev.last_seen + self.cfg.exit_timeout_s))
                del self.devices[device]
