"""The store engine: readings in, events out.

Per tick (``tick_s`` of the readings' clock) the engine

1. smooths the tick's readings per (device, gateway) (`proximity.smoothing`),
2. scores every zone for each device that got new data (`proximity.zoning`),
3. runs one step of a discrete Bayes filter (an HMM over zones): the previous posterior moves
   along zone adjacency at a slow prior rate, then is weighted by the tempered likelihood,
4. decides with hysteresis: a challenger zone must be the most likely, with at least
   ``enter_prob`` posterior, for ``confirm_s`` before the decision moves,
5. ends presence explicitly: a device unheard for ``exit_timeout_s`` leaves its zone and the
   store; a device placed in an ``outside`` zone has left the store at once,
6. turns decisions into contract events through `proximity.presence.Presence`, and releases
   held moves early: a street exit once the device is heard walking away from the store, an
   entry or a move between zones once the filter is sure of it.

The engine is pure: it reads no clock; time is the readings' ``ts``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .presence import Presence
from .readings import Event, FloatArray, IntArray, ReadingBatch, Registry
from .smoothing import Smoother
from .store import Store
from .tuning import EngineConfig
from .zoning import Fit, PointModel, geometric_model

_INITIAL_SLOTS = 64
_EVIDENCE_CAP_S = 2.0
_STEP_CAP_S = 10.0
_BIAS_CAP_DB = 12.0
_TINY = 1e-9
_OFFSET_MEMORY_S = 300.0  # device offset: a running mean over at most the last five minutes
_EXPONENTS = (1.6, 1.9, 2.2, 2.6, 3.0, 3.5)
"""Path-loss exponents the engine may choose between (FIELD_NOTES: rooms span 1.5 to 3.5)."""
_EXPONENT_EVERY = 8
"""Ticks between two scorings of the exponents (4 s at the default tick)."""
_EXPONENT_DEVICES = 32
"""Devices scored per scoring: the cost stays a few percent of a tick on a busy store."""
_EXPONENT_MEMORY_S = 600.0
"""Forgetting time of the exponents' score, seconds."""
_EXPONENT_MIN_SEEN = 400.0
"""Device scorings (forgotten likewise) before the lead per device counts in full."""


@dataclass
class TracePoint:
    """One tick of one traced device (for plots and debugging)."""

    ts: float
    est: FloatArray
    posterior: FloatArray
    zone: str | None


@dataclass(frozen=True)
class _SideFit:
    """A zone fit with the device offsets it was made with (nominal 1 m power plus learned
    offset, and the learned offset alone), dB."""

    fit: Fit
    p1m: FloatArray
    mean: FloatArray


@dataclass
class EngineStats:
    """Counters for health reporting."""

    readings: int = 0
    late_readings: int = 0
    ticks: int = 0
    events: int = 0
    evicted: int = 0
    exponent_changes: int = 0


@dataclass
class _Slots:
    """Per-device-slot state arrays (index = slot)."""

    post: FloatArray
    decided: IntArray
    chal: IntArray
    chal_since: FloatArray
    last_seen: FloatArray
    last_step: FloatArray
    n_read: IntArray
    p1m: FloatArray
    off_mean: FloatArray
    """Learned transmit offset, dB: the only one, or the store's side of it."""
    off_n: FloatArray
    """Seconds of confident placement behind ``off_mean``."""
    off_out: FloatArray
    """The street's side of the offset (`EngineConfig.offset_cross_weight`)."""
    off_out_n: FloatArray
    """Seconds of confident placement behind ``off_out``."""
    step_est: FloatArray
    cp_llr: FloatArray
    cp_since: FloatArray
    hold_at: FloatArray
    """Decision time of the held street exit whose release reference is kept (NaN: none)."""
    hold_ref: FloatArray
    hold_heard: FloatArray
    hold_low_since: FloatArray
    in_level: FloatArray
    in_heard: FloatArray
    pk_level: FloatArray
    pk_heard: FloatArray
    pk_t: FloatArray
    holding: np.ndarray
    """The device may have a held move (set when one is made, cleared lazily)."""
    sure_since: FloatArray
    """Since when the store has held ``entry_release_prob`` of the posterior (inf: not)."""
    code: IntArray
    free: list[int] = field(default_factory=list)


