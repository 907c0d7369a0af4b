"""Access matrix: every route, every role. Fails when a route has no rule here."""

from __future__ import annotations

import re
from typing import Any

import pytest

from api.deps import access_rules
from api.main import api_routes
from tests.api_fixtures import Api, api, migrated_db, seed

__all__ = ["api", "migrated_db"]

OPS, ASSOC, SERVICE, APP, PUBLIC = "ops", "associate", "service", "app", "public"
# (method, path) -> who may call it. Written by hand: it is the specification.
MATRIX: dict[tuple[str, str], set[str]] = {
    ("POST", "/stores"): {"ops_tenant"},
    ("GET", "/stores"): {OPS},
    ("GET", "/stores/{store_id}"): {OPS, ASSOC, SERVICE},
    ("PATCH", "/stores/{store_id}"): {OPS},
    ("POST", "/stores/{store_id}/zones"): {OPS},
    ("GET", "/stores/{store_id}/zones"): {OPS, ASSOC},
    ("POST", "/stores/{store_id}/gateways"): {OPS},
    ("GET", "/stores/{store_id}/gateways"): {OPS},
    ("POST", "/stores/{store_id}/beacons"): {OPS},
    ("GET", "/stores/{store_id}/beacons"): {OPS, SERVICE},
    ("GET", "/stores/{store_id}/beacons/{beacon}/minors"): {SERVICE},
    ("POST", "/customers"): {OPS},
    ("GET", "/customers"): {OPS},
    ("GET", "/customers/{customer_id}"): {OPS},
    ("PATCH", "/customers/{customer_id}"): {OPS},
    ("DELETE", "/customers/{customer_id}"): {OPS},
    ("GET", "/customers/{customer_id}/consent"): {OPS},
    ("POST", "/enroll"): {PUBLIC},
    ("GET", "/me"): {APP},
    ("GET", "/me/consent"): {APP},
    ("POST", "/me/consent"): {APP},
    ("POST", "/me/consent/withdraw"): {APP},
    ("DELETE", "/me"): {APP},
    ("GET", "/me/coupons"): {APP},
    ("POST", "/me/sightings"): {APP},
    ("GET", "/stores/{store_id}/resolution-table"): {SERVICE},
    ("POST", "/stores/{store_id}/events"): {SERVICE},
    ("POST", "/stores/{store_id}/associates"): {OPS},
    ("GET", "/stores/{store_id}/associates"): {OPS, ASSOC},
    ("PATCH", "/stores/{store_id}/associates/{associate_id}"): {OPS, ASSOC},
    ("POST", "/stores/{store_id}/orders"): {OPS, SERVICE},
    ("GET", "/stores/{store_id}/orders"): {OPS, ASSOC, SERVICE},
    ("POST", "/stores/{store_id}/orders/{order_id}/collect"): {OPS, ASSOC},
    ("POST", "/stores/{store_id}/rules"): {OPS},
    ("GET", "/stores/{store_id}/rules"): {OPS},
    ("PUT", "/stores/{store_id}/rules/{rule_id}"): {OPS},
    ("GET", "/stores/{store_id}/rule-decisions"): {OPS},
    ("GET", "/stores/{store_id}/alerts"): {OPS, ASSOC},
    ("GET", "/stores/{store_id}/alerts/feed"): {OPS, ASSOC},
    ("POST", "/stores/{store_id}/alerts/{alert_id}/claim"): {OPS, ASSOC},
    ("POST", "/stores/{store_id}/alerts/{alert_id}/resolve"): {OPS, ASSOC},
    ("POST", "/stores/{store_id}/coupons/verify"): {OPS, ASSOC, SERVICE},
    ("POST", "/stores/{store_id}/coupons/redeem"): {OPS, ASSOC, SERVICE},
    ("GET", "/stores/{store_id}/coupons"): {OPS},
    ("GET", "/stores/{store_id}/analytics"): {OPS},
    ("GET", "/stores/{store_id}/layout"): {OPS, ASSOC},
    ("PUT", "/stores/{store_id}/layout"): {OPS},
    ("GET", "/stores/{store_id}/occupancy"): {OPS, ASSOC},
    ("GET", "/stores/{store_id}/alerts/{alert_id}/card"): {OPS, ASSOC},
    ("GET", "/health"): {PUBLIC},
}


def _routes(app: Any) -> dict[tuple[str, str], Any]:
    out = {}
    for route in api_routes(app):
        for method in route.methods:
            if method != "HEAD":
                out[(method, route.path)] = route
    return out


def test_every_route_has_a_rule_here_and_in_code(api: Api) -> None:
    routes = _routes(api.client.app)
    assert set(routes) == set(MATRIX), "routes without a matrix row (or stale rows)"
    for key, route in routes.items():
        declared = access_rules([d.call for d in route.dependant.dependencies])
        assert declared == MATRIX[key], key


# caller name -> (token kwargs or None for anonymous, which matrix rules it satisfies on s1)
CALLERS: dict[str, tuple[dict[str, Any] | None, set[str]]] = {
    "anonymous": (None, {PUBLIC}),
    "ops_tenant": ({"role": "ops"}, {PUBLIC, OPS, "ops_tenant"}),
    "ops_s1": ({"role": "ops", "store": "s1"}, {PUBLIC, OPS}),
    "ops_s2": ({"role": "ops", "store": "s2"}, {PUBLIC}),
    "ops_other_tenant": ({"role": "ops", "tenant": "other"}, {PUBLIC}),
    "associate_s1": ({"role": "associate", "store": "s1", "associate": 1}, {PUBLIC, ASSOC}),
    "associate_s2": ({"role": "associate", "store": "s2", "associate": 1}, {PUBLIC}),
    "service_s1": ({"role": "service", "store": "s1"}, {PUBLIC, SERVICE}),
    "service_s2": ({"role": "service", "store": "s2"}, {PUBLIC}),
    "app": ({"role": "app", "customer": 1}, {PUBLIC, APP}),
}
STORE_FREE_OK = {
    "ops_s2": {OPS},
    "ops_other_tenant": {OPS, "ops_tenant"},
    "service_s2": set(),
    "associate_s2": set(),
}


def _allowed(caller: str, rules: set[str], path: str) -> bool:
    _, satisfied = CALLERS[caller]
    if "{store_id}" not in path:
        satisfied = satisfied | STORE_FREE_OK.get(caller, set())
    return bool(rules & satisfied)


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_access_matrix(api: Api, caller: str) -> None:
    seed(api)
    kwargs, _ = CALLERS[caller]
    headers = {}
    if kwargs is not None:
        kw = dict(kwargs)
        role = kw.pop("role")
        headers = api.auth(role, **kw)
    for (method, path), rules in sorted(MATRIX.items()):
        if path.endswith("/feed"):
            continue  # streams forever; its rule is checked by the route test and the e2e test
        url = re.sub(r"\{store_id\}", "s1", path)
        url = re.sub(r"\{[a-z_]+\}", "999999", url)
        response = api.client.request(
            method, url, headers=headers, json={} if method in ("POST", "PUT", "PATCH") else None
        )
        denied = response.status_code in (401, 403)
        allowed = _allowed(caller, rules, path)
        if allowed:
            assert (
                not denied or "your tenant" in response.text or "only their own" in response.text
            ), (caller, method, path, response.status_code, response.text)
        else:
            assert denied, (caller, method, path, response.status_code, response.text)
            assert response.status_code == (401 if kwargs is None else 403)
