"""The response cache (docs/decisions/0057), with the official client against a live server whose models
are served only by the HTTP mock provider (it counts its calls): a hit reaches no provider, is marked on
its event, streams as a live answer; users do not share answers unless the role says so; the TTL; a
failure is never kept; clearing by model; what a hit takes; the admin endpoints' permissions and audit."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import httpx
import openai
import pytest
from sqlalchemy import select, update

from api.accounts.models import Account
from api.audit.models import AuditEntry
from api.cache import service as response_cache
from api.cache.models import CachedResponse
from api.cache.service import CacheCall
from api.catalogue.models import Provider
from api.catalogue.service import sealed_headers
from api.core.crypto import Encryptor
from api.core.db import Database
from api.core.types import utcnow
from api.main import create_app
from api.quotas.models import QuotaUsage
from api.quotas.windows import DAILY_TOKENS
from tests.support.api import (
    LiveServer,
    db_execute,
    db_rows,
    db_scalar,
    events_of,
    grant_credits,
    relay_only,
    sign_up,
    staff_headers,
    wait_for_events,
)

CACHE = "/api/v1/admin/cache"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def server(settings, upstream):
    """The API with mock-small and mock-large served by the HTTP mock provider only (no fallback to the
    in-process mock), the catalogue read on every call, and 100 calls a day on the free plan."""
    relay_only(settings, upstream.url)
    live_settings = settings.model_copy(update={"catalogue_cache_seconds": 0})
    with LiveServer(create_app(live_settings)) as live, httpx.Client(base_url=live.url) as http:
        live.http, live.settings = http, settings
        live.admin = staff_headers(http, settings, "admin")
        yield live


def _user(server, email: str) -> openai.OpenAI:
    token = sign_up(server.http, email, server.settings)["Authorization"].removeprefix("Bearer ")
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=token, max_retries=0)


def _rule(server, scope: str, target: str, ttl: int = 600, shared: bool = False) -> None:
    saved = server.http.put(
        f"{CACHE}/rules/{scope}/{target}", json={"ttl_seconds": ttl, "shared": shared}, headers=server.admin
    )
    assert saved.status_code == 200, saved.text


def _ask(client: openai.OpenAI, model: str = "mock-small", **extra) -> str:
    return client.chat.completions.create(model=model, messages=QUESTION, **extra).choices[0].message.content


@pytest.mark.both_databases  # PostgreSQL: the fast lane's bookkeeping and the upsert
def test_a_repeat_is_answered_from_the_cache_without_the_provider_and_streams(server, settings, upstream):
    _rule(server, "model", "mock-small")
    ada = _user(server, "ada@example.com")
    first, second = _ask(ada), _ask(ada)
    assert second == first and upstream.app.state.calls == 1

    miss, hit = events_of(settings, "llm.call_succeeded")
    assert miss.provider == "relay" and miss.properties == {"cache": "miss"} and miss.cost_usd > 0
    assert hit.provider == "cache" and hit.cost_usd == 0 and hit.status == "ok"
    assert hit.properties == {"cache": "hit", "saved_cost_usd": str(miss.cost_usd)}
    assert (hit.input_tokens, hit.output_tokens) == (miss.input_tokens, miss.output_tokens)

    # A streamed hit streams: the role chunk, several pieces of the answer, the finish, the usage, [DONE].
    token = ada.api_key
    with server.http.stream(
        "POST", "/v1/chat/completions", headers={"Authorization": f"Bearer {token}"},
        json={"model": "mock-small", "messages": QUESTION, "stream": True,
              "stream_options": {"include_usage": True}},
    ) as response:  # fmt: skip
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and len(lines) > 5
    chunks = list(
        ada.chat.completions.create(
            model="mock-small", messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == first and len(pieces) > 2
    assert chunks[-1].usage.completion_tokens == miss.output_tokens
    assert upstream.app.state.calls == 1
    streamed = wait_for_events(settings, "llm.call_succeeded", count=4)[-1]
    assert streamed.provider == "cache" and streamed.properties["stream"] is True

    # Other parameters make another request.
    assert _ask(ada, max_tokens=50) and upstream.app.state.calls == 2


def test_users_do_not_share_answers_unless_the_role_says_so(server, upstream):
    _rule(server, "model", "mock-small")
    ada, bob = _user(server, "ada@example.com"), _user(server, "bob@example.com")
    _ask(ada)
    _ask(bob)
    assert upstream.app.state.calls == 2  # bob's own miss

    _rule(server, "role", "paraphrase", shared=True)
    role = {"extra_headers": {"X-Assistant-Role": "paraphrase"}}
    assert _ask(ada, **role) == _ask(bob, **role)
    assert upstream.app.state.calls == 3  # bob's answer was ada's
    # A role that does not share keeps each user's answers apart, as a model does.
    _rule(server, "role", "paraphrase", shared=False)
    _ask(ada, **role)
    _ask(bob, **role)
    assert upstream.app.state.calls == 5


def test_an_answer_expires_with_its_ttl(server, upstream, clock):
    _rule(server, "model", "mock-small", ttl=60)
    ada = _user(server, "ada@example.com")
    _ask(ada)
    clock.advance(seconds=59)
    _ask(ada)
    assert upstream.app.state.calls == 1
    clock.advance(seconds=2)
    _ask(ada)
    assert upstream.app.state.calls == 2


def test_a_failed_call_is_not_kept(server, settings, upstream):
    _rule(server, "model", "mock-small")
    failing = sealed_headers({"X-Mock-Status": "503"}, Encryptor(settings))
    db_execute(
        settings, update(Provider).where(Provider.id == "relay").values(extra_headers_encrypted=failing)
    )
    ada = _user(server, "ada@example.com")
    with pytest.raises(openai.APIStatusError):
        _ask(ada)
    assert db_rows(settings, CachedResponse) == []
    db_execute(settings, update(Provider).where(Provider.id == "relay").values(extra_headers_encrypted=None))
    calls = upstream.app.state.calls
    _ask(ada)
    _ask(ada)
    assert upstream.app.state.calls == calls + 1  # a miss (nothing was kept), then a hit
    assert [e.provider for e in events_of(settings, "llm.call_succeeded")] == ["relay", "cache"]


def _pro(settings, email: str, credits: str) -> None:
    db_execute(settings, update(Account).where(Account.email == email).values(plan_code="pro"))
    grant_credits(settings, email, Decimal(credits))


def _balance(settings, email: str) -> Decimal:
    return db_scalar(settings, select(Account.balance).where(Account.email == email))


def _tokens(settings) -> int:
    """The day's tokens counted (the pro plan has no limit on the day's requests: it counts tokens)."""
    return db_scalar(settings, select(QuotaUsage.used).where(QuotaUsage.metric == DAILY_TOKENS)) or 0


def test_clearing_by_model_removes_its_answers_only_and_is_audited(server, settings, upstream):
    _rule(server, "model", "mock-small")
    _rule(server, "model", "mock-large")
    ada = _user(server, "ada@example.com")
    _pro(settings, "ada@example.com", "100")
    _ask(ada, "mock-small")
    _ask(ada, "mock-large")
    analyst = staff_headers(server.http, settings, "analyst")
    assert server.http.delete(CACHE, params={"model": "mock-small"}, headers=analyst).status_code == 403
    assert (
        server.http.put(
            f"{CACHE}/rules/model/mock-small", json={"ttl_seconds": 5}, headers=analyst
        ).status_code
        == 403
    )

    cleared = server.http.delete(CACHE, params={"model": "mock-small"}, headers=server.admin)
    assert cleared.status_code == 200 and cleared.json() == {"removed": 1}
    assert [r.model_id for r in db_rows(settings, CachedResponse)] == ["mock-large"]
    _ask(ada, "mock-small")
    _ask(ada, "mock-large")
    assert upstream.app.state.calls == 3  # mock-small asked its provider again, mock-large did not
    (audit,) = db_rows(settings, AuditEntry, AuditEntry.action == "response_cache.clear")
    assert audit.target_id == "model:mock-small" and audit.before == {"entries": 1}

    assert server.http.delete(CACHE, headers=server.admin).json() == {"removed": 2}
    assert db_rows(settings, CachedResponse) == []


@pytest.mark.both_databases  # PostgreSQL: the fast lane settles a hit's credits
def test_what_a_hit_takes_is_the_staffs_setting(server, settings, upstream):
    _rule(server, "model", "mock-large")
    ada = _user(server, "ada@example.com")
    _pro(settings, "ada@example.com", "100")
    _ask(ada, "mock-large")
    (miss,) = events_of(settings, "llm.call_succeeded")
    tokens = miss.input_tokens + miss.output_tokens
    balance = _balance(settings, "ada@example.com")
    assert balance == Decimal(100) - miss.credits and _tokens(settings) == tokens

    _ask(ada, "mock-large")  # the default, quota: the answer's tokens, no credits
    assert (_balance(settings, "ada@example.com"), _tokens(settings)) == (balance, 2 * tokens)

    def hits_take(value: str) -> None:
        saved = server.http.put(f"{CACHE}/settings", json={"hits_take": value}, headers=server.admin)
        assert saved.status_code == 200, saved.text

    hits_take("full")
    _ask(ada, "mock-large")
    full = events_of(settings, "llm.call_succeeded")[-1]
    assert full.provider == "cache" and full.cost_usd == 0 and full.credits == miss.credits
    assert (_balance(settings, "ada@example.com"), _tokens(settings)) == (balance - miss.credits, 3 * tokens)

    hits_take("none")
    _ask(ada, "mock-large")
    assert (_balance(settings, "ada@example.com"), _tokens(settings)) == (balance - miss.credits, 3 * tokens)
    assert events_of(settings, "llm.call_succeeded")[-1].properties["cache"] == "hit"
    assert upstream.app.state.calls == 1
    edits = db_rows(settings, AuditEntry, AuditEntry.action == "response_cache.settings")
    assert [a.after for a in edits] == [{"hits_take": "full"}, {"hits_take": "none"}]


def test_hostile_rules_are_refused(server):
    def put(target: str, body: dict, scope: str = "model") -> int:
        return server.http.put(f"{CACHE}/rules/{scope}/{target}", json=body, headers=server.admin).status_code

    assert put("mock-small", {"ttl_seconds": 0}) == 422
    assert put("mock-small", {"ttl_seconds": -5}) == 422
    assert put("mock-small", {"ttl_seconds": 10**12}) == 422
    assert put("mock-small", {"ttl_seconds": 60, "shared": True}) == 422  # a model's answers are never shared
    assert put("mock-small", {"ttl_seconds": 60, "extra": 1}) == 422
    assert put("no-such-model", {"ttl_seconds": 60}) == 404
    assert put("mock-small", {"ttl_seconds": 60}, scope="plan") == 422
    settings_put = server.http.put(f"{CACHE}/settings", json={"hits_take": "free"}, headers=server.admin)
    assert settings_put.status_code == 422
    assert server.http.delete(CACHE, params={"model": "x" * 200}, headers=server.admin).status_code == 422
    assert server.http.get(CACHE, headers=server.admin).json()["rules"] == []


@pytest.mark.both_databases  # the upsert and the bounded delete are each database's own SQL
def test_the_cache_is_bounded_expired_answers_first_then_the_oldest(settings):
    now = utcnow()

    async def keep() -> None:
        db = Database(settings)
        try:
            for n, ttl, age in ((1, 5, 60), (2, 600, 50), (3, 600, 40), (4, 600, 30), (3, 600, 20)):
                async with db.sessionmaker() as session:
                    call = CacheCall(f"{n:064x}", "mock-small", None, "shared", ttl)
                    row = response_cache.kept_row(
                        call, answer=f"answer {n}", finish_reason="stop", input_tokens=1, output_tokens=1,
                        cost_usd=Decimal("0.001"), at=now - timedelta(seconds=age),
                    )  # fmt: skip
                    await response_cache.store(session, row, max_entries=2)
        finally:
            await db.dispose()

    asyncio.run(keep())
    # 1 expired; 3 was kept again last (its new answer replaced the first); 2 was the oldest past two.
    assert sorted(r.answer for r in db_rows(settings, CachedResponse)) == ["answer 3", "answer 4"]


def test_answers_kept_between_two_trims_may_pass_the_bound_until_the_next_trim(settings):
    """The gateway trims at every TRIM_EVERY-th answer it keeps (the trim scans up to the bound's keys)."""
    now = utcnow()

    async def keep(n: int, trim: bool) -> None:
        db = Database(settings)
        try:
            async with db.sessionmaker() as session:
                row = response_cache.kept_row(
                    CacheCall(f"{n:064x}", "mock-small", None, "shared", 600), answer=f"answer {n}",
                    finish_reason="stop", input_tokens=1, output_tokens=1, cost_usd=Decimal("0.001"),
                    at=now + timedelta(seconds=n),
                )  # fmt: skip
                await response_cache.store(session, row, max_entries=2, trim=trim)
        finally:
            await db.dispose()

    for n in range(1, 5):
        asyncio.run(keep(n, trim=False))
    assert len(db_rows(settings, CachedResponse)) == 4
    asyncio.run(keep(5, trim=True))
    assert sorted(r.answer for r in db_rows(settings, CachedResponse)) == ["answer 4", "answer 5"]
    assert response_cache.TRIM_EVERY > 1


def test_turning_a_rule_on_changing_it_and_off_is_audited_with_before_and_after(server, settings):
    analyst = staff_headers(server.http, settings, "analyst")
    rule = f"{CACHE}/rules/role/fix-grammar"
    assert server.http.put(rule, json={"ttl_seconds": 60}, headers=analyst).status_code == 403
    assert server.http.put(rule, json={"ttl_seconds": 60}, headers=server.admin).status_code == 200
    assert (
        server.http.put(rule, json={"ttl_seconds": 120, "shared": True}, headers=server.admin).status_code
        == 200
    )
    assert server.http.delete(rule, headers=analyst).status_code == 403
    assert server.http.delete(rule, headers=server.admin).status_code in (200, 204)
    edits = db_rows(settings, AuditEntry, AuditEntry.action == "response_cache.edit")
    assert [(e.target_id, e.before, e.after) for e in edits] == [
        ("fix-grammar", {}, {"ttl_seconds": 60, "shared": False}),
        ("fix-grammar", {"ttl_seconds": 60, "shared": False}, {"ttl_seconds": 120, "shared": True}),
    ]
    (deleted,) = db_rows(settings, AuditEntry, AuditEntry.action == "response_cache.delete")
    assert deleted.target_id == "fix-grammar" and deleted.before == {"ttl_seconds": 120, "shared": True}
