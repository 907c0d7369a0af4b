"""Resolution table at the hub: loading from a file or HTTP (service credential, disk cache)
and the periodic reload."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gateway.resolver import Resolver, TableRefresher, load_table
from proximity import tokens
from proximity.errors import InputError

T = 1_700_000_000.0
KEY_A = bytes(range(16))
KEY_B = bytes(range(1, 17))


def token_key(key: bytes) -> str:
    return "token:" + tokens.derive_token(key, tokens.window_index(T)).hex()


def table_json(subjects: dict[str, bytes]) -> bytes:
    return json.dumps(tokens.build_table(subjects, T).to_json()).encode()


class Api:
    """A tiny HTTP endpoint serving the table to callers with the right bearer token."""

    def __init__(self, credential: str) -> None:
        self.body = table_json({"subj-a": KEY_A})
        self.requests: list[str | None] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization")
                api.requests.append(auth)
                if auth != f"Bearer {credential}":
                    self.send_response(401)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(api.body)))
                self.end_headers()
                self.wfile.write(api.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stores/demo/tokens"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api("s3cret")
    yield server
    server.close()


def test_file_table_is_reloaded_and_a_bad_file_keeps_the_current_one(tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    path.write_bytes(table_json({"subj-a": KEY_A}))

    def load() -> tokens.ResolutionTable | None:
        return load_table(file=str(path))

    resolver = Resolver(load())
    refresher = TableRefresher(resolver, load, refresh_s=300)
    assert resolver.device(token_key(KEY_A)) == "subj-a"
    assert resolver.device(token_key(KEY_B)) is None
    path.write_bytes(table_json({"subj-b": KEY_B}))  # the API added a customer, dropped one
    assert asyncio.run(refresher.refresh())
    assert resolver.device(token_key(KEY_B)) == "subj-b"
    assert resolver.device(token_key(KEY_A)) is None
    path.write_text('{"version": 1, "period_s": 1024, "windows": [], "tokens": {"zz": "x"}}')
    assert not asyncio.run(refresher.refresh())
    assert refresher.failures == 1 and refresher.reloads == 1
    assert resolver.device(token_key(KEY_B)) == "subj-b"  # still the last good table


def test_refresher_runs_every_refresh_s() -> None:
    slept: list[float] = []
    tables = [tokens.build_table({"subj-a": KEY_A}, T), tokens.build_table({"subj-b": KEY_B}, T)]
    resolver = Resolver(None)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) > len(tables):
            raise asyncio.CancelledError

    refresher = TableRefresher(resolver, lambda: tables[len(slept) - 1], 42.0, sleep)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(refresher.run())
    assert slept == [42.0, 42.0, 42.0]
    assert refresher.reloads == 2 and resolver.table == tables[1]


def test_http_table_with_credential_cache_and_reload(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache" / "table.json"
    cache.parent.mkdir()
    monkeypatch.delenv("HUB_TOKEN", raising=False)
    with pytest.raises(InputError, match="401"):
        load_table(url=api.url, credential_env="HUB_TOKEN", cache=cache)
    assert api.requests == [None]
    monkeypatch.setenv("HUB_TOKEN", "s3cret")

    def load() -> tokens.ResolutionTable | None:
        return load_table(url=api.url, credential_env="HUB_TOKEN", cache=cache)

    resolver = Resolver(load())
    assert api.requests[-1] == "Bearer s3cret"
    assert resolver.device(token_key(KEY_A)) == "subj-a"
    assert json.loads(cache.read_text()) == json.loads(api.body)
    refresher = TableRefresher(resolver, load, refresh_s=300)
    api.body = table_json({"subj-b": KEY_B})
    assert asyncio.run(refresher.refresh())
    assert resolver.device(token_key(KEY_B)) == "subj-b"
    api.body = b"not json"  # a broken answer: the cached (last good) table is used
    assert asyncio.run(refresher.refresh())
    assert resolver.device(token_key(KEY_B)) == "subj-b"
    api.close()  # API down: still the cache
    assert asyncio.run(refresher.refresh())
    assert resolver.device(token_key(KEY_B)) == "subj-b" and refresher.failures == 0
    cache.unlink()  # API down and no cache: the reload fails, the table in use stays
    assert not asyncio.run(refresher.refresh())
    assert refresher.failures == 1 and resolver.device(token_key(KEY_B)) == "subj-b"
