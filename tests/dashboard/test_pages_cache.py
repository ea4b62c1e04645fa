"""The Response cache page (docs/decisions/0057) run by AppTest against a live API as real staff: a model's
cache turned on through the form, its kept answer cleared after a confirmation, what a hit takes changed;
each as the API then reports it; the analyst's read-only view; Russian."""

from __future__ import annotations

import httpx
import pytest

from api.audit.models import AuditEntry
from tests.dashboard.test_pages_catalogue import admin_api, button, confirm, table
from tests.support.api import db_rows, sign_up
from tests.support.russian import untranslated

CACHE = "/api/v1/admin/cache"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_admin_turns_a_models_cache_on_clears_it_and_sets_what_a_hit_takes(panel, env_settings):
    app = panel("cache")
    # Nothing on yet: the empty state (what the page showed instead, if not: a CI run once saw no info).
    assert not app.exception and app.info, [e.value for e in (*app.error, *app.warning, *app.markdown)]
    app.text_input(key="cache:target").input("mock-small")
    app.number_input(key="cache:ttl").set_value(600)
    app = button(app, "Turn on / change").click().run()
    assert "The cache of mock-small is on: answers kept for 600 s." in [s.value for s in app.success]
    assert [(r["Kind"], r["Model or role id"]) for r in table(app)] == [("Model", "mock-small")]

    with httpx.Client(base_url=panel.api_url, timeout=60) as http:
        ada = sign_up(http, "ada@example.com", env_settings)
        body = {"model": "mock-small", "messages": [{"role": "user", "content": "Hello there"}]}
        assert http.post("/v1/chat/completions", headers=ada, json=body).status_code == 200
    with admin_api(panel) as admin:
        assert admin.get(CACHE).json()["entries"] == {"mock-small": 1}

    app = panel("cache")
    app.selectbox(key="cache:clear_scope").select("model").run()
    app.text_input(key="cache:clear_target").input("mock-small").run()
    app = confirm(app, "cache:clear:model:mock-small")
    assert "1 kept answers removed." in [s.value for s in app.success]
    app.radio(key="cache:hits_take").set_value("none")
    app = button(app, "Save").click().run()
    with admin_api(panel) as admin:
        assert admin.get(CACHE).json()["entries"] == {}
        assert admin.get(CACHE).json()["hits_take"] == "none"
    audited = db_rows(env_settings, AuditEntry, AuditEntry.action.like("response_cache.%"))
    assert {a.target_id for a in audited} == {"mock-small", "model:mock-small", "response_cache"}

    russian = panel("cache", locale="ru")
    assert not russian.exception and russian.title[0].value == "Кэш ответов"
    assert not untranslated(russian)

    analyst = panel("cache", role="analyst")
    assert not analyst.exception and table(analyst) and not analyst.button
