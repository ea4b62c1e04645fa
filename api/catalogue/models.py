"""The model catalogue and the providers that serve it.

A public model (what clients name in `model`) is served by one or more providers, each under its own
name for it; providers are tried in priority order. Prices are kept with their history: the price in
force at a call's time is the one whose `effective_from` is the latest not after it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import BigIntPK, JSONDoc, UTCDateTime


class Provider(Base):
    __tablename__ = "providers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(100))
    base_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Encrypted with AIADMIN_ENCRYPTION_KEY; never returned, shown masked.
    api_key_encrypted: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    priority: Mapped[int] = mapped_column(Integer, default=100)  # lower is tried first
    timeout_seconds: Mapped[float] = mapped_column(Float, default=60.0)
    max_retries: Mapped[int] = mapped_column(Integer, default=1)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The extra headers as one JSON object, encrypted like the key (their values are often credentials);
    # None: none. Shown with values masked. Read and written by api/catalogue/service.py's two helpers.
    extra_headers_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"Provider(id={self.id!r}, kind={self.kind!r}, api_key=***, extra_headers=***)"


class LlmModel(Base):
    __tablename__ = "llm_models"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(16), default="free")
    visible: Mapped[bool] = mapped_column(Boolean, default=True)  # listed in /v1/models
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)  # callable at all
    context_length: Mapped[int] = mapped_column(Integer, default=8192)
    max_output_tokens: Mapped[int] = mapped_column(Integer, default=4096)
    default_params: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    sort_order: Mapped[int] = mapped_column(Integer, default=100)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ModelRoute(Base):
    """Provider P serves public model M under the name `provider_model`."""

    __tablename__ = "model_routes"

    model_id: Mapped[str] = mapped_column(ForeignKey("llm_models.id", ondelete="CASCADE"), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True)
    provider_model: Mapped[str] = mapped_column(String(200))


class ModelPrice(Base):
    __tablename__ = "model_prices"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("llm_models.id", ondelete="CASCADE"))
    # USD per one million tokens.
    input_per_million: Mapped[Decimal] = mapped_column(Numeric(18, 6))
    output_per_million: Mapped[Decimal] = mapped_column(Numeric(18, 6))
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_model_prices_model_from", "model_id", "effective_from"),)


class AssistantRole(Base):
    """A persona: its system prompt is put before the conversation, server-side."""

    __tablename__ = "assistant_roles"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    system_prompt: Mapped[str] = mapped_column(Text)
    default_model: Mapped[str | None] = mapped_column(
        ForeignKey("llm_models.id", ondelete="SET NULL"), nullable=True
    )
    default_params: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where the portal offers it: "editor" (an editor operation), "prompts" (a generator style); None: chat.
    tool: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssistantRoleVersion(Base):
    """Every state a role has had: version 1 at creation, one more at each change (rows never change;
    kept when the role is deleted)."""

    __tablename__ = "assistant_role_versions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    role_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    system_prompt: Mapped[str] = mapped_column(Text)
    default_model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    default_params: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean)
    tool: Mapped[str | None] = mapped_column(String(16), nullable=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    author_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("role_id", "version", name="uq_role_versions_role_version"),)


class ModelAlias(Base):
    """A name clients may pass as `model` for another model (docs/decisions/0062): a call naming it is a call
    of its target, priced, tiered and counted as the target; its event keeps the alias in `properties`. No
    alias is a model's id (checked both ways by the admin service)."""

    __tablename__ = "model_aliases"

    alias: Mapped[str] = mapped_column(String(128), primary_key=True)
    # The alias's "default": what a call naming it gets outside an experiment (a winner repoints it).
    model_id: Mapped[str] = mapped_column(ForeignKey("llm_models.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class Experiment(Base):
    """An A/B test on a role (docs/decisions/0059) or on a model alias (0062): while it runs, each user's
    calls naming the role (or the alias) get one of its variants, chosen from the experiment's id and the
    user's (sticky, api/catalogue/experiments.py). At most one experiment per role, and one per alias, runs
    at a time (the partial unique indexes). An alias is kept by name, like a variant's model: a stopped
    experiment is a record of what was compared and does not hold its alias."""

    __tablename__ = "experiments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    role_id: Mapped[str | None] = mapped_column(
        ForeignKey("assistant_roles.id", ondelete="CASCADE"), nullable=True
    )
    alias: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | running | paused | stopped
    winner: Mapped[str | None] = mapped_column(String(1), nullable=True)  # the picked variant's key
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'running', 'paused', 'stopped')", name="ck_experiments_status"),
        CheckConstraint("(role_id IS NULL) <> (alias IS NULL)", name="ck_experiments_role_or_alias"),
        Index(
            "uq_experiments_running_role",
            "role_id",
            unique=True,
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
        Index(
            "uq_experiments_running_alias",
            "alias",
            unique=True,
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
    )


class ExperimentVariant(Base):
    """One arm of an experiment: a model, a version of the role, or both, with its share of the users.
    Fixed once created, so that a user's variant stays the same for the experiment's life."""

    __tablename__ = "experiment_variants"

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(1), primary_key=True)  # A, B, …
    # Kept by id like a role version's default model: a variant is a record of what was compared.
    model_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    role_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    weight: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("weight BETWEEN 1 AND 1000", name="ck_experiment_variants_weight"),
        CheckConstraint(
            "model_id IS NOT NULL OR role_version IS NOT NULL", name="ck_experiment_variants_something"
        ),
    )
