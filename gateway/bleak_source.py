"""The ``bleak`` source: the real radio, with a watchdog.

The detection callback converts bleak's ``(BLEDevice, AdvertisementData)`` at once: it stamps
the time, reads RSSI from ``AdvertisementData`` (bleak 3 has none on ``BLEDevice``) and hands
on only the payload fields. The device address is never read. A scanner that reports nothing
for ``watchdog_s`` (BlueZ scanning can stop silently) is stopped and started again; the check
runs every ``watchdog_s / 3`` on an injected monotonic clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from .errors import ScannerError
from .sources import OnAdvert

log = logging.getLogger("proximity.gateway.bleak")

ScannerFactory = Callable[[Callable[[Any, Any], None]], Any]
"""Builds a scanner object with async ``start()``/``stop()`` given the detection callback."""


def explain(exc: BaseException, adapter: str | None) -> ScannerError:
    """Turn a bleak or OS error into a message a user can act on."""
    name = adapter or "the default adapter"
    text = str(exc)
    reason = getattr(exc, "reason", None)
    reason_name = getattr(reason, "name", "")
    if reason_name == "POWERED_OFF" or "powered off" in text.lower() or "NotReady" in text:
        return ScannerError(f"adapter {name} is powered off: run `bluetoothctl power on`")
    if (
        reason_name.startswith("DENIED")
        or isinstance(exc, PermissionError)
        or ("NotPermitted" in text or "AccessDenied" in text or "permission" in text.lower())
    ):
        return ScannerError(
            f"no permission to scan with {name}: run as a user in the 'bluetooth' group "
            "(sudo usermod -aG bluetooth $USER) or check the systemd unit's User="
        )
    if reason_name == "NO_BLUETOOTH" or "not found" in text.lower() or "No such" in text:
        return ScannerError(
            f"Bluetooth adapter {name} not found: list adapters with `bluetoothctl list` or "
            "`hciconfig -a`, then set bleak.adapter (e.g. hci0)"
        )
    if "org.freedesktop.DBus" in text or isinstance(exc, FileNotFoundError):
        return ScannerError(
            "cannot reach bluetoothd over D-Bus: `sudo systemctl start bluetooth` and check "
            "`systemctl status bluetooth`"
        )
    return ScannerError(f"Bluetooth scanner on {name} failed: {text or type(exc).__name__}")


def default_factory(adapter: str | None, active: bool) -> ScannerFactory:
    """Factory of real ``bleak.BleakScanner`` objects."""

    def make(callback: Callable[[Any, Any], None]) -> Any:
        from bleak import BleakScanner

        bluez: Any = {"adapter": adapter} if adapter else {}
        return BleakScanner(
            detection_callback=callback,
            scanning_mode="active" if active else "passive",
            bluez=bluez,
        )

    return make


class BleakSource:
    """Advertisements from a BLE adapter.

    Args:
        adapter: BlueZ adapter name (``hci0``), None for the default.
        active: Active scanning (scan requests; 100 % listening on BlueZ). Passive scanning
            through bleak needs experimental bluetoothd features and may report each device
            only once.
        watchdog_s: Restart a scanner silent this long, seconds.
        factory: Scanner factory (injected in tests).
        wall: Wall clock stamping readings (seconds; one clock for all gateways: NTP).
        monotonic: Clock for the watchdog (seconds).
    """

    def __init__(
        self,
        adapter: str | None = None,
        active: bool = True,
        watchdog_s: float = 90.0,
        factory: ScannerFactory | None = None,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.adapter = adapter
        self.watchdog_s = watchdog_s
        self._factory = factory or default_factory(adapter, active)
        self._wall = wall
        self._mono = monotonic
        self._on_advert: OnAdvert | None = None
        self.last_heard = monotonic()
        self.restarts = 0
        self.callbacks = 0

    def now(self) -> float:
        """Wall time, seconds."""
        return self._wall()

    def callback(self, device: Any, adv: Any) -> None:
        """bleak's detection callback: convert at once, never touch the address."""
        del device  # identity comes from the payload only
        self.last_heard = self._mono()
        self.callbacks += 1
        if self._on_advert is not None:
            self._on_advert(
                self._wall(), adv.manufacturer_data or {}, adv.service_data or {}, float(adv.rssi)
            )

    async def _start(self) -> Any:
        scanner = self._factory(self.callback)
        try:
            await scanner.start()
        except Exception as exc:  # translated into an actionable message
            raise explain(exc, self.adapter) from exc
        self.last_heard = self._mono()
        return scanner

    def silent(self) -> bool:
        """Whether the scanner has been silent for ``watchdog_s``."""
        return self._mono() - self.last_heard >= self.watchdog_s

    async def check(self, scanner: Any) -> Any:
        """One watchdog check: restart a silent scanner; returns the scanner in use."""
        if not self.silent():
            return scanner
        log.warning("scanner silent for %.0f s: restarting it", self._mono() - self.last_heard)
        try:
            await scanner.stop()
        except Exception as exc:
            log.warning("stopping the silent scanner failed: %s", exc)
        self.restarts += 1
        return await self._start()

    async def run(self, on_advert: OnAdvert) -> None:
        """Scan forever (raises `ScannerError` when the adapter cannot scan)."""
        self._on_advert = on_advert
        scanner = await self._start()
        try:
            while True:
                await asyncio.sleep(self.watchdog_s / 3)
                scanner = await self.check(scanner)
        finally:
            try:
                await scanner.stop()
            except Exception as exc:
                log.warning("stopping the scanner failed: %s", exc)
