"""Model aliases and experiments on an alias (docs/decisions/0062): the official client names the alias and
the HTTP mock provider (it records the model it was asked for) gets the alias's model, on both gateway
paths (PostgreSQL's fast lane and the ORM); staff repoint, delete and are refused; an alias's experiment
gives each user a sticky variant whose model the provider gets, its events say so, and its winner repoints
the alias; and migration 0032 keeps the variants SQLite's table copy would have dropped."""

from __future__ import annotations

import sqlite3
import uuid

import httpx
import openai
import pytest
from sqlalchemy import select, update

from api.accounts.models import Account
from api.audit.models import AuditEntry
from api.catalogue.experiments import ExperimentSpec, VariantSpec, assign
from api.catalogue.models import LlmModel
from api.catalogue.service import Catalogue
from api.core.migrate import downgrade, upgrade
from api.gateway.service import _alias
from api.main import create_app
from tests.support.api import (
    LiveServer,
    db_execute,
    db_rows,
    db_scalar,
    events_of,
    relay_only,
    sign_up,
    staff_headers,
    wait_for_events,
)

ALIASES = "/api/v1/admin/model-aliases"
EXPERIMENTS = "/api/v1/admin/experiments"
QUESTION = [{"role": "user", "content": "Which model are you?"}]
TWO_MODELS = [{"model_id": "mock-small"}, {"model_id": "mock-large"}]


@pytest.fixture
def server(settings, upstream):
    """The API with mock-small and mock-large served by the HTTP mock provider only, the catalogue read on
    every call, 100 calls a day on the free plan (which may call mock-large here)."""
    relay_only(
        settings, upstream.url, update(LlmModel).where(LlmModel.id == "mock-large").values(tier="free")
    )
    app = create_app(settings.model_copy(update={"catalogue_cache_seconds": 0}))
    with LiveServer(app) as live, httpx.Client(base_url=live.url) as http:
        live.app, live.http, live.settings = app, http, settings
        live.admin = staff_headers(http, settings, "admin")
        yield live


def _user(server, email: str) -> tuple[openai.OpenAI, uuid.UUID]:
    token = sign_up(server.http, email, server.settings)["Authorization"].removeprefix("Bearer ")
    user_id = db_scalar(server.settings, select(Account.id).where(Account.email == email))
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=token, max_retries=0), user_id


def _set(server, alias: str, model_id: str, headers=None) -> httpx.Response:
    return server.http.put(f"{ALIASES}/{alias}", json={"model_id": model_id}, headers=headers or server.admin)


def _code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["code"]


def _audit(settings, alias: str) -> list[tuple[str, dict, dict, str | None]]:
    rows = db_rows(
        settings, AuditEntry, AuditEntry.target_type == "model_alias", AuditEntry.target_id == alias
    )
    return [(r.action, r.before, r.after, r.reason) for r in rows]


@pytest.mark.both_databases  # PostgreSQL: the fast lane's take and settle
def test_the_client_names_the_alias_and_the_provider_gets_its_model_which_staff_repoint(
    server, settings, upstream
):
    assert (server.app.state.gateway.callers is not None) == (not settings.is_sqlite)  # the fast lane
    assert _set(server, "assistant", "mock-small").json()["model_id"] == "mock-small"
    client, user_id = _user(server, "ada@example.com")

    answer = client.chat.completions.create(model="assistant", messages=QUESTION)
    assert upstream.app.state.last_body["model"] == answer.model == "mock-small"
    chunks = list(client.chat.completions.create(model="assistant", messages=QUESTION, stream=True))
    assert chunks and upstream.app.state.last_body["model"] == "mock-small"
    events = wait_for_events(settings, "llm.call_succeeded", count=2)
    assert [(e.model_id, e.properties.get("alias"), e.user_id) for e in events] == [
        ("mock-small", "assistant", user_id)
    ] * 2
    assert "experiment_id" not in events[0].properties  # no experiment runs on it

    listed = {m.id: m for m in client.models.list().data}
    assert listed["assistant"].alias_of == "mock-small" and listed["mock-small"].alias_of is None
    assert listed["assistant"].context_length == listed["mock-small"].context_length

    assert _set(server, "assistant", "mock-large").status_code == 200  # repointed
    client.chat.completions.create(model="assistant", messages=QUESTION)
    assert upstream.app.state.last_body["model"] == "mock-large"
    assert events_of(settings, "llm.call_succeeded")[-1].model_id == "mock-large"
    assert [a[:3] for a in _audit(settings, "assistant")] == [
        ("model_alias.create", {}, {"model_id": "mock-small"}),
        ("model_alias.edit", {"model_id": "mock-small"}, {"model_id": "mock-large"}),
    ]

    # Its model out of the plan: the alias is out of the list, and a call is refused like the model's.
    db_execute(settings, update(LlmModel).where(LlmModel.id == "mock-large").values(tier="paid"))
    assert "assistant" not in {m.id for m in client.models.list().data}
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(model="assistant", messages=QUESTION)
    assert refused.value.code == "model_not_in_plan"


