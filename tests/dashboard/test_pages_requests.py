"""The Requests page (the request explorer) and the click-through to users, models, roles and calls, run by
AppTest against a live API as real staff members."""

from __future__ import annotations

import uuid

import httpx
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import ui
from tests.dashboard.conftest import APP, PAGES
from tests.support.api import sign_up

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _page(panel, page: str, as_role: str, **query: str) -> AppTest:
    """`page` opened from an address with `query` (a click-through lands so), as an `as_role` member."""
    app = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=60)
    app.session_state["staff"] = panel.sessions[as_role]
    app.session_state["locale"] = "en"
    for name, value in query.items():
        app.query_params[name] = value
    return app.run()


def _calls(panel, settings) -> tuple[str, str]:
    """A user who made one completion in a chat: (their email, their id)."""
    with httpx.Client(base_url=panel.api_url, timeout=60) as http:
        headers = sign_up(http, "ada@example.com", settings)
        body = {"model": "mock-small", "messages": [{"role": "user", "content": "Name a colour"}],
                "metadata": {"chat_id": str(uuid.uuid4())}}  # fmt: skip
        assert http.post("/v1/chat/completions", headers=headers, json=body).status_code == 200
        return "ada@example.com", http.get("/api/v1/me", headers=headers).json()["id"]


@sqlite_only
def test_the_explorer_lists_calls_opens_one_and_reads_its_messages_only_where_allowed(panel, env_settings):
    email, _ = _calls(panel, env_settings)
    analyst = _page(panel, "requests", "analyst")
    assert not analyst.exception
    (table,) = [d for d in analyst.dataframe if "User" in d.value.columns]
    assert list(table.value["User"]) == [email] and list(table.value["Model"]) == ["mock-small"]
    assert "user_id" not in table.value.columns  # the id behind the link is not shown
    call_id = str(table.value["Call"].iloc[0])

    opened = _page(panel, "requests", "analyst", call=call_id)
    assert not opened.exception and opened.text_input(key="requests:call").value == call_id
    assert opened.subheader[0].value == f"Call {call_id}: succeeded"
    assert any("conversations:read" in c.value for c in opened.caption)  # an analyst may not read them
    assert not [b for b in opened.button if b.key.startswith("requests:read:")]

    admin = _page(panel, "requests", "admin", call=call_id)
    admin.text_input(key=f"requests:reason:{call_id}").input("support ticket").run()
    admin.button(key=f"requests:read:{call_id}").click().run()
    assert not admin.exception
    said = [m.markdown[0].value for m in admin.chat_message]
    assert said[0] == "Name a colour" and len(said) == 2

    filtered = _page(panel, "requests", "admin")
    filtered.selectbox(key="requests:status").select("error").run()
    assert any("No request matches" in i.value for i in filtered.info)


@sqlite_only
def test_a_click_through_opens_the_model_and_the_role_the_address_names(panel):
    """(The user: the whole app's click, below.)"""
    models = _page(panel, "models", "admin", model="mock-large")
    assert models.selectbox(key="models:chosen").value == "mock-large"
    roles = _page(panel, "roles", "admin", role="no-such-role")  # an unknown one chooses nothing
    assert not roles.exception and roles.selectbox(key="roles:chosen").value != "no-such-role"


def test_a_clicked_cell_links_to_its_page_with_the_row_s_value():
    frame = pd.DataFrame({"User": ["ada@example.com", None], "user_id": ["u-1", None], "Model": ["m", "n"]})
    links = {"User": ("user", "user_id"), "Model": ("model", "Model")}
    assert ui.link_target([(0, "User")], frame, links) == ("user", "u-1")
    assert ui.link_target([(1, "Model")], frame, links) == ("model", "n")
    assert ui.link_target([(1, "User")], frame, links) is None  # no user behind that cell
    assert ui.link_target([(0, "Other")], frame, links) is None
    assert ui.link_target([(7, "User")], frame, links) is None
    assert ui.link_target([], frame, links) is None


@sqlite_only
def test_clicking_a_user_in_the_requests_table_opens_the_users_page_on_that_user(panel, env_settings):
    email, user_id = _calls(panel, env_settings)
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["staff"] = panel.sessions["admin"]
    app.session_state["locale"] = "en"
    app.switch_page("app_pages/requests.py").run()
    assert not app.exception
    app.session_state["requests:table"] = {"selection": {"rows": [], "columns": [], "cells": [(0, "User")]}}
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Users" and app.selectbox(key="users:picked").value == user_id
    assert app.subheader[0].value == email
