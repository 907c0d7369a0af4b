"""Alembic migrations: upgrade matches the models, downgrade removes everything (both backends)."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import api.models  # noqa: F401
from api.db import make_engine
from api.migrate import downgrade, upgrade
from tests.api_fixtures import BACKENDS, new_database


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_downgrade_roundtrip(backend: str, tmp_path: Any) -> None:
    db = new_database(backend, tmp_path)
    try:
        upgrade(db.url)
        engine = make_engine(db.url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
            tables = set(inspect(conn).get_table_names())
        assert diff == [], diff
        assert set(SQLModel.metadata.tables) <= tables
        downgrade(db.url, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        upgrade(db.url)
        with engine.connect() as conn:
            assert set(SQLModel.metadata.tables) <= set(inspect(conn).get_table_names())
        engine.dispose()
    finally:
        if db.drop is not None:
            db.drop()
