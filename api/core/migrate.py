"""Run the Alembic migrations programmatically (used by `aiadmin migrate` and by the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from api.core.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    """Undo migrations down to `revision` ("base" drops every table)."""
    command.downgrade(alembic_config(settings), revision)