def test_a_name_is_a_model_or_an_alias_and_refusals_are_worded_by_code(server, settings):
    assert _set(server, "assistant", "mock-small").status_code == 200
    assert _code(_set(server, "mock-large", "mock-small"), 409) == "alias_taken"
    model = {"id": "assistant", "display_name": "Assistant", "routes": []}
    assert (
        _code(server.http.post("/api/v1/admin/models", json=model, headers=server.admin), 409)
        == "alias_taken"
    )
    assert _code(_set(server, "other", "ghost"), 422) == "unknown_model"
    deleted = server.http.delete("/api/v1/admin/models/mock-small", headers=server.admin)
    assert _code(deleted, 409) == "model_in_use"  # the alias names it
    db_execute(settings, update(LlmModel).where(LlmModel.id == "mock-large").values(enabled=False))
    assert _code(_set(server, "other", "mock-large"), 422) == "model_disabled"

    # Hostile input: a name out of the pattern or too long, an extra field, an unknown alias.
    assert _code(_set(server, "a" * 129, "mock-small"), 422) == "validation_error"
    assert _code(_set(server, "bad name", "mock-small"), 422) == "validation_error"
    extra = server.http.put(f"{ALIASES}/x", json={"model_id": "mock-small", "x": 1}, headers=server.admin)
    assert _code(extra, 422) == "validation_error"
    assert server.http.delete(f"{ALIASES}/ghost", headers=server.admin).status_code == 404

    # An analyst reads, never writes.
    analyst = staff_headers(server.http, settings, "analyst")
    assert [a["alias"] for a in server.http.get(ALIASES, headers=analyst).json()] == ["assistant"]
    assert _set(server, "assistant", "mock-small", headers=analyst).status_code == 403
    assert server.http.delete(f"{ALIASES}/assistant", headers=analyst).status_code == 403
    assert server.http.get(ALIASES).status_code == 401


def test_an_alias_experiment_gives_each_user_a_sticky_model_and_its_winner_repoints_the_alias(
    server, settings, upstream
):
    assert _set(server, "assistant", "mock-small").status_code == 200

    def refusal(body: dict) -> str:
        return _code(server.http.post(EXPERIMENTS, json=body, headers=server.admin), 422)

    assert refusal({"variants": TWO_MODELS}) == "validation_error"  # on nothing
    assert (
        refusal({"alias": "assistant", "role_id": "fix-grammar", "variants": TWO_MODELS})
        == "validation_error"
    )
    assert (
        refusal({"alias": "assistant", "variants": [*TWO_MODELS[:1], {"role_version": 1}]})
        == "validation_error"
    )
    one_version = [TWO_MODELS[0], {"model_id": "mock-large", "role_version": 1}]
    assert refusal({"alias": "assistant", "variants": one_version}) == "validation_error"
    assert refusal({"alias": "ghost", "variants": TWO_MODELS}) == "unknown_alias"
    assert (
        refusal({"alias": "assistant", "variants": [TWO_MODELS[0], {"model_id": "ghost"}]}) == "unknown_model"
    )

    created = server.http.post(
        EXPERIMENTS, json={"alias": "assistant", "variants": TWO_MODELS}, headers=server.admin
    )
    assert created.status_code == 201, created.text
    experiment = created.json()
    assert (experiment["alias"], experiment["role_id"]) == ("assistant", None)
    eid = experiment["id"]
    assert (
        _code(server.http.delete(f"{ALIASES}/assistant", headers=server.admin), 409) == "alias_in_experiment"
    )
    assert server.http.post(f"{EXPERIMENTS}/{eid}/start", headers=server.admin).json()["status"] == "running"
    again = server.http.post(
        EXPERIMENTS, json={"alias": "assistant", "variants": TWO_MODELS}, headers=server.admin
    )
    started = server.http.post(f"{EXPERIMENTS}/{again.json()['id']}/start", headers=server.admin)
    assert _code(started, 409) == "experiment_already_running"  # one running experiment per alias

    seen: dict[str, openai.OpenAI] = {}
    for n in range(40):  # users until both variants have one (each a coin toss: all 40 alike, 1 in 2**39)
        client, user_id = _user(server, f"user{n}@example.com")
        key = "AB"[assign(uuid.UUID(eid), user_id, [1, 1])]
        calls = 10 if not seen else 1  # the first user's 10 calls show stickiness
        for _ in range(calls):
            answer = client.chat.completions.create(model="assistant", messages=QUESTION)
            assert (
                upstream.app.state.last_body["model"]
                == answer.model
                == TWO_MODELS["AB".index(key)]["model_id"]
            )
        events = [e for e in events_of(settings, "llm.call_succeeded") if e.user_id == user_id]
        assert len(events) == calls and {
            (e.model_id, e.properties["alias"], e.properties["experiment_id"], e.properties["variant"])
            for e in events
        } == {(answer.model, "assistant", eid, key)}
        seen.setdefault(key, client)
        if len(seen) == 2:
            break
    assert len(seen) == 2

    # A role's call naming the alias (the role runs no experiment of its own) is in the alias's too.
    role_call = seen["B"].chat.completions.create(
        model="assistant", messages=QUESTION, extra_headers={"X-Assistant-Role": "fix-grammar"}
    )
    assert role_call.model == "mock-large"
    event = events_of(settings, "llm.call_succeeded")[-1]
    assert (event.role_id, event.properties["variant"], event.properties["alias"]) == (
        "fix-grammar",
        "B",
        "assistant",
    )

    # B's model out of the plan: the alias's own model, said on the event.
    db_execute(settings, update(LlmModel).where(LlmModel.id == "mock-large").values(tier="paid"))
    seen["B"].chat.completions.create(model="assistant", messages=QUESTION)
    assert upstream.app.state.last_body["model"] == "mock-small"
    event = events_of(settings, "llm.call_succeeded")[-1]
    assert (event.model_id, event.properties["variant"], event.properties["experiment_model"]) == (
        "mock-small",
        "B",
        "plan",
    )
    db_execute(settings, update(LlmModel).where(LlmModel.id == "mock-large").values(tier="free"))

    # The winner: the alias now names B's model, in the transaction of the stop, both audited.
    won = server.http.post(f"{EXPERIMENTS}/{eid}/winner", json={"variant": "B"}, headers=server.admin).json()
    assert (won["status"], won["winner"]) == ("stopped", "B")
    assert {a["alias"]: a["model_id"] for a in server.http.get(ALIASES, headers=server.admin).json()} == {
        "assistant": "mock-large"
    }
    assert _audit(settings, "assistant")[-1] == (
        "model_alias.edit",
        {"model_id": "mock-small"},
        {"model_id": "mock-large"},
        f"experiment {eid}: variant B won",
    )
    assert "experiment.win" in [r.action for r in db_rows(settings, AuditEntry, AuditEntry.target_id == eid)]
    seen["A"].chat.completions.create(model="assistant", messages=QUESTION)
    assert upstream.app.state.last_body["model"] == "mock-large"  # everyone, outside the experiment
    assert "experiment_id" not in events_of(settings, "llm.call_succeeded")[-1].properties

    listed = server.http.get(EXPERIMENTS, params={"alias": "assistant"}, headers=server.admin).json()
    assert {e["id"] for e in listed} == {eid, again.json()["id"]}
    # A stopped experiment does not hold its alias; the draft still does, until it stops too.
    assert (
        _code(server.http.delete(f"{ALIASES}/assistant", headers=server.admin), 409) == "alias_in_experiment"
    )
    server.http.post(f"{EXPERIMENTS}/{again.json()['id']}/stop", headers=server.admin)
    assert server.http.delete(f"{ALIASES}/assistant", headers=server.admin).status_code == 204
    assert _audit(settings, "assistant")[-1][:3] == ("model_alias.delete", {"model_id": "mock-large"}, {})
    with pytest.raises(openai.NotFoundError):
        seen["A"].chat.completions.create(model="assistant", messages=QUESTION)


