"""Alembic environment: the URL comes from the caller (`api.core.migrate`) or from AIADMIN_DATABASE_URL."""

from __future__ import annotations

from alembic import context

from api.core.db import make_sync_engine
from api.core.settings import Settings, get_settings
from api.models import include_object, metadata

config = context.config
settings: Settings = config.attributes.get("settings") or get_settings()


def run_migrations() -> None:
    engine = make_sync_engine(settings)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=settings.is_sqlite,  # SQLite alters tables by copying them
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
