"""Run ``proximity demo`` as a subprocess for tests: wait for lines, read its URLs, stop it."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORING_CTRL_C = ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]
"""Prefix of a command line that runs the command with SIGINT ignored (inherited on exec)."""


class DemoRun:
    """``proximity demo --port 0`` in ``workdir``; its output lines are collected."""

    def __init__(self, workdir: Path, speed: float = 2.0) -> None:
        self.workdir = workdir
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        # Started the way a shell starts a background job, with Ctrl-C ignored: the demo must
        # still stop on the SIGINT that interrupt() sends.
        self.proc = subprocess.Popen(
            [*IGNORING_CTRL_C, sys.executable, "-m", "proximity.cli", "demo", "--port", "0",
             "--speed", str(speed), "--workdir", str(workdir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line)

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """The first output line matching ``pattern`` (fails after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                match = re.search(pattern, line)
                if match:
                    return match
            seen = len(self.lines)
            if self.proc.poll() is not None and seen == len(self.lines):
                break
            time.sleep(0.1)
        tail = "\n".join(self.lines[-30:])
        raise AssertionError(f"no line matching {pattern!r} within {timeout_s} s:\n{tail}")

    def url(self, what: str) -> str:
        """A URL the demo printed (``associate feed (Anna)``, ``ops console``, ...)."""
        return self.wait_for(re.escape(what) + r":\s+(\S+)", 1).group(1)

    def interrupt(self, timeout_s: float = 30.0) -> int:
        """Ctrl-C; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()


def processes_using(path: Path) -> list[str]:
    """Command lines of running processes that mention ``path``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmd:
            found.append(f"{entry.name}: {cmd}")
    return found
