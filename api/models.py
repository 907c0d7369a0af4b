"""Database tables and the request/response shapes around them (SQLModel).

Naming follows the FastAPI full-stack template: ``XBase`` (shared fields), ``X(table=True)``,
``XCreate``, ``XUpdate``, ``XPublic``. Every time is seconds since the Unix epoch as a float,
the clock the store engines' events use. Identifiers that the engine uses (store, zone and
gateway ids) are strings; rows the API creates get integer ids.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import FiniteFloat, field_validator
from sqlalchemy import JSON, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

MAX_ID = 2**31 - 1
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class Purpose(StrEnum):
    """What a customer consents to, one by one."""

    ASSOCIATE_RECOGNITION = "associate_recognition"
    OFFERS = "offers"
    ANALYTICS = "analytics"


class ZoneKind(StrEnum):
    """Zone kinds of the store file."""

    OUTSIDE = "outside"
    ENTRANCE = "entrance"
    SALES = "sales"
    CHECKOUT = "checkout"
    PICKUP = "pickup"
    PRIVATE = "private"


class Trigger(StrEnum):
    """What makes a rule look at a customer."""

    STORE_ENTRY = "store_entry"
    ZONE_ENTER = "zone_enter"
    ZONE_DWELL = "zone_dwell"
    PICKUP_WAITING = "pickup_waiting"


class Action(StrEnum):
    """What a rule does when it fires."""

    ALERT = "alert"
    COUPON = "coupon"


class AlertStatus(StrEnum):
    """Life of an associate alert: offered -> claimed -> resolved (or expired/cancelled)."""

    OFFERED = "offered"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


LIVE_ALERT_STATES = (AlertStatus.OFFERED, AlertStatus.CLAIMED)


class CouponStatus(StrEnum):
    """Life of a coupon: issued -> locked (POS verify) -> redeemed."""

    ISSUED = "issued"
    LOCKED = "locked"
    REDEEMED = "redeemed"


# --- stores, zones, gateways, beacons -------------------------------------------------------


class StoreBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    tenant: str = Field(default="default", max_length=64, regex=_ID)
    daily_cap: int = Field(default=2, ge=0, le=100, description="Rule firings per customer/day.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class Store(StoreBase, table=True):
    id: str = Field(primary_key=True, max_length=64)
    secret_enc: bytes = Field(sa_type=LargeBinary, description="Rotating-minor secret, encrypted.")


class StoreLayout(SQLModel, table=True):
    """The store file the engine runs with, as last saved by ops (the map and zone editor read
    it; the retained MQTT config carries it to the hub)."""

    store_id: str = Field(primary_key=True, foreign_key="store.id", max_length=64)
    document: str = Field(sa_type=Text, description="Store file as JSON.")
    saved_at: float


class StoreCreate(StoreBase):
    id: str = Field(regex=_ID, max_length=64)


class StoreUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = None
    daily_cap: int | None = Field(default=None, ge=0, le=100)


class StorePublic(StoreBase):
    id: str


class ZoneBase(SQLModel):
    zone: str = Field(regex=_ID, max_length=64, description="The engine's zone id.")
    kind: ZoneKind = Field(sa_type=String(16))
    dwell_s: float | None = Field(default=None, gt=0, description="zone_dwell threshold, s.")


class Zone(ZoneBase, table=True):
    __table_args__ = (UniqueConstraint("store_id", "zone"),)
    id: int | None = Field(default=None, primary_key=True)
    store_id: str = Field(foreign_key="store.id", index=True, max_length=64)


class ZoneCreate(ZoneBase):
    pass


class ZonePublic(ZoneBase):
    id: int
    store_id: str


class GatewayBase(SQLModel):
    gateway: str = Field(regex=_ID, max_length=64, description="The gateway id.")


class Gateway(GatewayBase, table=True):
    __table_args__ = (UniqueConstraint("store_id", "gateway"),)
    id: int | None = Field(default=None, primary_key=True)
    store_id: str = Field(foreign_key="store.id", index=True, max_length=64)
    state: str = Field(default="unknown", max_length=16)
    boot_id: str | None = Field(default=None, max_length=64)
    started: float | None = None
    status_ts: float | None = None
    health: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    health_ts: float | None = None


class GatewayCreate(GatewayBase):
    pass


class GatewayPublic(GatewayBase):
    id: int
    store_id: str
    state: str
    boot_id: str | None
    started: float | None
    status_ts: float | None
    health: dict[str, Any] | None
    health_ts: float | None


class BeaconBase(SQLModel):
    beacon: str = Field(regex=_ID, max_length=64, description="Beacon id (rotating minor key).")
    gateway: str = Field(regex=_ID, max_length=64, description="Gateway that transmits it.")
    uuid: str = Field(max_length=36, regex=r"^[0-9a-fA-F-]{32,36}$")
    major: int = Field(ge=0, le=65535)


class Beacon(BeaconBase, table=True):
    __table_args__ = (UniqueConstraint("store_id", "beacon"),)
    id: int | None = Field(default=None, primary_key=True)
    store_id: str = Field(foreign_key="store.id", index=True, max_length=64)


class BeaconCreate(BeaconBase):
    pass


class BeaconPublic(BeaconBase):
    id: int
    store_id: str


# --- customers, consent, keys ----------------------------------------------------------------


class CustomerBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    tier: str = Field(default="standard", max_length=32)
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    preferences: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    notes: str = Field(default="", max_length=2000)
    recent_purchases: list[str] = Field(default_factory=list, sa_type=JSON)
    primary_associate_id: int | None = Field(
        default=None, foreign_key="associate.id", ge=1, le=MAX_ID
    )


class Customer(CustomerBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(default="default", max_length=64, index=True)
    subject: str | None = Field(default=None, max_length=64, unique=True, index=True)
    created_at: float = 0.0
    erased_at: float | None = None


class CustomerCreate(CustomerBase):
    tenant: str = Field(default="default", max_length=64, regex=_ID)


class CustomerUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    tier: str | None = Field(default=None, max_length=32)
    tags: list[str] | None = None
    preferences: dict[str, Any] | None = None
    notes: str | None = Field(default=None, max_length=2000)
    recent_purchases: list[str] | None = None
    primary_associate_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class CustomerPublic(CustomerBase):
    id: int
    tenant: str
    created_at: float
    erased_at: float | None


class Consent(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("customer_id", "purpose"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    purpose: str = Field(max_length=32)
    granted: bool
    notice_version: str = Field(max_length=32)
    granted_at: float | None = None
    withdrawn_at: float | None = None


class ConsentPublic(SQLModel):
    purpose: Purpose
    granted: bool
    notice_version: str
    granted_at: float | None
    withdrawn_at: float | None


class ConsentChange(SQLModel):
    purposes: list[Purpose] = Field(min_length=1)
    notice_version: str = Field(min_length=1, max_length=32)


class ConsentGrantResult(SQLModel):
    token_key: str | None = Field(description="A new device key, hex, shown once; else null.")
    consents: list[ConsentPublic]


class DeviceKey(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", unique=True)
    key_enc: bytes = Field(sa_type=LargeBinary)
    created_at: float


class Enrollment(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    tenant: str = Field(default="default", max_length=64, regex=_ID)
    purposes: list[Purpose] = Field(min_length=1)
    notice_version: str = Field(min_length=1, max_length=32)


class EnrollmentResult(SQLModel):
    customer_id: int
    token_key: str = Field(description="The device key, hex; shown once, never again.")
    access_token: str = Field(description="Bearer token of the app for this customer.")
    consents: list[ConsentPublic]


# --- associates, orders ----------------------------------------------------------------------


class AssociateBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    zones: list[str] = Field(default_factory=list, sa_type=JSON)
    on_shift: bool = False


class Associate(AssociateBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    store_id: str = Field(foreign_key="store.id", index=True, max_length=64)


class AssociateCreate(AssociateBase):
    pass


class AssociateUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    zones: list[str] | None = None
    on_shift: bool | None = None


class AssociatePublic(AssociateBase):
    id: int
    store_id: str


class PickupOrderBase(SQLModel):
    customer_id: int = Field(ge=1, le=MAX_ID)
    reference: str = Field(min_length=1, max_length=64)


class PickupOrder(PickupOrderBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    store_id: str = Field(foreign_key="store.id", index=True, max_length=64)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    status: str = Field(default="waiting", max_length=16)
    created_at: float = 0.0
    collected_at: float | None = None


class PickupOrderCreate(PickupOrderBase):
    pass


class PickupOrderPublic(PickupOrderBase):
    id: int
    store_id: str
    status: str
    created_at: float
    collected_at: float | None


# --- rules -----------------------------------------------------------------------------------


class RuleBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    trigger: Trigger = Field(sa_type=String(32))
    zone: str | None = Field(default=None, max_length=64, description="Zone for zone triggers.")
    min_dwell_s: float = Field(default=0.0, ge=0, description="zone_dwell: at least this, s.")
    tiers: list[str] = Field(default_factory=list, sa_type=JSON, description="Empty: any tier.")
    tags: list[str] = Field(default_factory=list, sa_type=JSON, description="Any of these.")
    purpose: Purpose | None = Field(
        default=None, sa_type=String(32), description="Consent needed (besides the action's)."
    )
    action: Action = Field(sa_type=String(16))
    message: str = Field(default="", max_length=500)
    coupon_text: str = Field(default="", max_length=200)
    coupon_valid_s: float = Field(default=7200.0, gt=0, le=30 * 86400)
    weekdays: list[int] = Field(
        default_factory=list, sa_type=JSON, description="0=Monday; empty: every day."
    )
    start_time: str | None = Field(default=None, regex=_HHMM, description="Local HH:MM.")
    end_time: str | None = Field(default=None, regex=_HHMM, description="Local HH:MM.")
    quiet_start: str | None = Field(default=None, regex=_HHMM, description="Local HH:MM.")
    quiet_end: str | None = Field(default=None, regex=_HHMM, description="Local HH:MM.")
    cooldown_s: float = Field(default=0.0, ge=0)
    once_per_visit: bool = True

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        for day in value:
            if not 0 <= day <= 6:
                raise ValueError(f"weekday {day} out of range 0..6 (0 = Monday)")
        return value


class Rule(RuleBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    store_id: str = Field(foreign_key="store.id", index=True, max_length=64)


class RuleCreate(RuleBase):
    pass


class RulePublic(RuleBase):
    id: int
    store_id: str


class RuleDecision(SQLModel, table=True):
    """One evaluation of one rule for one customer event: fired, or the reason it did not."""

    id: int | None = Field(default=None, primary_key=True)
    rule_id: int = Field(foreign_key="rule.id", index=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    event_id: str = Field(max_length=128, index=True)
    visit_key: str | None = Field(default=None, max_length=128)
    fired: bool
    reason: str = Field(max_length=64)
    ts: float


class RuleDecisionPublic(SQLModel):
    id: int
    rule_id: int
    customer_id: int | None
    event_id: str
    visit_key: str | None
    fired: bool
    reason: str
    ts: float


# --- alerts, coupons -------------------------------------------------------------------------


class Alert(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    store_id: str = Field(foreign_key="store.id", index=True, max_length=64)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    rule_id: int | None = Field(default=None, foreign_key="rule.id")
    visit_key: str = Field(max_length=128, index=True)
    zone: str | None = Field(default=None, max_length=64)
    message: str = Field(default="", max_length=2000)
    status: str = Field(default=AlertStatus.OFFERED, max_length=16, index=True)
    level: str = Field(default="store", max_length=16, description="primary | zone | store")
    associate_ids: list[int] = Field(default_factory=list, sa_type=JSON)
    claimed_by: int | None = Field(default=None, foreign_key="associate.id")
    event_ts: float
    created_at: float
    offered_at: float
    claimed_at: float | None = None
    resolved_at: float | None = None
    escalations: int = 0


class AlertPublic(SQLModel):
    id: int
    store_id: str
    customer_id: int
    customer_name: str
    tier: str
    recent_purchases: list[str]
    pickup_waiting: bool
    rule_id: int | None
    visit_key: str
    zone: str | None
    message: str
    status: str
    level: str
    associate_ids: list[int]
    claimed_by: int | None
    event_ts: float
    created_at: float
    offered_at: float
    claimed_at: float | None
    resolved_at: float | None
    escalations: int


class AlertClaim(SQLModel):
    associate_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Ops may claim for someone."
    )


class Coupon(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    store_id: str = Field(foreign_key="store.id", index=True, max_length=64)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    rule_id: int | None = Field(default=None, foreign_key="rule.id")
    visit_key: str | None = Field(default=None, max_length=128)
    text: str = Field(default="", max_length=200)
    issued_at: float
    valid_until: float
    status: str = Field(default=CouponStatus.ISSUED, max_length=16)
    locked_at: float | None = None
    locked_by: str | None = Field(default=None, max_length=64)
    redeemed_at: float | None = None


class CouponPublic(SQLModel):
    id: int
    code: str
    store_id: str
    customer_id: int
    rule_id: int | None
    text: str
    issued_at: float
    valid_until: float
    status: str
    redeemed_at: float | None


class CouponVerify(SQLModel):
    code: str = Field(min_length=1, max_length=32)
    customer_id: int = Field(ge=1, le=MAX_ID)
    pos: str = Field(min_length=1, max_length=64, description="Till id holding the lock.")


class CouponRedeem(SQLModel):
    code: str = Field(min_length=1, max_length=32)
    pos: str = Field(min_length=1, max_length=64)


# --- visits and raw events -------------------------------------------------------------------


class Visit(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("store_id", "visit_key"),)
    id: int | None = Field(default=None, primary_key=True)
    store_id: str = Field(foreign_key="store.id", index=True, max_length=64)
    visit_key: str = Field(max_length=128)
    subject: str = Field(max_length=128, index=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    started_at: float = Field(index=True)
    ended_at: float | None = None


class ZoneVisit(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", index=True)
    store_id: str = Field(foreign_key="store.id", index=True, max_length=64)
    zone: str = Field(max_length=64)
    entered_at: float
    exited_at: float | None = None
    dwell_s: float | None = None


class RawEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=128, unique=True)
    store_id: str = Field(max_length=64, index=True)
    type: str = Field(max_length=16)
    subject: str = Field(max_length=128)
    zone: str | None = Field(default=None, max_length=64)
    ts: float
    received_at: float
    live: bool
    payload: dict[str, Any] = Field(sa_type=JSON)


class EventIn(SQLModel):
    """A contract event (ARCHITECTURE.md, Events JSON lines), as posted or received."""

    type: str = Field(regex=r"^(store_entry|zone_enter|zone_dwell|zone_exit|store_exit)$")
    device: str = Field(min_length=1, max_length=128)
    zone: str | None = Field(default=None, max_length=64)
    ts: FiniteFloat
    event_id: str = Field(min_length=1, max_length=128)
    visit_id: str | None = Field(default=None, max_length=128)
    confidence: FiniteFloat | None = None
    dwell_s: FiniteFloat | None = None
    since: FiniteFloat | None = None


class IngestResult(SQLModel):
    event_id: str
    duplicate: bool
    live: bool
    alerts: list[int]
    coupons: list[int]


class Sighting(SQLModel):
    """What the iPhone app reports: it heard ``beacon`` with ``minor`` at ``rssi`` dBm."""

    store_id: str = Field(regex=_ID, max_length=64)
    beacon: str = Field(regex=_ID, max_length=64)
    minor: int = Field(ge=0, le=65535)
    rssi: int = Field(ge=-127, le=20, description="dBm")
    ts: FiniteFloat = Field(description="Seconds since the epoch.")


class SightingBatch(SQLModel):
    sightings: list[Sighting] = Field(min_length=1, max_length=200)


class SightingResult(SQLModel):
    accepted: int
    rejected: list[str]


class Message(SQLModel):
    detail: str
