"""BLE advertisement frames: parse and build iBeacon, AltBeacon, Eddystone and our app token.

Pure functions over bytes. Parsers never raise on arbitrary input: a short, malformed or unknown
payload gives ``None`` (or is skipped inside a raw advertising payload). Builders validate their
arguments and raise `ValueError`, so whatever they return parses back to the same frame.

The wire formats (all multi-byte fields big-endian unless said otherwise) are described in
``docs/frames.md``. Frame type bytes are written as literals in the parsers on purpose, so that
the wire format is pinned by the code that reads it and not by an enum that could drift.

Two reference points for transmit power are in use:

* iBeacon, AltBeacon and the app token carry the calibrated RSSI at 1 m (dBm).
* Eddystone carries the calibrated RSSI at 0 m (dBm); the RSSI at 1 m is that value minus
  `EDDYSTONE_LOSS_1M_DB` (41 dB).

`Frame.tx_power_1m` always gives the 1 m value so callers never need to know which is which.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "ALTBEACON_DEFAULT_COMPANY_ID",
    "APPLE_COMPANY_ID",
    "APP_COMPANY_ID",
    "EDDYSTONE_LOSS_1M_DB",
    "EDDYSTONE_UUID16",
    "LEGACY_ADV_MAX_LEN",
    "URL_MAX_ENCODED_LEN",
    "AltBeacon",
    "AppToken",
    "EddystoneEID",
    "EddystoneTLM",
    "EddystoneUID",
    "EddystoneURL",
    "Frame",
    "IBeacon",
    "build_ad_structures",
    "build_advertisement",
    "build_altbeacon",
    "build_app_token",
    "build_eddystone_eid",
    "build_eddystone_tlm",
    "build_eddystone_uid",
    "build_eddystone_url",
    "build_ibeacon",
    "encode_url",
    "parse_ad_structures",
    "parse_advertisement",
    "parse_manufacturer",
    "parse_service_data",
]

APP_COMPANY_ID = 0xFFFF
"""Company id of our app-token frame: 0xFFFF, the Bluetooth SIG id reserved for testing.

A deployment that owns a SIG company id passes it as ``app_company_id`` to the parsers and as
``company_id`` to `build_app_token`.
"""

APPLE_COMPANY_ID = 0x004C
"""Apple's company id; iBeacon frames are manufacturer data under it."""

ALTBEACON_DEFAULT_COMPANY_ID = 0x0118
"""Radius Networks' company id, the usual manufacturer id of AltBeacon frames."""

EDDYSTONE_UUID16 = 0xFEAA
"""16-bit service UUID under which Eddystone frames are sent as service data."""

EDDYSTONE_LOSS_1M_DB = 41
"""Eddystone's path loss from 0 m to 1 m, dB: RSSI at 1 m = Eddystone tx power field - 41."""

URL_MAX_ENCODED_LEN = 17
"""Longest encoded Eddystone URL (after the scheme byte), bytes."""

LEGACY_ADV_MAX_LEN = 31
"""Longest legacy (BLE 4.x) advertising payload, bytes."""

_APP_TOKEN_VERSION = 0x01
_TOKEN_LEN = 8

# Eddystone-URL scheme prefixes (index = scheme byte) and expansion codes (index = code byte).
_URL_SCHEMES = ("http://www.", "https://www.", "http://", "https://")
_URL_EXPANSIONS = (
    ".com/",
    ".org/",
    ".edu/",
    ".net/",
    ".info/",
    ".biz/",
    ".gov/",
    ".com",
    ".org",
    ".edu",
    ".net",
    ".info",
    ".biz",
    ".gov",
)
# Decoding table: byte -> text, None for reserved bytes (0x0e..0x20 and 0x7f..0xff).
_URL_DECODE: tuple[str | None, ...] = tuple(
    _URL_EXPANSIONS[b] if b < len(_URL_EXPANSIONS) else (chr(b) if 0x21 <= b <= 0x7E else None)
    for b in range(256)
)
# Encoding: schemes longest first, expansions longest first (".com/" before ".com").
_SCHEMES_BY_LEN = sorted(enumerate(_URL_SCHEMES), key=lambda item: -len(item[1]))
_EXPANSIONS_BY_LEN = sorted(enumerate(_URL_EXPANSIONS), key=lambda item: -len(item[1]))

