"""Store layouts (the store file: gateway positions, zone polygons, kinds, dwell thresholds)
and their way to the running engine: the retained ``prox/v1/{store}/config`` message.

The retained config is what the hub applies (see docs/mqtt.md); the API keeps the last layout
it was given per store in its database (`StoreLayout`), for the ops console's map and zone
editor, so a restart loses nothing. A layout is validated with the store-file rules
(`proximity.store.parse_store`) before anything is kept or published, so a bad edit is refused
whole, never half-applied.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from gateway import topics
from proximity.errors import InputError
from proximity.store import Store, dump_store, parse_store

from .models import StoreLayout
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


def read_layout(session: Session, store_id: str) -> dict[str, Any] | None:
    """The saved layout of ``store_id`` in the store-file schema, or None."""
    row = session.get(StoreLayout, store_id)
    return None if row is None else dict(json.loads(row.document))


def keep_layout(session: Session, store: Store, now: float) -> dict[str, Any]:
    """Add ``store``'s layout to ``session`` (the caller commits); returns it as plain data."""
    document = dump_store(store)
    row = session.get(StoreLayout, store.id) or StoreLayout(
        store_id=store.id, document="", saved_at=now
    )
    row.document = json.dumps(document, sort_keys=True)
    row.saved_at = now
    session.add(row)
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
