"""A gateway started by a supervisor stops by itself once the supervisor is gone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.cli import exit_with_parent
from gateway.errors import ParentGoneError

ROOT = Path(__file__).resolve().parent.parent


def test_keeps_running_while_the_parent_lives() -> None:
    async def briefly() -> None:
        await asyncio.wait_for(exit_with_parent(os.getppid(), every_s=0.01), 0.1)

    with pytest.raises(TimeoutError):
        asyncio.run(briefly())


def test_stops_once_the_parent_is_gone() -> None:
    gone = 1 if os.getppid() != 1 else 2
    with pytest.raises(ParentGoneError, match=rf"\(pid {gone}\) is gone"):
        asyncio.run(exit_with_parent(gone, every_s=0.01))


ORPHAN = """
import asyncio, os, sys
from gateway.cli import exit_with_parent
from gateway.errors import ParentGoneError
try:
    asyncio.run(exit_with_parent({parent}, every_s=0.05))
except ParentGoneError:
    print("stopped", flush=True)
"""

SUPERVISOR = """
import subprocess, sys, os, time
child = subprocess.Popen([sys.executable, "-c", {code!r}.format(parent=os.getpid())],
                         start_new_session=True, stdout=sys.stdout)
print(child.pid, flush=True)
time.sleep(60)
"""


def test_a_supervisor_killed_outright_leaves_no_orphan(tmp_path: Path) -> None:
    out = tmp_path / "child.out"
    with out.open("w") as fh:
        sup = subprocess.Popen(
            [sys.executable, "-c", SUPERVISOR.format(code=ORPHAN)],
            stdout=fh,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not out.read_text().strip():
        time.sleep(0.05)
    child = int(out.read_text().split()[0])
    sup.kill()  # SIGKILL: no chance to stop its children
    sup.wait()
    while time.monotonic() < deadline and "stopped" not in out.read_text():
        time.sleep(0.05)
    assert "stopped" in out.read_text()
    for _ in range(100):  # the orphan exits once it has said so
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"process {child} still running")
