from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from api.core.db import make_sync_engine
from api.core.migrate import downgrade, upgrade
from api.models import include_object, metadata

# Both databases: the migrations build each one its own way.
pytestmark = pytest.mark.both_databases


def test_the_migrations_build_exactly_the_schema_the_models_declare(settings):
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


def test_migrations_go_down_to_nothing_and_up_again(settings):
    downgrade(settings, "base")
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        assert "accounts" not in engine.dialect.get_table_names(conn)
    upgrade(settings, "head")
    with engine.connect() as conn:
        assert {"accounts", "plans", "quota_usage", "usage_events"} <= set(
            engine.dialect.get_table_names(conn)
        )
        assert conn.exec_driver_sql("SELECT daily_requests FROM plans WHERE code = 'free'").scalar() == 3
    engine.dispose()
