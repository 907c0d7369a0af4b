"""Store layouts (the store file: gateway positions, zone polygons, kinds, dwell thresholds)
and their way to the running engine: the retained ``prox/v1/{store}/config`` message.

The retained config is the source of truth the hub applies (see docs/mqtt.md); the API keeps
the last layout it published or was given per store in memory, for the ops console's map and
zone editor. A layout is validated with the store-file rules (`proximity.store.parse_store`)
before anything is kept or published, so a bad edit is refused whole, never half-applied.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from gateway import topics
from proximity.errors import InputError
from proximity.store import Store, dump_store, parse_store

from .settings import MqttSettings


class LayoutError(ValueError):
    """A layout that is not a valid store file for this store; ``field`` names the place."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def validate_layout(store_id: str, document: dict[str, Any]) -> Store:
    """The store file ``document`` (JSON object in the store-file schema), checked.

    Raises:
        LayoutError: Invalid, or for another store.
    """
    try:
        store = parse_store(json.dumps(document, indent=1), "layout")
    except InputError as exc:
        raise LayoutError(exc.field, exc.message) from exc
    except (TypeError, ValueError, RecursionError) as exc:
        raise LayoutError(None, f"not a store file: {exc}") from exc
    if store.id != store_id:
        raise LayoutError("store.id", f"layout is for store {store.id!r}, not {store_id!r}")
    return store


def config_payload(store: Store) -> bytes:
    """The retained config message for ``store`` (``{"v":1,"store":{...}}``)."""
    return json.dumps({"v": 1, "store": dump_store(store)}, sort_keys=True).encode()


class Layouts:
    """The latest layout of each store, in memory (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._layouts: dict[str, dict[str, Any]] = {}

    def get(self, store_id: str) -> dict[str, Any] | None:
        """The layout of ``store_id`` in the store-file schema, or None."""
        with self._lock:
            return self._layouts.get(store_id)

    def put(self, store: Store) -> dict[str, Any]:
        """Keep ``store``'s layout; returns it as plain data."""
        document = dump_store(store)
        with self._lock:
            self._layouts[store.id] = document
        return document


async def publish_retained(mqtt: MqttSettings, store: Store, timeout_s: float = 5.0) -> None:
    """Publish ``store`` as the retained config of its store (QoS 1) on a short connection.

    Raises:
        OSError: The broker could not be reached or did not acknowledge in time (aiomqtt's
            MqttError is translated).
    """
    import aiomqtt

    try:
        async with aiomqtt.Client(
            mqtt.host,
            mqtt.port,
            username=mqtt.username,
            password=mqtt.password,
            identifier=f"{mqtt.client_id}-config",
            timeout=timeout_s,
        ) as client:
            await client.publish(
                topics.config(store.id), config_payload(store), qos=1, retain=True,
                timeout=timeout_s,
            )  # fmt: skip
    except aiomqtt.MqttError as exc:
        raise OSError(f"broker {mqtt.host}:{mqtt.port}: {exc}") from exc
