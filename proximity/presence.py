"""From decided zones to contract events: visits, entries, exits and dwell.

The zone decision (engine or baseline) says, per device and time, which zone the device is in
(or None: not placed, gone). `Presence` turns those decisions into the event stream of the
contract, with its ordering guarantees:

* every ``zone_enter`` is preceded by the ``zone_exit`` of the device's previous zone;
* ``store_exit`` follows the last ``zone_exit`` of a visit; ``store_entry`` precedes the first
  ``zone_enter`` of a visit;
* ``private`` zones produce nothing (leaving a sales zone for a fitting room is a
  ``zone_exit`` of the sales zone, and the visit goes on);
* ``zone_dwell`` fires once per zone stay, at the moment the stay reaches the zone's threshold.

Event and visit ids are derived from content (store, device, type, zone, time), so a replay of
the same readings gives the same ids: consumers can deduplicate on ``event_id``.
"""

from __future__ import annotations

import hashlib
import heapq
import uuid
from dataclasses import dataclass, replace

from .readings import Event
from .store import Store, Zone


@dataclass
class _State:
    zone: str | None = None
    since: float = 0.0
    visit_id: str | None = None
    visit_start: float = 0.0
    dwell_due: float | None = None
    held: tuple[str, float, float | None, float] | None = None
    """A move not yet published: (zone, when, confidence, when the device came in: for a
    move that opens a visit, the decider's estimate, else ``when``)."""
    last_ts: float = -float("inf")
    """Time of the device's latest event (a back-dated entry never goes before it)."""


def _released(events: list[Event], at: float) -> list[Event]:
    """``events`` marked as released by the engine at data time ``at``."""
    return [replace(e, published=at) if e.published is None else e for e in events]


def event_id(store: str, device: str, kind: str, zone: str | None, ts: float) -> str:
    """Deterministic event id (a UUID string) from the event's content."""
    text = f"{store}|{device}|{kind}|{zone or ''}|{ts:.3f}"
    return str(uuid.UUID(bytes=hashlib.sha256(text.encode()).digest()[:16]))


def visit_id(store: str, device: str, ts: float) -> str:
    """Deterministic visit id from store, device and entry time."""
    return "v-" + hashlib.sha256(f"{store}|{device}|{ts:.3f}".encode()).hexdigest()[:16]


