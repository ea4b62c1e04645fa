"""Review of issue 19's admin routes (model aliases, experiments): what hostile input, a lower role and two
staff acting at once do to them. Every answer is a stable 4xx (a 500 is a bug), nothing is half-written and
every write has its audit row.

The races run the admin services themselves on PostgreSQL, two at once, each in its own session: `Meet`
holds each one at the step before its commit until the other reaches that step too (or 0.5 s passed, when
the other is waiting on a lock): without a lock both pass their checks, with one the second waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import openai
import pytest
from sqlalchemy import delete, func, insert, select, update

from api.accounts.models import Account, Plan
from api.audit import service as audit
from api.audit.models import AuditEntry
from api.audit.service import AuditContext
from api.cache import service as response_cache
from api.cache.models import CachedResponse
from api.catalogue import admin as catalogue_admin
from api.catalogue import aliases
from api.catalogue import experiments_admin as admin
from api.catalogue.aliases import AliasIn
from api.catalogue.experiments import ExperimentSpec, VariantSpec
from api.catalogue.experiments_admin import ExperimentIn
from api.catalogue.models import Experiment, LlmModel, ModelAlias, ModelRoute
from api.catalogue.service import Catalogue, CatalogueCache, ModelSpec, PlanSpec, RoleSpec
from api.core.db import Database
from api.core.errors import AppError
from api.core.types import utcnow
from api.gateway.service import _experiment as _experiment_of
from api.main import create_app
from tests.support.api import (
    LiveServer,
    db_execute,
    db_rows,
    db_scalar,
    grant_credits,
    http_provider_row,
    relay_only,
    sign_up,
    staff_headers,
    wait_for_events,
)

ALIASES = "/api/v1/admin/model-aliases"
EXPERIMENTS = "/api/v1/admin/experiments"
CACHE = "/api/v1/admin/cache"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
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
    assert client.put(
        f"{ALIASES}/assistant", json={"model_id": "mock-small"}, headers=admin_headers
    ).is_success
    on_alias = _experiment(client, admin_headers, alias="assistant")
    _experiment(client, admin_headers, role_id="fix-grammar")
    listed = client.get(EXPERIMENTS, params={"alias": "assistant"}, headers=admin_headers)
    assert [e["id"] for e in listed.json()] == [on_alias["id"]]
    assert client.get(EXPERIMENTS, params={"alias": "nobody"}, headers=admin_headers).json() == []
    assert _code(client.get(EXPERIMENTS, params={"alias": "bad name"}, headers=admin_headers), 422) == (
        "validation_error"
    )


HOSTILE_MODEL_IDS = {
    "nul": "mock\x00small",
    "newline": "mock-small\n",
    "fullwidth": "\uff4d\uff4f\uff43\uff4b-small",
    "cyrillic-o": "m\u043eck-small",
    "space": " mock-small",
    "too-long": "x" * 129,
    "empty": "",
}
HOSTILE_ALIAS_NAMES = ["assistant%0A", "assistant%20", "%20assistant", "ass%C4%B1stant", "%E2%80%8Bassistant",
                       "a" * 129, "..", ".hidden", "-x", "a%2Fb", "%00"]  # fmt: skip


@pytest.mark.both_databases
def test_hostile_model_ids_in_an_experiments_variants_are_4xx_not_500(client, settings, admin_headers):
    """PostgreSQL refuses a NUL in text: a variant's model id with one reached the database (500). One
    database per run for all the ids (each a request; nothing is kept between them)."""
    for name, model_id in HOSTILE_MODEL_IDS.items():
        body = {"role_id": "fix-grammar", "variants": [{"model_id": "mock-small"}, {"model_id": model_id}]}
        answer = client.post(EXPERIMENTS, json=body, headers=admin_headers)
        assert answer.status_code in (404, 409, 422), (name, answer.text)
        assert db_scalar(settings, select(Experiment.id)) is None, name  # nothing half-written


def test_hostile_alias_names_are_422_and_write_nothing(client, settings, admin_headers):
    for name in HOSTILE_ALIAS_NAMES:
        answer = client.put(f"{ALIASES}/{name}", json={"model_id": "mock-small"}, headers=admin_headers)
        assert answer.status_code in (400, 404, 405, 422), (name, answer.text)  # `..`, `a/b`: other paths
        assert db_rows(settings, ModelAlias) == [] and db_rows(settings, AuditEntry) == [], name
        deleted = client.delete(f"{ALIASES}/{name}", headers=admin_headers)
        assert deleted.status_code in (400, 404, 405, 422), name


def test_a_cache_rule_is_on_a_model_never_on_an_alias(client, admin_headers):
    """The gateway looks rules up by the resolved model: a rule on an alias would never apply, so it is a
    404 like any name that is not a model."""
    aliased = client.put(f"{ALIASES}/assistant", json={"model_id": "mock-small"}, headers=admin_headers)
    assert aliased.is_success
    rule = client.put(f"{CACHE}/rules/model/assistant", json={"ttl_seconds": 60}, headers=admin_headers)
    assert _code(rule, 404) == "not_found"


def test_weights_and_keys_at_their_bounds(client, admin_headers):
    def create(*weights) -> int:
        body = {
            "role_id": "fix-grammar",
            "variants": [{"model_id": "mock-small", "weight": w} for w in weights],
        }
        return client.post(EXPERIMENTS, json=body, headers=admin_headers).status_code

    assert create(1, 1000, 1000, 1000, 1000) == 201
    assert create(0, 1) == create(1, 1001) == create(1, -1) == create(1, 1.5) == create(1, None) == 422
    assert create(*[1] * 6) == create(1) == 422
    eid = client.get(EXPERIMENTS, headers=admin_headers).json()[0]["id"]
    for key, status in (("a", 422), ("F", 422), ("AB", 422), ("C", 200)):
        won = client.post(f"{EXPERIMENTS}/{eid}/winner", json={"variant": key}, headers=admin_headers)
        assert won.status_code == status, (key, won.text)
    assert client.post(f"{EXPERIMENTS}/{uuid.uuid4()}/start", headers=admin_headers).status_code == 404
    assert client.post(f"{EXPERIMENTS}/not-a-uuid/start", headers=admin_headers).status_code == 422


def test_lower_roles_and_bad_tokens_read_at_most_and_write_nothing(client, settings, admin_headers):
    assert client.put(
        f"{ALIASES}/assistant", json={"model_id": "mock-small"}, headers=admin_headers
    ).is_success
    eid = _experiment(client, admin_headers, alias="assistant")["id"]
    user, viewer = sign_up(client, "ada@example.com", settings), staff_headers(client, settings, "viewer")
    forged = {"Authorization": "Bearer " + admin_headers["Authorization"].split()[1][:-4] + "AAAA"}
    writes = [
        ("PUT", f"{ALIASES}/assistant", {"model_id": "mock-large"}), ("DELETE", f"{ALIASES}/assistant", None),
        ("POST", EXPERIMENTS, {"alias": "assistant", "variants": TWO_MODELS}),
        ("POST", f"{EXPERIMENTS}/{eid}/start", None),
        ("POST", f"{EXPERIMENTS}/{eid}/winner", {"variant": "B"}),
    ]  # fmt: skip
    audited = len(db_rows(settings, AuditEntry))
    for who, headers, status in (
        ("user", user, 403),
        ("viewer", viewer, 403),
        ("none", {}, 401),
        ("forged", forged, 401),
    ):
        for method, url, body in writes:
            answer = client.request(method, url, json=body, headers=headers)
            assert answer.status_code == status, (who, method, url, answer.text)
        reads = [ALIASES, EXPERIMENTS, f"{EXPERIMENTS}/{eid}"]
        expected = 200 if who == "viewer" else status
        assert [client.get(url, headers=headers).status_code for url in reads] == [expected] * 3, who
    assert len(db_rows(settings, AuditEntry)) == audited
    assert db_scalar(settings, select(ModelAlias.model_id)) == "mock-small"
    assert db_scalar(settings, select(Experiment.status)) == "draft"


# ------------------------------------------------------------------------------- the gateway: the variant


def _spec(model_id: str, tier: str) -> ModelSpec:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return ModelSpec(model_id, model_id, tier, True, True, 8192, 1024, {}, 0, at, (object(),), ())


def test_a_variants_role_version_whose_model_the_plan_may_not_call_falls_back_to_the_roles_model():
    """0059: "an experiment must never refuse a call the role alone would answer". A variant naming only a
    role version took that version's default model, unchecked: a free user put in it was refused
    (model_not_in_plan) where the role's own model, a free one, would have answered. The version's prompt
    still applies; the role's model is used and the event says `experiment_model: plan`."""
    role = RoleSpec("helper", "Helper", "Current prompt.", "mock-small", {}, version=3)
    variants = (
        VariantSpec("A", 1, None, 3, ("Current prompt.", "mock-small", {})),
        VariantSpec("B", 1_000_000, None, 1, ("Old prompt.", "mock-large", {"temperature": 0.2})),
    )  # B: every user
    catalogue = Catalogue(
        {"mock-small": _spec("mock-small", "free"), "mock-large": _spec("mock-large", "paid")},
        experiments={"helper": ExperimentSpec(uuid.uuid4(), "helper", None, variants)},
    )  # fmt: skip
    free = PlanSpec("free", 100, None, None, None, None, frozenset({"free"}))
    persona, model, marks = _experiment_of(catalogue, role, None, Account(id=uuid.uuid4()), free)
    assert (persona.system_prompt, persona.version, persona.default_params) == (
        "Old prompt.",
        1,
        {"temperature": 0.2},
    )
    assert (model or persona.default_model) == "mock-small"
    assert marks["variant"] == "B" and marks["experiment_model"] == "plan"

    pro = PlanSpec(
        "pro", None, None, None, None, None, frozenset({"free", "paid"})
    )  # may call it: it gets it
    persona, model, marks = _experiment_of(catalogue, role, None, Account(id=uuid.uuid4()), pro)
    assert (model or persona.default_model) == "mock-large" and "experiment_model" not in marks


