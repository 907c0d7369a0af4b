"""Scenario files: the shipped ones load; bad ones are InputErrors with line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim.scenario import load_scenario, parse_scenario
from proximity.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "config" / "scenarios").glob("*.yaml"))

GOOD = """\
scenario: {name: t, seed: 1, duration_s: 60}
store:
  store: {id: s}
  gateways:
    - {id: gw-a, position: [2, 2]}
  zones:
    - {id: street, kind: outside, polygon: [[-10, -5], [14, -5], [14, 0], [-10, 0]]}
    - {id: shop, kind: sales, polygon: [[0, 0], [4, 0], [4, 4], [0, 4]]}
layout:
  door: [2, 0]
  sidewalk: {x: [-10, 14], y: [-4, -1]}
radio:
  path_loss_n: 2.5
population:
  shoppers: {per_hour: 10, hardware: {phone: 1}}
  passersby: {per_hour: 10}
"""


def test_shipped_scenarios_load() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {"default", "busy", "hard", "boutique"} <= names
    for path in SCENARIOS:
        sc = load_scenario(str(path))
        assert sc.store.geometric
        assert sc.duration_s > 0
        # the hidden gateway offsets are never part of the store file
        assert all(g.rx_offset_db == 0 for g in sc.store.gateways)


def test_good_inline_scenario() -> None:
    sc = parse_scenario(GOOD, "t.yaml")
    assert sc.radio.path_loss_n == 2.5
    assert sc.radio.p1m_dbm == -59
    assert sc.shoppers.hardware == {"phone": 1.0}
    assert [z.id for z in sc.store.zones] == ["street", "shop"]


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        ("  path_loss_n: 2.5\n", "  path_loss_n: 2.5\n  bogus: 1\n", 14, "radio.bogus"),
        ("  path_loss_n: 2.5\n", "  path_loss_n: fast\n", 13, "radio.path_loss_n"),
        ("  path_loss_n: 2.5\n", "  path_loss_n: 9\n", 13, "radio.path_loss_n"),
        (
            "{per_hour: 10, hardware: {phone: 1}}",
            "{per_hour: 10, hardware: {tablet: 1}}",
            15,
            "population.shoppers.hardware.tablet",
        ),
        (
            "  sidewalk: {x: [-10, 14], y: [-4, -1]}",
            "  sidewalk: {x: [5, 14], y: [-4, -1]}",
            11,
            "layout.sidewalk.x",
        ),
        ("kind: sales", "kind: shop", 8, "store.zones[1].kind"),
        ("{name: t, seed: 1, duration_s: 60}", "{name: t, seed: -1}", 1, "scenario.seed"),
    ],
)
def test_bad_scenario_names_line_and_field(old: str, new: str, line: int, field: str) -> None:
    text = GOOD.replace(old, new)
    assert text != GOOD
    with pytest.raises(InputError) as info:
        parse_scenario(text, "bad.yaml")
    err = info.value
    assert err.source == "bad.yaml"
    assert err.field == field
    assert err.line == line
    assert str(err).startswith(f"bad.yaml:{line}: field '{field}'")


def test_unknown_gateway_in_offsets() -> None:
    text = GOOD.replace("  path_loss_n: 2.5\n", "  gateway_offsets_db: {gw-b: -8}\n")
    with pytest.raises(InputError, match="unknown key 'gw-b'"):
        parse_scenario(text, "bad.yaml")


def test_missing_store_file(tmp_path: Path) -> None:
    text = (
        GOOD.split("store:\n")[0]
        + "store: nowhere.yaml\n"
        + GOOD.split("layout:")[1].join(["layout:", ""])
    )
    path = tmp_path / "sc.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_scenario(str(path))
    assert info.value.field == "store"
    assert info.value.line == 2


def test_store_without_positions_is_rejected() -> None:
    text = GOOD.replace("{id: gw-a, position: [2, 2]}", "{id: gw-a}")
    with pytest.raises(InputError, match="needs a position"):
        parse_scenario(text, "bad.yaml")


def test_unreadable_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read scenario"):
        load_scenario(str(tmp_path / "missing.yaml"))


def test_empty_and_invalid_yaml() -> None:
    with pytest.raises(InputError, match="empty"):
        parse_scenario("", "e.yaml")
    with pytest.raises(InputError) as info:
        parse_scenario("scenario: [1,\n", "e.yaml")
    assert "invalid YAML" in str(info.value)


def test_device_sd_sets_the_phone_spread_unless_hardware_overrides() -> None:
    sc = parse_scenario(GOOD.replace("path_loss_n: 2.5", "device_sd_db: 7"), "t.yaml")
    assert sc.hardware["phone"].sd_db == 7
    assert sc.hardware["fob"].sd_db == 1.5
    text = GOOD.replace("path_loss_n: 2.5", "device_sd_db: 7") + "hardware:\n  phone: {sd_db: 2}\n"
    assert parse_scenario(text, "t.yaml").hardware["phone"].sd_db == 2