_EDDYSTONE_UUID_STRINGS = frozenset(
    {"feaa", "0xfeaa", "0000feaa", "0000feaa-0000-1000-8000-00805f9b34fb"}
)


# --- frames --------------------------------------------------------------------------------


class Frame:
    """Common base of every parsed frame.

    Subclasses are frozen dataclasses. Two properties are common to all of them:
    `tx_power_1m` (calibrated RSSI at 1 m, dBm, or None when the frame does not carry one) and
    `key()` (a canonical identity string, or None for frames without identity such as TLM).
    """

    __slots__ = ()

    @property
    def tx_power_1m(self) -> int | None:
        """Calibrated RSSI at 1 m from the transmitter, dBm, or None if not carried."""
        return None

    def key(self) -> str | None:
        """Canonical identity of the transmitter, or None if the frame carries no identity."""
        return None


@dataclass(frozen=True, slots=True)
class IBeacon(Frame):
    """Apple iBeacon.

    Attributes:
        uuid: Proximity UUID.
        major: 0..65535.
        minor: 0..65535.
        tx_power: Measured power: calibrated RSSI at 1 m, dBm (signed byte).
    """

    uuid: uuid.UUID
    major: int
    minor: int
    tx_power: int

    @property
    def tx_power_1m(self) -> int | None:
        """Calibrated RSSI at 1 m, dBm (the iBeacon measured power as is)."""
        return self.tx_power

    def key(self) -> str:
        """``ibeacon:<uuid, lower case with hyphens>:<major>:<minor>``."""
        return f"ibeacon:{self.uuid}:{self.major}:{self.minor}"


@dataclass(frozen=True, slots=True)
class AltBeacon(Frame):
    """AltBeacon (open specification, beacon code 0xBEAC).

    Attributes:
        company_id: Manufacturer's Bluetooth SIG company id.
        beacon_id: 20-byte beacon identifier.
        tx_power: Reference RSSI: calibrated RSSI at 1 m, dBm (signed byte).
        reserved: Manufacturer reserved byte, 0..255.
    """

    company_id: int
    beacon_id: bytes
    tx_power: int
    reserved: int = 0

    @property
    def tx_power_1m(self) -> int | None:
        """Calibrated RSSI at 1 m, dBm (the AltBeacon reference RSSI as is)."""
        return self.tx_power

    def key(self) -> str:
        """``altbeacon:<beacon id, 40 lower-case hex digits>``."""
        return f"altbeacon:{self.beacon_id.hex()}"


@dataclass(frozen=True, slots=True)
class EddystoneUID(Frame):
    """Eddystone-UID (frame type 0x00).

    Attributes:
        tx_power_0m: Calibrated RSSI at 0 m, dBm (signed byte).
        namespace: 10-byte namespace.
        instance: 6-byte instance.
    """

    tx_power_0m: int
    namespace: bytes
    instance: bytes

    @property
    def tx_power_1m(self) -> int | None:
        """Calibrated RSSI at 1 m, dBm: the 0 m value minus 41 dB."""
        return self.tx_power_0m - EDDYSTONE_LOSS_1M_DB

    def key(self) -> str:
        """``eddystone-uid:<namespace hex>:<instance hex>`` (lower case)."""
        return f"eddystone-uid:{self.namespace.hex()}:{self.instance.hex()}"


@dataclass(frozen=True, slots=True)
class EddystoneURL(Frame):
    """Eddystone-URL (frame type 0x10).

    Attributes:
        tx_power_0m: Calibrated RSSI at 0 m, dBm (signed byte).
        url: The decoded URL, scheme prefix and expansion codes expanded.
    """

    tx_power_0m: int
    url: str

    @property
    def tx_power_1m(self) -> int | None:
        """Calibrated RSSI at 1 m, dBm: the 0 m value minus 41 dB."""
        return self.tx_power_0m - EDDYSTONE_LOSS_1M_DB

    def key(self) -> str:
        """``eddystone-url:<decoded url>``."""
        return f"eddystone-url:{self.url}"


@dataclass(frozen=True, slots=True)
class EddystoneTLM(Frame):
    """Eddystone-TLM, unencrypted version 0 (frame type 0x20). Telemetry, no identity.

    Attributes:
        battery_mv: Battery voltage, millivolts, or None when the beacon reports 0 (not
            supported, e.g. mains powered).
        temperature_c: Temperature, degrees Celsius at 1/256 resolution, or None when the beacon
            reports 0x8000 (not supported).
        adv_count: Advertising PDUs sent since power-on or reboot.
        sec_count: Time since power-on or reboot, in units of 0.1 s.
    """

    battery_mv: int | None
    temperature_c: float | None
    adv_count: int
    sec_count: int

    @property
    def uptime_s(self) -> float:
        """Time since power-on or reboot, seconds."""
        return self.sec_count / 10.0


