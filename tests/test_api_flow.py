"""API behaviour through real HTTP on the ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import text

from gateway import codec
from proximity import tokens
from tests.api_fixtures import T0, Api, api, migrated_db, seed

__all__ = ["api", "migrated_db"]


def test_entry_raises_alert_and_coupon_once_per_visit(api: Api) -> None:
    ids = seed(api)
    out = api.event("store_entry", ids["subject"], T0 - 1, visit="v1")
    assert not out["duplicate"] and out["live"]
    assert len(out["alerts"]) == 1 and len(out["coupons"]) == 1
    alerts = api.call("GET", "/stores/s1/alerts", api.ops)
    assert [a["customer_name"] for a in alerts] == ["Maria"]
    assert alerts[0]["level"] == "primary" and alerts[0]["associate_ids"] == [ids["ana"]]
    # duplicate event: nothing new
    again = api.event("store_entry", ids["subject"], T0 - 1, visit="v1")
    assert again["duplicate"] and again["alerts"] == [] and again["coupons"] == []
    coupons = api.call("GET", "/me/coupons", ids["app"])
    assert len(coupons) == 1 and coupons[0]["text"] == "20% off dresses"


def test_daily_cap_and_reasons(api: Api) -> None:
    ids = seed(api)
    api.call("PATCH", "/stores/s1", api.ops, json={"daily_cap": 2})
    api.event("store_entry", ids["subject"], T0 - 1, visit="v1")
    api.event("store_exit", ids["subject"], T0 + 60, visit="v1")
    api.clock.advance(600)
    out = api.event("store_entry", ids["subject"], T0 + 599, visit="v2")
    assert out["alerts"] == [] and out["coupons"] == []
    reasons = api.call("GET", "/stores/s1/rule-decisions", api.ops)
    assert sorted(r["reason"] for r in reasons) == ["daily_cap", "daily_cap", "fired", "fired"]


def test_stale_event_recorded_not_live(api: Api) -> None:
    ids = seed(api)
    out = api.event("store_entry", ids["subject"], T0 - 3600, visit="old")
    assert not out["live"] and out["alerts"] == [] and out["coupons"] == []
    with api.engine.connect() as conn:
        assert conn.execute(text("select count(*) from rawevent")).scalar_one() == 1
        assert conn.execute(text("select count(*) from visit")).scalar_one() == 1


def test_quiet_hours_in_store_time_zone(api: Api) -> None:
    ids = seed(api, timezone="Europe/Paris")  # T0 is 11:00 in Paris
    api.call(
        "PUT",
        f"/stores/s1/rules/{ids['welcome']}",
        api.ops,
        json={
            "name": "welcome",
            "trigger": "store_entry",
            "action": "coupon",
            "quiet_start": "10:30",
            "quiet_end": "11:30",
        },
    )
    out = api.event("store_entry", ids["subject"], T0, visit="v1")
    assert out["coupons"] == [] and len(out["alerts"]) == 1
    reasons = {
        r["rule_id"]: r["reason"] for r in api.call("GET", "/stores/s1/rule-decisions", api.ops)
    }
    assert reasons[ids["welcome"]] == "quiet_hours"


def test_withdrawal_deletes_key_and_stops_alerts(api: Api) -> None:
    ids = seed(api)
    out = api.event("store_entry", ids["subject"], T0, visit="v1")
    assert len(out["alerts"]) == 1
    table = api.call("GET", "/stores/s1/resolution-table", api.service)
    loaded = tokens.ResolutionTable.from_json(table, "api")
    window = tokens.window_index(T0)
    assert loaded.resolve(tokens.derive_token(ids["key"], window)) == ids["subject"]
    api.call(
        "POST",
        "/me/consent/withdraw",
        ids["app"],
        json={
            "purposes": ["associate_recognition", "offers", "analytics"],
            "notice_version": "2026-01",
        },
    )
    assert api.call("GET", "/stores/s1/alerts", api.ops) == []
    table = tokens.ResolutionTable.from_json(
        api.call("GET", "/stores/s1/resolution-table", api.service), "api"
    )
    assert len(table) == 0
    with api.engine.connect() as conn:
        assert conn.execute(text("select count(*) from devicekey")).scalar_one() == 0
    api.clock.advance(30)
    out = api.event("zone_enter", ids["subject"], T0 + 29, zone="dresses", visit="v1")
    assert out["alerts"] == [] and out["coupons"] == []


def test_erasure_removes_personal_data(api: Api) -> None:
    ids = seed(api)
    api.event("store_entry", ids["subject"], T0, visit="v1")
    erased = api.call("DELETE", f"/customers/{ids['customer']}", api.ops)
    assert erased["name"] == "erased" and erased["tags"] == [] and erased["erased_at"] == T0
    with api.engine.connect() as conn:
        assert conn.execute(text("select count(*) from devicekey")).scalar_one() == 0
        assert conn.execute(text("select count(*) from consent")).scalar_one() == 0
        assert conn.execute(text("select count(*) from coupon")).scalar_one() == 0
        names = conn.execute(text("select name from customer")).scalars().all()
        assert "Maria" not in names
    # her subject id maps to nobody now
    out = api.event("zone_enter", ids["subject"], T0 + 1, zone="dresses", visit="v1")
    assert out["alerts"] == [] and out["coupons"] == []


def test_alert_claim_resolve_escalate(api: Api) -> None:
    from api.main import escalate_once

    ids = seed(api)
    alert_id = api.event("store_entry", ids["subject"], T0, visit="v1")["alerts"][0]
    state = api.client.app.state.prox  # type: ignore[attr-defined]
    api.clock.advance(29)
    assert escalate_once(state) == 0
    api.clock.advance(2)
    assert escalate_once(state) == 1
    alert = api.call("GET", "/stores/s1/alerts", api.ops)[0]
    assert alert["level"] == "store" and alert["escalations"] == 1
    assert sorted(alert["associate_ids"]) == sorted([ids["ana"], ids["ben"]])
    ben = api.auth("associate", store="s1", associate=ids["ben"])
    ana = api.auth("associate", store="s1", associate=ids["ana"])
    api.call("POST", f"/stores/s1/alerts/{alert_id}/claim", ben)
    api.call("POST", f"/stores/s1/alerts/{alert_id}/claim", ana, 409)
    api.call("POST", f"/stores/s1/alerts/{alert_id}/resolve", ana, 409)
    done = api.call("POST", f"/stores/s1/alerts/{alert_id}/resolve", ben)
    assert done["status"] == "resolved"


def test_no_approach_preference(api: Api) -> None:
    ids = seed(api)
    api.call(
        "PATCH",
        f"/customers/{ids['customer']}",
        api.ops,
        json={"preferences": {"no_approach": True}},
    )
    out = api.event("store_entry", ids["subject"], T0, visit="v1")
    assert out["alerts"] == [] and len(out["coupons"]) == 1


def test_coupon_verify_locks_and_redeems_once(api: Api) -> None:
    ids = seed(api)
    api.event("store_entry", ids["subject"], T0, visit="v1")
    code = api.call("GET", "/me/coupons", ids["app"])[0]["code"]
    pos = api.service
    body = {"code": code, "customer_id": ids["customer"], "pos": "till-1"}
    api.call(
        "POST", "/stores/s1/coupons/verify", pos, json={**body, "customer_id": 999}, expect=409
    )
    api.call("POST", "/stores/s1/coupons/verify", pos, json=body)
    api.call("POST", "/stores/s1/coupons/verify", pos, json={**body, "pos": "till-2"}, expect=409)
    api.call(
        "POST", "/stores/s1/coupons/redeem", pos, json={"code": code, "pos": "till-2"}, expect=409
    )
    api.call("POST", "/stores/s1/coupons/redeem", pos, json={"code": code, "pos": "till-1"})
    api.call(
        "POST", "/stores/s1/coupons/redeem", pos, json={"code": code, "pos": "till-1"}, expect=409
    )
    api.clock.advance(7201)
    assert api.call("GET", "/me/coupons", ids["app"]) == []


def test_sightings_checked_against_rotating_minor(api: Api) -> None:
    ids = seed(api)
    with api.engine.connect() as conn:
        sealed = conn.execute(text("select secret_enc from store where id='s1'")).scalar_one()
    secret = api.client.app.state.prox.vault.open(bytes(sealed))  # type: ignore[attr-defined]
    good = tokens.rotating_minor(secret, "b-door", tokens.window_index(T0))
    old = tokens.rotating_minor(secret, "b-door", tokens.window_index(T0) - 5)
    body = {
        "sightings": [
            {"store_id": "s1", "beacon": "b-door", "minor": good, "rssi": -60, "ts": T0 - 1},
            {"store_id": "s1", "beacon": "b-door", "minor": old, "rssi": -60, "ts": T0 - 2},
            {"store_id": "s1", "beacon": "b-door", "minor": good, "rssi": -60, "ts": T0 - 3600},
            {"store_id": "s1", "beacon": "nope", "minor": good, "rssi": -60, "ts": T0},
        ]
    }
    out = api.call("POST", "/me/sightings", ids["app"], json=body)
    assert out["accepted"] == 1 and len(out["rejected"]) == 3
    assert len(api.publisher.messages) == 1
    topic, payload = api.publisher.messages[0]
    assert topic == "prox/v1/s1/sightings"
    # the store's hub reads exactly this (gateway/codec.py, the other side of the topic)
    assert codec.decode_sightings(topic, payload) == [(T0 - 1, "gw-door", ids["subject"], -60.0)]


def test_analytics(api: Api) -> None:
    ids = seed(api)
    s = ids["subject"]
    alert_id = api.event("store_entry", s, T0, visit="v1")["alerts"][0]
    api.clock.advance(12)
    api.call(
        "POST",
        f"/stores/s1/alerts/{alert_id}/claim",
        api.auth("associate", store="s1", associate=ids["ana"]),
    )
    api.event("zone_enter", s, T0 + 5, zone="dresses", visit="v1")
    api.event("zone_exit", s, T0 + 95, zone="dresses", visit="v1")
    api.event("store_exit", s, T0 + 100, visit="v1")
    api.event("store_entry", s, T0 + 200, visit="v2")
    api.event("store_entry", "fob-1", T0 + 10, visit="v3")
    out = api.call(
        "GET", "/stores/s1/analytics", api.ops, params={"start": T0 - 10, "end": T0 + 1000}
    )
    assert out["visits"] == 3 and out["visitors"] == 2 and out["repeat_visitors"] == 1
    assert out["footfall_by_hour"] == {"10": 3}
    assert out["dwell"][0]["zone"] == "dresses" and out["dwell"][0]["median_s"] == 90.0
    assert out["alert_response_median_s"] == 12.0
    assert out["coupons_issued"] == 1 and out["coupon_conversion"] == 0.0


def test_bad_body_names_field(api: Api) -> None:
    seed(api)
    r = api.client.post(
        "/stores/s1/rules",
        headers=api.ops,
        json={"name": "x", "trigger": "store_entry", "action": "fly"},
    )
    assert r.status_code == 422
    assert any(e["loc"][-1] == "action" for e in r.json()["detail"])
    r = api.client.post(
        "/stores", headers=api.ops, json={"id": "s9", "name": "x", "timezone": "Mars/Base"}
    )
    assert r.status_code == 422 and "timezone" in r.text


def test_a_saved_layout_outlives_the_api(api: Api) -> None:
    """The map and zone editor read the layout from the database: a restarted API still has it;
    a bad layout is refused whole and leaves the saved one as it was."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from proximity.files import load_store
    from proximity.store import dump_store

    seed(api)
    api.call("GET", "/stores/s1/layout", api.ops, 404)
    layout = dump_store(load_store("config/stores/boutique.yaml"))
    layout["store"]["id"] = "s1"
    saved = api.call("PUT", "/stores/s1/layout", api.ops, json=layout)
    assert saved["published"] is False  # MQTT is off here; the layout is kept all the same
    bad = json.loads(json.dumps(layout))
    bad["zones"][0]["kind"] = "attic"
    api.call("PUT", "/stores/s1/layout", api.ops, 422, json=bad)

    again = create_app(api.settings, engine=api.engine, clock=api.clock)  # type: ignore[arg-type]
    with TestClient(again) as client:
        response = client.get("/stores/s1/layout", headers=api.ops)
    assert response.status_code == 200
    assert response.json() == saved["layout"]
    assert response.json()["zones"] == layout["zones"]


