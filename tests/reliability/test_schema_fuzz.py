"""Schemathesis against the API's own OpenAPI (issue #8 item 1), over real HTTP on PostgreSQL.

- Every operation (but the few in EXCLUDED, each with its reason), fuzzed with data its schema allows,
  signed in as each role: no 5xx, every answer has a status code, a media type, headers and a body its
  OpenAPI declares, and the request without the token or with a made-up one is refused.
- The inferred links (a create's or a list's ids fed to the reads, edits and deletes) chained by
  schemathesis' state machine, as an admin: the same checks, plus a deleted object stays gone and a
  created one can be read.
- Object-level authorization: one user must never read or change another's chats, API keys,
  notifications or idempotent answers. Schemathesis' `object_level_authorization` check replays the
  owner's reads as a second user; an explicit test tries every chat route and the other owned objects.

The fast profile fuzzes each operation as the least privileged role that may call it (the roles above get
the same code behind the permission check, which tests/api/auth/test_permissions.py checks route by route);
the long profile fuzzes every operation as every role that may call it. Only PostgreSQL, the production
database, is used: one database is enough for a fuzzer, and SQLite would double the time.

Two bugs it found are pinned by tests of their own (at the end): `"model": null` was a 500, and the request
guard's 400s and 413 were in no operation's OpenAPI.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Flaky
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.engine.errors import is_inconsistent_replay
from schemathesis.generation.stateful import run_state_machine_as_test
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    object_level_authorization,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)
from schemathesis.wfc.escalation import EscalatingAuthProvider
from sqlalchemy import select, update

from aiadmin.permissions_doc import api_routes, declared_permissions
from api.accounts.models import ROLES, Account, Plan
from api.auth.deps import PUBLIC
from api.auth.permissions import ROLE_PERMISSIONS, allowed
from api.core.db import make_sync_engine
from api.core.types import utcnow
from api.main import create_app
from api.notifications.models import Notification
from tests.reliability.profile import PROFILE, report
from tests.support.api import LiveServer, completion_body, db_execute, sign_up, staff_headers
from warehouse.settings import WarehouseSettings

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

# Least privileged first: in the fast profile an operation is fuzzed as the first role that may call it.
FUZZ_ROLES = tuple(sorted(ROLES, key=lambda role: len(ROLE_PERMISSIONS[role])))

# What is not fuzzed, and why.
_ENDS_THE_SESSION = "ends the session the fuzzer signs in with: every later case would be a 401"
EXCLUDED = {
    "POST /api/v1/auth/logout": _ENDS_THE_SESSION,
    "POST /api/v1/auth/logout-all": _ENDS_THE_SESSION,
    # The fuzzer also writes providers' base URLs: testing one would send a request to whatever host it
    # generated. tests/api/catalogue/test_admin_providers.py tests it against a real mock provider.
    "POST /api/v1/admin/providers/{provider_id}/test": "calls a base URL the fuzzer made up",
    # Likewise the playground, on a model the fuzzer may have routed to such a provider (its bad input is
    # tests/api/catalogue/test_playground.py's).
    "POST /api/v1/admin/playground": "may call a provider the fuzzer made up",
}
# Also left out of the admin's state machine: a chain could create a provider with a generated base URL,
# route a model to it and call it. (Completions are fuzzed as a user, whose database has no such provider.)
NOT_CHAINED_AS_ADMIN = {"POST /v1/chat/completions": "would call a provider the fuzzer made up"}

# Reads that outlive a delete by design: a deleted role's versions (and so its diffs) and its usage stay for
# the record (DELETE /api/v1/admin/roles/{role_id}; tests/api/catalogue/test_admin_roles.py reads them
# after one).
KEPT_AFTER_DELETE = {
    "GET /api/v1/admin/roles/{role_id}/versions",
    "GET /api/v1/admin/roles/{role_id}/diff",
    "GET /api/v1/admin/roles/{role_id}/usage",
}

# Where a 404 names something of the body, not the object in the path: `ensure_resource_availability` judges
# by the path alone, so a rollback to a version the role never had (404,
# tests/api/catalogue/test_admin_roles.py) would pass for the new role itself not being found.
NOT_FOUND_IN_THE_BODY = {"POST /api/v1/admin/roles/{role_id}/rollback"}

# Besides "no 5xx": every answer is one the operation's OpenAPI declares.
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# ---------------------------------------------------------------- known bugs in files this suite may not fix


def _strings(value) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


# ---------------------------------------------------------------- the API, its schema and who calls it


class Bearer:
    """Schemathesis' auth provider protocol: every case generated for the schema carries this token."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.token = headers["Authorization"]

    def get(self, case, context) -> str:
        return self.token

    def set(self, case, data: str, context) -> None:
        case.headers["Authorization"] = data


