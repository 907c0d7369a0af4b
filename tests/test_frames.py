"""Advertisement frames: published vectors, negative cases, round trips and never-raise fuzzing.

The expected bytes are written out by hand from the published layouts (Apple iBeacon, the
AltBeacon spec, google/eddystone's UID/URL/TLM/EID specs), independently of the code.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proximity.frames import (
    APP_COMPANY_ID,
    AltBeacon,
    AppToken,
    EddystoneEID,
    EddystoneTLM,
    EddystoneUID,
    EddystoneURL,
    Frame,
    IBeacon,
    build_ad_structures,
    build_advertisement,
    build_altbeacon,
    build_app_token,
    build_eddystone_eid,
    build_eddystone_tlm,
    build_eddystone_uid,
    build_eddystone_url,
    build_ibeacon,
    parse_ad_structures,
    parse_advertisement,
    parse_manufacturer,
    parse_service_data,
)

H = bytes.fromhex
EDDYSTONE = "0000feaa-0000-1000-8000-00805f9b34fb"
EXAMPLE_UUID = uuid.UUID("E2C56DB5-DFFB-48D2-B060-D0F5A71096E0")

# --- published-format vectors ------------------------------------------------------------

IBEACON_PAYLOAD = H("0215e2c56db5dffb48d2b060d0f5a71096e000010102c5")
ALTBEACON_PAYLOAD = H("beac00112233445566778899aabbccddeeff01020304c57f")
UID_PAYLOAD = H("00ec8b0ca750095477cb3e770000000000010000")
URL_PAYLOAD = H("10ec016578616d706c6500")  # https://www. example .com/
TLM_PAYLOAD = H("20000bb817800000010000008ca0")
EID_PAYLOAD = H("30ec0102030405060708")
TOKEN_PAYLOAD = H("505401c50123456789abcdef")


def test_ibeacon_vector() -> None:
    frame = parse_manufacturer(0x004C, IBEACON_PAYLOAD)
    assert frame == IBeacon(EXAMPLE_UUID, 1, 0x0102, -59)
    assert frame.tx_power_1m == -59
    assert frame.key() == "ibeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:258"
    assert build_ibeacon("E2C56DB5-DFFB-48D2-B060-D0F5A71096E0", 1, 258, -59) == (
        0x004C,
        IBEACON_PAYLOAD,
    )


def test_ibeacon_raw_advertisement_vector() -> None:
    raw = H("0201061aff4c00") + IBEACON_PAYLOAD
    assert parse_ad_structures(raw) == [IBeacon(EXAMPLE_UUID, 1, 258, -59)]
    assert build_advertisement(IBeacon(EXAMPLE_UUID, 1, 258, -59)) == raw


def test_altbeacon_vector() -> None:
    frame = parse_manufacturer(0x0118, ALTBEACON_PAYLOAD)
    beacon_id = H("00112233445566778899aabbccddeeff01020304")
    assert frame == AltBeacon(0x0118, beacon_id, -59, 0x7F)
    assert frame.tx_power_1m == -59
    assert frame.key() == "altbeacon:00112233445566778899aabbccddeeff01020304"
    assert build_altbeacon(beacon_id, -59, reserved=0x7F) == (0x0118, ALTBEACON_PAYLOAD)
    raw = H("1bff1801") + ALTBEACON_PAYLOAD
    assert parse_ad_structures(raw) == [frame]


def test_eddystone_uid_vector() -> None:
    frame = parse_service_data(EDDYSTONE, UID_PAYLOAD)
    assert frame == EddystoneUID(-20, H("8b0ca750095477cb3e77"), H("000000000001"))
    assert frame.tx_power_1m == -61  # 0 m value minus 41 dB
    assert frame.key() == "eddystone-uid:8b0ca750095477cb3e77:000000000001"
    assert build_eddystone_uid(H("8b0ca750095477cb3e77"), H("000000000001"), -20) == UID_PAYLOAD
    # Older beacons leave out the two RFU bytes.
    assert parse_service_data(0xFEAA, UID_PAYLOAD[:18]) == frame
    assert build_eddystone_uid(frame.namespace, frame.instance, -20, rfu=False) == UID_PAYLOAD[:18]


def test_eddystone_url_vector() -> None:
    frame = parse_service_data(EDDYSTONE, URL_PAYLOAD)
    assert frame == EddystoneURL(-20, "https://www.example.com/")
    assert frame.tx_power_1m == -61
    assert frame.key() == "eddystone-url:https://www.example.com/"
    assert build_eddystone_url("https://www.example.com/", -20) == URL_PAYLOAD
    raw = H("0201060303aafe0e16aafe") + URL_PAYLOAD
    assert parse_ad_structures(raw) == [frame]
    assert build_advertisement(frame) == raw


@pytest.mark.parametrize(
    ("payload_hex", "url"),
    [
        ("100000676f6f676c6507", "http://www.google.com"),
        ("100002676f6f2e676c2f4171313877", "http://goo.gl/Aq18w"),
        ("1000036578616d706c6508", "https://example.org"),
        ("1000036104620b", "https://a.info/b.info"),
        ("100003780179027a03770576067509740a", "https://x.org/y.edu/z.net/w.biz/v.gov/u.edut.net"),
        ("100003610c2f620d", "https://a.biz/b.gov"),
        ("100001", "https://www."),
    ],
)
def test_eddystone_url_expansion_codes(payload_hex: str, url: str) -> None:
    frame = parse_service_data(0xFEAA, H(payload_hex))
    assert frame == EddystoneURL(0, url)
    assert parse_service_data(0xFEAA, build_eddystone_url(url, 0)) == frame


def test_eddystone_url_builder_uses_shortest_encoding() -> None:
    assert build_eddystone_url("https://a.com/b.com", 0) == H("10000361006207")
    assert build_eddystone_url("http://www.x.info/", 0) == H("1000007804")


def test_eddystone_tlm_vector() -> None:
    frame = parse_service_data("feaa", TLM_PAYLOAD)
    assert frame == EddystoneTLM(3000, 23.5, 256, 36000)
    assert isinstance(frame, EddystoneTLM)
    assert frame.uptime_s == pytest.approx(3600.0)
    assert frame.key() is None
    assert frame.tx_power_1m is None
    assert build_eddystone_tlm(3000, 23.5, 256, 36000) == TLM_PAYLOAD


def test_eddystone_tlm_negative_temperature_and_unsupported_fields() -> None:
    # -10.25 degC = -2624/256 = 0xf5c0; battery and temperature "not supported".
    assert parse_service_data(0xFEAA, H("20000bb8f5c00000000000000001")) == EddystoneTLM(
        3000, -10.25, 0, 1
    )
    unsupported = H("200000008000ffffffffffffffff")
    assert parse_service_data(0xFEAA, unsupported) == EddystoneTLM(
        None, None, 0xFFFFFFFF, 0xFFFFFFFF
    )
    assert build_eddystone_tlm(None, None, 0xFFFFFFFF, 0xFFFFFFFF) == unsupported
    # Encrypted TLM (version 1) cannot be read without the beacon's key.
    assert parse_service_data(0xFEAA, H("2001") + bytes(16)) is None


def test_eddystone_eid_vector() -> None:
    frame = parse_service_data(EDDYSTONE.upper(), EID_PAYLOAD)
    assert frame == EddystoneEID(-20, H("0102030405060708"))
    assert frame.key() == "eddystone-eid:0102030405060708"
    assert frame.tx_power_1m == -61
    assert build_eddystone_eid(H("0102030405060708"), -20) == EID_PAYLOAD


def test_app_token_vector() -> None:
    frame = parse_manufacturer(0xFFFF, TOKEN_PAYLOAD)
    assert frame == AppToken(H("0123456789abcdef"), -59, 1)
    assert frame.key() == "token:0123456789abcdef"
    assert frame.tx_power_1m == -59
    assert build_app_token(H("0123456789abcdef"), -59) == (0xFFFF, TOKEN_PAYLOAD)
    raw = H("0201060fffffff") + TOKEN_PAYLOAD
    assert parse_ad_structures(raw) == [frame]
    assert build_advertisement(frame) == raw


def test_app_token_company_id_is_configurable() -> None:
    assert parse_manufacturer(0x1234, TOKEN_PAYLOAD) is None
    assert parse_manufacturer(0x1234, TOKEN_PAYLOAD, app_company_id=0x1234) == AppToken(
        H("0123456789abcdef"), -59, 1
    )
    assert parse_manufacturer(0xFFFF, TOKEN_PAYLOAD, app_company_id=0x1234) is None
    raw = H("0fff3412") + TOKEN_PAYLOAD
    assert parse_ad_structures(raw, app_company_id=0x1234) == [AppToken(H("0123456789abcdef"), -59)]
    assert build_app_token(H("0123456789abcdef"), -59, company_id=0x1234) == (0x1234, TOKEN_PAYLOAD)


# --- malformed and foreign payloads ----------------------------------------------------------


@pytest.mark.parametrize(
    ("company_id", "payload"),
    [
        (0x004C, IBEACON_PAYLOAD[:-1]),  # short
        (0x004C, IBEACON_PAYLOAD + b"\x00"),  # long
        (0x004C, H("0216") + IBEACON_PAYLOAD[2:]),  # wrong length byte
        (0x004C, H("1005") + bytes(21)),  # another Apple message type
        (0x0059, IBEACON_PAYLOAD),  # iBeacon layout under a non-Apple id
        (0x0118, ALTBEACON_PAYLOAD[:-1]),
        (0x0118, H("beab") + ALTBEACON_PAYLOAD[2:]),
        (0xFFFF, TOKEN_PAYLOAD[:-1]),
        (0xFFFF, H("5055") + TOKEN_PAYLOAD[2:]),  # bad magic
        (0xFFFF, H("505402") + TOKEN_PAYLOAD[3:]),  # unknown version
        (0xFFFF, b""),
        (0x004C, b""),
    ],
)
def test_manufacturer_rejects_malformed(company_id: int, payload: bytes) -> None:
    assert parse_manufacturer(company_id, payload) is None


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        H("00"),
        UID_PAYLOAD[:17],
        UID_PAYLOAD + b"\x00",
        UID_PAYLOAD[:19],
        H("10ec04") + b"abc",  # scheme 0x04 is not defined
        H("10ec"),  # no scheme byte
        H("10ec03") + b"a" * 18,  # 18 encoded bytes, max is 17
        H("10ec03") + H("0e"),  # reserved expansion code
        H("10ec03") + H("20"),  # space is not allowed
        H("10ec03") + H("7f"),  # DEL is reserved
        H("10ec03") + H("ff"),
        TLM_PAYLOAD[:-1],
        TLM_PAYLOAD + b"\x00",
        EID_PAYLOAD[:-1],
        EID_PAYLOAD + b"\x00",
        H("40ec") + bytes(8),  # unknown frame type
    ],
)
def test_eddystone_rejects_malformed(payload: bytes) -> None:
    assert parse_service_data(0xFEAA, payload) is None


@pytest.mark.parametrize(
    "service_uuid",
    [0xFEAB, 0, "feab", "0000feab-0000-1000-8000-00805f9b34fb", "not a uuid", "", "0000fea"],
)
def test_service_data_under_other_uuids_is_ignored(service_uuid: str | int) -> None:
    assert parse_service_data(service_uuid, UID_PAYLOAD) is None


@pytest.mark.parametrize("service_uuid", [0xFEAA, "feaa", "FEAA", EDDYSTONE, EDDYSTONE.upper()])
def test_service_uuid_forms(service_uuid: str | int) -> None:
    assert isinstance(parse_service_data(service_uuid, UID_PAYLOAD), EddystoneUID)


def test_parse_ad_structures_skips_foreign_truncated_and_padding() -> None:
    raw = (
        H("020106")  # flags
        + H("050941424344")  # complete local name "ABCD"
        + H("0303aafe")  # service uuid list
        + H("0d16aafe")
        + EID_PAYLOAD  # service data
        + H("02ff4c")  # manufacturer structure too short for a company id
        + H("0fffffff")
        + TOKEN_PAYLOAD
        + H("00000000")  # zero length: padding, stop
        + H("0fffffff")
        + TOKEN_PAYLOAD  # after the padding: not read
    )
    assert parse_ad_structures(raw) == [
        EddystoneEID(-20, H("0102030405060708")),
        AppToken(H("0123456789abcdef"), -59),
    ]
    # A structure whose length runs past the end is dropped, earlier ones kept.
    truncated = H("0d16aafe") + EID_PAYLOAD + H("1aff4c00") + IBEACON_PAYLOAD[:10]
    assert parse_ad_structures(truncated) == [EddystoneEID(-20, H("0102030405060708"))]
    assert parse_ad_structures(b"") == []


def test_parse_advertisement_prefers_identity_over_telemetry() -> None:
    tlm = parse_service_data(0xFEAA, TLM_PAYLOAD)
    uid = parse_service_data(0xFEAA, UID_PAYLOAD)
    assert parse_advertisement({}, {EDDYSTONE: TLM_PAYLOAD}) == tlm
    assert parse_advertisement({}, {EDDYSTONE: UID_PAYLOAD}) == uid
    assert parse_advertisement({}, {}) is None
    # Unknown manufacturer data and foreign services are skipped.
    foreign = {0x0006: H("010920"), 0xFFFF: TOKEN_PAYLOAD}
    assert parse_advertisement(foreign, {EDDYSTONE: UID_PAYLOAD}) == AppToken(
        H("0123456789abcdef"), -59
    )
    services = {"0000fd6f-0000-1000-8000-00805f9b34fb": bytes(20), EDDYSTONE: EID_PAYLOAD}
    assert parse_advertisement({0x0006: H("0109")}, services) == EddystoneEID(
        -20, H("0102030405060708")
    )
    assert parse_advertisement({0x1234: TOKEN_PAYLOAD}, {}, app_company_id=0x1234) == AppToken(
        H("0123456789abcdef"), -59
    )


# --- builders reject bad values ------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: build_ibeacon(EXAMPLE_UUID, 65536, 0, -59),
        lambda: build_ibeacon(EXAMPLE_UUID, 0, -1, -59),
        lambda: build_ibeacon(EXAMPLE_UUID, 0, 0, -129),
        lambda: build_ibeacon(EXAMPLE_UUID, 0, 0, 128),
        lambda: build_altbeacon(bytes(19), -59),
        lambda: build_altbeacon(bytes(20), -59, company_id=0x10000),
        lambda: build_altbeacon(bytes(20), -59, reserved=256),
        lambda: build_eddystone_uid(bytes(9), bytes(6), -20),
        lambda: build_eddystone_uid(bytes(10), bytes(7), -20),
        lambda: build_eddystone_url("ftp://example.com", -20),
        lambda: build_eddystone_url("https://example.com/with space", -20),
        lambda: build_eddystone_url("https://caf\u00e9.com", -20),
        lambda: build_eddystone_url("https://abcdefghijklmnopqr", -20),  # 18 bytes
        lambda: build_eddystone_tlm(0, None, 0, 0),  # 0 means "not supported": pass None
        lambda: build_eddystone_tlm(65536, None, 0, 0),
        lambda: build_eddystone_tlm(None, -128.0, 0, 0),  # 0x8000 is reserved
        lambda: build_eddystone_tlm(None, 128.0, 0, 0),
        lambda: build_eddystone_tlm(None, None, -1, 0),
        lambda: build_eddystone_tlm(None, None, 0, 2**32),
        lambda: build_eddystone_eid(bytes(7), -20),
        lambda: build_app_token(bytes(9), -59),
        lambda: build_app_token(bytes(8), True),
        lambda: build_advertisement(AppToken(bytes(8), -59, version=2)),
        lambda: build_advertisement(Frame()),
        lambda: build_ad_structures(manufacturer=[(0xFFFF, bytes(40))]),
    ],
)
def test_builders_reject_bad_values(call: object) -> None:
    assert callable(call)
    with pytest.raises(ValueError):
        call()


def test_longest_url_fits_a_legacy_advertisement() -> None:
    url = "https://www.abcdefghijklmnop.com/"  # 16 characters + one expansion code
    raw = build_advertisement(EddystoneURL(-20, url))
    assert len(raw) == 31
    assert parse_ad_structures(raw) == [EddystoneURL(-20, url)]


# --- properties ------------------------------------------------------------------------------

int8 = st.integers(-128, 127)
uint16 = st.integers(0, 0xFFFF)
uint32 = st.integers(0, 0xFFFFFFFF)
_url_pieces = st.one_of(
    st.sampled_from([".com/", ".org/", ".info/", ".gov", ".edu", ".net/", ".biz"]),
    st.characters(min_codepoint=0x21, max_codepoint=0x7E),
)
urls = st.builds(
    lambda scheme, pieces: scheme + "".join(pieces),
    st.sampled_from(["http://www.", "https://www.", "http://", "https://"]),
    st.lists(_url_pieces, max_size=17),
)
temperatures = st.one_of(st.none(), st.integers(-0x7FFF, 0x7FFF).map(lambda raw: raw / 256))

frames = st.one_of(
    st.builds(IBeacon, st.uuids(), uint16, uint16, int8),
    st.builds(AltBeacon, uint16, st.binary(min_size=20, max_size=20), int8, st.integers(0, 255)),
    st.builds(
        EddystoneUID, int8, st.binary(min_size=10, max_size=10), st.binary(min_size=6, max_size=6)
    ),
    st.builds(EddystoneURL, int8, urls),
    st.builds(
        EddystoneTLM, st.one_of(st.none(), st.integers(1, 0xFFFF)), temperatures, uint32, uint32
    ),
    st.builds(EddystoneEID, int8, st.binary(min_size=8, max_size=8)),
    st.builds(AppToken, st.binary(min_size=8, max_size=8), int8),
)


@settings(derandomize=True, max_examples=500)
@given(frames)
def test_build_then_parse_is_identity(frame: Frame) -> None:
    raw = build_advertisement(frame)
    assert len(raw) <= 31
    assert parse_ad_structures(raw) == [frame]


@settings(derandomize=True, max_examples=300)
@given(frames)
def test_bleak_style_fields_round_trip(frame: Frame) -> None:
    manufacturer: dict[int, bytes] = {}
    services: dict[str, bytes] = {}
    raw = build_advertisement(frame, flags=None)
    # Split the raw payload the way bleak presents it.
    i = 0
    while i < len(raw):
        length, ad_type = raw[i], raw[i + 1]
        value = raw[i + 2 : i + 1 + length]
        if ad_type == 0xFF:
            manufacturer[int.from_bytes(value[:2], "little")] = value[2:]
        elif ad_type == 0x16:
            uuid16 = int.from_bytes(value[:2], "little")
            services[f"0000{uuid16:04x}-0000-1000-8000-00805f9b34fb"] = value[2:]
        i += 1 + length
    assert parse_advertisement(manufacturer, services) == frame


@settings(derandomize=True, max_examples=1000)
@given(st.integers(-(2**20), 2**20), st.binary(max_size=40), st.integers(0, 0xFFFF))
def test_parse_manufacturer_never_raises(company_id: int, data: bytes, app_id: int) -> None:
    frame = parse_manufacturer(company_id, data, app_id)
    if frame is not None:
        # Whatever parses, re-encodes to the same frame.
        assert parse_ad_structures(build_advertisement(frame, app_id), app_id) == [frame]


@settings(derandomize=True, max_examples=1000)
@given(
    st.one_of(st.just(0xFEAA), st.just(EDDYSTONE), st.integers(), st.text(max_size=40)),
    st.one_of(
        st.binary(max_size=40),
        st.tuples(st.sampled_from([0x00, 0x10, 0x20, 0x30]), st.binary(max_size=22)).map(
            lambda t: bytes((t[0],)) + t[1]
        ),
    ),
)
def test_parse_service_data_never_raises(service_uuid: str | int, data: bytes) -> None:
    frame = parse_service_data(service_uuid, data)
    if frame is not None:
        assert parse_ad_structures(build_advertisement(frame)) == [frame]


@settings(derandomize=True, max_examples=1000)
@given(st.binary(max_size=62))
def test_parse_ad_structures_never_raises(raw: bytes) -> None:
    for frame in parse_ad_structures(raw):
        assert isinstance(frame, Frame)


@settings(derandomize=True, max_examples=300)
@given(
    st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=30), max_size=3),
    st.dictionaries(
        st.one_of(st.just(EDDYSTONE), st.text(max_size=36)), st.binary(max_size=24), max_size=3
    ),
)
def test_parse_advertisement_never_raises(
    manufacturer: dict[int, bytes], services: dict[str, bytes]
) -> None:
    frame = parse_advertisement(manufacturer, services)
    assert frame is None or isinstance(frame, Frame)


def test_app_company_id_default_is_the_test_id() -> None:
    assert APP_COMPANY_ID == 0xFFFF


_VALID_RAW = [
    H("0201061aff4c00") + IBEACON_PAYLOAD,
    H("1bff1801") + ALTBEACON_PAYLOAD,
    H("0303aafe1716aafe") + UID_PAYLOAD,
    H("0e16aafe") + URL_PAYLOAD,
    H("1116aafe") + TLM_PAYLOAD,
    H("0d16aafe") + EID_PAYLOAD,
    H("0fffffff") + TOKEN_PAYLOAD,
]


def test_valid_raw_vectors_parse() -> None:
    assert [len(parse_ad_structures(raw)) for raw in _VALID_RAW] == [1] * len(_VALID_RAW)


@settings(derandomize=True, max_examples=1000)
@given(
    st.sampled_from(_VALID_RAW),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 255)), max_size=4),
    st.integers(0, 40),
)
def test_mutated_valid_payloads_never_raise(
    raw: bytes, edits: list[tuple[int, int]], cut: int
) -> None:
    mutated = bytearray(raw)
    for position, value in edits:
        if position < len(mutated):
            mutated[position] = value
    for frame in parse_ad_structures(bytes(mutated[: len(mutated) - cut])):
        assert parse_ad_structures(build_advertisement(frame)) == [frame]