def test_a_visit_begins_when_the_engine_says_she_came_in(api: Api) -> None:
    """``since`` of a store_entry (the engine's estimate of the door crossing, before its
    decision) is the visit's start; an entry without it starts at its ``ts``."""
    seed(api)
    api.event("store_entry", "fob-1", T0 + 10, visit="v1", since=T0 + 4)
    api.event("store_entry", "fob-2", T0 + 10, visit="v2")
    with api.engine.connect() as conn:
        rows = dict(conn.execute(text("select visit_key, started_at from visit")).all())
    assert rows == {"v1": T0 + 4, "v2": T0 + 10}


def test_a_write_queued_on_a_closed_mqtt_socket_is_no_traceback() -> None:
    """aiomqtt's deferred ``add_writer`` on a socket closed meanwhile (seen on Ctrl-C of the
    demo) is logged quietly; any other loop error still reaches the default handler."""
    import asyncio
    import errno

    from api.main import quiet_closed_socket_writes

    seen: list[dict[str, object]] = []

    class Loop:
        def default_exception_handler(self, context: dict[str, object]) -> None:
            seen.append(context)

    class Handle:
        def __repr__(self) -> str:
            return "<Handle BaseSelectorEventLoop.add_writer(25, <function Client...>)>"

    loop: asyncio.AbstractEventLoop = Loop()  # type: ignore[assignment]
    closed = OSError(errno.EBADF, "Bad file descriptor")
    quiet_closed_socket_writes(loop, {"exception": closed, "handle": Handle()})
    assert seen == []
    other = {"exception": OSError(errno.EPIPE, "Broken pipe"), "handle": Handle()}
    quiet_closed_socket_writes(loop, other)
    quiet_closed_socket_writes(loop, {"exception": closed, "handle": "reader"})
    assert len(seen) == 2