def test_a_role_call_naming_an_alias_of_its_variants_model_counts_as_the_variants():
    """The caller named the alias `assistant` of mock-large, the variant's own model: the call used the
    variant's model and version, yet it was marked `experiment_model: caller` and left out of the
    comparison (naming mock-large itself was counted)."""
    role = RoleSpec("helper", "Helper", "Prompt.", "mock-small", {}, version=1)
    variants = (VariantSpec("A", 1, "mock-large", None),)
    catalogue = Catalogue(
        {"mock-small": _spec("mock-small", "free"), "mock-large": _spec("mock-large", "free")},
        experiments={"helper": ExperimentSpec(uuid.uuid4(), "helper", None, variants)},
        aliases={"assistant": "mock-large", "other": "mock-small"},
    )  # fmt: skip
    free = PlanSpec("free", 100, None, None, None, None, frozenset({"free"}))
    user = Account(id=uuid.uuid4())
    for named in ("mock-large", "assistant"):
        _, model, marks = _experiment_of(catalogue, role, named, user, free)
        assert model == named and "experiment_model" not in marks, named
    assert _experiment_of(catalogue, role, "other", user, free)[2]["experiment_model"] == "caller"


# --------------------------------------------------------------------------- the gateway: cache and money


@pytest.fixture
def server(settings, upstream):
    """The API with mock-small (free) and mock-large (paid) served by the HTTP mock provider only (it counts
    its calls and records the model asked for), the catalogue read on every call, both models cached."""
    relay_only(settings, upstream.url)
    app = create_app(settings.model_copy(update={"catalogue_cache_seconds": 0}))
    with LiveServer(app) as live, httpx.Client(base_url=live.url) as http:
        live.http, live.settings = http, settings
        live.admin = staff_headers(http, settings, "admin")
        for model in ("mock-small", "mock-large"):
            rule = http.put(f"{CACHE}/rules/model/{model}", json={"ttl_seconds": 600}, headers=live.admin)
            assert rule.status_code == 200, rule.text
        yield live


