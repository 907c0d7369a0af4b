"""Gateway/hub settings: a YAML file plus environment overrides, validated at start.

Every mistake is an `InputError` naming the file, line and key (or the environment variable),
so ``proximity gateway`` fails with one line and exit code 2. See docs/gateway.md for the file.

Environment overrides (systemd ``Environment=`` or an ``EnvironmentFile``):
``PROXIMITY_MQTT_HOST``, ``PROXIMITY_MQTT_PORT``, ``PROXIMITY_MQTT_USERNAME``,
``PROXIMITY_MQTT_PASSWORD`` (prefer ``mqtt.password_file``), ``PROXIMITY_GATEWAY_ID``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from proximity import yamldoc
from proximity.errors import InputError

from .bus import MqttSettings
from .topics import valid_id

ROLES = ("gateway", "hub", "local")
SOURCES = ("bleak", "sim", "replay")


@dataclass(frozen=True)
class BleakSettings:
    """Radio settings. ``watchdog_s``: a scanner silent this long is restarted."""

    adapter: str | None = None
    active: bool = True
    watchdog_s: float = 90.0


@dataclass(frozen=True)
class HubSettings:
    """Hub settings (roles hub and local)."""

    store_file: str | None = None
    model: str | None = None
    state: str = "hub.db"
    grace_s: float = 10.0
    offline_grace_s: float = 20.0
    compact_every: int = 5000
    table_file: str | None = None
    table_url: str | None = None
    credential_env: str = "PROXIMITY_SERVICE_TOKEN"
    table_cache: str | None = None
    refresh_s: float = 300.0
    beacons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """Everything a gateway or hub process needs."""

    store: str
    gateway: str | None
    role: str = "gateway"
    source: str = "bleak"
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    bleak: BleakSettings = field(default_factory=BleakSettings)
    sim_scenario: str | None = None
    replay_file: str | None = None
    speed: float = 1.0
    exit_when_done: bool = False
    window_s: float = 0.5
    max_readings: int = 5000
    outbox: str = "outbox.db"
    max_batches: int = 200_000
    durable: bool = False
    beacons: tuple[str, ...] = ()
    app_tokens: bool = True
    health_s: float = 15.0
    resend_s: float = 10.0
    hub: HubSettings = field(default_factory=HubSettings)
    record: str | None = None


_TOP = (
    "store", "gateway", "role", "source", "mqtt", "bleak", "sim", "replay", "batch", "outbox",
    "filter", "health_s", "resend_s", "hub",
)  # fmt: skip


def load_settings(
    text: str,
    source: str,
    environ: Mapping[str, str] | None = None,
    role: str | None = None,
    input_kind: str | None = None,
    record: str | None = None,
) -> Settings:
    """Parse and validate a settings file (``source`` names it in errors).

    Args:
        text: YAML text.
        source: File name; relative paths in the file are relative to its directory.
        environ: Environment for overrides (default: ``os.environ``).
        role: ``--role`` from the command line (wins over the file).
        input_kind: ``--source`` from the command line (wins over the file).
        record: ``--record`` file.
    """
    env = os.environ if environ is None else environ
    base = Path(source).parent
    doc = yamldoc.parse(text, source)
    if doc.data is None:
        raise InputError(source, None, None, "the settings file is empty")
    top = doc.mapping((), _TOP, required=("store",))

    def path_of(p: yamldoc.Path) -> str:
        value = Path(doc.string(p))
        return str(value if value.is_absolute() else base / value)

    def ident(p: yamldoc.Path) -> str:
        value = doc.string(p)
        if not valid_id(value):
            raise doc.error(p, f"{value!r} is not a valid id (letters, digits, _ . -)")
        return value

    store = ident(("store",))
    gateway = ident(("gateway",)) if top.get("gateway") is not None else None
    role_value = doc.string(("role",)) if "role" in top else "gateway"
    if role is not None:
        role_value = role
    if role_value not in ROLES:
        raise doc.error(("role",), f"expected one of {', '.join(ROLES)}, got {role_value!r}")
    kind = doc.string(("source",)) if "source" in top else "bleak"
    if input_kind is not None:
        kind = input_kind
    if kind not in SOURCES:
        raise doc.error(("source",), f"expected one of {', '.join(SOURCES)}, got {kind!r}")
    s = Settings(store=store, gateway=gateway, role=role_value, source=kind, record=record)

    # mqtt
    m = doc.mapping(("mqtt",), (
        "host", "port", "username", "password_file", "keepalive_s", "client_id", "tls",
        "ca_file", "cert_file", "key_file",
    )) if "mqtt" in top else {}  # fmt: skip
    mqtt = MqttSettings()
    if "host" in m:
        mqtt = replace(mqtt, host=doc.string(("mqtt", "host")))
    if "port" in m:
        mqtt = replace(mqtt, port=_port(doc, ("mqtt", "port")))
    if "username" in m:
        mqtt = replace(mqtt, username=doc.string(("mqtt", "username")))
    if "password_file" in m:
        pfile = path_of(("mqtt", "password_file"))
        try:
            password = Path(pfile).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise doc.error(("mqtt", "password_file"), f"cannot read {pfile}: {exc}") from exc
        mqtt = replace(mqtt, password=password)
    if "keepalive_s" in m:
        mqtt = replace(mqtt, keepalive_s=doc.integer(("mqtt", "keepalive_s"), minimum=1))
    if "client_id" in m:
        mqtt = replace(mqtt, client_id=doc.string(("mqtt", "client_id")))
    if "tls" in m:
        mqtt = replace(mqtt, tls=doc.boolean(("mqtt", "tls")))
    if "ca_file" in m:
        mqtt = replace(mqtt, ca_file=path_of(("mqtt", "ca_file")))
    if "cert_file" in m:
        mqtt = replace(mqtt, cert_file=path_of(("mqtt", "cert_file")))
    if "key_file" in m:
        mqtt = replace(mqtt, key_file=path_of(("mqtt", "key_file")))
    mqtt = _mqtt_env(mqtt, env)
    gateway = env.get("PROXIMITY_GATEWAY_ID", gateway) or None
    if gateway is not None and not valid_id(gateway):
        raise InputError("environment", None, "PROXIMITY_GATEWAY_ID", f"invalid id {gateway!r}")
    s = replace(s, mqtt=mqtt, gateway=gateway)

    if role_value in ("gateway", "local"):
        if gateway is None:
            raise doc.error((), f"role {role_value} needs 'gateway' (this gateway's id)")
        s = _gateway_part(doc, top, s, path_of)
    if role_value in ("hub", "local"):
        s = replace(s, hub=_hub_part(doc, top, path_of))
    return s


def _port(doc: yamldoc.Doc, p: yamldoc.Path) -> int:
    port = doc.integer(p, minimum=1)
    if port > 65535:
        raise doc.error(p, f"must be <= 65535, got {port}")
    return port


def _mqtt_env(mqtt: MqttSettings, env: Mapping[str, str]) -> MqttSettings:
    if env.get("PROXIMITY_MQTT_HOST"):
        mqtt = replace(mqtt, host=env["PROXIMITY_MQTT_HOST"])
    if env.get("PROXIMITY_MQTT_PORT"):
        text = env["PROXIMITY_MQTT_PORT"]
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise InputError("environment", None, "PROXIMITY_MQTT_PORT", f"not a port: {text!r}")
        mqtt = replace(mqtt, port=int(text))
    if env.get("PROXIMITY_MQTT_USERNAME"):
        mqtt = replace(mqtt, username=env["PROXIMITY_MQTT_USERNAME"])
    if env.get("PROXIMITY_MQTT_PASSWORD"):
        mqtt = replace(mqtt, password=env["PROXIMITY_MQTT_PASSWORD"])
    return mqtt


def _gateway_part(
    doc: yamldoc.Doc, top: dict[str, object], s: Settings, path_of: object
) -> Settings:
    assert callable(path_of)
    if s.source == "bleak" and "bleak" in top:
        b = doc.mapping(("bleak",), ("adapter", "active", "watchdog_s"))
        s = replace(s, bleak=BleakSettings(
            adapter=doc.string(("bleak", "adapter")) if b.get("adapter") is not None else None,
            active=doc.boolean(("bleak", "active")) if "active" in b else True,
            watchdog_s=doc.number(("bleak", "watchdog_s"), minimum=5) if "watchdog_s" in b
            else 90.0,
        ))  # fmt: skip
    if s.source in ("sim", "replay"):
        section = s.source
        if section not in top:
            raise doc.error((), f"source {section} needs a '{section}' section")
        key = "scenario" if section == "sim" else "file"
        r = doc.mapping((section,), (key, "speed", "exit_when_done"), required=(key,))
        s = replace(
            s,
            speed=doc.number((section, "speed"), minimum=0) if "speed" in r else 1.0,
            exit_when_done=doc.boolean((section, "exit_when_done"))
            if "exit_when_done" in r else False,
        )  # fmt: skip
        if section == "sim":
            s = replace(s, sim_scenario=path_of((section, key)))
        else:
            s = replace(s, replay_file=path_of((section, key)))
    if "batch" in top:
        b = doc.mapping(("batch",), ("window_s", "max_readings"))
        if "window_s" in b:
            s = replace(s, window_s=doc.number(("batch", "window_s"), minimum=0.01, maximum=60))
        if "max_readings" in b:
            s = replace(s, max_readings=doc.integer(("batch", "max_readings"), minimum=1))
    if "outbox" in top:
        o = doc.mapping(("outbox",), ("path", "max_batches", "durable"))
        if "path" in o:
            s = replace(s, outbox=path_of(("outbox", "path")))
        if "max_batches" in o:
            s = replace(s, max_batches=doc.integer(("outbox", "max_batches"), minimum=1))
        if "durable" in o:
            s = replace(s, durable=doc.boolean(("outbox", "durable")))
    else:
        s = replace(s, outbox=path_of(("store",)) + ".outbox.db")
    if "filter" in top:
        f = doc.mapping(("filter",), ("beacons", "app_tokens"))
        beacons = []
        for i, _ in enumerate(doc.sequence(("filter", "beacons")) if "beacons" in f else []):
            beacons.append(doc.string(("filter", "beacons", i)).lower())
        s = replace(s, beacons=tuple(beacons))
        if "app_tokens" in f:
            s = replace(s, app_tokens=doc.boolean(("filter", "app_tokens")))
    if "health_s" in top:
        s = replace(s, health_s=doc.number(("health_s",), minimum=0.1))
    if "resend_s" in top:
        s = replace(s, resend_s=doc.number(("resend_s",), minimum=0.1))
    return s


def _hub_part(doc: yamldoc.Doc, top: dict[str, object], path_of: object) -> HubSettings:
    assert callable(path_of)
    if "hub" not in top:
        raise doc.error((), "roles hub and local need a 'hub' section with 'store_file'")
    h = doc.mapping(
        ("hub",),
        (
            "store_file",
            "model",
            "state",
            "grace_s",
            "offline_grace_s",
            "compact_every",
            "resolution",
            "beacons",
        ),
        required=("store_file",),
    )
    hub = HubSettings(store_file=path_of(("hub", "store_file")))
    if h.get("model") is not None:
        hub = replace(hub, model=path_of(("hub", "model")))
    hub = replace(hub, state=path_of(("hub", "state")) if "state" in h else path_of(("store",))
                  + ".hub.db")  # fmt: skip
    if "grace_s" in h:
        hub = replace(hub, grace_s=doc.number(("hub", "grace_s"), minimum=0))
    if "compact_every" in h:
        hub = replace(hub, compact_every=doc.integer(("hub", "compact_every"), minimum=10))
    if "offline_grace_s" in h:
        hub = replace(hub, offline_grace_s=doc.number(("hub", "offline_grace_s"), minimum=0))
    if "resolution" in h:
        r = doc.mapping(
            ("hub", "resolution"), ("file", "url", "credential_env", "cache", "refresh_s")
        )
        if "file" in r and "url" in r:
            raise doc.error(("hub", "resolution"), "give either 'file' or 'url', not both")
        if "file" in r:
            hub = replace(hub, table_file=path_of(("hub", "resolution", "file")))
        if "url" in r:
            url = doc.string(("hub", "resolution", "url"))
            if not url.startswith(("http://", "https://")):
                raise doc.error(("hub", "resolution", "url"), "expected an http(s) URL")
            hub = replace(hub, table_url=url)
        if "credential_env" in r:
            hub = replace(hub, credential_env=doc.string(("hub", "resolution", "credential_env")))
        if "cache" in r:
            hub = replace(hub, table_cache=path_of(("hub", "resolution", "cache")))
        if "refresh_s" in r:
            hub = replace(hub, refresh_s=doc.number(("hub", "resolution", "refresh_s"), minimum=1))
    if "beacons" in h:
        b = doc.mapping(("hub", "beacons"), [str(k) for k in (h["beacons"] or {})])
        hub = replace(hub, beacons={k.lower(): doc.string(("hub", "beacons", k)) for k in b})
    return hub
