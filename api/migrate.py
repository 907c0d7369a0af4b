"""Run the API's Alembic migrations programmatically (CLI and tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

INI = Path(__file__).parent / "migrations" / "alembic.ini"


def config(url: str) -> Config:
    """Alembic config for the database at ``url``."""
    cfg = Config(str(INI))
    cfg.set_main_option("script_location", str(INI.parent))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``."""
    command.upgrade(config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision``."""
    command.downgrade(config(url), revision)