class Engine:
    """One store's engine (see the module docstring).

    Usage (replay and hub alike)::

        engine = Engine(store, model=None)
        engine.ingest_rows(ts, gateways, devices, rssi, tx_power)   # any number of times
        events = engine.advance(watermark)   # decide every tick that ends before watermark
        events += engine.flush()             # end of stream: decide everything buffered

    ``advance`` decides ticks ``[k*tick_s, (k+1)*tick_s)`` that end at or before
    ``watermark - lateness_s``. Readings that arrive for a tick already decided are counted in
    ``stats.late_readings`` and ignored. The events depend only on the readings (as long as
    none arrive late), never on how they were chunked into calls.
    """

    def __init__(self, store: Store, model: PointModel | None = None) -> None:
        self.devices = Registry()
        self.stats = EngineStats()
        self.trace_devices: set[str] = set()
        self.traces: dict[str, list[TracePoint]] = {}
        self._pending: list[ReadingBatch] = []
        self._next_tick: int | None = None
        self._now = -np.inf
        self._slot_of_code: IntArray = np.full(0, -1, dtype=np.int64)
        self._fixed_model = model
        self._exponent: float | None = None
        """The path-loss exponent the geometric model uses, when learned (None: the store's)."""
        self._exponent_models: dict[float, PointModel] = {}
        """Geometric models of the current store file by exponent (the one in use among them)."""
        self._exponent_score: dict[float, float] = {}
        self._exponent_seen = 0.0
        self._configure(store, model)
        self.gateway_bias: FloatArray = np.zeros(len(store.gateways))
        """Learned receive offset of each gateway beyond the store file's, dB."""
        self._smoother = Smoother(_INITIAL_SLOTS, len(store.gateways), self.cfg)
        self._s = self._new_slots(_INITIAL_SLOTS)
        self._s.free = list(range(_INITIAL_SLOTS - 1, -1, -1))
        self.presence = Presence(store)

    # --- configuration -------------------------------------------------------------------

    def _configure(self, store: Store, model: PointModel | None) -> None:
        self.store = store
        self.cfg = store.engine
        self.model = model if model is not None else self._geometric(self.path_loss_n)
        if self.model.zone_ids != tuple(z.id for z in store.zones):
            raise ValueError("the zone model's zones differ from the store's zones")
        self._gw_index = store.gateway_index()
        self._zone_ids = self.model.zone_ids
        self._zone_in_store = np.array([z.in_store for z in store.zones])
        inside = self._zone_in_store[self.model.point_zone]
        self._sides: tuple[IntArray, IntArray, PointModel, PointModel] | None = None
        if inside.all() or not inside.any():
            self._gw_inside = np.ones(len(store.gateways), dtype=bool)
        else:
            # a gateway of the store: it hears some point of the store best
            self._gw_inside = self.model.mu[inside].max(axis=0) > self.model.mu[~inside].max(axis=0)
            if len(store.gateways) >= 2:  # each side of the shopfront its own offset
                self._sides = (
                    np.flatnonzero(inside),
                    np.flatnonzero(~inside),
                    self.model.subset(inside),
                    self.model.subset(~inside),
                )
        self._generator = _generator(self.model.adjacency, [z.kind for z in store.zones], self.cfg)
        self._prior = _initial_prior([z.kind for z in store.zones])

    def set_store(self, store: Store, model: PointModel | None = None) -> None:
        """Apply a new store configuration (zones, gateways, tuning) from the next tick on.

        Smoothed values are kept for gateways that still exist; zone beliefs restart from the
        prior, and a device whose decided zone no longer exists is re-decided from its data.
        """
        old_gw = [g.id for g in self.store.gateways]
        old_zones = self._zone_ids
        self._exponent_models = {}
        self._exponent_score = {}
        self._exponent_seen = 0.0
        if store.engine.path_loss_n != self.cfg.path_loss_n:
            self._exponent = None  # a store that sets its exponent starts from it
        self._configure(store, model if model is not None else self._fixed_model)
        new_gw = [g.id for g in store.gateways]
        if new_gw != old_gw:
            sm = Smoother(self._smoother.capacity, len(new_gw), self.cfg)
            for j, gid in enumerate(new_gw):
                if gid in old_gw:
                    i = old_gw.index(gid)
                    sm.est[:, j] = self._smoother.est[:, i]
                    sm.last[:, j] = self._smoother.last[:, i]
            self._smoother = sm
            self.gateway_bias = np.array(
                [self.gateway_bias[old_gw.index(g)] if g in old_gw else 0.0 for g in new_gw]
            )
        else:
            self._smoother.configure(self.cfg)
        remap = np.array(
            [self._zone_ids.index(z) if z in self._zone_ids else -1 for z in old_zones] + [-1],
            dtype=np.int64,
        )
        s = self._s
        s.decided = remap[s.decided]
        s.chal[:] = -1
        s.post = np.tile(self._prior, (s.post.shape[0], 1))
        s.step_est = np.full((s.post.shape[0], len(store.gateways)), np.nan)
        s.last_step[:] = -np.inf
        s.cp_llr[:] = 0.0
        self.presence.set_store(store)

    # --- input ---------------------------------------------------------------------------

    def ingest(self, batch: ReadingBatch) -> None:
        """Buffer readings whose ``device`` codes come from ``self.devices``."""
        if len(batch):
            self._pending.append(batch)
            self.stats.readings += len(batch)

    def ingest_rows(
        self,
        ts: Sequence[float] | FloatArray,
        gateways: Sequence[str],
        devices: Sequence[str],
        rssi: Sequence[float] | FloatArray,
        tx_power: Sequence[float] | FloatArray | None = None,
    ) -> None:
        """Buffer readings given by ids.

        Raises:
            KeyError: A gateway id is not in the store.
        """
        n = len(ts)
        if n == 0:
            return
        batch = ReadingBatch(
            ts=np.asarray(ts, dtype=np.float64),
            gateway=_codes(gateways, self._gw_index, None),
            device=_codes(devices, self.devices.index, self.devices.intern),
            rssi=np.asarray(rssi, dtype=np.float64),
            tx_power=(
                np.full(n, np.nan) if tx_power is None else np.asarray(tx_power, dtype=np.float64)
            ),
        )
        self.ingest(batch)

    # --- processing ----------------------------------------------------------------------

    def advance(self, watermark: float) -> list[Event]:
        """Decide all complete ticks up to ``watermark - lateness_s``; return their events."""
        horizon = watermark - self.cfg.lateness_s
        return self._process(int(np.floor(horizon / self.cfg.tick_s)))

    def flush(self) -> list[Event]:
        """Decide every buffered reading (end of stream). No exit is invented past the data."""
        if not self._pending:
            return []
        last = max(float(b.ts.max()) for b in self._pending if len(b))
        return self._process(int(np.floor(last / self.cfg.tick_s)) + 1)

    def _process(self, end_tick: int) -> list[Event]:
        """Decide ticks before ``end_tick`` (exclusive)."""
        if not self._pending:
            return []
        batch = ReadingBatch.concat(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending = []
        tick_s = self.cfg.tick_s
        ticks = np.floor(batch.ts / tick_s).astype(np.int64)
        if self._next_tick is not None:
            late = ticks < self._next_tick
            if late.any():
                self.stats.late_readings += int(late.sum())
                batch, ticks = batch.take(~late), ticks[~late]
        if self._next_tick is None and len(batch):
            self._next_tick = int(ticks.min())
        ready = ticks < end_tick
        if not ready.all():
            self._pending.append(batch.take(~ready))
            batch, ticks = batch.take(ready), ticks[ready]
        events: list[Event] = []
        if len(batch):
            order = np.argsort(ticks, kind="stable")
            batch, ticks = batch.take(order), ticks[order]
            bounds = np.flatnonzero(np.diff(ticks)) + 1
            starts = np.r_[0, bounds]
            stops = np.r_[bounds, ticks.size]
            for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
                events.extend(self._tick(batch.take(slice(a, b))))
        if self._next_tick is not None:
            self._next_tick = max(self._next_tick, end_tick)
        # in the order they were released (a held move is released after its time stamp);
        # stable, so that the events of one tick keep the order they were made in
        events.sort(key=lambda e: e.ts if e.published is None else e.published)
        self.stats.events += len(events)
        return events

    def _tick(self, batch: ReadingBatch) -> list[Event]:
        self.stats.ticks += 1
        slots = self._slots_for(batch.device)
        s = self._s
        now = float(batch.ts.max())
        self._now = max(self._now, now)
        has_tx = ~np.isnan(batch.tx_power)
        if has_tx.any():
            s.p1m[slots[has_tx]] = batch.tx_power[has_tx]
        np.maximum.at(s.last_seen, slots, batch.ts)
        np.add.at(s.n_read, slots, 1)
        updated = self._smoother.update(slots, batch.gateway, batch.ts, batch.rssi)
        self._smoother.expire(now, updated)
        events: list[Event] = []
        if updated.size:
            events.extend(self._decide(updated))
        events.extend(self._timeouts(self._now))
        events.extend(self.presence.tick(self._now))
        return events

    def _decide(self, u: IntArray) -> list[Event]:
        cfg = self.cfg
        s = self._s
        t_dev = s.last_seen[u]
        est = self._smoother.est[u]
        fit, fit_out = self._fit(u, est)
        ll = fit.fit.zone_ll
        if cfg.path_loss_switch_nats > 0:
            self._judge_exponent(u, est)
        new = ~np.isfinite(s.last_step[u])
        dt = np.where(new, cfg.tick_s, t_dev - s.last_step[u])
        dt = np.clip(dt, 0.0, _STEP_CAP_S)
        post = s.post[u]
        prior = np.where(
            new[:, None], self._prior[None, :], post + dt[:, None] * (post @ self._generator)
        )
        prior = np.clip(prior, 1e-12, None)
        w = cfg.evidence_per_s * np.minimum(np.maximum(dt, cfg.tick_s), _EVIDENCE_CAP_S)
        if cfg.fresh_evidence_db > 0:
            # Readings that changed since the last step carry new information (a new spot, new
            # shadowing); a device standing still repeats the same errors.
            change = est - s.step_est[u]
            both = ~np.isnan(change)
            rms = np.sqrt(
                np.where(both, change * change, 0.0).sum(axis=1) / np.maximum(both.sum(axis=1), 1)
            )
            rate = rms / np.maximum(dt, cfg.tick_s)  # dB per second, whatever the step
            boost = np.minimum((rate / cfg.fresh_evidence_db) ** 2, cfg.fresh_evidence_max - 1)
            w = w * (1.0 + np.where(both.any(axis=1), boost, 0.0))
        s.step_est[u] = est
        logp = np.log(prior) + w[:, None] * (ll - ll.max(axis=1, keepdims=True))
        logp -= logp.max(axis=1, keepdims=True)
        p = np.exp(logp)
        p /= p.sum(axis=1, keepdims=True)
        s.post[u] = p
        s.last_step[u] = t_dev
        self._track_change_point(u, w * self._store_llr(ll), t_dev)
        best = p.argmax(axis=1)
        conf = p[np.arange(u.size), best]
        self._learn_offsets(u, est, fit, fit_out, best, conf, dt)
        decided = s.decided[u]
        differs = best != decided
        s.chal[u[~differs]] = -1
        events: list[Event] = []
        if self.trace_devices:
            self._trace(u, est, p)
        for i in np.flatnonzero(differs).tolist():
            slot = int(u[i])
            cand = int(best[i])
            t = float(t_dev[i])
            if s.chal[slot] != cand:
                s.chal[slot] = cand
                s.chal_since[slot] = t
                if cfg.confirm_s > 0:
                    continue
            current = int(s.decided[slot])
            inside = current >= 0 and bool(self._zone_in_store[current])
            if inside and not self._zone_in_store[cand]:
                # a held entry has published nothing: it goes back out as it came in
                held = self._entry_held(slot)
                need_p = cfg.enter_prob if held else cfg.leave_prob
                need_s = cfg.confirm_s if held else cfg.leave_confirm_s
            elif inside:
                need_p, need_s = cfg.move_prob, cfg.move_confirm_s
            else:
                need_p, need_s = cfg.enter_prob, cfg.confirm_s
            if conf[i] < need_p or t - s.chal_since[slot] < need_s:
                continue
            if s.n_read[slot] < cfg.min_readings_entry and self._zone_in_store[cand]:
                continue
            s.decided[slot] = cand
            s.chal[slot] = -1
            device = self.devices.ids[int(s.code[slot])]
            came_in = t
            if not inside and self._zone_in_store[cand] and s.cp_llr[slot] > 0:
                came_in = max(float(s.cp_since[slot]), t - cfg.entry_backdate_max_s)
            events.extend(
                self.presence.update(
                    device, self._zone_ids[cand], t, float(conf[i]), entered_at=came_in
                )
            )
            s.holding[slot] = self.presence.held_move(device) is not None
        if cfg.exit_release_drop_db > 0:
            events.extend(self._release_exits(u, est, t_dev, self._zone_in_store[best]))
        if cfg.entry_release_prob < 1 or cfg.zone_release_prob < 1:
            events.extend(self._release_sure(u, p, t_dev))
        return events

    def _fit(self, u: IntArray, est: FloatArray) -> tuple[_SideFit, _SideFit]:
        """Zone likelihoods of the devices ``u`` (smoothed values ``est``), scored as the store
        and as the street.

        A device's transmit offset is estimated apart for the two sides where the store has
        both and at least two gateways (`EngineConfig.offset_cross_weight`): what a device
        stuck on the street taught about its offset must not keep it there. Returns the fit of
        the store's zones and that of the outside zones; both carry every zone's likelihood.
        With one side, or one gateway, both are the same fit of one shared offset.
        """
        cfg = self.cfg
        s = self._s
        x = est - self.gateway_bias[None, :]
        if self._sides is None:
            p1m = s.p1m[u] + s.off_mean[u]
            fit = self.model.fit(x, p1m, cfg, self._offset_sd(s.off_n[u]))
            side = _SideFit(fit, p1m, s.off_mean[u])
            return side, side
        idx_in, idx_out, model_in, model_out = self._sides
        k = cfg.offset_cross_weight
        mine_in, mine_out = s.off_n[u] * s.off_mean[u], s.off_out_n[u] * s.off_out[u]
        n_in = s.off_n[u] + k * s.off_out_n[u]
        n_out = s.off_out_n[u] + k * s.off_n[u]
        mean_in = (mine_in + k * mine_out) / np.maximum(n_in, _TINY)
        mean_out = (mine_out + k * mine_in) / np.maximum(n_out, _TINY)
        p1m_in = s.p1m[u] + mean_in
        p1m_out = s.p1m[u] + mean_out
        f_in = model_in.fit(x, p1m_in, cfg, self._offset_sd(n_in))
        f_out = model_out.fit(x, p1m_out, cfg, self._offset_sd(n_out))
        ll = np.where(self._zone_in_store[None, :], f_in.zone_ll, f_out.zone_ll)
        return (
            _SideFit(Fit(ll, idx_in[f_in.best_point], f_in.offset_db), p1m_in, mean_in),
            _SideFit(Fit(ll, idx_out[f_out.best_point], f_out.offset_db), p1m_out, mean_out),
        )

    def _judge_exponent(self, u: IntArray, est: FloatArray) -> None:
        """Which path-loss exponent the store's radio follows, from everyone heard.

        Rooms fade the signal at exponents from about 1.5 (open floor) to 3.5 (dense racks
        and partitions); a model that assumes 2.2 in the latter reads the silence of gateways
        10-15 m away as distance and holds shoppers on the street. Every
        ``_EXPONENT_EVERY``-th tick, a few devices heard by three or more gateways are scored
        by the best point of each candidate model (`_EXPONENTS`, heard and silent gateways
        alike, the device's offset integrated out around nominal, so neither the learned
        offsets nor the censoring favour the current model); each candidate's log-likelihood
        lead over the current model is summed with a forgetting time of
        ``_EXPONENT_MEMORY_S``. The geometric model is rebuilt at the candidate that leads by
        ``path_loss_switch_nats``. A store zoned by a model it was given (a calibration
        model) keeps it; one with fewer than three gateways never hears a device at three.
        """
        cfg = self.cfg
        if self._fixed_model is not None:
            return
        if self.stats.ticks % _EXPONENT_EVERY:
            return
        s = self._s
        enough = np.flatnonzero((~np.isnan(est)).sum(axis=1) >= 3)
        if enough.size == 0:
            return
        if enough.size > _EXPONENT_DEVICES:
            start = (self.stats.ticks // _EXPONENT_EVERY * _EXPONENT_DEVICES) % enough.size
            enough = np.roll(enough, -start)[:_EXPONENT_DEVICES]
        x = est[enough] - self.gateway_bias[None, :]
        p1m = s.p1m[u[enough]]
        current = self.path_loss_n
        base = self._exponent_ll(current, x, p1m)
        decay = float(np.exp(-_EXPONENT_EVERY * cfg.tick_s / _EXPONENT_MEMORY_S))
        self._exponent_seen = self._exponent_seen * decay + enough.size
        for n in _EXPONENTS:
            if n != current:
                gain = float((self._exponent_ll(n, x, p1m) - base).sum())
                self._exponent_score[n] = self._exponent_score.get(n, 0.0) * decay + gain
        best, lead = max(self.exponent_leads().items(), key=lambda item: item[1])
        if lead >= cfg.path_loss_switch_nats:
            self._exponent = best
            self._exponent_score = {}
            self._exponent_seen = 0.0
            self.stats.exponent_changes += 1
            self._configure(self.store, None)

    def _geometric(self, n: float) -> PointModel:
        """The store's geometric model at exponent ``n``, built once per store file."""
        model = self._exponent_models.get(n)
        if model is None:
            model = geometric_model(self.store, n)
            self._exponent_models[n] = model
        return model

    def _exponent_ll(self, n: float, x: FloatArray, p1m: FloatArray) -> FloatArray:
        """Each device's best-point log-likelihood under the geometric model of exponent n."""
        zone_ll = self._geometric(n).fit(x, p1m, self.cfg).zone_ll
        out: FloatArray = zone_ll.max(axis=1)
        return out

    def exponent_leads(self) -> dict[float, float]:
        """Each candidate exponent's lead over the current one, nats per device scored (what
        `_judge_exponent` compares with ``path_loss_switch_nats``)."""
        seen = max(self._exponent_seen, _EXPONENT_MIN_SEEN)
        return {n: score / seen for n, score in sorted(self._exponent_score.items())}

    @property
    def path_loss_n(self) -> float:
        """The path-loss exponent the geometric model uses now."""
        return self.cfg.path_loss_n if self._exponent is None else self._exponent

    def _offset_sd(self, known: FloatArray) -> FloatArray:
        """Spread of a device's offset after ``known`` seconds of confident placement."""
        cfg = self.cfg
        out: FloatArray = np.maximum(
            cfg.device_offset_min_sd_db,
            cfg.device_offset_sd_db / np.sqrt(1.0 + known / cfg.offset_learn_s),
        )
        return out

    def _learn_offsets(
        self,
        u: IntArray,
        est: FloatArray,
        fit: _SideFit,
        fit_out: _SideFit,
        best: IntArray,
        conf: FloatArray,
        dt: FloatArray,
    ) -> None:
        """Learn gateway offsets and each device's transmit offset from confident steps.

        A step placed in the store teaches the store's side of the offset, one placed outside
        the street's (weighted by ``offset_outside_weight``); with one shared offset, both
        teach it.
        """
        cfg = self.cfg
        s = self._s
        in_best = self._zone_in_store[best]
        if self._sides is None:
            self._learn_bias(est, fit.p1m, fit.fit, conf)
        else:
            out_best = ~in_best
            self._learn_bias(est[in_best], fit.p1m[in_best], fit.fit.take(in_best), conf[in_best])
            self._learn_bias(
                est[out_best], fit_out.p1m[out_best], fit_out.fit.take(out_best), conf[out_best]
            )
        teach = np.where(in_best, 1.0, cfg.offset_outside_weight)
        sure = (conf >= cfg.calibration_min_prob) & (teach > 0)
        if not sure.any():
            return
        step = np.minimum(np.maximum(dt, cfg.tick_s), _EVIDENCE_CAP_S) * teach
        if self._sides is None:
            us = u[sure]
            s.off_n[us] = np.minimum(s.off_n[us] + step[sure], _OFFSET_MEMORY_S)
            s.off_mean[us] += fit.fit.offset_db[sure] * step[sure] / s.off_n[us]
            return
        for rows, side, mean, known in (
            (sure & in_best, fit, s.off_mean, s.off_n),
            (sure & ~in_best, fit_out, s.off_out, s.off_out_n),
        ):
            us = u[rows]
            known[us] = np.minimum(known[us] + step[rows], _OFFSET_MEMORY_S)
            target = side.mean[rows] + side.fit.offset_db[rows]
            mean[us] += (target - mean[us]) * step[rows] / known[us]

    def _entry_held(self, slot: int) -> bool:
        """Whether the device's store entry is decided but still held (not yet published)."""
        if not self._s.holding[slot]:
            return False
        held = self.presence.held_move(self.devices.ids[int(self._s.code[slot])])
        return held is not None and held[0] == "entry"

    def _held(self, u: IntArray, mask: np.ndarray) -> Iterator[tuple[int, int, str, str, float]]:
        """The devices of ``u`` (where ``mask``) with a held move: (row in ``u``, slot, device,
        kind of move, when it was decided). Clears the flag of those whose move has been
        published or dropped meanwhile."""
        s = self._s
        for i in np.flatnonzero(mask & s.holding[u]).tolist():
            slot = int(u[i])
            device = self.devices.ids[int(s.code[slot])]
            held = self.presence.held_move(device)
            if held is None:
                s.holding[slot] = False
                continue
            yield i, slot, device, held[0], held[1]

    def _release_sure(self, u: IntArray, p: FloatArray, t_dev: FloatArray) -> list[Event]:
        """Publish held entries and moves inside the store that the filter is sure of.

        A held entry (``entry_hold_s``) once the store's zones together have held at least
        ``entry_release_prob`` of the device's posterior for ``entry_release_s``; a held move
        between zones of the store (``min_stay_s``) once its zone alone holds
        ``zone_release_prob``.
        """
        cfg = self.cfg
        s = self._s
        inz = self._zone_in_store
        decided = s.decided[u]
        placed_in = (decided >= 0) & inz[np.maximum(decided, 0)]
        p_in = np.where(inz[None, :], p, 0.0).sum(axis=1)
        p_zone = p[np.arange(u.size), np.maximum(decided, 0)]
        in_sure = p_in >= cfg.entry_release_prob
        s.sure_since[u] = np.where(in_sure, np.fmin(s.sure_since[u], t_dev), np.inf)
        in_sure &= t_dev - s.sure_since[u] >= cfg.entry_release_s
        sure = placed_in & (in_sure | (p_zone >= cfg.zone_release_prob))
        events: list[Event] = []
        for i, slot, device, kind, _ in self._held(u, sure):
            if (kind == "entry" and in_sure[i]) or (
                kind == "inside" and p_zone[i] >= cfg.zone_release_prob
            ):
                events.extend(self.presence.release_held(device, float(t_dev[i])))
                s.holding[slot] = False
        return events

    def _release_exits(
        self, u: IntArray, est: FloatArray, t_dev: FloatArray, in_front: np.ndarray
    ) -> list[Event]:
        """Publish held street exits of devices that are really walking away.

        A shopper misplaced on the street while standing by the shop window is heard by the
        store's gateways as well as before; one who left walks along the pavement, away from
        all of them, and one after the other hears her less or not at all. Her level is the
        mean smoothed RSSI over the store's gateways (those that hear some point of the store
        best), the sensitivity floor where one does not hear her. A held exit is released at
        once (`Presence.release_held`, still stamped with the time of the move) once, for
        ``exit_release_s``, the level has stayed ``exit_release_drop_db`` below a reference
        and ``exit_release_lost`` fewer of the store's gateways hear the device than then.
        The reference is the higher of the level at the last step that still found a zone of
        the store most likely (``in_front``) and the level's recent peak, which forgets
        ``exit_release_drop_db`` (and ``exit_release_lost`` gateways) per
        ``exit_release_memory_s``: the move out is decided only once the street is nearly
        certain, seconds into the walk away, and sometimes only long after it began.
        """
        cfg = self.cfg
        s = self._s
        events: list[Event] = []
        inside = est[:, self._gw_inside]
        unheard = np.isnan(inside)
        level = np.where(unheard, cfg.floor_dbm, np.maximum(inside, cfg.floor_dbm)).mean(axis=1)
        n_heard = (~unheard).sum(axis=1)
        s.in_level[u[in_front]] = level[in_front]
        s.in_heard[u[in_front]] = n_heard[in_front]
        if cfg.exit_release_memory_s > 0:
            age = np.maximum(t_dev - s.pk_t[u], 0.0) / cfg.exit_release_memory_s
            s.pk_level[u] = np.fmax(level, s.pk_level[u] - cfg.exit_release_drop_db * age)
            s.pk_heard[u] = np.fmax(n_heard, s.pk_heard[u] - cfg.exit_release_lost * age)
            s.pk_t[u] = t_dev
        for i, slot, device, kind, at in self._held(u, np.ones(u.size, dtype=bool)):
            if kind != "exit":
                continue
            t = float(t_dev[i])
            if s.hold_at[slot] != at:
                s.hold_at[slot] = at
                known = not np.isnan(s.in_level[slot])
                # the higher of: as heard when last most likely in the store, and the
                # recent peak (the move out may have been decided late, well into the walk)
                s.hold_ref[slot] = np.fmax(
                    s.in_level[slot] if known else level[i], s.pk_level[slot]
                )
                s.hold_heard[slot] = np.fmax(
                    s.in_heard[slot] if known else n_heard[i], s.pk_heard[slot]
                )
                s.hold_low_since[slot] = np.nan
                continue
            fallen = level[i] <= s.hold_ref[slot] - cfg.exit_release_drop_db
            if not (fallen and n_heard[i] <= s.hold_heard[slot] - cfg.exit_release_lost):
                s.hold_low_since[slot] = np.nan
                continue
            if np.isnan(s.hold_low_since[slot]):
                s.hold_low_since[slot] = t
            if t - s.hold_low_since[slot] >= cfg.exit_release_s:
                s.holding[slot] = False
                events.extend(self.presence.release_held(device, t))
        return events

    def _store_llr(self, ll: FloatArray) -> FloatArray:
        """Log-likelihood ratio of "in the store" against "outside" (best zone of each side).

        Zero for every device when the store has no outside zone (or nothing inside).
        """
        inz = self._zone_in_store
        if inz.all() or not inz.any():
            return np.zeros(ll.shape[0])
        llr = ll[:, inz].max(axis=1) - ll[:, ~inz].max(axis=1)
        out: FloatArray = np.nan_to_num(llr, nan=0.0, posinf=50.0, neginf=-50.0)
        return out

    def _track_change_point(self, u: IntArray, evidence: FloatArray, t: FloatArray) -> None:
        """Where the current run of evidence for the store began (a CUSUM per device).

        The sum of each step's tempered log-likelihood ratio of the store against the street
        restarts at zero whenever it turns negative; the first step of the current positive
        run is the maximum-likelihood moment the device came in, given the evidence so far.
        """
        s = self._s
        before = s.cp_llr[u]
        after = before + evidence
        fresh = (before <= 0.0) & (after > 0.0)
        s.cp_since[u] = np.where(fresh, t, s.cp_since[u])
        s.cp_llr[u] = np.maximum(after, 0.0)

    def _learn_bias(self, est: FloatArray, p1m: FloatArray, fit: Fit, conf: FloatArray) -> None:
        """Self-calibration of gateway receive offsets from confidently placed devices.

        Real gateways differ by several dB (antenna, case, mounting). For a device the engine
        is sure about, the residual of each gateway against the best point's prediction is
        that gateway's offset plus noise; averaged over many devices it converges on the
        offset. Only differences between gateways are observable (a common shift is a device
        offset), so the estimate is kept centred on zero.
        """
        cfg = self.cfg
        if cfg.calibration_samples <= 0:
            return
        sure = (conf >= cfg.calibration_min_prob) & ((~np.isnan(est)).sum(axis=1) >= 3)
        if not sure.any():
            return
        mu = self.model.mu[fit.best_point[sure]]
        resid = est[sure] - p1m[sure, None] - fit.offset_db[sure, None] - mu
        heard = ~np.isnan(resid)
        count = heard.sum(axis=0)
        total = np.where(heard, resid, 0.0).sum(axis=0)
        have = count > 0
        mean = np.round(np.where(have, total / np.maximum(count, 1), 0.0), 6)
        eta = 1.0 - np.exp(-count / cfg.calibration_samples)
        bias = self.gateway_bias + eta * (mean - self.gateway_bias)
        bias -= bias.mean()
        self.gateway_bias = np.clip(bias, -_BIAS_CAP_DB, _BIAS_CAP_DB)

    def _timeouts(self, now: float) -> list[Event]:
        cfg = self.cfg
        s = self._s
        gone = np.flatnonzero((s.code >= 0) & (s.last_seen < now - cfg.exit_timeout_s))
        events: list[Event] = []
        for slot in gone.tolist():
            if s.decided[slot] >= 0:
                device = self.devices.ids[int(s.code[slot])]
                t = float(s.last_seen[slot]) + cfg.exit_timeout_s
                events.extend(self.presence.update(device, None, t))
                s.decided[slot] = -1
                s.chal[slot] = -1
                s.last_step[slot] = -np.inf
            s.cp_llr[slot] = 0.0
            if s.last_seen[slot] < now - cfg.evict_s:
                self._evict(slot)
        return events

    # --- slots ---------------------------------------------------------------------------

    def _new_slots(self, n: int) -> _Slots:
        return _Slots(
            post=np.tile(self._prior, (n, 1)),
            decided=np.full(n, -1, dtype=np.int64),
            chal=np.full(n, -1, dtype=np.int64),
            chal_since=np.zeros(n),
            last_seen=np.full(n, -np.inf),
            last_step=np.full(n, -np.inf),
            n_read=np.zeros(n, dtype=np.int64),
            p1m=np.full(n, self.cfg.p1m_dbm),
            off_mean=np.zeros(n),
            off_n=np.zeros(n),
            off_out=np.zeros(n),
            off_out_n=np.zeros(n),
            step_est=np.full((n, len(self.store.gateways)), np.nan),
            cp_llr=np.zeros(n),
            cp_since=np.full(n, np.nan),
            hold_at=np.full(n, np.nan),
            hold_ref=np.full(n, np.nan),
            hold_heard=np.zeros(n),
            hold_low_since=np.full(n, np.nan),
            in_level=np.full(n, np.nan),
            in_heard=np.full(n, np.nan),
            pk_level=np.full(n, np.nan),
            pk_heard=np.full(n, np.nan),
            pk_t=np.full(n, -np.inf),
            holding=np.zeros(n, dtype=bool),
            sure_since=np.full(n, np.inf),
            code=np.full(n, -1, dtype=np.int64),
        )

    def _slots_for(self, codes: IntArray) -> IntArray:
        n_codes = len(self.devices.ids)
        if self._slot_of_code.size < n_codes:
            grown = np.full(max(n_codes, 2 * self._slot_of_code.size), -1, dtype=np.int64)
            grown[: self._slot_of_code.size] = self._slot_of_code
            self._slot_of_code = grown
        slots = self._slot_of_code[codes]
        missing = slots < 0
        if missing.any():
            for code in np.unique(codes[missing]).tolist():
                self._slot_of_code[code] = self._allocate(code)
            slots = self._slot_of_code[codes]
        return slots

    def _allocate(self, code: int) -> int:
        s = self._s
        if not s.free:
            old = s.code.size
            more = self._new_slots(old)
            for f in dataclasses.fields(_Slots):
                if f.name != "free":
                    setattr(s, f.name, np.concatenate([getattr(s, f.name), getattr(more, f.name)]))
            s.free = list(range(2 * old - 1, old - 1, -1))
            self._smoother.grow(2 * old)
        slot = s.free.pop()
        s.code[slot] = code
        return slot

    def _evict(self, slot: int) -> None:
        s = self._s
        self._slot_of_code[s.code[slot]] = -1
        fresh = self._new_slots(1)
        for f in dataclasses.fields(_Slots):
            if f.name != "free":
                getattr(s, f.name)[slot] = getattr(fresh, f.name)[0]
        self._smoother.reset(np.array([slot]))
        s.free.append(slot)
        self.stats.evicted += 1

    def tracked(self) -> int:
        """Devices currently holding state."""
        return int((self._s.code >= 0).sum())

    def _trace(self, u: IntArray, est: FloatArray, post: FloatArray) -> None:
        s = self._s
        for i, slot in enumerate(u.tolist()):
            device = self.devices.ids[int(s.code[slot])]
            if device in self.trace_devices:
                d = int(s.decided[slot])
                self.traces.setdefault(device, []).append(
                    TracePoint(
                        float(s.last_seen[slot]),
                        est[i].copy(),
                        post[i].copy(),
                        self._zone_ids[d] if d >= 0 else None,
                    )
                )


def _codes(ids: Sequence[str], index: dict[str, int], add: Callable[[str], int] | None) -> IntArray:
    """Integer codes of string ids (``add`` registers new ones; without it they raise KeyError).

    The common case, every id known, is one C-level pass over the ids.
    """
    try:
        return np.fromiter(map(index.__getitem__, ids), np.int64, len(ids))
    except KeyError:
        if add is None:
            raise
        for ident in dict.fromkeys(ids):
            if ident not in index:
                add(ident)
        return np.fromiter(map(index.__getitem__, ids), np.int64, len(ids))


def _generator(adj: np.ndarray, kinds: list[str], cfg: EngineConfig) -> FloatArray:
    """Rate matrix of zone moves per second.

    Adjacent zones share ``switch_rate_per_s``, other zones ``jump_rate_per_s``; the door
    (an ``outside`` zone next to an ``entrance``, or next to any zone of the store when there
    is no entrance zone) is crossed at ``door_rate_per_s``.
    """
    n = adj.shape[0]
    q = np.zeros((n, n))
    door_kind = "entrance" if "entrance" in kinds else None
    for i in range(n):
        neighbours = [j for j in range(n) if j != i and adj[i, j]]
        others = [j for j in range(n) if j != i and not adj[i, j]]
        for j in neighbours:
            pair = {kinds[i], kinds[j]}
            door = "outside" in pair and len(pair) == 2 and (door_kind is None or door_kind in pair)
            q[i, j] = cfg.door_rate_per_s if door else cfg.switch_rate_per_s / len(neighbours)
        for j in others:
            q[i, j] = cfg.jump_rate_per_s / len(others)
        q[i, i] = -q[i].sum()
    return q


def _initial_prior(kinds: list[str]) -> FloatArray:
    """Where a newly heard device probably is: most come in from the street, then the door."""
    share = {"outside": 0.5, "entrance": 0.3}
    groups: dict[str, list[int]] = {}
    for i, kind in enumerate(kinds):
        groups.setdefault(kind if kind in share else "other", []).append(i)
    weights = np.zeros(len(kinds))
    for name, members in groups.items():
        weights[members] = share.get(name, 0.2) / len(members)
    out: FloatArray = weights / weights.sum()
    return out