class Api:
    def __init__(self, settings, server: LiveServer, app, http: httpx.Client) -> None:
        self.settings, self.server, self.app, self.http = settings, server, app, http

    def sign_in(self, role: str, email: str | None = None) -> dict[str, str]:
        if role == "user":
            return sign_up(self.http, email or "fuzz@example.com", self.settings)
        return staff_headers(self.http, self.settings, role)

    def schema(self, excluded: Iterable[str] = ()):
        """The live OpenAPI without the excluded operations (auth is added by the caller)."""
        left_out = {*EXCLUDED, *excluded}
        # A wait, not a speed limit: the first /openapi.json builds the schema, seconds on a busy machine.
        loaded = schemathesis.openapi.from_url(f"{self.server.url}/openapi.json", timeout=120)
        # Data the schema allows; the stateful runs would otherwise send some malformed bodies too.
        loaded.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE])
        return loaded.exclude(func=lambda ctx: ctx.operation.label in left_out)

    def labels_for(self, role: str) -> set[str]:
        """The operations `role` may call."""
        labels = set()
        for route in api_routes(self.app.routes):
            (permission,) = declared_permissions(route.dependant)
            if permission == PUBLIC or allowed(role, permission):
                labels |= {f"{method} {route.path}" for method in route.methods - {"HEAD", "OPTIONS"}}
        return labels


@pytest.fixture
def api(settings):
    app = create_app(settings)
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as http:
        yield Api(settings, server, app, http)


def _fuzzed_as(api: Api, role: str) -> set[str]:
    """The operations fuzzed as `role`: those it may call, in the fast profile only those no less
    privileged role may call."""
    labels = api.labels_for(role)
    if PROFILE.name == "fast":
        for lower in FUZZ_ROLES[: FUZZ_ROLES.index(role)]:
            labels -= api.labels_for(lower)
    return labels


def _use_after_free(ctx, response, case):
    """Schemathesis' `use_after_free`, but for the reads that outlive a delete by design."""
    if case.operation.label in KEPT_AFTER_DELETE:
        return None
    return use_after_free(ctx, response, case)


_use_after_free.__name__ = "use_after_free"


def _ensure_resource_availability(ctx, response, case):
    """Schemathesis' `ensure_resource_availability`, but not for a 404 about what the body names."""
    if case.operation.label in NOT_FOUND_IN_THE_BODY:
        return None
    return ensure_resource_availability(ctx, response, case)


_ensure_resource_availability.__name__ = "ensure_resource_availability"


def _ignored_auth():
    """Schemathesis' `ignored_auth` (the request again without the token, then with a made-up one: both
    must be refused), once per operation, as its own runner does: enforcement is the operation's."""
    confirmed: set[str] = set()

    def check(ctx, response, case):
        if case.operation.label in confirmed or not 200 <= response.status_code < 300:
            return None
        ignored_auth(ctx, response, case)
        confirmed.add(case.operation.label)
        return None

    check.__name__ = "ignored_auth"
    return check


def _warehouse_unpublished(settings) -> bool:
    return not WarehouseSettings(data_dir=settings.data_dir).serving_path.exists()


