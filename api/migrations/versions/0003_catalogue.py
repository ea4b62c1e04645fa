"""model catalogue: providers, models, provider routes, price history; plan model tiers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    providers = op.create_table(
        "providers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("api_key_encrypted", sa.String(length=1000), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("extra_headers", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    models = op.create_table(
        "llm_models",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("context_length", sa.Integer(), nullable=False),
        sa.Column("max_output_tokens", sa.Integer(), nullable=False),
        sa.Column("default_params", JSON, nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    routes = op.create_table(
        "model_routes",
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("provider_model", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["llm_models.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["provider_id"], ["providers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("model_id", "provider_id"),
    )
    prices = op.create_table(
        "model_prices",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("input_per_million", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("output_per_million", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("effective_from", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["llm_models.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_model_prices_model_from", "model_prices", ["model_id", "effective_from"])
    with op.batch_alter_table("plans") as batch_op:
        batch_op.add_column(
            sa.Column("model_tiers", sa.String(length=64), nullable=False, server_default="free")
        )
    op.execute("UPDATE plans SET model_tiers = 'free,paid' WHERE code = 'pro'")

    # The built-in offline provider and its two models, so a fresh install answers at once.
    op.bulk_insert(
        providers,
        [
            {
                "id": "mock",
                "kind": "mock",
                "display_name": "Offline mock",
                "base_url": None,
                "api_key_encrypted": None,
                "priority": 100,
                "timeout_seconds": 30.0,
                "max_retries": 0,
                "enabled": True,
                "extra_headers": {},
                "created_at": SINCE,
            }
        ],
    )
    op.bulk_insert(
        models,
        [
            {
                "id": "mock-small",
                "display_name": "Mock Small",
                "tier": "free",
                "visible": True,
                "enabled": True,
                "context_length": 8192,
                "max_output_tokens": 1024,
                "default_params": {"temperature": 0.7},
                "sort_order": 10,
                "created_at": SINCE,
            },
            {
                "id": "mock-large",
                "display_name": "Mock Large",
                "tier": "paid",
                "visible": True,
                "enabled": True,
                "context_length": 32768,
                "max_output_tokens": 4096,
                "default_params": {"temperature": 0.7},
                "sort_order": 20,
                "created_at": SINCE,
            },
        ],
    )
    op.bulk_insert(
        routes,
        [
            {"model_id": "mock-small", "provider_id": "mock", "provider_model": "mock-small"},
            {"model_id": "mock-large", "provider_id": "mock", "provider_model": "mock-large"},
        ],
    )
    op.bulk_insert(
        prices,
        [
            {
                "model_id": "mock-small",
                "input_per_million": 0.15,
                "output_per_million": 0.60,
                "effective_from": SINCE,
            },
            {
                "model_id": "mock-large",
                "input_per_million": 2.50,
                "output_per_million": 10.00,
                "effective_from": SINCE,
            },
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("plans") as batch_op:
        batch_op.drop_column("model_tiers")
    op.drop_index("ix_model_prices_model_from", table_name="model_prices")
    op.drop_table("model_prices")
    op.drop_table("model_routes")
    op.drop_table("llm_models")
    op.drop_table("providers")