@dataclass(frozen=True, slots=True)
class EddystoneEID(Frame):
    """Eddystone-EID (frame type 0x30): an 8-byte ephemeral identifier.

    Attributes:
        tx_power_0m: Calibrated RSSI at 0 m, dBm (signed byte).
        eid: 8-byte ephemeral id.
    """

    tx_power_0m: int
    eid: bytes

    @property
    def tx_power_1m(self) -> int | None:
        """Calibrated RSSI at 1 m, dBm: the 0 m value minus 41 dB."""
        return self.tx_power_0m - EDDYSTONE_LOSS_1M_DB

    def key(self) -> str:
        """``eddystone-eid:<eid hex>``."""
        return f"eddystone-eid:{self.eid.hex()}"


@dataclass(frozen=True, slots=True)
class AppToken(Frame):
    """Our app's rotating token (manufacturer data, magic ``PT``; see docs/frames.md).

    Attributes:
        token: 8-byte rotating token (see `proximity.tokens.derive_token`).
        tx_power: Calibrated RSSI at 1 m, dBm (signed byte).
        version: Frame version; 1 is the only one defined.
    """

    token: bytes
    tx_power: int
    version: int = _APP_TOKEN_VERSION

    @property
    def tx_power_1m(self) -> int | None:
        """Calibrated RSSI at 1 m, dBm."""
        return self.tx_power

    def key(self) -> str:
        """``token:<16 lower-case hex digits>``."""
        return f"token:{self.token.hex()}"


# --- parsers -------------------------------------------------------------------------------


def parse_manufacturer(
    company_id: int, data: bytes, app_company_id: int = APP_COMPANY_ID
) -> Frame | None:
    """Parse manufacturer specific data (what follows the 2-byte company id).

    Recognises our app token (under ``app_company_id``), iBeacon (under Apple's id) and
    AltBeacon (under any id).

    Args:
        company_id: Bluetooth SIG company id (as bleak's ``manufacturer_data`` keys).
        data: The bytes after the company id.
        app_company_id: Company id our app advertises its token under.

    Returns:
        The frame, or None when ``data`` is not one of the recognised formats.
    """
    n = len(data)
    if company_id == app_company_id and n == 12 and data[0] == 0x50 and data[1] == 0x54:
        # b"PT", version, tx power (int8), 8-byte token.
        if data[2] != 0x01:
            return None
        tx = data[3]
        return AppToken(bytes(data[4:12]), tx - 256 if tx > 127 else tx, 1)
    if company_id == 0x004C and n == 23 and data[0] == 0x02 and data[1] == 0x15:
        tx = data[22]
        return IBeacon(
            uuid.UUID(bytes=bytes(data[2:18])),
            (data[18] << 8) | data[19],
            (data[20] << 8) | data[21],
            tx - 256 if tx > 127 else tx,
        )
    if n == 24 and data[0] == 0xBE and data[1] == 0xAC:
        tx = data[22]
        if isinstance(company_id, int) and 0 <= company_id <= 0xFFFF:
            return AltBeacon(company_id, bytes(data[2:22]), tx - 256 if tx > 127 else tx, data[23])
    return None


def _is_eddystone_uuid(service_uuid: object) -> bool:
    if isinstance(service_uuid, str):
        return service_uuid.lower() in _EDDYSTONE_UUID_STRINGS
    return isinstance(service_uuid, int) and service_uuid == 0xFEAA