class Presence:
    """Event emission for one store (see module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._zones: dict[str, Zone] = {z.id: z for z in store.zones}
        self._state: dict[str, _State] = {}
        self._dwell: list[tuple[float, str, str, float]] = []  # (due, device, zone, since)
        self._holds: list[tuple[float, str, float]] = []  # (confirm at, device, moved at)

    def set_store(self, store: Store) -> None:
        """Use a new store configuration from now on (zones removed count as None)."""
        self.store = store
        self._zones = {z.id: z for z in store.zones}

    def zone_of(self, device: str) -> str | None:
        """The device's current decided zone (None when not placed)."""
        state = self._state.get(device)
        return state.zone if state else None

    def visit_of(self, device: str) -> str | None:
        """The device's open visit id, if it is in the store."""
        state = self._state.get(device)
        return state.visit_id if state else None

    def tracked(self) -> int:
        """Number of devices with a decided zone."""
        return len(self._state)

    def update(
        self,
        device: str,
        zone: str | None,
        ts: float,
        confidence: float | None = None,
        *,
        entered_at: float | None = None,
    ) -> list[Event]:
        """Move ``device`` to ``zone`` (None: nowhere) at ``ts``; return the events it causes,
        released at ``ts`` (see `_decide` for the rules)."""
        return _released(self._decide(device, zone, ts, confidence, entered_at), ts)

    def _decide(
        self, device: str, zone: str | None, ts: float, conf: float | None, came: float | None
    ) -> list[Event]:
        """Move ``device`` to ``zone`` (None: nowhere) at ``ts``; return the events it causes.

        Three kinds of move are held before they are published, and dropped if the device is
        placed back where it was in the meantime:

        * from an ``outside`` zone into the store, for ``entry_hold_s``: a passer-by briefly
          placed in the entrance gets no entry; a move deeper into the store confirms the
          held entry at once;
        * from the store to an ``outside`` zone, for ``visit_gap_s``: a shopper briefly
          placed on the street is one visit, with no exit and no second welcome;
        * from one zone of the store to another, for ``min_stay_s``: a stay shorter than
          that (usually a misreading) is not reported.

        The decider may publish a held move sooner (`release_held`). A confirmed move is
        stamped with the time it was decided, so event times stay truthful; only its
        publication waits. A device that goes silent (``zone`` None) while a move is held
        makes that move and then leaves, at once, except a held entry: it never came in.

        ``came`` (at most ``ts``) is the decider's estimate of when the device came in.
        A move that opens a visit is still stamped ``ts``, the decision (the contract's
        ``ts``); the estimate, never before the device's previous event, becomes the visit's
        start: ``since`` of its ``store_entry`` and of its ``store_exit``, and so the visit's
        duration. Moves that open no visit ignore it.
        """
        state = self._state.get(device)
        began = ts
        if came is not None and came < ts and (state is None or not state.visit_id):
            began = max(came, state.last_ts if state is not None else came)
        made: list[Event] = []
        if state is not None and state.held is not None:
            target, at, conf_held, began_held = state.held
            entering = not state.visit_id
            if zone == state.zone:
                state.held = None
                return self._due_dwell(device, state, ts)
            if zone is None:
                if entering:  # heard going in, then never again: it did not come in
                    state.held = None
                    return self._move(device, state, None, ts, None)
                return self._make_held(device, state) + self._move(device, state, None, ts, None)
            new = self._zones.get(zone)
            old = self._zones.get(target)
            both_in = new is not None and old is not None and new.in_store and old.in_store
            if new is not None and old is not None and not new.in_store and not old.in_store:
                state.held = (zone, at, conf_held, began_held)  # still out: the exit time stands
                return []
            if entering and both_in:
                # deeper into the store: the held entry is confirmed, stamped when decided
                made = self._make_held(device, state)
            state.held = None
        gap = self._hold_for(state, zone)
        if state is not None and gap > 0:
            assert zone is not None
            state.held = (zone, ts, conf, began)
            heapq.heappush(self._holds, (ts + gap, device, ts))
            return made
        return made + self._move(device, state, zone, ts, conf, began)

    def _hold_for(self, state: _State | None, zone: str | None) -> float:
        """How long a move of a device in ``state`` to ``zone`` is held (0: not held)."""
        if state is None or state.zone is None or zone is None:
            return 0.0
        old = self._zones.get(state.zone)
        new = self._zones.get(zone)
        if old is None or new is None:
            return 0.0
        cfg = self.store.engine
        if not old.in_store:
            return cfg.entry_hold_s if new.in_store else 0.0
        return cfg.min_stay_s if new.in_store else cfg.visit_gap_s

    def _move(
        self,
        device: str,
        state: _State | None,
        zone: str | None,
        ts: float,
        confidence: float | None,
        began: float | None = None,
    ) -> list[Event]:
        """Apply a decided move at ``ts``; a visit it opens began at ``began`` (default ``ts``)."""
        current = state.zone if state else None
        if zone == current:
            return []
        if state is None:
            state = _State()
            self._state[device] = state
        events: list[Event] = []
        sid = self.store.id
        old = self._zones.get(current) if current else None
        new = self._zones.get(zone) if zone else None
        was_in = state.visit_id is not None
        now_in = new is not None and new.in_store
        if old is not None and not old.private:
            events.append(
                Event(
                    "zone_exit",
                    device,
                    old.id,
                    ts,
                    event_id(sid, device, "zone_exit", old.id, ts),
                    visit_id=state.visit_id,
                    dwell_s=ts - state.since,
                    since=state.since,
                )
            )
        if was_in and not now_in:
            events.append(
                Event(
                    "store_exit",
                    device,
                    None,
                    ts,
                    event_id(sid, device, "store_exit", None, ts),
                    visit_id=state.visit_id,
                    dwell_s=ts - state.visit_start,
                    since=state.visit_start,
                )
            )
            state.visit_id = None
        if now_in and not was_in:
            state.visit_id = visit_id(sid, device, ts)
            state.visit_start = ts if began is None else min(began, ts)
            events.append(
                Event(
                    "store_entry",
                    device,
                    None,
                    ts,
                    event_id(sid, device, "store_entry", None, ts),
                    visit_id=state.visit_id,
                    confidence=confidence,
                    since=state.visit_start,
                )
            )
        state.zone = new.id if new is not None else None
        state.since = ts
        state.dwell_due = None
        if new is not None and not new.private:
            events.append(
                Event(
                    "zone_enter",
                    device,
                    new.id,
                    ts,
                    event_id(sid, device, "zone_enter", new.id, ts),
                    visit_id=state.visit_id,
                    confidence=confidence,
                )
            )
            if new.dwell_s is not None:
                state.dwell_due = ts + new.dwell_s
                heapq.heappush(self._dwell, (state.dwell_due, device, new.id, ts))
        state.last_ts = max(state.last_ts, ts)
        if state.zone is None:
            del self._state[device]
        return events

    def held_move(self, device: str) -> tuple[str, float] | None:
        """The device's held move, if any: its kind (``entry`` from an ``outside`` zone into
        the store, ``exit`` from the store to an ``outside`` zone, ``inside`` between two zones
        of the store) and when it was decided."""
        state = self._state.get(device)
        if state is None or state.held is None or state.zone is None:
            return None
        old = self._zones.get(state.zone)
        new = self._zones.get(state.held[0])
        if old is None or new is None or not (old.in_store or new.in_store):
            return None
        kind = "inside" if old.in_store and new.in_store else "exit" if old.in_store else "entry"
        return kind, state.held[1]

    def release_held(self, device: str, ts: float) -> list[Event]:
        """Publish the device's held move now, at ``ts``, before its hold has run out: the
        decider has evidence that the move is real. Its events keep the time the move was
        decided; nothing happens when no move is held."""
        if self.held_move(device) is None:
            return []
        # its entry in the hold queue is skipped when it falls due
        return _released(self._make_held(device, self._state[device]), ts)

    def _make_held(self, device: str, state: _State) -> list[Event]:
        """Make the device's held move now, stamped with the time it was decided (with the
        dwell of the stay it ends, if that fell due before)."""
        assert state.held is not None
        target, at, conf, began = state.held
        state.held = None
        return self._due_dwell(device, state, at) + self._move(
            device, state, target, at, conf, min(began, at)
        )

    def tick(self, ts: float) -> list[Event]:
        """Events due at or before ``ts``: confirmed held moves, then dwell (each stamped with
        the moment it happened, released at ``ts``)."""
        return _released(self._tick(ts), ts)

    def _tick(self, ts: float) -> list[Event]:
        events: list[Event] = []
        while self._holds and self._holds[0][0] <= ts:
            _, device, moved_at = heapq.heappop(self._holds)
            state = self._state.get(device)
            if state is None or state.held is None or state.held[1] != moved_at:
                continue  # came back, or moved on, or left for good already
            events += self._make_held(device, state)
        deferred: list[tuple[float, str, str, float]] = []
        while self._dwell and self._dwell[0][0] <= ts:
            item = heapq.heappop(self._dwell)
            state = self._state.get(item[1])
            if state is not None and state.held is not None and state.held[1] <= item[0]:
                deferred.append(item)  # decided once the held move is
                continue
            events += self._dwell_event(item, state)
        for item in deferred:
            heapq.heappush(self._dwell, item)
        return events

    def _due_dwell(self, device: str, state: _State, ts: float) -> list[Event]:
        """The dwell event of the current stay if it fell due before ``ts`` (held moves)."""
        if state.dwell_due is None or state.dwell_due > ts or state.zone is None:
            return []
        return self._dwell_event((state.dwell_due, device, state.zone, state.since), state)

    def _dwell_event(
        self, item: tuple[float, str, str, float], state: _State | None
    ) -> list[Event]:
        due, device, zone, since = item
        if state is None or state.zone != zone or state.dwell_due != due:
            return []  # the stay this deadline belonged to is over
        current = self._zones.get(zone)
        if current is None or current.private:
            return []  # the zone was removed or made private since the stay began
        state.dwell_due = None
        state.last_ts = max(state.last_ts, due)
        sid = self.store.id
        return [
            Event(
                "zone_dwell",
                device,
                zone,
                due,
                event_id(sid, device, "zone_dwell", zone, due),
                visit_id=state.visit_id,
                dwell_s=due - since,
                since=since,
            )
        ]
