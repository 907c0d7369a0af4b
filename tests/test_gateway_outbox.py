"""The on-disk outbox: order, acks, size bound, and survival of SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from gateway.outbox import Outbox


def test_put_pending_ack_and_floor(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "gw1")
    for i in range(5):
        assert box.put("b1", i, i + 1, [(i + 0.5, "dev", -60.0, None)]) == i
    assert [p.seq for p in box.pending()] == [0, 1, 2, 3, 4]
    assert box.ack("b1", 2) == 3
    assert box.floor("b1") == 3 and box.depth() == 2
    snap = box.snapshot()
    assert [b.seq for b in snap] == [3, 4] and snap[0].floor == 3
    assert box.resume_t == 5
    box.close()


def test_size_bound_drops_oldest_and_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "gw1", max_batches=3)
    for i in range(7):
        box.put("b1", i, i + 1, [])
    assert [p.seq for p in box.pending()] == [4, 5, 6]
    assert box.dropped == 4
    assert box.snapshot()[0].floor == 4
    box.close()


def test_outbox_survives_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    script = textwrap.dedent(
        f"""
        import os, sys
        from gateway.outbox import Outbox
        box = Outbox({str(db)!r}, "gw1")
        i = 0
        while True:
            box.put("boot", i, i + 1, [(i + 0.25, "token:" + "ab" * 8, -70.0, -59.0)])
            if i == 200:
                print("ready", flush=True)
            i += 1
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parent.parent)  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    box = Outbox(db, "gw1")
    held = box.snapshot()
    assert len(held) > 200
    assert [b.seq for b in held] == list(range(len(held)))
    assert box.next_seq("boot") == len(held)
    box.close()
