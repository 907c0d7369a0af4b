"""All API settings in one pydantic-settings tree.

Environment variables use the prefix ``PROX_API_`` and ``__`` between nested names, e.g.
``PROX_API_DATABASE_URL``, ``PROX_API_MQTT__HOST``, ``PROX_API_ALERTS__ESCALATE_S``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MqttSettings(BaseModel):
    """Broker the ingest consumer connects to (``enabled: false`` runs without MQTT)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str = "prox-api"
    reconnect_s: float = Field(default=2.0, gt=0, description="Wait before reconnecting, seconds.")


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
