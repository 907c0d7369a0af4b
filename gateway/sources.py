"""Sources of advertisements: one interface, ``replay`` and ``sim`` here, ``bleak`` beside.

A source calls ``on_advert(ts, manufacturer_data, service_data, rssi)`` for every advertisement
it hears, from the event loop thread, and offers ``now()``: its clock in the readings' time
(seconds). Sources never hand over a device address: identity comes from the payload.

Replay file (and ``--record`` output): JSON lines
``{"ts": s, "rssi": dBm, "mfr": {"<company id>": "<hex>"}, "svc": {"<uuid>": "<hex>"}}``.
Recording happens after the privacy filter, so a recording holds admitted frames only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from proximity.errors import InputError

OnAdvert = Callable[[float, Mapping[int, bytes], Mapping[str, bytes], float], None]
"""``on_advert(ts seconds, manufacturer_data, service_data, rssi dBm)``."""


class Source(Protocol):
    """A source of advertisements."""

    restarts: int

    def now(self) -> float:
        """Current time in the readings' clock, seconds."""

    async def run(self, on_advert: OnAdvert) -> None:
        """Deliver advertisements until the source ends (replay, sim) or forever (radio)."""


@dataclass(frozen=True)
class Advert:
    """One advertisement as a source delivers it (no address)."""

    ts: float
    manufacturer_data: Mapping[int, bytes]
    service_data: Mapping[str, bytes]
    rssi: float


def advert_to_json(advert: Advert) -> str:
    """One replay-file line."""
    return json.dumps(
        {
            "ts": round(advert.ts, 6),
            "rssi": advert.rssi,
            "mfr": {str(k): v.hex() for k, v in advert.manufacturer_data.items()},
            "svc": {k: v.hex() for k, v in advert.service_data.items()},
        },
        separators=(",", ":"),
    )


def _advert_from_json(text: str, source: str, line: int) -> Advert:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(source, line, None, f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(source, line, None, "expected a JSON object")
    try:
        ts = float(data["ts"])
        rssi = float(data["rssi"])
        mfr = {int(k): bytes.fromhex(v) for k, v in dict(data.get("mfr", {})).items()}
        svc = {str(k): bytes.fromhex(v) for k, v in dict(data.get("svc", {})).items()}
    except KeyError as exc:
        raise InputError(source, line, str(exc.args[0]), "missing") from exc
    except (TypeError, ValueError) as exc:
        raise InputError(source, line, None, f"bad advert: {exc}") from exc
    return Advert(ts, mfr, svc, rssi)


def read_adverts(path: str | Path) -> Iterator[Advert]:
    """Adverts of a replay file, in file order. Bad lines raise `InputError` (file, line)."""
    with open(path, encoding="utf-8") as handle:
        for i, text in enumerate(handle, start=1):
            if text.strip():
                yield _advert_from_json(text, str(path), i)


class PacedSource:
    """Delivers a time-ordered stream of adverts paced at ``speed`` x real time.

    Args:
        adverts: Adverts in time order.
        speed: Data seconds per wall second (0: as fast as possible).
        resume_after: Skip adverts with ``ts`` below this (a restart resumes where the outbox
            says the last batch ended).
        monotonic: Wall clock (injected for tests).
    """

    def __init__(
        self,
        adverts: Iterable[Advert],
        speed: float = 1.0,
        resume_after: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._adverts = iter(adverts)
        self.speed = speed
        self.resume_after = resume_after
        self._mono = monotonic
        self._origin: tuple[float, float] | None = None
        self._last = 0.0 if resume_after is None else resume_after
        self._next: float | None = None
        self.restarts = 0
        self.done = False

    def now(self) -> float:
        """The data clock: paced from the first advert (or the last one delivered), and never
        past the advert waiting to be delivered (a late wake-up must not close its window
        before it is in: the batcher would have to move it)."""
        if self._origin is None or self.speed <= 0:
            return self._last
        t_data, t_wall = self._origin
        paced = max(self._last, t_data + (self._mono() - t_wall) * self.speed)
        return paced if self._next is None else min(paced, self._next)

    async def run(self, on_advert: OnAdvert) -> None:
        """Deliver every advert at its paced time."""
        for advert in self._adverts:
            if self.resume_after is not None and advert.ts < self.resume_after:
                continue
            if self._origin is None:
                self._origin = (advert.ts, self._mono())
            self._next = advert.ts
            if self.speed > 0:
                t_data, t_wall = self._origin
                delay = t_wall + (advert.ts - t_data) / self.speed - self._mono()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            self._last = max(self._last, advert.ts)
            self._next = None
            on_advert(advert.ts, advert.manufacturer_data, advert.service_data, advert.rssi)
        self.done = True


def replay_source(
    path: str | Path, speed: float = 1.0, resume_after: float | None = None
) -> PacedSource:
    """The ``replay`` source: a recorded file paced at ``speed``."""
    return PacedSource(read_adverts(path), speed, resume_after)


def sim_source(
    scenario: str | Path, gateway: str, speed: float = 1.0, resume_after: float | None = None
) -> PacedSource:
    """The ``sim`` source: the simulator's live adverts heard by ``gateway``."""
    from firmware_sim.live import adverts
    from firmware_sim.scenario import load_scenario
    from firmware_sim.simulate import simulate

    loaded = load_scenario(str(scenario))
    known = [g.id for g in loaded.store.gateways]
    if gateway not in known:
        raise InputError(
            str(scenario), None, "gateway", f"{gateway!r} is not a gateway of the scenario's "
            f"store ({', '.join(known)})",
        )  # fmt: skip
    result = simulate(loaded)  # now, not on the first advert inside the event loop
    start = 0.0 if resume_after is None else resume_after
    stream = (
        Advert(a.ts, a.manufacturer_data, a.service_data, a.rssi)
        for a in adverts(result, gateway, start_s=start)
    )
    return PacedSource(stream, speed, resume_after)


class Recorder:
    """Writes admitted adverts to a replay file (line-buffered, appends)."""

    def __init__(self, path: str | Path) -> None:
        self._handle: IO[str] = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def write(
        self,
        ts: float,
        manufacturer_data: Mapping[int, bytes],
        service_data: Mapping[str, bytes],
        rssi: float,
    ) -> None:
        """Record one admitted advert."""
        self._handle.write(
            advert_to_json(Advert(ts, dict(manufacturer_data), dict(service_data), rssi)) + "\n"
        )

    def close(self) -> None:
        """Close the file."""
        self._handle.close()
