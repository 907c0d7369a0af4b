"""No event lost while the API is away: a real Mosquitto, the app under uvicorn (its lifespan
runs the MQTT consumer), SQLite and PostgreSQL.

1. The API's persistent session: events published while the API is stopped are queued by the
   broker and ingested, once each, by the next API process with the same client id.
2. Acknowledgement after commit: events the API received but could not commit (the database
   fails) before it stopped come back to the next process and are ingested.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

import api.consumer
from api.db import make_engine
from api.demo import ApiServer
from api.main import create_app
from api.publisher import MemoryPublisher
from api.security import Principal, issue_token
from api.settings import MqttSettings
from tests.api_fixtures import SETTINGS, Database, _wipe, migrated_db
from tests.mqtt_broker import Broker, free_port

__all__ = ["migrated_db"]
pytestmark = pytest.mark.slow

CLIENT_ID = "api-restart"
N_DOWN = 40  # published while no API runs
N_INFLIGHT = 5  # received by an API whose database fails, then it stops


def _start(db_url: str, engine: Engine, port: int) -> tuple[ApiServer, httpx.Client]:
    settings = SETTINGS.model_copy(
        update={
            "database_url": db_url,
            "mqtt": MqttSettings(enabled=True, port=port, client_id=CLIENT_ID, reconnect_s=0.2),
        }
    )
    app = create_app(settings, engine=engine, clock=time.time, publisher=MemoryPublisher())
    server = ApiServer(app, "127.0.0.1", free_port())
    server.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{server.server.config.port}", timeout=10)
    return server, client


def _wait(what: str, done: Callable[[], bool], timeout_s: float = 30.0, fail: bool = True) -> None:
    """Poll ``done``; on timeout fail, or (``fail=False``) return and let the asserts say why."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            assert not fail, f"timed out waiting for {what}"
            return
        time.sleep(0.05)


def _event(event_id: str) -> dict[str, Any]:
    return {"type": "store_entry", "device": f"fob-{event_id}", "zone": None,
            "ts": round(time.time(), 3), "event_id": event_id}  # fmt: skip


def _stored(engine: Engine, prefix: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("select event_id from rawevent where event_id like :p"), {"p": f"{prefix}%"}
        )
        return [r[0] for r in rows]


def test_events_published_while_the_api_is_away_are_ingested_once(
    migrated_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = Broker(tmp_path)
    broker.start()
    engine = make_engine(migrated_db.url)
    _wipe(engine)
    engine_pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="engine-restart")
    engine_pub.connect("127.0.0.1", broker.port)
    engine_pub.loop_start()
    closing: list[Any] = []

    def publish(event_id: str) -> None:
        info = engine_pub.publish("prox/v1/s1/events", json.dumps(_event(event_id)), qos=1)
        info.wait_for_publish(5)
        assert info.is_published()  # the broker has it (PUBACK)

    try:
        server, client = _start(migrated_db.url, engine, broker.port)
        closing += [client, server]
        ops = {"Authorization": "Bearer " + issue_token(
            SETTINGS.auth_secret, Principal(role="ops", exp=time.time() + 3600))}  # fmt: skip
        response = client.post("/stores", headers=ops, json={"id": "s1", "name": "Store 1"})
        assert response.status_code == 201, response.text
        # the session exists (subscribed) once a probe gets through
        probes = 0
        while client.get("/health").json()["ingested"] == 0:
            assert probes < 100, "the API never consumed from the broker"
            publish(f"probe-{probes}")
            probes += 1
            time.sleep(0.2)

        # the database fails: these are received, never committed, never acknowledged
        def failing_ingest(*args: Any, **kwargs: Any) -> Any:
            raise OperationalError("INSERT INTO rawevent ...", {}, Exception("database is down"))

        monkeypatch.setattr(api.consumer, "ingest", failing_ingest)
        for i in range(N_INFLIGHT):
            publish(f"inflight-{i}")
        _wait("a failed commit", lambda: client.get("/health").json()["retries"] >= 1)
        client.close()
        server.stop()  # lifespan shutdown while the consumer is retrying
        assert not server.thread.is_alive()
        monkeypatch.undo()
        assert _stored(engine, "inflight-") == []

        # nobody consumes: the broker queues these in the API's session
        for i in range(N_DOWN):
            publish(f"down-{i}")

        server, client = _start(migrated_db.url, engine, broker.port)
        closing += [client, server]
        expected = N_INFLIGHT + N_DOWN
        _wait(f"{expected} events", lambda: client.get("/health").json()["ingested"] >= expected,
              fail=False)  # fmt: skip
        # once each: every event_id stored, and no event counted twice by the consumer
        inflight, down = _stored(engine, "inflight-"), _stored(engine, "down-")
        assert sorted(inflight) == sorted(f"inflight-{i}" for i in range(N_INFLIGHT))
        assert sorted(down) == sorted(f"down-{i}" for i in range(N_DOWN))
        health = client.get("/health").json()
        assert health["ingested"] == expected, health
        assert health["dead_letters"] == 0, health
    finally:
        for item in reversed(closing):
            item.close() if isinstance(item, httpx.Client) else item.stop()
        engine_pub.loop_stop()
        engine_pub.disconnect()
        broker.stop()
        engine.dispose()