def _pro_user(server, email: str) -> openai.OpenAI:
    token = sign_up(server.http, email, server.settings)["Authorization"].removeprefix("Bearer ")
    db_execute(server.settings, update(Account).where(Account.email == email).values(plan_code="pro"))
    grant_credits(server.settings, email, Decimal(100))
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=token, max_retries=0)


@pytest.mark.both_databases  # PostgreSQL: the fast lane's Books.cached / Books.keep
def test_an_alias_is_cached_as_its_model_and_a_repoint_never_serves_the_old_models_answer(
    server, settings, upstream
):
    """The key holds the resolved model: the alias and its model share answers, a repointed alias asks its
    new model (and is charged at its price), and another user never gets the first one's answer."""
    assert server.http.put(
        f"{ALIASES}/assistant", json={"model_id": "mock-small"}, headers=server.admin
    ).is_success
    ada, bob = _pro_user(server, "ada@example.com"), _pro_user(server, "bob@example.com")
    ask = {"messages": QUESTION, "max_tokens": 64}
    small = ada.chat.completions.create(model="assistant", **ask)
    assert ada.chat.completions.create(model="mock-small", **ask).choices[0].message.content == (
        small.choices[0].message.content
    )
    assert upstream.app.state.calls == 1  # the alias's answer is its model's

    assert server.http.put(
        f"{ALIASES}/assistant", json={"model_id": "mock-large"}, headers=server.admin
    ).is_success
    large = ada.chat.completions.create(model="assistant", **ask)
    assert (upstream.app.state.calls, upstream.app.state.last_body["model"], large.model) == (
        2,
        "mock-large",
        "mock-large",
    )
    bob.chat.completions.create(model="assistant", **ask)  # another user: his own miss
    direct = _pro_user(server, "cy@example.com").chat.completions.create(model="mock-large", **ask)
    assert upstream.app.state.calls == 4 and direct.usage.total_tokens == large.usage.total_tokens
    events = wait_for_events(settings, "llm.call_succeeded", count=5)
    cache, credits = [e.properties.get("cache") for e in events], [e.credits for e in events]
    assert cache == ["miss", "hit", "miss", "miss", "miss"], cache
    assert [e.model_id for e in events] == ["mock-small"] * 2 + ["mock-large"] * 3
    # The alias's calls are charged as the model's: the repointed alias at mock-large's price.
    assert credits[2] == credits[3] == credits[4] > 0, credits
    assert events[0].credits in (None, 0)  # mock-small is free