def parse_service_data(service_uuid: str | int, data: bytes) -> Frame | None:
    """Parse service data (what follows the service UUID).

    Recognises Eddystone UID, URL, TLM (version 0) and EID under the Eddystone UUID 0xFEAA,
    given as a 16-bit int, as ``"feaa"``, or as bleak's 128-bit string
    ``"0000feaa-0000-1000-8000-00805f9b34fb"`` (any case).

    Args:
        service_uuid: The service UUID the data was sent under.
        data: The service data bytes after the UUID.

    Returns:
        The frame, or None when the data is not a recognised Eddystone frame.
    """
    if not _is_eddystone_uuid(service_uuid):
        return None
    n = len(data)
    if n < 2:
        return None
    frame_type = data[0]
    if frame_type == 0x00:
        # UID: tx, 10 namespace, 6 instance, 2 RFU (often omitted).
        if n != 18 and n != 20:
            return None
        tx = data[1]
        return EddystoneUID(tx - 256 if tx > 127 else tx, bytes(data[2:12]), bytes(data[12:18]))
    if frame_type == 0x10:
        # URL: tx, scheme, 0..17 encoded bytes.
        if n < 3 or n > 3 + URL_MAX_ENCODED_LEN or data[2] > 0x03:
            return None
        parts = [_URL_SCHEMES[data[2]]]
        for b in data[3:]:
            text = _URL_DECODE[b]
            if text is None:
                return None
            parts.append(text)
        tx = data[1]
        return EddystoneURL(tx - 256 if tx > 127 else tx, "".join(parts))
    if frame_type == 0x20:
        # TLM version 0: battery mV, temperature 8.8, ADV count, SEC count (0.1 s).
        if n != 14 or data[1] != 0x00:
            return None
        battery = (data[2] << 8) | data[3]
        temp_raw = (data[4] << 8) | data[5]
        if temp_raw == 0x8000:
            temperature: float | None = None
        else:
            temperature = (temp_raw - 0x10000 if temp_raw > 0x7FFF else temp_raw) / 256.0
        return EddystoneTLM(
            battery if battery else None,
            temperature,
            int.from_bytes(data[6:10], "big"),
            int.from_bytes(data[10:14], "big"),
        )
    if frame_type == 0x30:
        # EID: tx, 8-byte ephemeral id.
        if n != 10:
            return None
        tx = data[1]
        return EddystoneEID(tx - 256 if tx > 127 else tx, bytes(data[2:10]))
    return None


def parse_advertisement(
    manufacturer_data: Mapping[int, bytes],
    service_data: Mapping[str, bytes],
    app_company_id: int = APP_COMPANY_ID,
) -> Frame | None:
    """Parse bleak-style advertisement fields into the one frame that identifies the sender.

    Manufacturer data (app tokens, iBeacon, AltBeacon) is tried first, then Eddystone frames
    that carry an identity; a TLM frame is returned only when nothing else was recognised.

    Args:
        manufacturer_data: Company id -> bytes after the company id (``AdvertisementData``).
        service_data: Service UUID string -> bytes after the UUID (``AdvertisementData``).
        app_company_id: Company id our app advertises its token under.

    Returns:
        The first recognised frame, or None.
    """
    for company_id, data in manufacturer_data.items():
        frame = parse_manufacturer(company_id, data, app_company_id)
        if frame is not None:
            return frame
    telemetry: Frame | None = None
    for service_uuid, data in service_data.items():
        frame = parse_service_data(service_uuid, data)
        if frame is not None:
            if not isinstance(frame, EddystoneTLM):
                return frame
            if telemetry is None:
                telemetry = frame
    return telemetry


def parse_ad_structures(raw: bytes, app_company_id: int = APP_COMPANY_ID) -> list[Frame]:
    """Parse a raw advertising payload (a sequence of length/type/value AD structures).

    Manufacturer specific data (AD type 0xFF, company id little-endian) and 16-bit UUID service
    data (AD type 0x16, UUID little-endian) are parsed; other structures are skipped. A zero
    length ends the payload (padding), and a structure running past the end is dropped.

    Args:
        raw: The advertising (or scan response) payload.
        app_company_id: Company id our app advertises its token under.

    Returns:
        The recognised frames, in payload order.
    """
    frames: list[Frame] = []
    i = 0
    end_of_raw = len(raw)
    while i < end_of_raw:
        length = raw[i]
        if length == 0:
            break
        end = i + 1 + length
        if end > end_of_raw:
            break
        ad_type = raw[i + 1]
        if length >= 3:
            if ad_type == 0xFF:
                frame = parse_manufacturer(
                    raw[i + 2] | (raw[i + 3] << 8), raw[i + 4 : end], app_company_id
                )
                if frame is not None:
                    frames.append(frame)
            elif ad_type == 0x16:
                frame = parse_service_data(raw[i + 2] | (raw[i + 3] << 8), raw[i + 4 : end])
                if frame is not None:
                    frames.append(frame)
        i = end
    return frames


# --- builders ------------------------------------------------------------------------------


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")


