"""Shared, generic fixtures: the tiny hand-written files in ``tests/data``."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """Directory of the tiny fixture files (read only: copy before changing)."""
    return DATA_DIR


@pytest.fixture
def tiny_store() -> Path:
    """A three-zone store (street, entrance, sales) with two gateways, ``gw-door``/``gw-back``."""
    return DATA_DIR / "store.yaml"


@pytest.fixture
def tiny_readings() -> Path:
    """One shopper walking street -> entrance -> sales -> out, for `tiny_store` (with tx_power)."""
    return DATA_DIR / "readings.csv"


@pytest.fixture
def tiny_samples() -> Path:
    """A surveyor's labeled samples, 20 s in each zone of `tiny_store`."""
    return DATA_DIR / "samples.csv"
