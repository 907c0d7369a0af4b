"""Who each simulated device is on the air: frame bytes, addresses, and the subject behind them.

Phones run the retailer's app: each has a secret key and advertises ``derive_token(key, window)``
in the app-token frame, rotating every 1024 s. Fobs and staff badges are iBeacons with a fixed
uuid/major/minor. Foreign devices (people without the app) send Apple, Google or Microsoft
manufacturer data or Exposure Notification service data that no gateway may keep.

Subject ids in readings are never made up from the simulator's own bookkeeping: they come from
parsing each device's real frame bytes with `proximity.frames` and resolving them through a
`proximity.tokens.ResolutionTable` (phones) or a beacon registry (fobs, badges).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from proximity import frames, tokens

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

TOKEN_PERIOD_S = tokens.DEFAULT_PERIOD_S
"""Token rotation period, seconds."""

ADDRESS_ROTATION_S = 900.0
"""Phones and foreign devices rotate their random address about every 15 minutes."""

EXPOSURE_NOTIFICATION_UUID = "0000fd6f-0000-1000-8000-00805f9b34fb"
GOOGLE_COMPANY_ID = 0x00E0
MICROSOFT_COMPANY_ID = 0x0006


@dataclass(frozen=True)
class SimDevice:
    """One simulated transmitter.

    Attributes:
        index: Position in the device list.
        role: ``shopper``, ``passerby``, ``staff`` or ``surveyor``.
        hardware: ``phone``, ``fob``, ``badge`` or ``foreign``.
        subject: Pseudonymous subject id (None for foreign devices).
        tx_power: Nominal calibrated RSSI at 1 m the frame carries, dBm.
        key: The app's secret key (phones only).
        beacon: ``(uuid, major, minor)`` (fobs and badges only).
        foreign_manufacturer: ``{company id: payload}`` of a foreign device.
        foreign_service: ``{service uuid: payload}`` of a foreign device.
        seed: Per-device seed for addresses (deterministic).
    """

    index: int
    role: str
    hardware: str
    subject: str | None
    tx_power: int
    key: bytes | None = None
    beacon: tuple[str, int, int] | None = None
    foreign_manufacturer: dict[int, bytes] = field(default_factory=dict)
    foreign_service: dict[str, bytes] = field(default_factory=dict)
    seed: int = 0

    def manufacturer_data(self, window: int) -> dict[int, bytes]:
        """Manufacturer data this device advertises during token window ``window``."""
        if self.key is not None:
            company, payload = frames.build_app_token(
                tokens.derive_token(self.key, window), self.tx_power
            )
            return {company: payload}
        if self.beacon is not None:
            company, payload = frames.build_ibeacon(*self.beacon, tx_power=self.tx_power)
            return {company: payload}
        return dict(self.foreign_manufacturer)

    def address(self, ts: float) -> str:
        """The (random) Bluetooth address in use at ``ts``; rotates for phones and foreign."""
        epoch = 0 if self.hardware in ("fob", "badge") else int(ts // ADDRESS_ROTATION_S)
        digest = hashlib.sha256(f"{self.seed}:{epoch}".encode()).digest()[:6]
        top = 0xC0 if epoch == 0 and self.hardware in ("fob", "badge") else 0x40
        first = (digest[0] & 0x3F) | top
        return ":".join(f"{b:02X}" for b in (first, *digest[1:]))


class Identities:
    """All devices of a run, with the subject registry the engine side would hold."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.devices: list[SimDevice] = []
        self.keys: dict[str, bytes] = {}
        self.beacons: dict[str, str] = {}
        self._uuid = str(uuid.UUID(bytes=rng.bytes(16), version=4))
        self._minor = {"fob": 0, "badge": 0}
        self._subjects: set[str] = set()
        self._tables: dict[int, tokens.ResolutionTable] = {}

    def _subject(self) -> str:
        while True:
            subject = f"subj-{int(self.rng.integers(0, 2**32)):08x}"
            if subject not in self._subjects:
                self._subjects.add(subject)
                return subject

    def add(self, role: str, hardware: str, tx_power: int) -> SimDevice:
        """Create the next device of ``hardware`` carried by someone in ``role``."""
        index = len(self.devices)
        seed = int(self.rng.integers(0, 2**62))
        if hardware == "phone":
            subject = self._subject()
            key = self.rng.bytes(16)
            self.keys[subject] = key
            device = SimDevice(index, role, hardware, subject, tx_power, key=key, seed=seed)
        elif hardware in ("fob", "badge"):
            subject = self._subject()
            self._minor[hardware] += 1
            major = 1 if hardware == "fob" else 2
            beacon = (self._uuid, major, self._minor[hardware])
            _company, payload = frames.build_ibeacon(*beacon, tx_power=tx_power)
            frame = frames.parse_manufacturer(frames.APPLE_COMPANY_ID, payload)
            assert frame is not None
            registry_key = frame.key()
            assert registry_key is not None
            self.beacons[registry_key] = subject
            device = SimDevice(index, role, hardware, subject, tx_power, beacon=beacon, seed=seed)
        else:
            manufacturer, service = self._foreign()
            device = SimDevice(
                index,
                role,
                hardware,
                None,
                tx_power,
                foreign_manufacturer=manufacturer,
                foreign_service=service,
                seed=seed,
            )
        self.devices.append(device)
        return device

    def _foreign(self) -> tuple[dict[int, bytes], dict[str, bytes]]:
        kind = int(self.rng.integers(0, 4))
        if kind == 0:  # Apple Nearby Info
            return {frames.APPLE_COMPANY_ID: b"\x10\x05" + self.rng.bytes(5)}, {}
        if kind == 1:  # Microsoft CDP beacon
            return {MICROSOFT_COMPANY_ID: b"\x01\x09\x20\x02" + self.rng.bytes(23)}, {}
        if kind == 2:  # Google Fast Pair-like vendor data
            return {GOOGLE_COMPANY_ID: self.rng.bytes(10)}, {}
        return {}, {EXPOSURE_NOTIFICATION_UUID: self.rng.bytes(20)}  # Exposure Notification

    def table(self, window: int) -> tokens.ResolutionTable:
        """The resolution table the API would hand the engine for ``window``."""
        found = self._tables.get(window)
        if found is None:
            found = tokens.build_table(self.keys, (window + 0.5) * TOKEN_PERIOD_S, TOKEN_PERIOD_S)
            self._tables[window] = found
        return found

    def resolve(self, device: IntArray, ts: FloatArray) -> tuple[IntArray, IntArray, list[str]]:
        """Resolve each reception of ``device`` at ``ts`` from the device's real frame bytes.

        Frames are built and parsed once per device per token window, not per packet.

        Returns:
            ``(subject index or -1 when unresolvable, tx_power from the frame, subject ids)``.
        """
        window = np.floor(ts / TOKEN_PERIOD_S).astype(np.int64)
        pairs, inverse = np.unique(np.stack([device, window]), axis=1, return_inverse=True)
        subjects: list[str] = []
        subject_index: dict[str, int] = {}
        pair_subject = np.full(pairs.shape[1], -1, dtype=np.int64)
        pair_tx = np.zeros(pairs.shape[1], dtype=np.int64)
        for j in range(pairs.shape[1]):
            dev = self.devices[int(pairs[0, j])]
            win = int(pairs[1, j])
            resolved: str | None = None
            tx: int | None = None
            for company, payload in dev.manufacturer_data(win).items():
                frame = frames.parse_manufacturer(company, payload)
                if frame is None:
                    continue
                tx = frame.tx_power_1m
                if isinstance(frame, frames.AppToken):
                    resolved = self.table(win).resolve(frame.token)
                else:
                    key = frame.key()
                    resolved = self.beacons.get(key) if key is not None else None
            if resolved is None:
                continue
            if resolved not in subject_index:
                subject_index[resolved] = len(subjects)
                subjects.append(resolved)
            pair_subject[j] = subject_index[resolved]
            pair_tx[j] = tx if tx is not None else 0
        inverse = inverse.reshape(-1)
        return pair_subject[inverse], pair_tx[inverse], subjects
