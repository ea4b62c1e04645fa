from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql

from api.catalogue.service import provider_headers
from api.core.crypto import Encryptor
from api.core.db import make_sync_engine
from api.core.migrate import alembic_config, downgrade, upgrade
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


def test_plaintext_provider_headers_are_encrypted_by_their_migration_and_back_by_its_downgrade(settings):
    """Rows saved before extra headers were encrypted (0021): upgraded, their values are no longer readable
    in the table; downgraded, they are as they were; the models' routes to them stay (no table copy whose
    drop would cascade to them)."""
    before = ScriptDirectory.from_config(alembic_config(settings)).get_revision("0021").down_revision
    downgrade(settings, before)
    secret = {"X-Tenant": "tenant-secret-0123456789", "HTTP-Referer": "https://app.example"}
    names = (
        "id",
        "kind",
        "display_name",
        "base_url",
        "priority",
        "timeout_seconds",
        "max_retries",
        "enabled",
    )
    old_providers = sa.table(
        "providers",
        *(sa.column(name) for name in names),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("extra_headers", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    )
    engine = make_sync_engine(settings)
    with engine.begin() as conn:
        for provider_id, headers in (("tenant", secret), ("plain", {})):
            conn.execute(
                old_providers.insert().values(
                    id=provider_id,
                    kind="openai_compatible",
                    display_name=provider_id,
                    base_url="https://api.example.com/v1",
                    priority=1,
                    timeout_seconds=5.0,
                    max_retries=0,
                    enabled=True,
                    created_at=datetime(2026, 11, 25, tzinfo=UTC),
                    extra_headers=headers,
                )
            )
        conn.execute(sa.text("INSERT INTO model_routes VALUES ('mock-small', 'tenant', 'small')"))
    routes = "SELECT model_id, provider_id FROM model_routes ORDER BY 1, 2"
    with engine.connect() as conn:
        before_routes = conn.execute(sa.text(routes)).all()
    assert len(before_routes) == 3  # the seeded two and the tenant's
    upgrade(settings, "head")
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.text("SELECT * FROM providers"))}
        assert conn.execute(sa.text(routes)).all() == before_routes
    assert "extra_headers" not in rows["tenant"]._mapping
    assert (
        "tenant-secret" not in repr(tuple(rows["tenant"])) and rows["plain"].extra_headers_encrypted is None
    )
    assert provider_headers(rows["tenant"], Encryptor(settings)) == secret

    downgrade(settings, before)
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT id, extra_headers FROM providers")).all())
        assert conn.execute(sa.text(routes)).all() == before_routes
    engine.dispose()
    decoded = {k: v if isinstance(v, dict) else json.loads(v) for k, v in stored.items()}
    assert decoded == {"mock": {}, "tenant": secret, "plain": {}}
    upgrade(settings, "head")