@pytest.mark.both_databases  # PostgreSQL: the stream settled on the fast lane, which keeps answers there
def test_a_client_that_hangs_up_mid_stream_on_a_miss_leaves_nothing_kept(settings, upstream):
    """The relay streams slowly (a piece each 0.2 s, its header asks the mock): the client named the alias,
    a cached model's, and left after two pieces; the cut answer is never kept, so the repeat is a miss."""
    db_execute(
        settings,
        update(Plan).where(Plan.code == "free").values(daily_requests=100),
        delete(ModelRoute).where(ModelRoute.provider_id == "mock"),
        http_provider_row(
            settings, "relay", f"{upstream.url}/v1", priority=1, headers={"X-Mock-Fault": "slow"}
        ),
        insert(ModelRoute).values(model_id="mock-small", provider_id="relay", provider_model="mock-small"),
    )
    app = create_app(settings.model_copy(update={"catalogue_cache_seconds": 0, "drain_seconds": 0.5}))
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        admin = staff_headers(http, settings, "admin")
        assert http.put(
            f"{CACHE}/rules/model/mock-small", json={"ttl_seconds": 600}, headers=admin
        ).is_success
        assert http.put(f"{ALIASES}/assistant", json={"model_id": "mock-small"}, headers=admin).is_success
        user = sign_up(http, "ada@example.com", settings)
        body = {"model": "assistant", "messages": QUESTION, "stream": True, "max_tokens": 40}
        with http.stream("POST", "/v1/chat/completions", json=body, headers=user) as response:
            assert response.status_code == 200
            pieces = 0
            for line in response.iter_lines():
                pieces += '"content"' in line
                if pieces == 2:
                    break
        (left,) = wait_for_events(settings, "llm.call_succeeded")
        assert (left.status, left.properties["alias"], left.properties["cache"]) == (
            "disconnected",
            "assistant",
            "miss",
        )
        assert db_rows(settings, CachedResponse) == []
        assert upstream.app.state.calls == 1


# ------------------------------------------------------------------------------------------------ races


class Meet:
    """Holds each caller of the wrapped step until both reached it, or 0.5 s passed (the other is waiting on
    a lock, so it cannot reach it before this one commits)."""

    def __init__(self) -> None:
        self.arrived = 0
        self.both = asyncio.Event()

    def wrap(self, step):
        async def held(*args, **kwargs):
            self.arrived += 1
            if self.arrived == 2:
                self.both.set()
            try:
                await asyncio.wait_for(self.both.wait(), 0.5)
            except TimeoutError:
                pass
            return await step(*args, **kwargs)

        return held


