"""Dependencies of the routes: the session, the clock, the caller and the access rules.

Every route declares who may call it with ``Depends(Access(...))``; `Access` records its rules
so that the access-matrix test can check that every route has one. Rules:

- ``ops``: ops of the route's store (``store_id`` path parameter) or of its tenant; on routes
  without a store, any ops (the crud layer then limits rows to the ops' tenant/store).
- ``associate``: an associate of the route's store.
- ``service``: a service credential of the route's store, or a tenant-wide one.
- ``app``: the app of a customer (the ``/me`` routes act on that customer only).
- ``ops_tenant``: tenant-wide ops only (creating stores).
- ``public``: anyone, even without a token.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy import Engine
from sqlmodel import Session

from .feed import Feed
from .limits import RateLimiter
from .models import Message, Store
from .publisher import Publisher
from .security import AuthError, Principal, Vault, read_token
from .settings import Settings

RowId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Row id.")]
"""Integer id in a path (bounded so that no database rejects it)."""

RULES = ("ops", "ops_tenant", "associate", "service", "app")


@dataclass
class AppState:
    """Everything a request needs besides its body; one per app (see `api.main.create_app`).

    Attributes:
        settings: The settings tree.
        engine: Database engine.
        vault: Encryption at rest.
        feed: Live alert feed (SSE).
        publisher: MQTT publisher (sightings to the store engines).
        clock: Wall clock, seconds since the epoch (injected in tests).
        limiters: Rate limits by name (`api.limits.make_limiters`; empty: no limits).
    """

    settings: Settings
    engine: Engine
    vault: Vault
    feed: Feed
    publisher: Publisher
    clock: Callable[[], float] = time.time
    counters: dict[str, int] = field(default_factory=dict)
    limiters: dict[str, RateLimiter] = field(default_factory=dict)


def get_state(request: Request) -> AppState:
    """The app's state."""
    state: AppState = request.app.state.prox
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A database session for one request."""
    with Session(state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(request: Request, state: StateDep) -> Principal | None:
    """The caller from ``Authorization: Bearer`` (or ``?access_token=`` for SSE), or None."""
    header = request.headers.get("authorization", "")
    token: str | None = None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise HTTPException(401, "expected 'Authorization: Bearer <token>'")
        token = value.strip()
    else:
        token = request.query_params.get("access_token")
    if not token:
        return None
    try:
        return read_token(state.settings.auth_secret, token, state.clock())
    except AuthError as exc:
        raise HTTPException(401, str(exc)) from exc


PrincipalDep = Annotated[Principal | None, Depends(get_principal)]

RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "model": Message,
        "description": "Rate limit of this caller exceeded; the detail names the limit",
        "headers": {
            "Retry-After": {
                "description": "Seconds until the call would go through",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
}
"""OpenAPI response of a rate-limited route."""


def rate_limit(state: AppState, name: str, key: str, cost: int = 1) -> None:
    """Spend ``cost`` tokens of ``key`` on the limit ``name``, or answer 429.

    Raises:
        HTTPException: 429 with ``Retry-After`` (whole seconds) and a detail naming the limit.
    """
    limiter = state.limiters.get(name)
    if limiter is None:
        return
    wait = limiter.take(key, state.clock(), cost)
    if wait <= 0:
        return
    if math.isinf(wait):  # callers check the cost against the burst first
        wait = limiter.limit.burst / limiter.limit.per_s
    retry = max(1, math.ceil(wait))
    raise HTTPException(
        429,
        f"rate limit '{name}' exceeded ({limiter.describe()} per caller); retry in {retry} s",
        headers={"Retry-After": str(retry)},
    )


class EnrollLimit:
    """Dependency: the ``enroll`` rate limit per client address (every call counts)."""

    def __call__(self, request: Request, state: StateDep) -> None:
        host = request.client.host if request.client is not None else "unknown"
        rate_limit(state, "enroll", f"addr:{host}")


class Access:
    """A route's access rule: the caller must satisfy one of ``rules``.

    Args:
        rules: Names from `RULES`.
    """

    def __init__(self, *rules: str) -> None:
        for rule in rules:
            if rule not in RULES:
                raise ValueError(f"unknown access rule {rule!r}")
        self.rules = frozenset(rules)

    def __call__(self, request: Request, principal: PrincipalDep, state: StateDep) -> Principal:
        if principal is None:
            raise HTTPException(401, "a bearer token is required")
        store_id = request.path_params.get("store_id")
        # A session of its own, closed at once: a long response (the SSE feed) must not hold a
        # pooled connection for as long as a tablet stays connected.
        with Session(state.engine) as session:
            allowed = self._allows(principal, store_id, session)
        if allowed:
            return principal
        raise HTTPException(403, "not allowed for this caller")

    def _allows(self, p: Principal, store_id: Any, session: Session) -> bool:
        tenant_of_store: str | None = None
        if store_id is not None:
            store = session.get(Store, str(store_id))
            tenant_of_store = store.tenant if store is not None else None
        for rule in self.rules:
            if rule == "ops_tenant" and p.role == "ops" and p.store is None:
                return True
            if rule == "ops" and p.role == "ops":
                if store_id is None:
                    return True
                if p.store == store_id:
                    return True
                if p.store is None and tenant_of_store in (None, p.tenant):
                    return True
            if rule == "associate" and p.role == "associate" and p.store == store_id:
                return True
            if (
                rule == "service"
                and p.role == "service"
                and (store_id is None or p.store in (None, store_id))
            ):
                return True
            if rule == "app" and p.role == "app" and store_id is None:
                return True
        return False


class Public:
    """The access rule of a route anyone may call (the caller, if any, is still checked)."""

    rules = frozenset({"public"})

    def __call__(self, principal: PrincipalDep) -> Principal | None:
        return principal


def access_rules(dependant_calls: list[Any]) -> frozenset[str] | None:
    """The rules of the `Access` among a route's dependencies (None if it has none)."""
    for call in dependant_calls:
        if isinstance(call, Access | Public):
            return call.rules
    return None
