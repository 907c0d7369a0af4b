"""Whole simulation runs: determinism, ground truth, identities, output files, live adverts."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from firmware_sim import SimResult, simulate
from firmware_sim.cli import run_simulate
from firmware_sim.geometry import inside_polygon
from firmware_sim.live import adverts
from firmware_sim.output import write_outputs
from firmware_sim.scenario import Scenario, load_scenario, parse_scenario
from proximity import frames, tokens
from proximity.store import parse_store

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "config" / "scenarios" / "default.yaml"

SMALL = """\
scenario: {{name: small, seed: {seed}, duration_s: 400}}
store: {store}
layout:
  door: [10, 0]
  sidewalk: {{x: [-20, 40], y: [-4.5, -1.5]}}
walls:
  - {{from: [0, 0], to: [20, 0], loss_db: 4, name: shopfront-glass}}
population:
  shoppers: {{per_hour: 120, initial: 4, hardware: {{phone: 0.6, fob: 0.4}}, visit_median_s: 200}}
  passersby: {{per_hour: 300, hardware: {{phone: 0.4, fob: 0.1, foreign: 0.5}}, pause_prob: 0.3}}
  staff: {{count: 2, hardware: badge}}
calibration: {{per_zone_s: 20}}
"""


def small(seed: int = 5) -> Scenario:
    store = str(ROOT / "config" / "stores" / "default.yaml")
    return parse_scenario(SMALL.format(seed=seed, store=store), "small.yaml")


@pytest.fixture(scope="module")
def run() -> SimResult:
    return simulate(small())


def test_same_seed_same_outputs(run: SimResult, tmp_path: Path) -> None:
    again = simulate(small())
    write_outputs(run, str(tmp_path / "a"))
    write_outputs(again, str(tmp_path / "b"))
    for name in ("store.yaml", "readings.csv", "truth.jsonl", "samples.csv", "scenario.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_different_seed_different_outputs(run: SimResult) -> None:
    other = simulate(small(seed=6))
    assert len(other.readings) != len(run.readings) or not np.array_equal(
        other.readings.rssi, run.readings.rssi
    )
    assert set(other.readings.device) != set(run.readings.device)


def test_truth_intervals_are_contiguous_and_cover_each_life(run: SimResult) -> None:
    by_device: dict[str, list[tuple[float, float, str | None]]] = {}
    for t in run.truth:
        assert t.end > t.start
        by_device.setdefault(t.device, []).append((t.start, t.end, t.zone))
    lives = {
        d.subject: (float(run.lifetimes[i, 0]), float(run.lifetimes[i, 1]))
        for i, d in enumerate(run.devices)
        if d.subject is not None and run.lifetimes[i, 1] > run.lifetimes[i, 0]
    }
    assert set(by_device) == set(lives)
    for device, intervals in by_device.items():
        assert intervals[0][0] == pytest.approx(lives[device][0])
        assert intervals[-1][1] == pytest.approx(lives[device][1])
        for (_, end, zone), (start, _, next_zone) in itertools.pairwise(intervals):
            assert start == end
            assert zone != next_zone


def test_truth_is_consistent_with_positions(run: SimResult) -> None:
    zones = {z.id: z.polygon for z in run.store.zones}
    track_of = {d.subject: run.tracks[i] for i, d in enumerate(run.devices) if d.subject}
    checked = 0
    for t in run.truth:
        if t.end - t.start < 0.5:
            continue
        ts = np.linspace(t.start + 0.15, t.end - 0.15, 5)
        x, y = track_of[t.device].position(ts)
        if t.zone is None:
            for polygon in zones.values():
                assert polygon is not None
                assert not inside_polygon(x, y, polygon).any()
        else:
            polygon = zones[t.zone]
            assert polygon is not None
            assert inside_polygon(x, y, polygon).all(), t
        checked += 1
    assert checked > 50


def test_shoppers_visit_the_store_and_passersby_never_enter(run: SimResult) -> None:
    in_store = {z.id for z in run.store.zones if z.in_store}
    passer_zones = {t.zone for t in run.truth if t.role == "passerby"}
    assert passer_zones <= {"street", None}
    assert "street" in passer_zones
    shopper_zones = {t.zone for t in run.truth if t.role == "shopper"}
    assert len(shopper_zones & in_store) >= 4
    staff_zones = {t.zone for t in run.truth if t.role == "staff"}
    assert staff_zones <= in_store


def test_device_ids_are_resolved_subjects_not_addresses(run: SimResult) -> None:
    ids = set(run.readings.device.tolist())
    assert ids
    assert all(re.fullmatch(r"subj-[0-9a-f]{8}", d) for d in ids)
    assert not any(re.fullmatch(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", d) for d in ids)
    foreign = [d for d in run.devices if d.hardware == "foreign"]
    assert foreign
    assert all(d.subject is None for d in foreign)
    truth_ids = {t.device for t in run.truth}
    assert ids <= truth_ids
    # each phone's id is what its real token frame resolves to through a resolution table
    phones = [d for d in run.devices if d.hardware == "phone" and d.subject in ids]
    assert phones
    for phone in phones[:5]:
        assert phone.key is not None
        company, payload = next(iter(phone.manufacturer_data(0).items()))
        frame = frames.parse_manufacturer(company, payload)
        assert isinstance(frame, frames.AppToken)
        table = tokens.build_table({phone.subject or "": phone.key}, 10.0)
        assert table.resolve(frame.token) == phone.subject
        assert frame.token == tokens.derive_token(phone.key, 0)


def test_tx_power_is_the_nominal_frame_value(run: SimResult) -> None:
    assert set(run.readings.tx_power.tolist()) == {-59}
    assert np.all(np.diff(run.readings.ts) >= 0)
    assert set(run.readings.gateway.tolist()) <= {g.id for g in run.store.gateways}


def test_samples_are_labeled_with_the_surveyed_zone(run: SimResult) -> None:
    samples = run.samples
    assert samples is not None
    labels = set(samples.zone.tolist())
    assert labels == {z.id for z in run.store.zones}
    assert len(set(samples.device.tolist())) == 1
    assert samples.device[0] not in set(run.readings.device.tolist())


def test_output_files(run: SimResult, tmp_path: Path) -> None:
    write_outputs(run, str(tmp_path))
    store_text = (tmp_path / "store.yaml").read_text()
    store = parse_store(store_text, "store.yaml")
    assert store.id == run.store.id
    assert "rx_offset_db" not in store_text
    lines = (tmp_path / "readings.csv").read_text().splitlines()
    assert lines[0] == "ts,gateway,device,rssi,tx_power"
    assert len(lines) == len(run.readings) + 1
    assert re.fullmatch(r"\d+\.\d{3},gw-[a-z]+,subj-[0-9a-f]{8},-\d+,-59", lines[1])
    ts = [float(line.split(",", 1)[0]) for line in lines[1:]]
    assert ts == sorted(ts)
    truth = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert len(truth) == len(run.truth)
    assert set(truth[0]) == {"device", "role", "hardware", "zone", "start", "end"}
    samples = (tmp_path / "samples.csv").read_text().splitlines()
    assert samples[0] == "ts,gateway,device,rssi,zone"
    summary = json.loads((tmp_path / "scenario.json").read_text())
    assert summary["seed"] == 5
    assert summary["readings"] == len(run.readings)


def test_live_adverts_include_foreign_devices(run: SimResult) -> None:
    ads = list(adverts(run, start_s=0, end_s=120))
    assert ads
    assert all(a.ts < 120 for a in ads)
    assert [a.ts for a in ads] == sorted(a.ts for a in ads)
    kinds = {"token": 0, "ibeacon": 0, "foreign": 0}
    for a in ads:
        assert re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", a.address)
        parsed = [frames.parse_manufacturer(c, p) for c, p in a.manufacturer_data.items()]
        parsed = [f for f in parsed if f is not None]
        if not parsed:
            kinds["foreign"] += 1
        elif isinstance(parsed[0], frames.AppToken):
            kinds["token"] += 1
        else:
            kinds["ibeacon"] += 1
    assert all(count > 0 for count in kinds.values()), kinds
    one = list(adverts(run, gateway="gw-door", end_s=120))
    assert one
    assert {a.gateway for a in one} == {"gw-door"}
    with pytest.raises(KeyError):
        next(adverts(run, gateway="gw-nope"))


def test_phone_addresses_rotate_and_fob_addresses_do_not(run: SimResult) -> None:
    phone = next(d for d in run.devices if d.hardware == "phone")
    fob = next(d for d in run.devices if d.hardware == "fob")
    assert phone.address(10.0) == phone.address(800.0)
    assert phone.address(10.0) != phone.address(1000.0)
    assert fob.address(10.0) == fob.address(5000.0)


def test_cli_success_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "sc.yaml"
    store = str(ROOT / "config" / "stores" / "default.yaml")
    scenario.write_text(SMALL.format(seed=1, store=store).replace("400}", "60}"))
    assert run_simulate(str(scenario), str(tmp_path / "out")) == 0
    assert (tmp_path / "out" / "readings.csv").exists()
    capsys.readouterr()
    bad = tmp_path / "bad.yaml"
    bad.write_text(scenario.read_text().replace("initial: 4", "initial: many"))
    assert run_simulate(str(bad), str(tmp_path / "out2")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "bad.yaml:" in err[0]
    assert "population.shoppers.initial" in err[0]


def test_default_scenario_is_sane() -> None:
    result = simulate(load_scenario(str(DEFAULT)))
    stats = result.stats
    assert stats["unresolved_readings"] == 0
    rec = stats["receptions"]
    assert isinstance(rec, dict)
    assert 0 < rec["collided"] < 0.2 * rec["in_range"]
    assert result.samples is not None
    # RSSI lies in a physical range and near gateways is strong
    assert result.readings.rssi.max() < -20
    assert result.readings.rssi.min() >= -95


@pytest.mark.slow
def test_busy_scenario_has_300_concurrent_devices() -> None:
    result = simulate(load_scenario(str(ROOT / "config" / "scenarios" / "busy.yaml")))
    concurrent = result.stats["max_concurrent_devices"]
    assert isinstance(concurrent, int)
    assert concurrent >= 300
    rec = result.receptions.stats
    assert rec["collided"] > 0.2 * rec["in_range"]