async def _both(settings, *actions) -> list[object]:
    """Each action(session, staff, cache) in its own session at once: what each returned, or its AppError."""
    db = Database(settings)
    cache = CatalogueCache(settings)

    async def run(action):
        async with db.sessionmaker() as session:
            staff = await session.scalar(select(Account).where(Account.email == "admin@example.com"))
            try:
                return await action(session, staff, cache)
            except AppError as exc:
                return exc

    try:
        return await asyncio.gather(*(run(a) for a in actions))
    finally:
        await db.dispose()


def _audits(settings, action: str) -> int:
    return len(db_rows(settings, AuditEntry, AuditEntry.action == action))


def _kw(at=None) -> dict:
    return {"at": at or utcnow(), "context": AuditContext()}


@ON_POSTGRES
def test_two_staff_creating_the_same_alias_at_once_get_a_409_not_a_500(
    client, settings, admin_headers, monkeypatch
):
    """Both see no alias, both insert it: the second's insert met the primary key (IntegrityError, a 500)."""
    monkeypatch.setattr(audit, "commit_audited", Meet().wrap(audit.commit_audited))

    def put(model_id):
        return lambda s, staff, cache: aliases.set_alias(
            s, staff, "assistant", AliasIn(model_id=model_id), cache=cache, **_kw()
        )

    results = asyncio.run(_both(settings, put("mock-small"), put("mock-large")))
    errors = [r for r in results if isinstance(r, AppError)]
    assert [e.status_code for e in errors] in ([], [409]), results
    written = db_scalar(settings, select(ModelAlias.model_id).where(ModelAlias.alias == "assistant"))
    assert _audits(settings, "model_alias.create") == 1
    assert _audits(settings, "model_alias.edit") == len(results) - len(errors) - 1
    assert written in ("mock-small", "mock-large")


@ON_POSTGRES
def test_an_alias_deleted_while_an_experiment_is_created_on_it_leaves_no_experiment_on_nothing(
    client, settings, admin_headers, monkeypatch
):
    """The delete checks that no experiment holds the alias while the creation checks that the alias
    exists: without a lock both pass, and a draft is left on a deleted alias (it can start, then run on
    nothing)."""
    assert client.put(
        f"{ALIASES}/assistant", json={"model_id": "mock-small"}, headers=admin_headers
    ).is_success
    monkeypatch.setattr(audit, "commit_audited", Meet().wrap(audit.commit_audited))
    body = ExperimentIn(alias="assistant", variants=TWO_MODELS)
    results = asyncio.run(
        _both(
            settings,
            lambda s, staff, cache: admin.create_experiment(s, staff, body, cache=cache, **_kw()),
            lambda s, staff, cache: aliases.delete_alias(s, staff, "assistant", cache=cache, **_kw()),
        )
    )
    alias = db_scalar(settings, select(ModelAlias.alias))
    experiment = db_scalar(settings, select(Experiment.id))
    assert (alias, experiment is None) != (None, False), results  # never an experiment on no alias
    assert sorted(type(r).__name__ for r in results if isinstance(r, AppError)) in (
        ["AliasInExperiment"],
        ["UnknownAlias"],
    )


@ON_POSTGRES
@pytest.mark.parametrize("on", ["alias", "role"])
def test_two_winners_picked_at_once_give_one_winner_and_one_409(
    client, settings, admin_headers, monkeypatch, on
):
    """Both saw no winner yet: both repointed the alias (or wrote a role version), each with its own
    `experiment.win`, the second overwriting the first's winner."""
    assert client.put(
        f"{ALIASES}/assistant", json={"model_id": "mock-small"}, headers=admin_headers
    ).is_success
    eid = uuid.UUID(
        _experiment(
            client, admin_headers, **({"alias": "assistant"} if on == "alias" else {"role_id": "fix-grammar"})
        )["id"]
    )
    monkeypatch.setattr(admin, "_won", Meet().wrap(admin._won))

    def win(key):
        return lambda s, staff, cache: admin.pick_winner(s, staff, eid, key, cache=cache, **_kw())

    results = asyncio.run(_both(settings, win("A"), win("B")))
    assert sorted(getattr(r, "status_code", 200) for r in results) == [200, 409], results
    assert _audits(settings, "experiment.win") == 1
    winner = db_scalar(settings, select(Experiment.winner))
    if on == "alias":
        assert _audits(settings, "model_alias.edit") == 1
        target = db_scalar(settings, select(ModelAlias.model_id))
        assert target == {"A": "mock-small", "B": "mock-large"}[winner]


