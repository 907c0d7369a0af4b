"""A TCP proxy in front of the API for browser tests of network trouble.

Modes: ``up`` forwards; ``down`` cuts every open connection and closes new ones at once (a
network drop: the browser sees its streams end and its reconnects fail); ``503`` cuts every open
connection and answers each new request with ``503 Service Unavailable`` (a reverse proxy in
front of a restarting API: EventSource gives up on such an answer). Every request head the proxy
sees is kept with its arrival time and what became of it.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field

UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
    b"Connection: close\r\n\r\nunavailable\n"
)
HEAD = re.compile(rb"([A-Z]+) (\S+) HTTP/1\.[01]\r\n(.*?)\r\n\r\n", re.DOTALL)


@dataclass
class Request:
    """One request head: when it arrived, method, target, headers (lower-case names), and what
    the proxy did with it (``forwarded`` or ``503``)."""

    at: float
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    outcome: str = "forwarded"


class Proxy:
    """Listens on ``127.0.0.1:<port>`` and forwards to ``127.0.0.1:<target_port>``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.mode = "up"
        self.requests: list[Request] = []
        self.refused = 0
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def set_mode(self, mode: str) -> None:
        """``up``, ``down`` or ``503``; leaving ``up`` cuts every open connection."""
        assert mode in ("up", "down", "503"), mode
        self.mode = mode
        if mode != "up":
            with self._lock:
                doomed = list(self._open)
                self._open.clear()
            for sock in doomed:
                _shut(sock)

    def feed_requests(self) -> list[Request]:
        """Requests for the alert feed, oldest first."""
        return [r for r in list(self.requests) if "/alerts/feed" in r.target]

    def close(self) -> None:
        self._closed = True
        self.set_mode("down")
        _shut(self._listener)

    # --- inside ---------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "down":
                self.refused += 1
                _shut(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self.mode == "503":
            self._answer_503(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            upstream.settimeout(None)
        except OSError:
            _shut(client)
            return
        with self._lock:
            self._open.update((client, upstream))
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        self._pump(client, upstream, True)

    def _pump(self, src: socket.socket, dst: socket.socket, log: bool) -> None:
        pending = b""
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                if log:
                    pending = self._log(pending + chunk)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)
            _shut(src)
            _shut(dst)

    def _log(self, data: bytes, outcome: str = "forwarded") -> bytes:
        end = 0
        for match in HEAD.finditer(data):
            headers = {}
            for line in match.group(3).decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.requests.append(Request(time.monotonic(), match.group(1).decode(),
                                         match.group(2).decode(), headers, outcome))  # fmt: skip
            end = match.end()
        return data[end:][-65536:]

    def _answer_503(self, client: socket.socket) -> None:
        data = b""
        try:
            client.settimeout(5)
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = client.recv(65536)
                if not chunk:
                    break
                data += chunk
            self._log(data, "503")
            client.sendall(UNAVAILABLE)
        except OSError:
            pass
        finally:
            _shut(client)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
