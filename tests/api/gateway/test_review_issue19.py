"""Review of issue 19's admin routes (model aliases, experiments): what hostile input, a lower role and two
staff acting at once do to them. Every answer is a stable 4xx (a 500 is a bug), nothing is half-written and
every write has its audit row.

The races run the admin services themselves on PostgreSQL, two at once, each in its own session: `Meet`
holds each one at the step before its commit until the other reaches that step too (or 0.5 s passed, when
the other is waiting on a lock): without a lock both pass their checks, with one the second waits.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from api.accounts.models import Account
from api.audit import service as audit
from api.audit.models import AuditEntry
from api.audit.service import AuditContext
from api.catalogue import aliases
from api.catalogue import experiments_admin as admin
from api.catalogue.aliases import AliasIn
from api.catalogue.experiments_admin import ExperimentIn
from api.catalogue.models import Experiment, ModelAlias
from api.catalogue.service import CatalogueCache
from api.core.db import Database
from api.core.errors import AppError
from api.core.types import utcnow
from tests.support.api import db_rows, db_scalar, staff_headers

ALIASES = "/api/v1/admin/model-aliases"
EXPERIMENTS = "/api/v1/admin/experiments"
TWO_MODELS = [{"model_id": "mock-small"}, {"model_id": "mock-large"}]
ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def admin_headers(client, settings) -> dict[str, str]:
    return staff_headers(client, settings, "admin")


def _code(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["code"]


def _experiment(client, headers, **on) -> dict:
    created = client.post(EXPERIMENTS, json={**on, "variants": TWO_MODELS}, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()


# ------------------------------------------------------------------------------------------- HTTP level


def test_the_experiments_list_keeps_one_aliass_experiments_as_decision_0062_says(client, admin_headers):
    """`GET /api/v1/admin/experiments?alias=` (0062): the route read no `alias`, so it listed every one."""
    assert client.put(f"{ALIASES}/assistant", json={"model_id": "mock-small"}, headers=admin_headers).is_success
    on_alias = _experiment(client, admin_headers, alias="assistant")
    _experiment(client, admin_headers, role_id="fix-grammar")
    listed = client.get(EXPERIMENTS, params={"alias": "assistant"}, headers=admin_headers)
    assert [e["id"] for e in listed.json()] == [on_alias["id"]]
    assert client.get(EXPERIMENTS, params={"alias": "nobody"}, headers=admin_headers).json() == []
    assert _code(client.get(EXPERIMENTS, params={"alias": "bad name"}, headers=admin_headers), 422) == (
        "validation_error"
    )


@pytest.mark.parametrize(
    "model_id",
    ["mock\x00small", "mock-small\n", "ｍｏｃｋ-small", "mоck-small", " mock-small", "x" * 129, ""],
    ids=["nul", "newline", "fullwidth", "cyrillic-o", "space", "too-long", "empty"],
)
@pytest.mark.both_databases
def test_hostile_model_ids_in_an_experiments_variants_are_4xx_not_500(client, settings, admin_headers, model_id):
    """PostgreSQL refuses a NUL in text: a variant's model id with one reached the database (500)."""
    body = {"role_id": "fix-grammar", "variants": [{"model_id": "mock-small"}, {"model_id": model_id}]}
    answer = client.post(EXPERIMENTS, json=body, headers=admin_headers)
    assert answer.status_code in (404, 409, 422), answer.text
    assert db_scalar(settings, select(Experiment.id)) is None  # nothing half-written
