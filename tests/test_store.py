"""Store file validation: every mistake names its line and field."""

from __future__ import annotations

import pytest

from proximity.errors import InputError
from proximity.store import dump_store, parse_store

from . import walks

GOOD = walks.STORE_YAML


def error_of(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse_store(text, "s.yaml")
    return info.value


def test_good_store_round_trips_through_dump() -> None:
    import yaml

    store = parse_store(GOOD, "s.yaml")
    again = parse_store(yaml.safe_dump(dump_store(store)), "again.yaml")
    assert again == store


def test_unknown_nested_key_names_line_and_path() -> None:
    text = GOOD.replace("kind: sales,", "kind: sales, colour: red,")
    err = error_of(text)
    assert err.line == 10
    assert err.field == "zones[2].colour"
    assert "unknown key 'colour'" in str(err)


def test_unknown_engine_knob() -> None:
    err = error_of(GOOD + "engine: {tick_s: 0.5, magic: 3}\n")
    assert err.field == "engine.magic"
    assert err.line == 12


def test_engine_knobs_take_numbers_of_their_kind() -> None:
    text = GOOD + "engine: {offset_outside_weight: 0, min_readings_entry: 3}\n"
    store = parse_store(text, "s.yaml")
    assert store.engine.offset_outside_weight == 0.0
    assert store.engine.min_readings_entry == 3
    err = error_of(GOOD + "engine: {offset_outside_weight: false}\n")
    assert err.field == "engine.offset_outside_weight"
    assert error_of(GOOD + "engine: {min_readings_entry: 2.5}\n").field == (
        "engine.min_readings_entry"
    )


def test_the_offsets_cross_weight_is_a_share() -> None:
    text = GOOD + "engine: {offset_cross_weight: 0.5}\n"
    assert parse_store(text, "s.yaml").engine.offset_cross_weight == 0.5
    err = error_of(GOOD + "engine: {offset_cross_weight: 1.5}\n")
    assert err.field == "engine.offset_cross_weight"
    assert err.line == 12


def test_bad_kind_type_and_duplicate() -> None:
    assert error_of(GOOD.replace("kind: private", "kind: secret")).field == "zones[3].kind"
    assert error_of(GOOD.replace("position: [5, 8]", "position: [5]")).field == (
        "gateways[1].position"
    )
    assert error_of(GOOD.replace("id: back, kind", "id: entrance, kind")).field == "zones[2].id"
    assert error_of(GOOD + "engine: {tick_s: fast}\n").field == "engine.tick_s"


def test_invalid_yaml_names_the_line() -> None:
    err = error_of("store: {id: x\ngateways: []\n")
    assert err.line is not None
    assert "invalid YAML" in str(err)


def test_store_needs_an_inside_zone() -> None:
    text = """
store: {id: s}
gateways: [{id: g}]
zones: [{id: street, kind: outside}]
"""
    assert "inside the store" in str(error_of(text))
