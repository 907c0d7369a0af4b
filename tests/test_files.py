"""Offline file formats: readings/samples CSV, store loading, events and model JSON."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from proximity import files
from proximity.errors import InputError
from proximity.fingerprint import FingerprintModel, fit
from proximity.readings import Event
from proximity.store import Gateway, Store, Zone

STORE = Store(
    id="t",
    name="T",
    gateways=(Gateway("gw-door"), Gateway("gw-back")),
    zones=(Zone("street", "outside"), Zone("shop", "sales")),
)
HEADER = "ts,gateway,device,rssi,tx_power\n"


def write(tmp_path: Path, text: str, name: str = "r.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def error_of(path: str, reader=files.read_readings) -> InputError:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as info:
        reader(path, STORE)
    return info.value


# --- happy paths ---------------------------------------------------------------------------


def test_reads_columns_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "1.5,gw-door,subj-a,-60,-59\n1.25,gw-back,subj-b,-72.5,\n2,gw-door,subj-a,0,20\n",
    )
    r = files.read_readings(path, STORE)
    assert len(r) == 3
    assert r.ts.dtype == np.float64
    assert r.ts.tolist() == [1.5, 1.25, 2.0]
    assert r.gateway == ["gw-door", "gw-back", "gw-door"]
    assert r.device == ["subj-a", "subj-b", "subj-a"]
    assert r.rssi.tolist() == [-60.0, -72.5, 0.0]
    assert r.tx_power[0] == -59.0
    assert math.isnan(r.tx_power[1])
    assert r.tx_power[2] == 20.0


def test_without_tx_power_column_gives_nan(tmp_path: Path) -> None:
    path = write(tmp_path, "ts,gateway,device,rssi\n1,gw-door,d,-50\n")
    r = files.read_readings(path, STORE)
    assert np.isnan(r.tx_power).all()
    assert r.tx_power.shape == (1,)


def test_header_only_is_empty(tmp_path: Path) -> None:
    r = files.read_readings(write(tmp_path, HEADER), STORE)
    assert len(r) == 0
    assert r.ts.shape == (0,)
    assert list(r.chunks(10)) == []


def test_quoted_crlf_and_blank_lines_read_like_plain(tmp_path: Path) -> None:
    plain = HEADER + "1,gw-door,a,-50,\n2,gw-back,b,-60,-59\n"
    fancy = (
        "\ufeffts,gateway,device,rssi,tx_power\r\n"
        '"1","gw-door","a","-50",""\r\n\r\n'
        '2,gw-back,"b",-60,-59\r\n'
    )
    a = files.read_readings(write(tmp_path, plain, "a.csv"), STORE)
    b = files.read_readings(write(tmp_path, fancy, "b.csv"), STORE)
    assert a.gateway == b.gateway
    assert a.device == b.device
    np.testing.assert_array_equal(a.ts, b.ts)
    np.testing.assert_array_equal(a.rssi, b.rssi)
    np.testing.assert_array_equal(a.tx_power, b.tx_power)


def test_chunks_cover_rows_in_order(tmp_path: Path) -> None:
    rows = "".join(f"{i},gw-door,d{i % 3},-{50 + i % 7},\n" for i in range(10))
    r = files.read_readings(write(tmp_path, HEADER + rows), STORE)
    chunks = list(r.chunks(4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert np.concatenate([c.ts for c in chunks]).tolist() == list(range(10))
    assert [d for c in chunks for d in c.device] == r.device


def test_read_samples(tmp_path: Path) -> None:
    path = write(
        tmp_path, "ts,gateway,device,rssi,zone\n1,gw-door,s,-50,shop\n2,gw-back,s,-70,street\n"
    )
    s = files.read_samples(path, STORE)
    assert s.zone == ["shop", "street"]
    assert s.rssi.tolist() == [-50.0, -70.0]


def test_load_store(tiny_store: Path) -> None:
    store = files.load_store(tiny_store)
    assert [g.id for g in store.gateways] == ["gw-door", "gw-back"]
    assert [z.id for z in store.zones] == ["street", "entrance", "sales"]


# --- bad rows: each names file, line and field -------------------------------------------------

BAD_ROWS = [
    ("1,gw-door,d,-50\n", "tx_power", "missing value"),
    ("1,gw-door,d\n", "rssi", "missing value"),
    ("x1,gw-door,d,-50,\n", "ts", "expected a time in seconds, got 'x1'"),
    ("nan,gw-door,d,-50,\n", "ts", "finite"),
    ("inf,gw-door,d,-50,\n", "ts", "finite"),
    (",gw-door,d,-50,\n", "ts", "expected a time"),
    ("1,gw-x,d,-50,\n", "gateway", "unknown gateway 'gw-x' (store has: gw-door, gw-back)"),
    ("1,gw-door,,-50,\n", "device", "must not be empty"),
    ("1,gw-door, ,-50,\n", "device", "must not be empty"),
    ("1,gw-door,d,NaN,\n", "rssi", "finite"),
    ("1,gw-door,d,-inf,\n", "rssi", "finite"),
    ("1,gw-door,d,3,\n", "rssi", "must be <= 0 dBm"),
    ("1,gw-door,d,loud,\n", "rssi", "expected a number (dBm), got 'loud'"),
    ("1,gw-door,d,-50,21\n", "tx_power", "between -127 and 20"),
    ("1,gw-door,d,-50,-128\n", "tx_power", "between -127 and 20"),
    ("1,gw-door,d,-50,nan\n", "tx_power", "finite"),
    ("1,gw-door,d,-50,x\n", "tx_power", "expected a number"),
]


@pytest.mark.parametrize("padding", [2, 200], ids=["few-rows", "many-repeated-values"])
@pytest.mark.parametrize(("row", "field", "reason"), BAD_ROWS)
def test_bad_row_names_line_and_field(
    tmp_path: Path, row: str, field: str, reason: str, padding: int
) -> None:
    good = "0,gw-door,d,-50,\n"
    path = write(tmp_path, HEADER + good * padding + row + good)
    err = error_of(path)
    line = padding + 2
    assert (err.source, err.line, err.field) == (path, line, field)
    assert reason in err.message
    assert str(err).startswith(f"{path}:{line}: field '{field}': ")


def test_repeated_and_distinct_values_read_alike(tmp_path: Path) -> None:
    rows = [f"{i},gw-door,d,{-40 - i % 3}.0,{'' if i % 2 else -59}\n" for i in range(100)]
    rows += [f"{i},gw-door,d,{-40 - i / 7:.4f},{-60 + i / 9:.4f}\n" for i in range(100, 200)]
    repeated = files.read_readings(write(tmp_path, HEADER + "".join(rows[:100]), "a.csv"), STORE)
    distinct = files.read_readings(write(tmp_path, HEADER + "".join(rows[100:]), "b.csv"), STORE)
    both = files.read_readings(write(tmp_path, HEADER + "".join(rows), "c.csv"), STORE)
    np.testing.assert_array_equal(both.rssi, np.concatenate([repeated.rssi, distinct.rssi]))
    np.testing.assert_array_equal(
        both.tx_power, np.concatenate([repeated.tx_power, distinct.tx_power])
    )
    assert repeated.rssi[:3].tolist() == [-40.0, -41.0, -42.0]
    assert np.isnan(repeated.tx_power[1::2]).all()
    assert (repeated.tx_power[0::2] == -59.0).all()
    assert distinct.rssi[1] == pytest.approx(-40 - 101 / 7, abs=1e-4)


def test_too_many_values(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "1,gw-door,d,-50,,extra\n")
    err = error_of(path)
    assert (err.line, err.field) == (2, None)
    assert "6 values" in err.message


def test_first_bad_row_wins(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "1,gw-door,d,-50,\n1,gw-door,d,5,\nq,gw-x,d,-50,\n")
    err = error_of(path)
    assert (err.line, err.field) == (3, "rssi")


def test_unknown_zone_in_samples(tmp_path: Path) -> None:
    path = write(
        tmp_path, "ts,gateway,device,rssi,zone\n1,gw-door,s,-50,shop\n2,gw-door,s,-50,attic\n"
    )
    err = error_of(path, files.read_samples)
    assert (err.line, err.field) == (3, "zone")
    assert "unknown zone 'attic' (store has: street, shop)" in err.message


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        ("", 1, None, "empty"),
        ("ts,gateway,device\n", 1, "rssi", "missing column"),
        ("ts,gw,device,rssi\n", 1, "gateway", "header column 2 is 'gw'"),
        ("ts,gateway,device,rssi,tx_power,x\n", 1, "x", "unexpected column 6"),
        ("ts,gateway,device,rssi,zone\n", 1, "tx_power", "expected 'tx_power'"),
    ],
)
def test_bad_header(tmp_path: Path, text: str, line: int, field: str | None, reason: str) -> None:
    err = error_of(write(tmp_path, text))
    assert (err.line, err.field) == (line, field)
    assert reason in err.message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.csv")
    err = error_of(missing)
    assert err.source == missing
    assert "cannot read the file" in err.message
    err = error_of(str(tmp_path))
    assert "cannot read the file" in err.message


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(HEADER.encode() + b"1,gw-door,d,-50,\n1,gw-door,\xff\xfe,-50,\n")
    err = error_of(str(path))
    assert (err.line, err.field) == (3, None)
    assert "UTF-8" in err.message


# --- fuzz: the fast (column) path and the exact (row) path agree with an independent oracle ---

VALID = {
    "ts": ["0", "1.5", "1e3", " 2.25", "-3", "17.125"],
    "gateway": ["gw-door", "gw-back"],
    "device": ["subj-1", "a b", "x", "Ω"],
    "rssi": ["-50", "0", "-99.5", "-1e1", " -70 "],
    "tx_power": ["", "-59", "20", "-127", "-41.5"],
}
INVALID = {
    "ts": ["abc", "", "nan", "inf", "-inf", "1..2"],
    "gateway": ["gw-x", "", "GW-DOOR", " gw-door"],
    "device": ["", "  "],
    "rssi": ["nan", "NaN", "inf", "1", "0.5", "x", ""],
    "tx_power": ["21", "-128", "nan", "x", "inf", " "],
}
COLUMNS = ["ts", "gateway", "device", "rssi", "tx_power"]


def _fuzz_case(seed: int) -> tuple[str, tuple[int, str | None] | None, list[list[str]]]:
    """A random readings file, the (line, field) of its first bad cell, and its valid rows."""
    rng = random.Random(seed)
    quote = rng.random() < 0.3
    error_rate = rng.choice([0.0, 0.02, 0.12])
    newline = "\r\n" if rng.random() < 0.3 else "\n"
    lines = [",".join(COLUMNS)]
    first_bad: tuple[int, str | None] | None = None
    rows: list[list[str]] = []
    for _ in range(rng.randint(0, 30) if rng.random() < 0.5 else rng.randint(40, 120)):
        if rng.random() < 0.05:
            lines.append("")  # blank line: skipped, but counted in line numbers
        cells = [rng.choice(VALID[c]) for c in COLUMNS]
        bad: str | None = None
        roll = rng.random()
        if roll < error_rate / 3:
            cut = rng.randint(1, 4)
            cells = cells[:cut]
            bad = COLUMNS[cut]
        elif roll < error_rate / 2:
            cells.append("extra")
            bad = "<width>"
        elif roll < error_rate:
            col = rng.randrange(len(COLUMNS))
            cells[col] = rng.choice(INVALID[COLUMNS[col]])
            bad = COLUMNS[col]
        if quote:
            text = ",".join('"' + c.replace('"', '""') + '"' for c in cells)
        else:
            text = ",".join(cells)
        lines.append(text)
        if bad is not None and first_bad is None:
            first_bad = (len(lines), None if bad == "<width>" else bad)
        if bad is None:
            rows.append(cells)
    return newline.join(lines) + newline, first_bad, rows


@pytest.mark.parametrize("block", range(4))
def test_fuzz_fast_and_exact_paths_agree(tmp_path: Path, block: int) -> None:
    for seed in range(block * 100, block * 100 + 100):
        text, first_bad, rows = _fuzz_case(seed)
        path = write(tmp_path, text)
        if first_bad is not None:
            with pytest.raises(InputError) as info:
                files.read_readings(path, STORE)
            got = (info.value.line, info.value.field)
            assert got == first_bad, f"seed {seed}: {info.value}"
            continue
        r = files.read_readings(path, STORE)
        assert len(r) == len(rows), f"seed {seed}"
        assert r.ts.tolist() == [float(c[0]) for c in rows], f"seed {seed}"
        assert r.gateway == [c[1] for c in rows], f"seed {seed}"
        assert r.device == [c[2] for c in rows], f"seed {seed}"
        assert r.rssi.tolist() == [float(c[3]) for c in rows], f"seed {seed}"
        want_tx = [float(c[4]) if c[4] else math.nan for c in rows]
        np.testing.assert_array_equal(r.tx_power, want_tx, err_msg=f"seed {seed}")


# --- writing -------------------------------------------------------------------------------


def _event(i: int) -> Event:
    return Event("zone_enter", f"d{i}", "shop", float(i), f"e{i}", visit_id="v", confidence=0.9)


def test_write_events_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "e.jsonl"
    assert files.write_events(out, [_event(1), _event(2)]) == 2
    lines = out.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [_event(1).to_json(), _event(2).to_json()]
    assert [p.name for p in out.parent.iterdir()] == ["e.jsonl"]


def test_write_events_failure_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "e.jsonl"
    out.write_text("old\n")

    def events():  # type: ignore[no-untyped-def]
        yield _event(1)
        raise RuntimeError("engine broke")

    with pytest.raises(RuntimeError):
        files.write_events(out, events())
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["e.jsonl"]


def test_write_into_unwritable_place_is_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError) as info:
        files.write_events(blocker / "e.jsonl", [_event(1)])
    assert "cannot write the file" in info.value.message


def test_read_json_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "a": 1,\n  "b": [1, 2,]\n}\n', "m.json")
    with pytest.raises(InputError) as info:
        files.read_json(path)
    assert (info.value.source, info.value.line) == (path, 3)
    assert "invalid JSON" in info.value.message


def test_model_round_trip(tmp_path: Path, tiny_store: Path, tiny_samples: Path) -> None:
    store = files.load_store(tiny_store)
    s = files.read_samples(tiny_samples, store)
    model = fit(store, s.ts, s.gateway, s.device, s.rssi, s.zone)
    out = tmp_path / "m.json"
    files.save_model(out, model)
    again = files.load_model(out)
    assert isinstance(again, FingerprintModel)
    assert again.zones == model.zones
    assert again.gateways == model.gateways
    np.testing.assert_allclose(again.mean_db, model.mean_db, atol=1e-3)


def test_model_that_is_not_a_model(tmp_path: Path) -> None:
    path = write(tmp_path, '{"version": 1, "kind": "fingerprint"}\n', "m.json")
    with pytest.raises(InputError) as info:
        files.load_model(path)
    assert info.value.source == path
