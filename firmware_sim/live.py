"""Live view of a simulation: the advertisements each gateway's scanner would hand the host.

The same receptions as the offline readings (one radio model), but as raw advertisements:
random (rotating) addresses, manufacturer data and service data, and INCLUDING foreign devices
(phones without the app, watches, laptops) that a gateway's privacy filter must drop.
Timestamps are the simulation's clock (seconds from 0); a live source paces them itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .identity import ADDRESS_ROTATION_S, TOKEN_PERIOD_S
from .scenario import Scenario
from .simulate import SimResult, simulate


@dataclass(frozen=True)
class Advert:
    """One advertisement as a scanner reports it.

    Attributes:
        ts: Seconds, simulation clock.
        gateway: Id of the gateway whose scanner heard it.
        address: Random Bluetooth address ("AA:BB:CC:DD:EE:FF"); rotates ~15 min for phones.
        manufacturer_data: Company id -> bytes after the company id (as bleak reports it).
        service_data: Service UUID (128-bit string) -> bytes.
        rssi: Received strength, dBm.
    """

    ts: float
    gateway: str
    address: str
    manufacturer_data: dict[int, bytes]
    service_data: dict[str, bytes]
    rssi: int


def adverts(
    source: SimResult | Scenario,
    gateway: str | None = None,
    start_s: float = 0.0,
    end_s: float | None = None,
) -> Iterator[Advert]:
    """Advertisements heard in time order, optionally by one gateway and in a time span.

    Args:
        source: A finished simulation, or a scenario to simulate first.
        gateway: Only this gateway's receptions (None: every gateway).
        start_s: First time to yield, seconds (inclusive).
        end_s: Time to stop at, seconds (exclusive); None: the end of the run.

    Raises:
        KeyError: ``gateway`` is not a gateway of the store.
    """
    result = simulate(source) if isinstance(source, Scenario) else source
    gw_ids = [g.id for g in result.store.gateways]
    wanted = None if gateway is None else gw_ids.index(gateway) if gateway in gw_ids else None
    if gateway is not None and wanted is None:
        raise KeyError(f"unknown gateway '{gateway}' (one of {', '.join(gw_ids)})")
    rec = result.receptions
    manufacturer: dict[tuple[int, int], dict[int, bytes]] = {}
    address: dict[tuple[int, int], str] = {}
    for i in range(len(rec)):
        ts = float(rec.t[i])
        if ts < start_s:
            continue
        if end_s is not None and ts >= end_s:
            break
        g = int(rec.gateway[i])
        if wanted is not None and g != wanted:
            continue
        d = int(rec.device[i])
        device = result.devices[d]
        window = int(ts // TOKEN_PERIOD_S)
        mkey = (d, window)
        data = manufacturer.get(mkey)
        if data is None:
            data = device.manufacturer_data(window)
            manufacturer[mkey] = data
        akey = (d, int(ts // ADDRESS_ROTATION_S))
        addr = address.get(akey)
        if addr is None:
            addr = device.address(ts)
            address[akey] = addr
        yield Advert(
            ts=ts,
            gateway=gw_ids[g],
            address=addr,
            manufacturer_data=dict(data),
            service_data=dict(device.foreign_service),
            rssi=int(rec.rssi[i]),
        )
