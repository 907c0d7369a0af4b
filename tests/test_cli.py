"""The ``proximity`` command line: exit codes, one-line errors, replay/calibrate, dispatch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from proximity import cli
from proximity.readings import EVENT_TYPES

CONTRACT_KEYS = {"type", "device", "zone", "ts", "event_id"}
OPTIONAL_KEYS = {"visit_id", "confidence", "dwell_s", "since"}


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("proximity: error: "), err
    assert "Traceback" not in err
    return lines[0].removeprefix("proximity: error: ")


@pytest.fixture
def store_copy(tmp_path: Path, tiny_store: Path) -> Path:
    path = tmp_path / "store.yaml"
    shutil.copy(tiny_store, path)
    return path


def readings_file(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "r.csv"
    body = "".join(row + "\n" for row in rows)
    path.write_text("ts,gateway,device,rssi,tx_power\n0,gw-door,d,-60,\n" + body)
    return path


# --- happy paths ---------------------------------------------------------------------------


def test_replay_writes_contract_events(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_store: Path, tiny_readings: Path
) -> None:
    out = tmp_path / "events.jsonl"
    code, stdout, err = run(
        capsys, "replay", "--store", tiny_store, "--readings", tiny_readings, "--out", out
    )
    assert code == 0, err
    assert stdout == ""
    assert len(err.splitlines()) == 1
    assert "320 readings" in err
    assert "readings/s" in err
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert events, "a walk into the shop produces events"
    for e in events:
        assert CONTRACT_KEYS <= set(e) <= CONTRACT_KEYS | OPTIONAL_KEYS
        assert e["type"] in EVENT_TYPES
        assert e["device"] == "subj-0001"
        assert (e["zone"] is None) == e["type"].startswith("store_")
    types_seen = [e["type"] for e in events]
    assert "store_entry" in types_seen
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert len({e["event_id"] for e in events}) == len(events)


def test_replay_is_deterministic(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_store: Path, tiny_readings: Path
) -> None:
    outs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for out in outs:
        code, _, err = run(
            capsys, "replay", "--store", tiny_store, "--readings", tiny_readings, "--out", out
        )
        assert code == 0, err
    assert outs[0].read_text() == outs[1].read_text()


def test_calibrate_then_replay_with_model(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tiny_store: Path,
    tiny_samples: Path,
    tiny_readings: Path,
) -> None:
    model = tmp_path / "m.json"
    code, _, err = run(
        capsys, "calibrate", "--store", tiny_store, "--samples", tiny_samples, "--out", model
    )
    assert code == 0, err
    data = json.loads(model.read_text())
    assert data["zones"] == ["street", "entrance", "sales"]
    out = tmp_path / "e.jsonl"
    code, _, err = run(
        capsys,
        "replay",
        "--store",
        tiny_store,
        "--readings",
        tiny_readings,
        "--model",
        model,
        "--out",
        out,
    )
    assert code == 0, err
    zones = {json.loads(line)["zone"] for line in out.read_text().splitlines()}
    assert "sales" in zones


# --- bad input: exit 2, one line naming file, line and field; no output file ---------------


def replay_error(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    store: Path,
    readings: Path,
    model: Path | None = None,
) -> str:
    out = tmp_path / "out.jsonl"
    extra = ["--model", str(model)] if model else []
    code, _, err = run(
        capsys, "replay", "--store", store, "--readings", readings, *extra, "--out", out
    )
    assert code == 2
    assert not out.exists(), "no output on bad input"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    return one_error_line(err)


@pytest.mark.parametrize(
    ("row", "where"),
    [
        ("1,gw-door,d", "r.csv:3: field 'rssi': missing value"),
        ("1,gw-door,d,nan,", "r.csv:3: field 'rssi': must be a finite number (dBm), got 'nan'"),
        ("1,gw-door,d,7,", "r.csv:3: field 'rssi': must be <= 0 dBm"),
        ("noon,gw-door,d,-60,", "r.csv:3: field 'ts': expected a time in seconds, got 'noon'"),
        (
            "1,gw-x,d,-60,",
            "r.csv:3: field 'gateway': unknown gateway 'gw-x' (store has: gw-door, gw-back)",
        ),
    ],
)
def test_replay_bad_readings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store_copy: Path, row: str, where: str
) -> None:
    readings = readings_file(tmp_path, row)
    line = replay_error(capsys, tmp_path, store_copy, readings)
    assert line.startswith(f"{tmp_path / where}"), line


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("    kind: sales\n", "    kind: sales\n    colour: red\n", ":16: field 'zones[2].colour'"),
        (
            "  - id: entrance\n",
            "  - id: entrance\n    colour: red\n",
            ":12: field 'zones[1].colour'",
        ),
        ("engine: {}\n", "engine:\n  tick_s: 0.5\n  warp: 9\n", ":20: field 'engine.warp'"),
        ("    dwell_s: 10\n", "    dwell_s: ten\n", ":17: field 'zones[2].dwell_s'"),
        ("  - id: gw-back\n", "  - id: [gw-back]\n", ":5: field 'gateways[1].id'"),
    ],
)
def test_replay_bad_store(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    store_copy: Path,
    tiny_readings: Path,
    old: str,
    new: str,
    where: str,
) -> None:
    text = store_copy.read_text()
    assert old in text
    store_copy.write_text(text.replace(old, new, 1))
    line = replay_error(capsys, tmp_path, store_copy, tiny_readings)
    assert line.startswith(f"{store_copy}{where}"), line


def test_store_yaml_syntax_error_names_a_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store_copy: Path, tiny_readings: Path
) -> None:
    store_copy.write_text(store_copy.read_text().replace("[3.0, 0.5]", "[3.0, 0.5", 1))
    line = replay_error(capsys, tmp_path, store_copy, tiny_readings)
    prefix, _, rest = line.partition(": ")
    source, _, lineno = prefix.rpartition(":")
    assert source == str(store_copy)
    assert lineno.isdigit()
    assert "invalid YAML" in rest


def test_missing_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_store: Path, tiny_readings: Path
) -> None:
    line = replay_error(capsys, tmp_path, tmp_path / "nope.yaml", tiny_readings)
    assert line.startswith(f"{tmp_path / 'nope.yaml'}: cannot read the file")
    line = replay_error(capsys, tmp_path, tiny_store, tmp_path / "nope.csv")
    assert line.startswith(f"{tmp_path / 'nope.csv'}: cannot read the file")


def test_bad_model_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_store: Path, tiny_readings: Path
) -> None:
    model = tmp_path / "m.json"
    model.write_text('{\n  "version": 1,\n  "kind": "fingerprint"\n  "zones": []\n}\n')
    line = replay_error(capsys, tmp_path, tiny_store, tiny_readings, model)
    assert line.startswith(f"{model}:4: invalid JSON"), line


def test_model_for_another_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_store: Path, tiny_readings: Path
) -> None:
    model = tmp_path / "m.json"
    model.write_text(
        json.dumps(
            {
                "version": 1,
                "kind": "fingerprint",
                "zones": ["a", "b"],
                "gateways": ["gw-door", "gw-back"],
                "mean_db": [[-10, -20], [-20, -10]],
                "sd_db": [[3, 3], [3, 3]],
                "p_heard": [[1, 1], [1, 1]],
                "samples": [10, 10],
            }
        )
    )
    line = replay_error(capsys, tmp_path, tiny_store, tiny_readings, model)
    assert line.startswith(f"{model}: field 'zones': "), line


def test_calibrate_unknown_zone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_store: Path
) -> None:
    samples = tmp_path / "s.csv"
    samples.write_text("ts,gateway,device,rssi,zone\n1,gw-door,s,-50,sales\n2,gw-door,s,-50,roof\n")
    out = tmp_path / "m.json"
    code, _, err = run(
        capsys, "calibrate", "--store", tiny_store, "--samples", samples, "--out", out
    )
    assert code == 2
    assert not out.exists()
    line = one_error_line(err)
    assert line.startswith(f"{samples}:3: field 'zone': unknown zone 'roof' (store has: ")


def test_existing_output_survives_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_store: Path
) -> None:
    out = tmp_path / "e.jsonl"
    out.write_text("previous\n")
    readings = readings_file(tmp_path, "1,gw-door,d,5,")
    code, _, _ = run(capsys, "replay", "--store", tiny_store, "--readings", readings, "--out", out)
    assert code == 2
    assert out.read_text() == "previous\n"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["replay", "--store", "s.yaml"])
    assert info.value.code == 2
    assert "--readings" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2


# --- dispatch to other packages --------------------------------------------------------------


def test_simulate_and_eval_dispatch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, ...]] = []
    sim = types.ModuleType("firmware_sim.cli")
    sim.run_simulate = lambda path, out: calls.append(("sim", path, out)) or 0  # type: ignore[attr-defined]
    ev = types.ModuleType("proximity.evalcmd")

    def fake_eval(path: str, *, as_json: bool, plot_dir: str | None, seeds: int) -> int:
        calls.append(("eval", path, as_json, plot_dir, seeds))
        return 3

    ev.run = fake_eval  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "firmware_sim.cli", sim)
    monkeypatch.setitem(sys.modules, "proximity.evalcmd", ev)
    assert run(capsys, "simulate", "--scenario", "sc.yaml", "--out", "d")[0] == 0
    assert run(capsys, "eval", "--scenario", "sc.yaml", "--json", "--plot-dir", "p")[0] == 3
    assert run(capsys, "eval", "--scenario", "sc.yaml")[0] == 3
    assert run(capsys, "eval", "--scenario", "sc.yaml", "--seeds", "4")[0] == 3
    assert calls == [
        ("sim", "sc.yaml", "d"),
        ("eval", "sc.yaml", True, "p", 1),
        ("eval", "sc.yaml", False, None, 1),
        ("eval", "sc.yaml", False, None, 4),
    ]


def test_input_error_from_a_dispatched_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from proximity.errors import InputError

    sim = types.ModuleType("firmware_sim.cli")

    def bad(path: str, out: str) -> int:
        raise InputError(path, 7, "people.count", "must be >= 0")

    sim.run_simulate = bad  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "firmware_sim.cli", sim)
    code, _, err = run(capsys, "simulate", "--scenario", "sc.yaml", "--out", "d")
    assert code == 2
    assert one_error_line(err) == "sc.yaml:7: field 'people.count': must be >= 0"


def test_live_command_is_imported_only_when_chosen(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = types.ModuleType("fake_live")
    seen: list[str] = []

    def add_parser(sub) -> None:  # type: ignore[no-untyped-def]
        p = sub.add_parser("gateway", help="fake")
        p.add_argument("--config", required=True)

    def run_live(ns) -> int:  # type: ignore[no-untyped-def]
        seen.append(ns.config)
        return 0

    live.add_parser = add_parser  # type: ignore[attr-defined]
    live.run = run_live  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_live", live)
    monkeypatch.setattr(
        cli,
        "LIVE_COMMANDS",
        (cli.LiveCommand("gateway", "fake_live", "fake"), *cli.LIVE_COMMANDS[1:]),
    )
    assert run(capsys, "gateway", "--config", "gw.yaml")[0] == 0
    assert seen == ["gw.yaml"]


def test_live_command_whose_module_is_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        cli, "LIVE_COMMANDS", (cli.LiveCommand("demo", "no_such_module_xyz", "x", "gateway"),)
    )
    code, _, err = run(capsys, "demo")
    assert code == 1
    line = one_error_line(err)
    assert "'demo' command is not available" in line
    assert "proximity-engine[gateway]" in line


# --- the installed console script ----------------------------------------------------------


def _script() -> list[str]:
    exe = Path(sys.executable).with_name("proximity")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "proximity.cli"]


def test_console_script_bad_input_is_one_line(tmp_path: Path, tiny_store: Path) -> None:
    readings = readings_file(tmp_path, "1,gw-door,d,inf,")
    out = tmp_path / "e.jsonl"
    proc = subprocess.run(
        [
            *_script(),
            "replay",
            "--store",
            str(tiny_store),
            "--readings",
            str(readings),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        f"proximity: error: {readings}:3: field 'rssi': must be a finite number (dBm), got 'inf'\n"
    )
    assert not out.exists()


def test_offline_commands_import_no_live_or_heavy_module() -> None:
    code = (
        "import sys, proximity.cli as c\n"
        "c.build_parser(['replay'])\n"
        "heavy = ('numpy', 'yaml', 'bleak', 'aiomqtt', 'fastapi', 'sqlmodel', 'matplotlib',"
        " 'gateway', 'api', 'firmware_sim')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    assert proc.stdout.strip() == "[]"


def test_os_error_from_a_command_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = types.ModuleType("firmware_sim.cli")

    def refuse(path: str, out: str) -> int:
        raise PermissionError(13, "Permission denied", out)

    sim.run_simulate = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "firmware_sim.cli", sim)
    code, _, err = run(capsys, "simulate", "--scenario", "sc.yaml", "--out", "/root/x")
    assert code == 1
    assert one_error_line(err) == "/root/x: Permission denied"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("proximity ")


def test_replay_of_no_readings_writes_an_empty_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_store: Path
) -> None:
    readings = tmp_path / "r.csv"
    readings.write_text("ts,gateway,device,rssi\n")
    out = tmp_path / "e.jsonl"
    code, _, err = run(
        capsys, "replay", "--store", tiny_store, "--readings", readings, "--out", out
    )
    assert code == 0, err
    assert out.read_text() == ""
    assert "0 readings, 0 devices, 0 events" in err


def test_replay_events_do_not_depend_on_chunk_size(tiny_store: Path, tiny_readings: Path) -> None:
    from proximity.engine import Engine
    from proximity.files import load_store, read_readings

    store = load_store(tiny_store)
    readings = read_readings(tiny_readings, store)
    runs = [
        [e.to_json() for e in cli.replay_readings(Engine(store), readings, chunk_rows=size)]
        for size in (1, 7, 100_000)
    ]
    assert runs[0]
    assert runs[0] == runs[1] == runs[2]