def _no_server_error(settings):
    """`not_a_server_error`, but before the pipeline's first publish the analytics API's documented answer is
    503 `warehouse_not_ready`: its contract, not a fault. (Publishing takes a dbt build, about a minute: the
    long profile publishes first, so that there the analytics are fuzzed against a real warehouse.)"""

    def check(ctx, response, case):
        if (
            response.status_code == 503
            and case.operation.path.startswith("/api/v1/analytics/")
            and b'"code":"warehouse_not_ready"' in response.content.replace(b" ", b"")
            and _warehouse_unpublished(settings)
        ):
            return None
        return not_a_server_error(ctx, response, case)

    check.__name__ = "not_a_server_error"
    return check


class Tally:
    """What was sent, counted as it was sent: per operation and per status class."""

    def __init__(self) -> None:
        self.cases: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.failures: list[str] = []
        self.scenarios = 0  # state machine runs

    def sent(self, case, response) -> None:
        self.cases[case.operation.label] += 1
        self.statuses[f"{response.status_code // 100}xx"] += 1

    def assert_no_failures(self) -> None:
        # Schemathesis' own report says it all (check, response, curl to reproduce); a pytest traceback of
        # this frame would add nothing, and rendering one can crash CPython 3.11's AST parser
        # ("AST constructor recursion depth mismatch", pytest-dev/pytest#10763) after a hypothesis failure.
        if self.failures:
            pytest.fail("\n\n".join(self.failures), pytrace=False)

    def figures(self) -> dict:
        return {
            "operations": len(self.cases),
            "cases": sum(self.cases.values()),
            "failures": len(self.failures),
            "statuses": dict(sorted(self.statuses.items())),
            **({"scenarios": self.scenarios} if self.scenarios else {}),
        }


@contextmanager
def collecting(tally: Tally, label: str):
    """One operation's failure is recorded and the fuzzing goes on with the next operation."""
    try:
        yield
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
        tally.failures.append(f"{label}:\n{exc}")


def fuzz(operation, checks, tally: Tally) -> None:
    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=PROFILE.fuzz_examples,
        deadline=None,
        database=None,  # one inner test per operation: a shared example database would mix them up
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        response = case.call()
        tally.sent(case, response)
        case.validate_response(response, checks=checks)

    with collecting(tally, operation.label):
        run()


# ---------------------------------------------------------------- a) every operation, as each role


@pytest.mark.parametrize("role", FUZZ_ROLES)
def test_every_operation_answers_as_its_schema_says_for_each_role(api, role, request):
    if PROFILE.name == "long" and "GET /api/v1/analytics/usage" in api.labels_for(role):
        request.getfixturevalue("pipeline")()  # analytics against a published (empty) warehouse
    schema = api.schema()
    schema.auth.providers.append(Bearer(api.sign_in(role)))
    labels = _fuzzed_as(api, role)
    checks = [_no_server_error(api.settings), *CONFORMANCE, _ignored_auth()]
    tally = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in labels:
            fuzz(operation, checks, tally)
    report("schema_fuzz", f"fuzz as {role}", **tally.figures())
    assert sum(tally.cases.values()) > 0
    tally.assert_no_failures()


# ---------------------------------------------------------------- b) linked operations, chained


def _state_machine(schema, checks, tally: Tally):
    class Chained(schema.as_state_machine()):
        def setup(self) -> None:
            tally.scenarios += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            tally.sent(case, response)
            try:
                case.validate_response(
                    response, checks=checks, transport_kwargs=kwargs or None, recorder=self.recorder
                )
            except FailureGroup as failures:
                # Recorded as it happens: a replay of the scenario need not fail again (see `_run_chains`).
                tally.failures.append(f"{case.operation.label}, in a chain:\n{failures}")
                raise

    Chained.__name__ = "Chained"
    return Chained


