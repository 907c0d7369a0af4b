"""Rotating tokens, the resolution table and rotating beacon minors.

Known-answer vectors were computed independently with the OpenSSL command line, e.g.::

    printf 'prox/token/v1' > m; printf '00000000000006b9' | xxd -r -p >> m
    openssl dgst -sha256 -mac HMAC -macopt hexkey:000102030405060708090a0b0c0d0e0f m
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proximity.errors import InputError
from proximity.tokens import (
    DEFAULT_PERIOD_S,
    ResolutionTable,
    build_table,
    derive_token,
    rotating_minor,
    verify_minor,
    window_index,
)

KEY = bytes(range(16))
SECRET = bytes(range(24))


def test_default_period_is_2_to_the_10_seconds() -> None:
    assert DEFAULT_PERIOD_S == 1024


@pytest.mark.parametrize(
    ("ts", "period_s", "expected"),
    [
        (0.0, 1024, 0),
        (1023.999, 1024, 0),
        (1024.0, 1024, 1),
        (1_700_000_000.5, 1024, 1_660_156),
        (-0.001, 1024, -1),
        (-1024.0, 1024, -1),
        (-1024.001, 1024, -2),
        (59.9, 60, 0),
        (60.0, 60, 1),
    ],
)
def test_window_index(ts: float, period_s: int, expected: int) -> None:
    assert window_index(ts, period_s) == expected


@pytest.mark.parametrize(
    ("ts", "period_s"),
    [(float("nan"), 1024), (float("inf"), 1024), (0.0, 0), (0.0, -5), (0.0, 1.5), (0.0, True)],
)
def test_window_index_rejects_bad_arguments(ts: float, period_s: Any) -> None:
    with pytest.raises(ValueError):
        window_index(ts, period_s)


def test_derive_token_known_answers() -> None:
    assert derive_token(KEY, 1721) == bytes.fromhex("09e2f773e03d430f")
    assert derive_token(KEY, -1) == bytes.fromhex("bbd615bc9785bc46")


def test_derive_token_is_deterministic_and_depends_on_key_and_window() -> None:
    token = derive_token(KEY, 7)
    assert len(token) == 8
    assert derive_token(bytes(KEY), 7) == token
    assert derive_token(KEY, 8) != token
    assert derive_token(KEY, 6) != token
    assert derive_token(KEY[:-1] + b"\xff", 7) != token
    assert derive_token(KEY + b"\x01", 7) != token
    # HMAC pads keys with zeros: keys differing only in trailing zero bytes are the same key
    # (harmless for random fixed-length keys, documented in derive_token).
    assert derive_token(KEY + b"\x00", 7) == token


@settings(derandomize=True, max_examples=200)
@given(st.binary(min_size=16, max_size=64), st.binary(min_size=16, max_size=64), st.integers())
def test_tokens_of_different_keys_differ(key_a: bytes, key_b: bytes, window: int) -> None:
    window %= 2**40
    if key_a.rstrip(b"\x00") != key_b.rstrip(b"\x00"):
        assert derive_token(key_a, window) != derive_token(key_b, window)
    assert derive_token(key_a, window) != derive_token(key_a, window + 1)


@pytest.mark.parametrize("key", [b"", bytes(15), "sixteen chars!!!"])
def test_derive_token_rejects_short_or_text_keys(key: Any) -> None:
    with pytest.raises(ValueError):
        derive_token(key, 0)


@pytest.mark.parametrize("window", [2**63, -(2**63) - 1, 1.0, True])
def test_derive_token_rejects_bad_windows(window: Any) -> None:
    with pytest.raises(ValueError):
        derive_token(KEY, window)


# --- resolution table ------------------------------------------------------------------------

KEYS = {"subj-a": bytes(range(16)), "subj-b": bytes(range(1, 17)), "subj-c": b"k" * 32}
TS = 1_700_000_000.0


def test_table_resolves_previous_current_and_next_window_only() -> None:
    table = build_table(KEYS, TS)
    w = window_index(TS)
    assert table.windows == (w - 1, w, w + 1)
    assert table.period_s == DEFAULT_PERIOD_S
    assert len(table) == 3 * len(KEYS)
    for subject, key in KEYS.items():
        for window in (w - 1, w, w + 1):
            assert table.resolve(derive_token(key, window)) == subject
            assert table[derive_token(key, window)] == subject
        for window in (w - 3, w - 2, w + 2, w + 3):
            assert table.resolve(derive_token(key, window)) is None
    assert table.resolve(bytes(8)) is None
    assert table.resolve(b"") is None


def test_table_covers_its_windows() -> None:
    table = build_table(KEYS, TS, period_s=60)
    w = window_index(TS, 60)
    assert table.covers(TS)
    assert table.covers((w - 1) * 60)
    assert table.covers((w + 2) * 60 - 0.001)
    assert not table.covers((w + 2) * 60)
    assert not table.covers((w - 1) * 60 - 0.001)
    assert not table.covers(float("nan"))


def test_table_near_time_zero_has_negative_window() -> None:
    table = build_table(KEYS, 5.0)
    assert table.windows == (-1, 0, 1)
    assert table.resolve(derive_token(KEYS["subj-a"], -1)) == "subj-a"


def test_table_is_immutable_and_copies_its_input() -> None:
    tokens = {derive_token(KEY, 0): "s"}
    table = ResolutionTable(tokens, (0,))
    tokens[bytes(8)] = "t"
    assert len(table) == 1
    with pytest.raises(TypeError):
        table[bytes(8)] = "t"  # type: ignore[index]
    with pytest.raises(AttributeError):
        table.extra = 1  # type: ignore[attr-defined]


def test_build_table_rejects_shared_keys_and_bad_subjects() -> None:
    with pytest.raises(ValueError, match="same key"):
        build_table({"a": KEY, "b": KEY}, TS)
    with pytest.raises(ValueError):
        build_table({"": KEY}, TS)
    with pytest.raises(ValueError):
        build_table({"a": bytes(8)}, TS)


def test_json_round_trip() -> None:
    table = build_table(KEYS, TS)
    data = json.loads(json.dumps(table.to_json()))
    assert data["version"] == 1
    assert data["period_s"] == 1024
    assert data["windows"] == list(table.windows)
    assert data["tokens"][derive_token(KEY, window_index(TS)).hex()] == "subj-a"
    loaded = ResolutionTable.from_json(data, "table.json")
    assert loaded == table
    assert loaded.windows == table.windows
    assert dict(loaded) == dict(table)


def test_json_accepts_upper_case_tokens() -> None:
    token = derive_token(KEY, 3)
    data = {"version": 1, "period_s": 60, "windows": [3], "tokens": {token.hex().upper(): "s"}}
    assert ResolutionTable.from_json(data, "t").resolve(token) == "s"


def _good() -> dict[str, Any]:
    return {"version": 1, "period_s": 1024, "windows": [1, 2, 3], "tokens": {"00" * 8: "s"}}


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d.pop("tokens"), "tokens"),
        (lambda d: d.pop("windows"), "windows"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(version=True), "version"),
        (lambda d: d.update(period_s=0), "period_s"),
        (lambda d: d.update(period_s=10.5), "period_s"),
        (lambda d: d.update(period_s="1024"), "period_s"),
        (lambda d: d.update(windows="1,2"), "windows"),
        (lambda d: d.update(windows=[1, "2"]), "windows[1]"),
        (lambda d: d.update(windows=[1, 2.0]), "windows[1]"),
        (lambda d: d.update(windows=[2**64]), "windows[0]"),
        (lambda d: d.update(tokens=[]), "tokens"),
        (lambda d: d.update(tokens={"00" * 7: "s"}), "tokens.00000000000000"),
        (lambda d: d.update(tokens={"zz" * 8: "s"}), "tokens.zzzzzzzzzzzzzzzz"),
        (lambda d: d.update(tokens={"00 11 22 33 4455": "s"}), "tokens.00 11 22 33 4455"),
        (lambda d: d.update(tokens={"00" * 8: ""}), "tokens.0000000000000000"),
        (lambda d: d.update(tokens={"00" * 8: 5}), "tokens.0000000000000000"),
        (lambda d: d.update(tokens={"ab" * 8: "s", "AB" * 8: "t"}), "tokens.ABABABABABABABAB"),
    ],
)
def test_from_json_rejects_bad_data_naming_the_field(mutate: Any, field: str) -> None:
    data = _good()
    mutate(data)
    with pytest.raises(InputError) as info:
        ResolutionTable.from_json(data, "table.json")
    assert info.value.field == field
    assert info.value.source == "table.json"
    assert str(info.value).startswith(f"table.json: field '{field}': ")


@pytest.mark.parametrize("data", [None, [], "text", 3])
def test_from_json_rejects_non_objects(data: Any) -> None:
    with pytest.raises(InputError, match="expected a JSON object"):
        ResolutionTable.from_json(data, "payload")


def test_from_json_accepts_the_good_document() -> None:
    table = ResolutionTable.from_json(_good(), "t")
    assert table.resolve(bytes(8)) == "s"
    assert table.windows == (1, 2, 3)


# --- rotating beacon minor -----------------------------------------------------------------


def test_rotating_minor_known_answer() -> None:
    assert rotating_minor(SECRET, "gw-door", 1721) == 0x8428


def test_rotating_minor_depends_on_beacon_and_window() -> None:
    minors = {rotating_minor(SECRET, "gw-door", w) for w in range(50)}
    assert len(minors) > 45  # 16-bit values: a few collisions at most
    assert all(0 <= m <= 0xFFFF for m in minors)
    assert rotating_minor(SECRET, "gw-door", 5) == rotating_minor(SECRET, "gw-door", 5)
    assert [rotating_minor(SECRET, "gw-a", w) for w in range(8)] != [
        rotating_minor(SECRET, "gw-b", w) for w in range(8)
    ]
    with pytest.raises(ValueError):
        rotating_minor(bytes(15), "gw-door", 5)


def test_verify_minor_accepts_adjacent_windows_and_rejects_older() -> None:
    period = DEFAULT_PERIOD_S
    ts = 1721 * period + 100.0
    for offset in (-1, 0, 1):
        minor = rotating_minor(SECRET, "gw-door", 1721 + offset)
        assert verify_minor(SECRET, "gw-door", minor, ts, period)
    current = {rotating_minor(SECRET, "gw-door", 1721 + k) for k in (-1, 0, 1)}
    for offset in (-3, -2, 2, 3):
        minor = rotating_minor(SECRET, "gw-door", 1721 + offset)
        assert minor not in current  # this vector has no chance collision
        assert not verify_minor(SECRET, "gw-door", minor, ts, period)
    # Another beacon's minor, another store's secret, or nonsense are rejected.
    assert not verify_minor(SECRET, "gw-other", rotating_minor(SECRET, "gw-door", 1721), ts)
    assert not verify_minor(bytes(16), "gw-door", rotating_minor(SECRET, "gw-door", 1721), ts)
    assert not verify_minor(SECRET, "gw-door", -1, ts)
    assert not verify_minor(SECRET, "gw-door", 65536, ts)


def test_verify_minor_rejects_replays_over_many_windows() -> None:
    # A minor recorded 3 windows ago verifies only by a 16-bit chance collision.
    accepted = sum(
        verify_minor(SECRET, "gw-door", rotating_minor(SECRET, "gw-door", w - 3), w * 60.0, 60)
        for w in range(2000)
    )
    assert accepted <= 5  # expected about 2000 * 3 / 65536 = 0.09


def test_verify_minor_rejects_bad_secret_even_for_bad_minor() -> None:
    with pytest.raises(ValueError):
        verify_minor(b"short", "gw-door", -1, 0.0)