def _check_bytes(name: str, value: bytes, length: int) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != length:
        raise ValueError(f"{name} must be {length} bytes, got {value!r}")


def _int8(value: int) -> int:
    return value & 0xFF


def build_ibeacon(
    proximity_uuid: uuid.UUID | str, major: int, minor: int, tx_power: int
) -> tuple[int, bytes]:
    """Build an iBeacon manufacturer data payload.

    Args:
        proximity_uuid: Proximity UUID (a `uuid.UUID` or its string form).
        major: 0..65535.
        minor: 0..65535.
        tx_power: Calibrated RSSI at 1 m, dBm, -128..127.

    Returns:
        ``(0x004C, payload)``: the company id and the 23 bytes after it.

    Raises:
        ValueError: A field is out of range.
    """
    if isinstance(proximity_uuid, str):
        proximity_uuid = uuid.UUID(proximity_uuid)
    _check_int("major", major, 0, 0xFFFF)
    _check_int("minor", minor, 0, 0xFFFF)
    _check_int("tx_power", tx_power, -128, 127)
    payload = (
        b"\x02\x15"
        + proximity_uuid.bytes
        + major.to_bytes(2, "big")
        + minor.to_bytes(2, "big")
        + bytes((_int8(tx_power),))
    )
    return APPLE_COMPANY_ID, payload


def build_altbeacon(
    beacon_id: bytes,
    tx_power: int,
    company_id: int = ALTBEACON_DEFAULT_COMPANY_ID,
    reserved: int = 0,
) -> tuple[int, bytes]:
    """Build an AltBeacon manufacturer data payload.

    Args:
        beacon_id: 20-byte beacon identifier.
        tx_power: Reference RSSI (calibrated RSSI at 1 m), dBm, -128..127.
        company_id: Manufacturer's company id, 0..65535.
        reserved: Manufacturer reserved byte, 0..255.

    Returns:
        ``(company_id, payload)``: the company id and the 24 bytes after it.

    Raises:
        ValueError: A field is out of range.
    """
    _check_bytes("beacon_id", beacon_id, 20)
    _check_int("tx_power", tx_power, -128, 127)
    _check_int("company_id", company_id, 0, 0xFFFF)
    _check_int("reserved", reserved, 0, 0xFF)
    return company_id, b"\xbe\xac" + bytes(beacon_id) + bytes((_int8(tx_power), reserved))


def build_eddystone_uid(
    namespace: bytes, instance: bytes, tx_power_0m: int, *, rfu: bool = True
) -> bytes:
    """Build an Eddystone-UID service data payload.

    Args:
        namespace: 10-byte namespace.
        instance: 6-byte instance.
        tx_power_0m: Calibrated RSSI at 0 m, dBm, -128..127 (the spec uses -100..20).
        rfu: Append the two reserved zero bytes (the spec's full-length frame).

    Returns:
        The service data bytes (after the 0xFEAA UUID): 20 bytes, or 18 without RFU.

    Raises:
        ValueError: A field is out of range.
    """
    _check_bytes("namespace", namespace, 10)
    _check_bytes("instance", instance, 6)
    _check_int("tx_power_0m", tx_power_0m, -128, 127)
    out = bytes((0x00, _int8(tx_power_0m))) + bytes(namespace) + bytes(instance)
    return out + b"\x00\x00" if rfu else out


def encode_url(url: str) -> bytes:
    """Encode a URL as Eddystone-URL scheme byte + compressed body.

    Uses the longest matching scheme prefix and, at each position, the longest matching
    expansion code, which gives the shortest encoding.

    Args:
        url: An ``http://`` or ``https://`` URL of printable ASCII characters.

    Returns:
        The scheme byte followed by the encoded URL (at most 17 bytes).

    Raises:
        ValueError: Unsupported scheme, a character outside printable ASCII, or too long.
    """
    scheme = next((item for item in _SCHEMES_BY_LEN if url.startswith(item[1])), None)
    if scheme is None:
        raise ValueError(f"URL must start with one of {_URL_SCHEMES}, got {url!r}")
    scheme_code, prefix = scheme
    out = bytearray((scheme_code,))
    i = len(prefix)
    while i < len(url):
        for code, text in _EXPANSIONS_BY_LEN:
            if url.startswith(text, i):
                out.append(code)
                i += len(text)
                break
        else:
            ch = ord(url[i])
            if not 0x21 <= ch <= 0x7E:
                raise ValueError(f"URL character {url[i]!r} cannot be encoded (printable ASCII)")
            out.append(ch)
            i += 1
    if len(out) - 1 > URL_MAX_ENCODED_LEN:
        raise ValueError(
            f"URL {url!r} encodes to {len(out) - 1} bytes, more than {URL_MAX_ENCODED_LEN}"
        )
    return bytes(out)