def _run_chains(machine, tally: Tally) -> None:
    """`PROFILE.examples` scenarios of up to `PROFILE.steps` steps, without replay or shrinking: what a step
    draws depends on what the server answered before, which earlier scenarios changed. When Hypothesis
    notices (its "inconsistent data generation"), the run goes on in a new one, as schemathesis' own
    runner does."""
    for _attempt in range(5):
        if tally.failures or tally.scenarios >= PROFILE.examples:
            return
        try:
            run_state_machine_as_test(
                machine,
                settings=hypothesis_settings(
                    max_examples=PROFILE.examples - tally.scenarios,
                    stateful_step_count=PROFILE.steps,
                    phases=[Phase.generate],
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                ),
            )
            return
        except (Exception, BaseExceptionGroup) as exc:
            if tally.failures:
                return  # reported by the step that failed
            if not (isinstance(exc, Flaky) or is_inconsistent_replay(exc)):
                tally.failures.append(f"state machine:\n{exc}")
                return


def test_linked_operations_chained_by_an_admin_answer_as_their_schema_says(api):
    schema = api.schema(excluded=NOT_CHAINED_AS_ADMIN)
    schema.auth.providers.append(Bearer(api.sign_in("admin")))
    checks = [_no_server_error(api.settings), *CONFORMANCE, _use_after_free, _ensure_resource_availability]
    tally = Tally()
    _run_chains(_state_machine(schema, checks, tally), tally)
    report(
        "schema_fuzz",
        "state machine as admin",
        links=schema.statistic.transitions.selected,
        **tally.figures(),
    )
    tally.assert_no_failures()
    assert len(tally.cases) > 1


# ---------------------------------------------------------------- c) another user's objects


def _say(api: Api, headers, chat_id, text: str, **extra):
    body = {**completion_body(content=text), "metadata": {"chat_id": str(chat_id)}}
    return api.http.post("/v1/chat/completions", headers={**headers, **extra}, json=body)


def _deliver_in_app(settings, email: str) -> None:
    """An in-app notification for the account, as a broadcast delivers one."""
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            account_id = conn.scalar(select(Account.id).where(Account.email == email))
    finally:
        engine.dispose()
    db_execute(
        settings,
        Notification.__table__.insert().values(
            account_id=account_id, channel="in_app", locale="en", subject="Hello", body="Welcome aboard",
            created_at=utcnow(),
        ),
    )  # fmt: skip


def test_schemathesis_replays_of_one_users_reads_as_another_get_nothing(api):
    """Chains over what users own, as Ada; every read of one of her objects is replayed as Bob, who must not
    get it (schemathesis' `object_level_authorization`, which also lists Bob's own collections to tell a
    shared object from hers). Only reads are replayed: Bob's writes are the next test's."""
    db_execute(api.settings, update(Plan).where(Plan.code == "free").values(daily_requests=None))
    ada, bob = api.sign_in("user", "ada@example.com"), api.sign_in("user", "bob@example.com")
    for email, headers in (("ada@example.com", ada), ("bob@example.com", bob)):  # one of each, for both
        assert _say(api, headers, uuid.uuid4(), "Hello there").status_code == 200
        api.http.post("/api/v1/me/api-keys", headers=headers, json={"name": "k"}).raise_for_status()
        _deliver_in_app(api.settings, email)

    # Reading and making what a user owns; no edits or deletes, so that what was there to read stays. (No
    # completions either: the chats made above are enough to read, and a completion's body is the costliest
    # to generate by far.)
    owned = ("/api/v1/chats", "/api/v1/me/api-keys", "/api/v1/me/notifications")
    schema = api.schema().include(
        func=lambda ctx: ctx.operation.path.startswith(owned) and ctx.operation.method in ("get", "post")
    )
    identities = EscalatingAuthProvider(
        [Bearer(ada), Bearer(bob)], ["ada", "bob"], peers=("ada", "bob"), pinned="ada"
    )
    schema.auth.providers.append(identities)
    checks = [
        not_a_server_error,
        *CONFORMANCE,
        _use_after_free,
        _ensure_resource_availability,
        object_level_authorization,
    ]
    tally = Tally()
    _run_chains(_state_machine(schema, checks, tally), tally)
    probes = len(identities._probed)  # (kind, operation, resource, peer) of every replay as Bob
    report("schema_fuzz", "object-level authorization, two users", probes=probes, **tally.figures())
    tally.assert_no_failures()
    assert probes > 0, "no read of Ada's objects was replayed as Bob: the check proved nothing"


