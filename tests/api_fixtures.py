"""Fixtures of the API tests: databases (SQLite and a real PostgreSQL), a clock, an app with
its client, tokens for every role, and a seeded store.

Import the fixtures a test module needs (``from tests.api_fixtures import ...``). Under
``CI=true`` a missing PostgreSQL is a failure, elsewhere a skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from api.db import make_engine
from api.main import create_app
from api.migrate import upgrade
from api.publisher import MemoryPublisher
from api.security import Principal, issue_token
from api.settings import Settings

PG_ADMIN = os.environ.get("PROX_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
T0 = 1_767_261_600.0  # 2026-01-01 10:00 UTC, a Thursday
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin() -> Engine:
    engine = make_engine(PG_ADMIN)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # any driver error means: no server here
        engine.dispose()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN}: {exc}")
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    return engine


@dataclass
class Database:
    """A fresh database of one backend, dropped at the end."""

    backend: str
    url: str
    drop: Any = None


def new_database(backend: str, tmp_dir: Any) -> Database:
    """Create an empty database (SQLite file, or ``api_test_<random>`` on PostgreSQL)."""
    if backend == "sqlite":
        return Database(backend, f"sqlite:///{tmp_dir}/api-{secrets.token_hex(4)}.db")
    admin = _pg_admin()
    name = f"api_test_{secrets.token_hex(6)}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return Database(backend, PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop)


@pytest.fixture(scope="module", params=BACKENDS)
def migrated_db(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[Database]:
    """One migrated database per backend and test module."""
    db = new_database(request.param, tmp_path_factory.mktemp("db"))
    upgrade(db.url)
    yield db
    if db.drop is not None:
        db.drop()


class Clock:
    """A wall clock the test moves by hand (seconds since the epoch)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


SETTINGS = Settings(
    database_url="sqlite://",
    master_key="dGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzLWxvbmctLS0=",
    subject_secret="test-subject-secret",
    auth_secret="test-auth-secret",
)


@dataclass
class Api:
    """The app under test with a client, a clock and helpers."""

    client: TestClient
    clock: Clock
    engine: Engine
    publisher: MemoryPublisher
    settings: Settings
    backend: str
    ids: dict[str, Any] = field(default_factory=dict)

    def token(self, role: str, **kw: Any) -> str:
        principal = Principal(role=role, exp=self.clock.now + 86400, **kw)  # type: ignore[arg-type]
        return issue_token(self.settings.auth_secret, principal)

    def auth(self, role: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **kw)}"}

    @property
    def ops(self) -> dict[str, str]:
        return self.auth("ops")

    @property
    def service(self) -> dict[str, str]:
        return self.auth("service", store="s1")

    def call(
        self, method: str, path: str, headers: dict[str, str], expect: int = 200, **kw: Any
    ) -> Any:
        response = self.client.request(method, path, headers=headers, **kw)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def event(
        self,
        type_: str,
        device: str,
        ts: float,
        zone: str | None = None,
        visit: str | None = None,
        event_id: str | None = None,
        **extra: Any,
    ) -> Any:
        body = {
            "type": type_,
            "device": device,
            "zone": zone,
            "ts": ts,
            "event_id": event_id or f"{type_}-{device}-{ts}-{zone}",
            **({"visit_id": visit} if visit else {}),
            **extra,
        }
        return self.call("POST", "/stores/s1/events", self.service, json=body)


def _wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())


def make_api(
    db: Database, settings: Settings = SETTINGS, background: bool = False
) -> Iterator[Api]:
    """An app on ``db`` (wiped first) with a TestClient running its lifespan."""
    engine = make_engine(db.url)
    _wipe(engine)
    clock = Clock()
    publisher = MemoryPublisher()
    app = create_app(
        settings, engine=engine, clock=clock, publisher=publisher, background=background
    )
    with TestClient(app) as client:
        yield Api(client, clock, engine, publisher, settings, db.backend)
    engine.dispose()


@pytest.fixture
def api(migrated_db: Database) -> Iterator[Api]:
    """An app on a migrated, emptied database of each backend."""
    yield from make_api(migrated_db)


def seed(api: Api, timezone: str = "UTC") -> dict[str, Any]:
    """Store ``s1`` (zones, gateways, a beacon, two associates), a gold customer enrolled with
    every purpose (returns her key and app token), and a welcome-coupon and an alert rule."""
    ops = api.ops
    api.call(
        "POST", "/stores", ops, 201, json={"id": "s1", "name": "Store 1", "timezone": timezone}
    )
    api.call("POST", "/stores", ops, 201, json={"id": "s2", "name": "Store 2"})
    for zone, kind in [
        ("street", "outside"),
        ("entrance", "entrance"),
        ("dresses", "sales"),
        ("pickup", "pickup"),
    ]:
        api.call("POST", "/stores/s1/zones", ops, 201, json={"zone": zone, "kind": kind})
    api.call("POST", "/stores/s1/gateways", ops, 201, json={"gateway": "gw-door"})
    api.call(
        "POST",
        "/stores/s1/beacons",
        ops,
        201,
        json={
            "beacon": "b-door",
            "gateway": "gw-door",
            "uuid": "f0b0f0b0-0000-4000-8000-000000000002",
            "major": 1,
        },
    )
    ana = api.call(
        "POST",
        "/stores/s1/associates",
        ops,
        201,
        json={"name": "Ana", "zones": ["dresses"], "on_shift": True},
    )
    ben = api.call(
        "POST",
        "/stores/s1/associates",
        ops,
        201,
        json={"name": "Ben", "zones": ["entrance"], "on_shift": True},
    )
    enrolled = api.call(
        "POST",
        "/enroll",
        {},
        201,
        json={
            "name": "Maria",
            "purposes": ["associate_recognition", "offers", "analytics"],
            "notice_version": "2026-01",
        },
    )
    cid = enrolled["customer_id"]
    api.call(
        "PATCH",
        f"/customers/{cid}",
        ops,
        json={
            "tier": "gold",
            "tags": ["dresses"],
            "recent_purchases": ["dress"],
            "primary_associate_id": ana["id"],
        },
    )
    welcome = api.call(
        "POST",
        "/stores/s1/rules",
        ops,
        201,
        json={
            "name": "welcome coupon",
            "trigger": "store_entry",
            "tiers": ["gold"],
            "action": "coupon",
            "coupon_text": "20% off dresses",
            "coupon_valid_s": 7200,
        },
    )
    greet = api.call(
        "POST",
        "/stores/s1/rules",
        ops,
        201,
        json={
            "name": "greet gold",
            "trigger": "store_entry",
            "tiers": ["gold"],
            "action": "alert",
            "message": "Gold customer at the door",
        },
    )
    with api.engine.connect() as conn:
        subject = conn.execute(
            text("select subject from customer where id = :id"), {"id": cid}
        ).scalar_one()
    ids = {
        "customer": cid,
        "key": bytes.fromhex(enrolled["token_key"]),
        "app": {"Authorization": f"Bearer {enrolled['access_token']}"},
        "subject": subject,
        "ana": ana["id"],
        "ben": ben["id"],
        "welcome": welcome["id"],
        "greet": greet["id"],
    }
    api.ids.update(ids)
    return ids