def build_eddystone_url(url: str, tx_power_0m: int) -> bytes:
    """Build an Eddystone-URL service data payload.

    Args:
        url: The URL (see `encode_url`).
        tx_power_0m: Calibrated RSSI at 0 m, dBm, -128..127.

    Returns:
        The service data bytes (after the 0xFEAA UUID).

    Raises:
        ValueError: The URL cannot be encoded or the power is out of range.
    """
    _check_int("tx_power_0m", tx_power_0m, -128, 127)
    return bytes((0x10, _int8(tx_power_0m))) + encode_url(url)


def build_eddystone_tlm(
    battery_mv: int | None, temperature_c: float | None, adv_count: int, sec_count: int
) -> bytes:
    """Build an unencrypted (version 0) Eddystone-TLM service data payload.

    Args:
        battery_mv: Battery voltage, mV, 1..65535, or None (sent as 0: not supported).
        temperature_c: Degrees Celsius, greater than -128 and less than 128, rounded to 1/256;
            or None (sent as 0x8000: not supported).
        adv_count: Advertising PDUs since power-on, 0..2**32-1.
        sec_count: Time since power-on in 0.1 s units, 0..2**32-1.

    Returns:
        The 14 service data bytes (after the 0xFEAA UUID).

    Raises:
        ValueError: A field is out of range.
    """
    if battery_mv is None:
        battery_mv = 0
    else:
        _check_int("battery_mv", battery_mv, 1, 0xFFFF)
    if temperature_c is None:
        temp_raw = 0x8000
    else:
        scaled = round(temperature_c * 256)
        if not -0x7FFF <= scaled <= 0x7FFF:
            raise ValueError(f"temperature_c must be in (-128, 128) degC, got {temperature_c!r}")
        temp_raw = scaled & 0xFFFF
    _check_int("adv_count", adv_count, 0, 0xFFFFFFFF)
    _check_int("sec_count", sec_count, 0, 0xFFFFFFFF)
    return (
        b"\x20\x00"
        + battery_mv.to_bytes(2, "big")
        + temp_raw.to_bytes(2, "big")
        + adv_count.to_bytes(4, "big")
        + sec_count.to_bytes(4, "big")
    )


def build_eddystone_eid(eid: bytes, tx_power_0m: int) -> bytes:
    """Build an Eddystone-EID service data payload.

    Args:
        eid: 8-byte ephemeral identifier.
        tx_power_0m: Calibrated RSSI at 0 m, dBm, -128..127.

    Returns:
        The 10 service data bytes (after the 0xFEAA UUID).

    Raises:
        ValueError: A field is out of range.
    """
    _check_bytes("eid", eid, 8)
    _check_int("tx_power_0m", tx_power_0m, -128, 127)
    return bytes((0x30, _int8(tx_power_0m))) + bytes(eid)


def build_app_token(
    token: bytes, tx_power: int, company_id: int = APP_COMPANY_ID
) -> tuple[int, bytes]:
    """Build our app-token manufacturer data payload (version 1).

    Args:
        token: 8-byte rotating token.
        tx_power: Calibrated RSSI at 1 m, dBm, -128..127.
        company_id: Company id to advertise under (default: the 0xFFFF test id).

    Returns:
        ``(company_id, payload)``: the company id and the 12 bytes after it.

    Raises:
        ValueError: A field is out of range.
    """
    _check_bytes("token", token, _TOKEN_LEN)
    _check_int("tx_power", tx_power, -128, 127)
    _check_int("company_id", company_id, 0, 0xFFFF)
    return company_id, b"PT" + bytes((_APP_TOKEN_VERSION, _int8(tx_power))) + bytes(token)


def _ad(ad_type: int, value: bytes) -> bytes:
    if len(value) + 1 > 0xFF:
        raise ValueError(f"AD structure of type 0x{ad_type:02x} is too long ({len(value)} bytes)")
    return bytes((len(value) + 1, ad_type)) + value


