"""The bleak source through its callback path with real bleak types; watchdog on injected time."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason

from gateway.batcher import Batcher
from gateway.bleak_source import BleakSource, explain
from gateway.errors import ScannerError
from gateway.privacy import EdgeFilter
from proximity import frames

UUID = uuid.UUID("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")


def _adv(mfr: dict[int, bytes], rssi: int) -> AdvertisementData:
    return AdvertisementData(
        local_name=None, manufacturer_data=mfr, service_data={}, service_uuids=[],
        tx_power=None, rssi=rssi, platform_data=(),
    )  # fmt: skip


class FakeScanner:
    def __init__(self, callback: object) -> None:
        self.callback = callback
        self.started = 0
        self.stopped = 0

    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1


def test_callback_converts_real_bleak_types_and_never_reads_the_address() -> None:
    clock = {"wall": 1000.0, "mono": 0.0}
    scanners: list[FakeScanner] = []

    def factory(cb: object) -> FakeScanner:
        scanners.append(FakeScanner(cb))
        return scanners[-1]

    source = BleakSource("hci0", factory=factory, wall=lambda: clock["wall"],
                         monotonic=lambda: clock["mono"])  # fmt: skip
    filt = EdgeFilter([f"ibeacon:{UUID}:1:2"])
    batcher = Batcher(0.5)
    rows = []

    def on_advert(ts: float, mfr: object, svc: object, rssi: float) -> None:
        got = filt.admit(mfr, svc)  # type: ignore[arg-type]
        if got is not None:
            rows.append((ts, got.device, rssi))
            batcher.add(ts, got.device, rssi, got.tx_power)

    async def go() -> None:
        task = asyncio.create_task(source.run(on_advert))
        await asyncio.sleep(0.01)
        cb = scanners[0].callback
        phone = BLEDevice("4A:11:22:33:44:55", None, None)
        cid, data = frames.build_ibeacon(UUID, 1, 2, -60)
        cb(phone, _adv({cid: data}, -71))  # type: ignore[operator]
        cb(phone, _adv({0x0006: b"\x01\x09\x20\x02secret-ish"}, -50))  # type: ignore[operator]
        cid, tok = frames.build_app_token(b"\x01" * 8, -59)
        cb(BLEDevice("7B:00:00:00:00:01", "Pixel", None), _adv({cid: tok}, -80))  # type: ignore[operator]
        task.cancel()

    asyncio.run(go())
    assert rows == [(1000.0, f"ibeacon:{UUID}:1:2", -71.0), (1000.0, "token:" + "01" * 8, -80.0)]
    assert "4A:11" not in repr(rows) and (filt.heard, filt.dropped) == (3, 1)
    assert scanners[0].stopped == 1


def test_watchdog_restarts_a_silent_scanner_with_injected_time() -> None:
    mono = [0.0]
    scanners: list[FakeScanner] = []

    def factory(cb: object) -> FakeScanner:
        scanners.append(FakeScanner(cb))
        return scanners[-1]

    source = BleakSource(None, watchdog_s=90, factory=factory, monotonic=lambda: mono[0])

    async def go() -> None:
        scanner = await source._start()
        mono[0] = 60.0
        source.callback(BLEDevice("x", None, None), _adv({}, -70))
        mono[0] = 120.0  # heard 60 s ago: fine
        assert await source.check(scanner) is scanner
        mono[0] = 150.0  # silent 90 s: restart
        new = await source.check(scanner)
        assert new is not scanner and scanner.stopped == 1 and new.started == 1
        mono[0] = 200.0
        assert await source.check(new) is new

    asyncio.run(go())
    assert source.restarts == 1


def test_errors_are_actionable() -> None:
    off = BleakBluetoothNotAvailableError("off", BleakBluetoothNotAvailableReason.POWERED_OFF)
    assert "bluetoothctl power on" in str(explain(off, "hci0"))
    denied = BleakBluetoothNotAvailableError("no", BleakBluetoothNotAvailableReason.DENIED_BY_USER)
    assert "bluetooth' group" in str(explain(denied, "hci0"))
    missing = BleakBluetoothNotAvailableError("x", BleakBluetoothNotAvailableReason.NO_BLUETOOTH)
    assert "hci1 not found" in str(explain(missing, "hci1"))

    def factory(cb: object) -> object:
        class Broken(FakeScanner):
            async def start(self) -> None:
                raise off

        return Broken(cb)

    source = BleakSource("hci0", factory=factory)
    with pytest.raises(ScannerError, match="powered off"):
        asyncio.run(source.run(lambda *a: None))
