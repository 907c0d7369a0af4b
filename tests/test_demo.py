"""``proximity demo`` end to end: ready and a first alert within 60 s, clean stop on Ctrl-C."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.demo_run import DemoRun, processes_using
from tests.mqtt_broker import require_mosquitto


def test_demo_reaches_ready_shows_first_alert_and_stops_cleanly(tmp_path: Path) -> None:
    require_mosquitto()
    workdir = tmp_path / "demo"
    started = time.monotonic()
    demo = DemoRun(workdir, speed=1.0)
    try:
        demo.wait_for(r"^ready", 60)
        broker_port = int(demo.wait_for(r"mosquitto listening on 127\.0\.0\.1:(\d+)", 1).group(1))
        assert demo.url("ops console").startswith("http://127.0.0.1:")
        demo.wait_for(r"^first alert: .+\(gold\)", max(1.0, 60 - (time.monotonic() - started)))
        first_alert_s = time.monotonic() - started
        print(f"first alert {first_alert_s:.1f} s after starting the demo")
        assert first_alert_s < 60
    finally:
        code = demo.interrupt()
    assert code == 0, "\n".join(demo.lines[-20:])
    assert any("proximity demo: interrupted" in line for line in demo.lines)
    assert processes_using(workdir) == []
    try:
        socket.create_connection(("127.0.0.1", broker_port), timeout=0.5).close()
    except OSError:
        pass
    else:
        raise AssertionError("the demo's broker still accepts connections")
    assert not any("Traceback" in line for line in demo.lines), "\n".join(demo.lines)