@ON_POSTGRES
def test_a_start_racing_a_winner_never_leaves_a_running_experiment_with_a_winner(
    client, settings, admin_headers, monkeypatch
):
    """A start reads the draft, then the winner stops it and repoints the alias: the start wrote `running`
    over the stop (an experiment running after its winner). The start is held after its read until the
    winner is done (or 0.5 s passed: the winner waits on the start's lock)."""
    assert client.put(
        f"{ALIASES}/assistant", json={"model_id": "mock-small"}, headers=admin_headers
    ).is_success
    eid = uuid.UUID(_experiment(client, admin_headers, alias="assistant")["id"])
    winner_done, held = asyncio.Event(), contextvars.ContextVar("held", default=False)
    out = admin._out

    async def after_the_winner(session, experiment):
        if held.get():
            held.set(False)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(winner_done.wait(), 0.5)
        return await out(session, experiment)

    monkeypatch.setattr(admin, "_out", after_the_winner)

    async def start(s, staff, cache):
        held.set(True)
        return await admin.transition(s, staff, eid, "start", cache=cache, **_kw())

    async def win(s, staff, cache):
        await asyncio.sleep(0)  # the start reads first
        try:
            return await admin.pick_winner(s, staff, eid, "B", cache=cache, **_kw())
        finally:
            winner_done.set()

    results = asyncio.run(_both(settings, start, win))
    status, winner = db_rows(settings, Experiment)[0].status, db_scalar(settings, select(Experiment.winner))
    assert (status, winner) == ("stopped", "B"), results


@ON_POSTGRES
def test_an_alias_repointed_while_it_is_deleted_is_not_a_500(client, settings, admin_headers, monkeypatch):
    """The repoint read the row, the deletion removed it and committed: the repoint's UPDATE then matched no
    row (StaleDataError, a 500). The repoint is held after its read until the deletion is done (or 0.5 s
    passed: the deletion waits on the repoint's lock)."""
    from api.catalogue import repository

    assert client.put(
        f"{ALIASES}/assistant", json={"model_id": "mock-small"}, headers=admin_headers
    ).is_success
    was_read, deleted, held = asyncio.Event(), asyncio.Event(), contextvars.ContextVar("held", default=False)
    read = repository.alias

    async def then_wait(session, name, **kwargs):
        row = await read(session, name, **kwargs)
        if held.get():
            was_read.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(deleted.wait(), 0.5)
        return row

    monkeypatch.setattr(repository, "alias", then_wait)

    async def repoint(s, staff, cache):
        held.set(True)
        return await aliases.set_alias(
            s, staff, "assistant", AliasIn(model_id="mock-large"), cache=cache, **_kw()
        )

    async def delete(s, staff, cache):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(was_read.wait(), 0.5)
        try:
            return await aliases.delete_alias(s, staff, "assistant", cache=cache, **_kw())
        finally:
            deleted.set()

    results = asyncio.run(_both(settings, repoint, delete))
    assert not [r for r in results if isinstance(r, AppError)], results
    assert _audits(settings, "model_alias.delete") == 1
    alias = db_scalar(settings, select(ModelAlias.model_id))
    assert alias in (None, "mock-large")  # deleted last, or made again after the deletion


@ON_POSTGRES
def test_two_experiments_started_at_once_on_one_alias_give_one_running_and_one_409(
    client, settings, admin_headers, monkeypatch
):
    """Both see nothing running: the partial unique index settles it (a 409, nothing half-written)."""
    assert client.put(
        f"{ALIASES}/assistant", json={"model_id": "mock-small"}, headers=admin_headers
    ).is_success
    ids = [uuid.UUID(_experiment(client, admin_headers, alias="assistant")["id"]) for _ in range(2)]
    monkeypatch.setattr(audit, "commit_audited", Meet().wrap(audit.commit_audited))

    def start(eid):
        return lambda s, staff, cache: admin.transition(s, staff, eid, "start", cache=cache, **_kw())

    results = asyncio.run(_both(settings, *(start(i) for i in ids)))
    assert sorted(getattr(r, "status_code", 200) for r in results) == [200, 409], results
    assert [r.code for r in results if isinstance(r, AppError)] == ["experiment_already_running"]
    assert db_scalar(settings, select(func.count()).where(Experiment.status == "running")) == 1
    assert _audits(settings, "experiment.start") == 1


