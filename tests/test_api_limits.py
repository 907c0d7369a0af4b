"""Rate limits of ``POST /me/sightings`` (per app credential, one token per sighting) and
``POST /enroll`` (per client address, one token per call): 429 with ``Retry-After`` after the
burst, through again once the bucket refilled (the app's injected clock), and the buckets."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from api.limits import RateLimiter
from api.settings import LimitSettings, RateLimit
from proximity import tokens
from tests.api_fixtures import SETTINGS, Api, Database, make_api, migrated_db, seed

__all__ = ["migrated_db"]

LIMITED = SETTINGS.model_copy(
    update={
        "limits": LimitSettings(
            sightings=RateLimit(burst=5, per_s=0.5), enroll=RateLimit(burst=4, per_s=0.1)
        )
    }
)
ENROLL = {"name": "Eve", "purposes": ["offers"], "notice_version": "2026-01"}


@pytest.fixture
def api(migrated_db: Database) -> Iterator[Api]:
    """An app with small limits (5 sightings, 0.5/s; 4 enrollments, 0.1/s)."""
    yield from make_api(migrated_db, LIMITED)


def _minors(api: Api) -> tuple[int, int]:
    """A valid and an invalid rotating minor of beacon b-door at the clock's now."""
    with api.engine.connect() as conn:
        sealed = conn.execute(text("select secret_enc from store where id='s1'")).scalar_one()
    secret = api.client.app.state.prox.vault.open(bytes(sealed))  # type: ignore[attr-defined]
    window = tokens.window_index(api.clock.now)
    good = tokens.rotating_minor(secret, "b-door", window)
    valid = {tokens.rotating_minor(secret, "b-door", window + d) for d in (-1, 0, 1)}
    bad = next(m for m in range(65536) if m not in valid)
    return good, bad


def _sightings(api: Api, *minors: int) -> dict[str, Any]:
    return {"sightings": [{"store_id": "s1", "beacon": "b-door", "minor": m, "rssi": -60,
                           "ts": api.clock.now} for m in minors]}  # fmt: skip


def _post(api: Api, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return api.client.post("/me/sightings", headers=headers, json=body)


def _assert_429(response: Any, limit: str, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(retry_after)
    assert f"rate limit '{limit}'" in response.json()["detail"]


def test_sightings_limited_after_the_burst_and_refilled(api: Api) -> None:
    ids = seed(api)
    good, bad = _minors(api)
    published = len(api.publisher.messages)
    # 5 tokens: a batch of 2 and three single sightings, good or bad alike
    assert _post(api, ids["app"], _sightings(api, good, bad)).json()["accepted"] == 1
    for minor in (good, bad, good):
        assert _post(api, ids["app"], _sightings(api, minor)).status_code == 200
    response = _post(api, ids["app"], _sightings(api, good))
    _assert_429(response, "sightings", 2)  # one token at 0.5/s
    assert "5 sightings at once, then 0.5 per second" in response.json()["detail"]
    assert len(api.publisher.messages) == published + 3  # the refused call published nothing
    # another credential has a bucket of its own
    other = api.call("POST", "/enroll", {}, 201, json=ENROLL)
    other_app = {"Authorization": f"Bearer {other['access_token']}"}
    assert _post(api, other_app, _sightings(api, good)).status_code == 200
    api.clock.advance(1.0)  # half a token
    _assert_429(_post(api, ids["app"], _sightings(api, good)), "sightings", 1)
    api.clock.advance(1.0)
    out = _post(api, ids["app"], _sightings(api, good))
    assert out.status_code == 200 and out.json()["accepted"] == 1
    # a batch is paid whole or refused whole: 3 sightings need 6 s of refill
    _assert_429(_post(api, ids["app"], _sightings(api, good, good, good)), "sightings", 6)
    api.clock.advance(6.0)
    assert _post(api, ids["app"], _sightings(api, good, good, good)).json()["accepted"] == 3


def test_invalid_minors_count_against_the_bucket(api: Api) -> None:
    ids = seed(api)
    good, bad = _minors(api)
    out = _post(api, ids["app"], _sightings(api, bad, bad, bad, bad, bad))
    assert out.status_code == 200
    assert out.json()["accepted"] == 0 and len(out.json()["rejected"]) == 5
    # five wrong guesses spent the burst: even a valid minor has to wait now
    _assert_429(_post(api, ids["app"], _sightings(api, good)), "sightings", 2)
    api.clock.advance(2.0)
    assert _post(api, ids["app"], _sightings(api, good)).json()["accepted"] == 1


def test_a_batch_larger_than_the_burst_is_a_bad_body(api: Api) -> None:
    ids = seed(api)
    good, _ = _minors(api)
    response = _post(api, ids["app"], _sightings(api, *[good] * 6))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "sightings"]
    assert _post(api, ids["app"], _sightings(api, *[good] * 5)).json()["accepted"] == 5


def test_enroll_limited_per_client_address(api: Api) -> None:
    seed(api)  # one enrollment of the 4
    api.call("POST", "/enroll", {}, 201, json=ENROLL)
    api.call("POST", "/enroll", {}, 422, json={})  # a bad body counts as well
    api.call("POST", "/enroll", {}, 201, json=ENROLL)
    response = api.client.post("/enroll", json=ENROLL)
    _assert_429(response, "enroll", 10)  # one token at 0.1/s
    api.clock.advance(10.0)
    api.call("POST", "/enroll", {}, 201, json=ENROLL)
    _assert_429(api.client.post("/enroll", json=ENROLL), "enroll", 10)


def test_the_429_is_in_the_openapi_schema(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ("/me/sightings", "/enroll"):
        response = paths[path]["post"]["responses"]["429"]
        assert "Retry-After" in response["headers"]


def test_limits_can_be_turned_off(migrated_db: Database) -> None:
    settings = LIMITED.model_copy(update={"limits": LimitSettings(enabled=False)})
    for api in make_api(migrated_db, settings):
        for _ in range(6):
            api.call("POST", "/enroll", {}, 201, json=ENROLL)


def test_bucket_clock_steps_and_bounded_memory() -> None:
    limiter = RateLimiter("x", RateLimit(burst=2, per_s=1.0), "calls", max_callers=3)
    assert limiter.take("a", 100.0, 2) == 0.0
    assert limiter.take("a", 50.0) == 1.0  # clock stepped back: no refill, no debt
    assert limiter.take("a", 51.0) == 0.0
    assert math.isinf(limiter.take("a", 51.0, 3))  # more than a full bucket
    for key in ("b", "c", "d"):
        assert limiter.take(key, 51.0) == 0.0
    assert len(limiter._buckets) == 3  # "a", the least recently used, was forgotten
    assert limiter.take("a", 51.0, 2) == 0.0