def build_ad_structures(
    *,
    manufacturer: Iterable[tuple[int, bytes]] = (),
    service_data: Iterable[tuple[int, bytes]] = (),
    flags: int | None = 0x06,
    max_len: int | None = LEGACY_ADV_MAX_LEN,
) -> bytes:
    """Build a raw advertising payload from manufacturer and 16-bit service data.

    The payload holds, in order: the Flags structure (type 0x01) unless ``flags`` is None; a
    Complete List of 16-bit Service UUIDs (type 0x03) naming each service data UUID; the
    service data structures (type 0x16); the manufacturer data structures (type 0xFF).
    Company ids and UUIDs are written little-endian, as the Core specification requires.

    Args:
        manufacturer: ``(company_id, payload)`` pairs, e.g. from `build_ibeacon`.
        service_data: ``(uuid16, payload)`` pairs, e.g. ``(EDDYSTONE_UUID16, build_...)``.
        flags: Value of the Flags structure (0x06: LE general discoverable, no BR/EDR).
        max_len: Longest payload allowed, bytes (31 for legacy advertising); None: no limit.

    Returns:
        The raw payload bytes.

    Raises:
        ValueError: A field is out of range or the payload exceeds ``max_len``.
    """
    out = bytearray()
    if flags is not None:
        _check_int("flags", flags, 0, 0xFF)
        out += _ad(0x01, bytes((flags,)))
    services = list(service_data)
    uuids: list[int] = []
    for uuid16, _payload in services:
        _check_int("uuid16", uuid16, 0, 0xFFFF)
        if uuid16 not in uuids:
            uuids.append(uuid16)
    if uuids:
        out += _ad(0x03, b"".join(u.to_bytes(2, "little") for u in uuids))
    for uuid16, payload in services:
        out += _ad(0x16, uuid16.to_bytes(2, "little") + bytes(payload))
    for company_id, payload in manufacturer:
        _check_int("company_id", company_id, 0, 0xFFFF)
        out += _ad(0xFF, company_id.to_bytes(2, "little") + bytes(payload))
    if max_len is not None and len(out) > max_len:
        raise ValueError(f"advertising payload is {len(out)} bytes, more than {max_len}")
    return bytes(out)


def build_advertisement(
    frame: Frame, app_company_id: int = APP_COMPANY_ID, *, flags: int | None = 0x06
) -> bytes:
    """Build the raw legacy advertising payload that carries ``frame``.

    The inverse of `parse_ad_structures` for one frame: ``parse_ad_structures(
    build_advertisement(f)) == [f]`` for every frame the builders accept.

    Args:
        frame: Any parsed or hand-made frame.
        app_company_id: Company id to send an `AppToken` under.
        flags: Value of the Flags structure, or None to leave it out.

    Returns:
        The raw payload (at most 31 bytes).

    Raises:
        ValueError: A field of the frame is out of range.
    """
    if isinstance(frame, AppToken):
        if frame.version != _APP_TOKEN_VERSION:
            raise ValueError(f"app token version must be 1, got {frame.version!r}")
        manufacturer = [build_app_token(frame.token, frame.tx_power, app_company_id)]
        return build_ad_structures(manufacturer=manufacturer, flags=flags)
    if isinstance(frame, IBeacon):
        manufacturer = [build_ibeacon(frame.uuid, frame.major, frame.minor, frame.tx_power)]
        return build_ad_structures(manufacturer=manufacturer, flags=flags)
    if isinstance(frame, AltBeacon):
        manufacturer = [
            build_altbeacon(frame.beacon_id, frame.tx_power, frame.company_id, frame.reserved)
        ]
        return build_ad_structures(manufacturer=manufacturer, flags=flags)
    if isinstance(frame, EddystoneUID):
        payload = build_eddystone_uid(frame.namespace, frame.instance, frame.tx_power_0m)
    elif isinstance(frame, EddystoneURL):
        payload = build_eddystone_url(frame.url, frame.tx_power_0m)
    elif isinstance(frame, EddystoneTLM):
        payload = build_eddystone_tlm(
            frame.battery_mv, frame.temperature_c, frame.adv_count, frame.sec_count
        )
    elif isinstance(frame, EddystoneEID):
        payload = build_eddystone_eid(frame.eid, frame.tx_power_0m)
    else:
        raise ValueError(f"cannot build an advertisement for {type(frame).__name__}")
    return build_ad_structures(service_data=[(EDDYSTONE_UUID16, payload)], flags=flags)
