"""All API settings in one pydantic-settings tree.

Environment variables use the prefix ``PROX_API_`` and ``__`` between nested names, e.g.
``PROX_API_DATABASE_URL``, ``PROX_API_MQTT__HOST``, ``PROX_API_ALERTS__ESCALATE_S``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MqttSettings(BaseModel):
    """Broker the ingest consumer connects to (``enabled: false`` runs without MQTT).

    ``client_id`` names the API's session on the broker: with ``persistent_session`` (MQTT
    3.1.1, clean session off) the broker keeps the subscriptions and queues the QoS 1 events
    published while the API is away, and hands them over when a client with the same id
    connects again. Every API process needs an id of its own (two connections with one id
    take the session from each other).
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str = Field(default="prox-api", min_length=1)
    persistent_session: bool = Field(
        default=True,
        description="Clean session off: the broker queues events while the API is away.",
    )
    reconnect_s: float = Field(default=2.0, gt=0, description="Wait before reconnecting, seconds.")


class RateLimit(BaseModel):
    """A token bucket: a caller may spend ``burst`` tokens at once, refilled at ``per_s``."""

    burst: int = Field(gt=0, description="Tokens a caller may spend at once (bucket size).")
    per_s: float = Field(gt=0, description="Tokens given back per second.")


class LimitSettings(BaseModel):
    """Per-caller rate limits, in-process token buckets (each API process counts alone).

    Attributes:
        enabled: Off only for load tests.
        sightings: ``POST /me/sightings`` per app credential, one token per sighting (each
            one is a guess of a rotating minor, 3/65536 of a hit, valid or not). 200 = the
            largest batch; 2 per second is a phone ranging two beacons continuously, and one
            lucky guess every ~3 hours per credential, far from the stream of readings a zone
            needs.
        enroll: ``POST /enroll`` per client address, one token per call (valid or not). 30 at
            once covers a store's Wi-Fi (one address behind NAT) during a sign-up campaign;
            then 6 a minute.
        max_callers: Buckets kept per limit; beyond it the least recently seen caller's is
            forgotten (bounded memory under a flood from many addresses).
    """

    enabled: bool = True
    sightings: RateLimit = RateLimit(burst=200, per_s=2.0)
    enroll: RateLimit = RateLimit(burst=30, per_s=0.1)
    max_callers: int = Field(default=100_000, gt=0)


class AlertSettings(BaseModel):
    """Associate alert timing."""

    escalate_s: float = Field(
        default=30.0, gt=0, description="An offered alert nobody claimed moves on after this."
    )
    expire_s: float = Field(
        default=600.0, gt=0, description="A live alert not resolved after this expires."
    )
    tick_s: float = Field(default=1.0, gt=0, description="How often escalations are checked.")


class Settings(BaseSettings):
    """Every tunable of the API, with the reason for its default.

    Attributes:
        database_url: SQLAlchemy URL; SQLite by default, ``postgresql+psycopg://`` in production.
        master_key: Fernet key (urlsafe base64 of 32 bytes) encrypting device keys and store
            secrets at rest. The default is for development only.
        subject_secret: HMAC key deriving pseudonymous subject ids from customer ids.
        auth_secret: HMAC key signing access tokens.
        live_max_age_s: An event whose ``ts`` is older than this (seconds, against the API's
            clock) is recorded but triggers nothing live: 120 s covers a hub catching up after
            a short broker outage without alerting associates about people long gone.
        sighting_max_age_s: Phone sightings older (or further in the future) than this are
            rejected, seconds.
        coupon_lock_s: A coupon locked by a POS verify stays locked this long, seconds.
        table_period_s: Token window of the resolution table, seconds (the engine's default).
    """

    model_config = SettingsConfigDict(
        env_prefix="PROX_API_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = "sqlite:///./proximity-api.db"
    master_key: str = "ZGV2ZWxvcG1lbnQtb25seS1tYXN0ZXIta2V5LTMyYnk="
    subject_secret: str = "development-only-subject-secret"
    auth_secret: str = "development-only-auth-secret"
    live_max_age_s: float = Field(default=120.0, gt=0)
    sighting_max_age_s: float = Field(default=30.0, gt=0)
    coupon_lock_s: float = Field(default=120.0, gt=0)
    table_period_s: int = Field(default=1024, gt=0)
    mqtt: MqttSettings = MqttSettings()
    alerts: AlertSettings = AlertSettings()
    limits: LimitSettings = LimitSettings()