def test_another_users_chat_key_notification_and_idempotent_answer_are_not_found(api):
    ada, bob = api.sign_in("user", "ada@example.com"), api.sign_in("user", "bob@example.com")
    chat_id = uuid.uuid4()
    assert _say(api, ada, chat_id, "What is the capital of France?").status_code == 200
    first = _say(api, ada, uuid.uuid4(), "Once only", **{"Idempotency-Key": "ada-1"})
    assert first.status_code == 200
    key = api.http.post("/api/v1/me/api-keys", headers=ada, json={"name": "laptop"}).json()
    _deliver_in_app(api.settings, "ada@example.com")
    inbox = api.http.get("/api/v1/me/notifications", headers=ada).json()
    notification_id = next(n["id"] for n in inbox["items"] if n["subject"] == "Hello")

    def ada_sees():
        return (
            api.http.get(f"/api/v1/chats/{chat_id}", headers=ada).json(),
            api.http.get("/api/v1/me/api-keys", headers=ada).json(),
            api.http.get("/api/v1/me/notifications", headers=ada).json(),
        )

    before = ada_sees()

    # Every route of a chat, as the OpenAPI lists them: Bob is told it does not exist, as for a made-up id.
    chat_routes = [
        (method.upper(), path.replace("{chat_id}", str(chat_id)))
        for path, operations in api.app.openapi()["paths"].items()
        if path.startswith("/api/v1/chats/{chat_id}")
        for method in operations
    ]
    assert len(chat_routes) >= 4
    for method, path in chat_routes:
        for query in ({}, {"format": "csv"}) if path.endswith("/export") else ({},):
            answer = api.http.request(method, path, headers=bob, params=query, json={"title": "mine"})
            unknown = api.http.request(
                method, path.replace(str(chat_id), str(uuid.uuid4())), headers=bob, params=query,
                json={"title": "mine"},
            )  # fmt: skip
            assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found"), (method, path)
            assert answer.json()["error"]["message"] == unknown.json()["error"]["message"]
    taken = _say(api, bob, chat_id, "let me in")
    assert (taken.status_code, taken.json()["error"]["code"]) == (404, "chat_not_found")

    revoked = api.http.delete(f"/api/v1/me/api-keys/{key['id']}", headers=bob)
    assert (revoked.status_code, revoked.json()["error"]["code"]) == (404, "not_found")
    read = api.http.post(f"/api/v1/me/notifications/{notification_id}/read", headers=bob)
    assert (read.status_code, read.json()["error"]["code"]) == (404, "not_found")

    # The same Idempotency-Key from Bob is Bob's own first call, not a replay of Ada's answer.
    replay = _say(api, bob, uuid.uuid4(), "Once only", **{"Idempotency-Key": "ada-1"})
    assert replay.status_code == 200 and replay.json()["id"] != first.json()["id"]

    # Bob's lists hold none of it, and Ada's objects are as they were.
    assert str(chat_id) not in {c["id"] for c in api.http.get("/api/v1/chats", headers=bob).json()}
    assert key["id"] not in {k["id"] for k in api.http.get("/api/v1/me/api-keys", headers=bob).json()}
    bobs_inbox = api.http.get("/api/v1/me/notifications", headers=bob).json()
    assert notification_id not in {n["id"] for n in bobs_inbox["items"]}
    assert ada_sees() == before
    assert next(n for n in before[2]["items"] if n["id"] == notification_id)["read_at"] is None


# ---------------------------------------------------------------- the known bugs, each pinned by a test


def test_a_null_model_is_not_a_server_error(api):
    headers = api.sign_in("user")
    body = {**completion_body(), "model": None}
    response = api.http.post("/v1/chat/completions", headers=headers, json=body)
    assert response.status_code < 500


def test_a_nul_in_the_query_string_is_answered_with_a_documented_status(api):
    response = api.http.get("/api/v1/chats", params={"limit": "1\x00"})  # the guard answers before auth
    documented = api.app.openapi()["paths"]["/api/v1/chats"]["get"]["responses"]
    assert str(response.status_code) in documented, response.text
