"""Device identity at the hub: app tokens through a ResolutionTable, beacons through a map.

`Resolver` is pure. `load_table` is the edge: a JSON file, or an HTTP endpoint of the API with
a service credential (bearer token), cached on disk so a hub that restarts while the API is
unreachable still resolves with the last table it had. `TableRefresher` reloads the table
every ``refresh_s`` (tokens rotate every 1024 s and the API adds newly enrolled customers); a
failed reload keeps the table in use and is counted, never fatal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from proximity.errors import InputError
from proximity.tokens import ResolutionTable

from .privacy import TOKEN_PREFIX

log = logging.getLogger("proximity.hub")


class Resolver:
    """Maps a frame key from a gateway to the engine's device id.

    Args:
        table: Token -> subject table, or None (then no token resolves).
        beacons: Beacon frame key -> device id; keys not listed keep their frame key.
    """

    def __init__(
        self, table: ResolutionTable | None = None, beacons: Mapping[str, str] | None = None
    ) -> None:
        self.table = table
        self.beacons = dict(beacons or {})
        self.unresolved = 0

    def device(self, key: str) -> str | None:
        """The device id of frame ``key``, or None (an unknown token: not an opted-in phone)."""
        if key.startswith(TOKEN_PREFIX):
            try:
                token = bytes.fromhex(key[len(TOKEN_PREFIX) :])
            except ValueError:
                token = b""
            subject = self.table.resolve(token) if self.table is not None else None
            if subject is None:
                self.unresolved += 1
            return subject
        return self.beacons.get(key, key)


def load_table(
    file: str | None = None,
    url: str | None = None,
    credential_env: str = "PROXIMITY_SERVICE_TOKEN",
    cache: str | Path | None = None,
    timeout_s: float = 10.0,
) -> ResolutionTable | None:
    """Load the resolution table from ``file`` or ``url`` (falling back to ``cache``).

    Raises:
        InputError: The file (or, with no usable cache, the HTTP answer) is not a valid table.
    """
    if file is not None:
        try:
            data = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(file, None, None, f"cannot read resolution table: {exc}") from exc
        return ResolutionTable.from_json(data, file)
    if url is None:
        return None
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    credential = os.environ.get(credential_env)
    if credential:
        request.add_header("Authorization", f"Bearer {credential}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
        table = ResolutionTable.from_json(json.loads(body), url)
    except (OSError, ValueError, urllib.error.URLError, InputError) as exc:
        if cache is not None and Path(cache).exists():
            log.warning("resolution table from %s failed (%s); using cache %s", url, exc, cache)
            return ResolutionTable.from_json(
                json.loads(Path(cache).read_text(encoding="utf-8")), str(cache)
            )
        if isinstance(exc, InputError):
            raise
        raise InputError(url, None, None, f"cannot fetch resolution table: {exc}") from exc
    if cache is not None:
        tmp = Path(cache).with_suffix(".tmp")
        tmp.write_text(json.dumps(table.to_json()), encoding="utf-8")
        tmp.replace(cache)
    return table


class TableRefresher:
    """Reloads the resolution table of a `Resolver` every ``refresh_s`` seconds.

    The load runs in a worker thread (file read or HTTP request), so the event loop keeps
    serving the bus meanwhile. A load that fails (API down with no cache, a malformed table)
    leaves the current table in place; it is logged and counted in ``failures``.

    Args:
        resolver: The resolver whose ``table`` is replaced.
        load: Loads a table (``load_table`` with the hub's settings bound).
        refresh_s: Seconds between reloads.
        sleep: Awaitable sleep (injected for tests).
    """

    def __init__(
        self,
        resolver: Resolver,
        load: Callable[[], ResolutionTable | None],
        refresh_s: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.resolver = resolver
        self.load = load
        self.refresh_s = refresh_s
        self.sleep = sleep
        self.reloads = 0
        self.failures = 0

    async def refresh(self) -> bool:
        """Reload once; whether the resolver now has the freshly loaded table."""
        try:
            table = await asyncio.to_thread(self.load)
        except InputError as exc:
            self.failures += 1
            log.warning("resolution table reload failed (%s); keeping the current one", exc)
            return False
        if table is None:
            return False
        if table != self.resolver.table:
            log.info("resolution table reloaded: %d tokens, windows %s", len(table), table.windows)
        self.resolver.table = table
        self.reloads += 1
        return True

    async def run(self) -> None:
        """Reload every ``refresh_s`` until cancelled."""
        while True:
            await self.sleep(self.refresh_s)
            await self.refresh()