@ON_POSTGRES
def test_a_model_deleted_while_an_alias_is_set_to_it_is_a_409_not_a_500(
    client, settings, admin_headers, monkeypatch
):
    """The deletion checked that nothing names the model while the alias checked that the model exists:
    the foreign key settled it at the commit (an IntegrityError, a 500)."""
    spare = {"id": "spare", "display_name": "Spare", "tier": "free", "input_usd_per_million": "1",
             "output_usd_per_million": "1", "routes": []}  # fmt: skip
    assert client.post("/api/v1/admin/models", json=spare, headers=admin_headers).status_code == 201
    monkeypatch.setattr(audit, "commit_audited", Meet().wrap(audit.commit_audited))
    results = asyncio.run(
        _both(
            settings,
            lambda s, staff, cache: aliases.set_alias(
                s, staff, "assistant", AliasIn(model_id="spare"), cache=cache, **_kw()
            ),
            lambda s, staff, cache: catalogue_admin.delete_model(s, staff, "spare", cache=cache, **_kw()),
        )
    )
    assert [r.status_code for r in results if isinstance(r, AppError)] == [409], results
    alias = db_scalar(settings, select(ModelAlias.model_id).where(ModelAlias.alias == "assistant"))
    model = db_scalar(settings, select(LlmModel.id).where(LlmModel.id == "spare"))
    assert (alias, model) in ((None, None), ("spare", "spare"))  # one of the two, never an alias on nothing


@ON_POSTGRES
def test_two_staff_turning_a_models_cache_on_at_once_get_a_409_not_a_500(
    client, settings, admin_headers, monkeypatch
):
    """Both see no rule, both insert one: the second met the primary key at its commit (a 500)."""
    monkeypatch.setattr(audit, "commit_audited", Meet().wrap(audit.commit_audited))

    def turn_on(ttl):
        return lambda s, staff, cache: response_cache.save_rule(
            s, staff, "model", "mock-small", ttl, False, after_commit=cache.invalidate, **_kw()
        )

    results = asyncio.run(_both(settings, turn_on(60), turn_on(600)))
    assert [r.status_code for r in results if isinstance(r, AppError)] == [409], results
    assert _audits(settings, "response_cache.edit") == 1


@ON_POSTGRES
def test_a_winner_racing_a_stop_ends_stopped_with_its_winner(client, settings, admin_headers, monkeypatch):
    """Either order is legal (a stopped experiment may still get its winner; a won one is stopped): the end
    is the same, with one `experiment.win` and the alias repointed once."""
    assert client.put(
        f"{ALIASES}/assistant", json={"model_id": "mock-small"}, headers=admin_headers
    ).is_success
    eid = uuid.UUID(_experiment(client, admin_headers, alias="assistant")["id"])
    assert client.post(f"{EXPERIMENTS}/{eid}/start", headers=admin_headers).is_success
    meet = Meet()
    monkeypatch.setattr(admin, "_won", meet.wrap(admin._won))
    monkeypatch.setattr(audit, "commit_audited", meet.wrap(audit.commit_audited))
    results = asyncio.run(
        _both(
            settings,
            lambda s, staff, cache: admin.transition(s, staff, eid, "stop", cache=cache, **_kw()),
            lambda s, staff, cache: admin.pick_winner(s, staff, eid, "B", cache=cache, **_kw()),
        )
    )
    assert [getattr(r, "code", None) for r in results if isinstance(r, AppError)] in (
        [],
        ["experiment_illegal_transition"],
    )
    row = db_rows(settings, Experiment)[0]
    assert (row.status, row.winner, row.stopped_at is not None) == ("stopped", "B", True)
    assert _audits(settings, "experiment.win") == 1 and _audits(settings, "model_alias.edit") == 1
    assert db_scalar(settings, select(ModelAlias.model_id)) == "mock-large"
