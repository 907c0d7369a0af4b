"""MQTT topic names (see docs/mqtt.md). Pure.

::

    prox/v1/{store}/gw/{gateway}/readings   gateway -> hub    batched readings, QoS 1
    prox/v1/{store}/gw/{gateway}/status     gateway           retained online/offline (last will)
    prox/v1/{store}/gw/{gateway}/health     gateway           periodic health, QoS 0
    prox/v1/{store}/gw/{gateway}/ack        hub -> gateway    highest contiguous seq per boot
    prox/v1/{store}/config                  ops -> hub        retained store config
    prox/v1/{store}/events                  hub -> api        contract events, QoS 1
    prox/v1/{store}/sightings               api -> hub        checked iPhone sightings, QoS 1
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "prox/v1"
GATEWAY_KINDS = ("readings", "status", "health", "ack")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def valid_id(ident: str) -> bool:
    """Whether ``ident`` may be a store or gateway id in a topic (no wildcards, no slashes)."""
    return bool(_ID.match(ident))


def gateway_topic(store: str, gateway: str, kind: str) -> str:
    """Topic of one gateway's ``kind`` (readings, status, health or ack)."""
    if kind not in GATEWAY_KINDS:
        raise ValueError(f"unknown gateway topic kind {kind!r}")
    return f"{PREFIX}/{store}/gw/{gateway}/{kind}"


def readings(store: str, gateway: str) -> str:
    """Readings batches of one gateway."""
    return gateway_topic(store, gateway, "readings")


def status(store: str, gateway: str) -> str:
    """Retained online/offline status of one gateway."""
    return gateway_topic(store, gateway, "status")


def health(store: str, gateway: str) -> str:
    """Periodic health of one gateway."""
    return gateway_topic(store, gateway, "health")


def ack(store: str, gateway: str) -> str:
    """End-to-end acknowledgements for one gateway."""
    return gateway_topic(store, gateway, "ack")


def config(store: str) -> str:
    """Retained store configuration."""
    return f"{PREFIX}/{store}/config"


def events(store: str) -> str:
    """Contract events of one store."""
    return f"{PREFIX}/{store}/events"


def sightings(store: str) -> str:
    """Phone sightings the API checked (the iPhone path), as readings of the store's gateways."""
    return f"{PREFIX}/{store}/sightings"


def all_gateways(store: str, kind: str) -> str:
    """Subscription filter for ``kind`` of every gateway of ``store``."""
    if kind not in GATEWAY_KINDS:
        raise ValueError(f"unknown gateway topic kind {kind!r}")
    return f"{PREFIX}/{store}/gw/+/{kind}"


@dataclass(frozen=True)
class TopicRef:
    """A parsed topic: ``kind`` is a gateway kind, ``config``, ``events`` or ``sightings``."""

    store: str
    kind: str
    gateway: str | None = None


def parse(topic: str) -> TopicRef | None:
    """Parse a topic of this protocol; None for anything else."""
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != PREFIX or not valid_id(parts[2]):
        return None
    store = parts[2]
    if len(parts) == 4 and parts[3] in ("config", "events", "sightings"):
        return TopicRef(store, parts[3])
    if len(parts) == 6 and parts[3] == "gw" and valid_id(parts[4]) and parts[5] in GATEWAY_KINDS:
        return TopicRef(store, parts[5], parts[4])
    return None


def matches(pattern: str, topic: str) -> bool:
    """Whether ``topic`` matches the subscription filter ``pattern`` (``+`` and ``#``)."""
    pparts = pattern.split("/")
    tparts = topic.split("/")
    for i, p in enumerate(pparts):
        if p == "#":
            return True
        if i >= len(tparts) or (p != "+" and p != tparts[i]):
            return False
    return len(pparts) == len(tparts)
