"""The Users page's bulk actions, run by AppTest against a live API: many accounts, one reason, all or
nothing, and the confirmation names how many."""

from __future__ import annotations

import httpx
import pytest

from tests.dashboard.test_pages_users import _account, _admin_api
from tests.support.api import register

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@sqlite_only
def test_bulk_block_of_picked_accounts_with_one_reason_all_or_nothing(panel, env_settings):
    emails = ("ann@example.com", "ben@example.com", "cat@example.com")
    with httpx.Client(base_url=panel.api_url) as http:
        for email in emails:
            register(http, email)
    ids = [_account(panel, e)["id"] for e in emails]
    admin_id = _account(panel, "admin@example.com")["id"]
    app = panel("users", role="moderator")
    picker = app.multiselect(key="users:bulk:ids")
    assert {*emails, "admin@example.com"} <= set(picker.options)  # shown by email
    assert app.button(key="users:bulk:block").disabled  # accounts and a reason first

    # An admin among them: the API refuses the whole action, and nobody is blocked.
    picker.set_value([ids[0], admin_id]).run()
    app.text_input(key="users:bulk:reason").input("spam wave 12").run()
    app.button(key="users:bulk:block").click().run()
    assert app.warning[0].value == "Are you sure? Block 2 accounts"
    app.button(key="users:bulk:block:yes").click().run()
    assert app.error  # the refusal, in the staff member's language
    assert _account(panel, emails[0])["is_blocked"] is False

    app.multiselect(key="users:bulk:ids").set_value(ids[:2]).run()
    app.button(key="users:bulk:block").click().run()
    assert app.warning[0].value == "Are you sure? Block 2 accounts"
    app.button(key="users:bulk:block:yes").click().run()
    assert not app.error, [e.value for e in app.error]
    assert app.success[0].value.startswith("Done: Block 2 accounts.")
    assert [_account(panel, e)["is_blocked"] for e in emails] == [True, True, False]
    entries = _admin_api(panel).get("/api/v1/admin/audit", action="user.block")
    assert sorted((e["target_id"], e["reason"]) for e in entries) == sorted(
        (i, "spam wave 12") for i in ids[:2]
    )
    assert app.multiselect(key="users:bulk:ids").value == []  # the form starts empty again