def test_a_call_already_in_its_roles_experiment_gets_the_aliass_own_model_and_stays_in_that_one():
    """One experiment a call: the role's, whose rule keeps the model the caller named (here the alias)."""
    variants = tuple(VariantSpec(k, 1, m, None) for k, m in (("A", "mock-small"), ("B", "mock-large")))
    catalogue = Catalogue(
        {}, aliases={"assistant": "mock-small"},
        alias_experiments={"assistant": ExperimentSpec(uuid.uuid4(), None, "assistant", variants)},
    )  # fmt: skip
    user = Account(id=uuid.uuid4())
    in_role = {"experiment_id": "role-experiment", "variant": "B", "experiment_model": "caller"}
    assert _alias(catalogue, "assistant", in_role, user, None) == (
        "mock-small",
        {**in_role, "alias": "assistant"},
    )
    assert _alias(catalogue, "mock-large", None, user, None) == ("mock-large", None)  # not an alias
    assert _alias(catalogue, None, None, user, None) == (None, None)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_migration_0032_keeps_the_variants_that_sqlites_table_copy_would_drop(settings, database_url):
    """SQLite copies `experiments` to make `role_id` nullable; dropping the old table cascades to the
    variants (foreign keys are on inside the migration's transaction), so they are put back."""
    downgrade(settings, "0031")
    path = database_url.removeprefix("sqlite:///")
    experiment = uuid.uuid4().hex
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO experiments (id, role_id, status, created_at)"
            " VALUES (?, 'fix-grammar', 'running', '2026-12-01')",
            (experiment,),
        )
        conn.executemany(
            "INSERT INTO experiment_variants VALUES (?, ?, ?, ?, ?)",
            [(experiment, "A", "mock-small", None, 1), (experiment, "B", None, 1, 3)],
        )
    upgrade(settings)
    downgrade(settings, "0031")  # and back down: the copy again
    upgrade(settings)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT key, model_id, role_version, weight FROM experiment_variants").fetchall()
    assert sorted(rows) == [("A", "mock-small", None, 1), ("B", None, 1, 3)]
