"""The Users and the Audit & logs pages, run by AppTest against a live API as real staff members."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from openpyxl import load_workbook
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

from dashboard.api_client import ApiClient
from tests.dashboard.conftest import open_tab
from tests.support.api import completion_body, create_staff_account, db_execute, register, sign_up
from tests.support.russian import untranslated

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _admin_api(panel) -> ApiClient:
    """The API as the admin the panel signs in (signed in now if no page was opened as the admin yet)."""
    return ApiClient(panel.api_url, panel.sessions["admin"].token)


def _account(panel, email: str) -> dict:
    found = _admin_api(panel).get("/api/v1/admin/users", q=email)["items"]
    return next(u for u in found if u["email"] == email)


def _open(panel, app: AppTest, email: str) -> AppTest:
    """Search for `email` and open that user from the list."""
    app.text_input(key="users:q").input(email).run()
    picker = app.selectbox(key="users:picked")
    assert email in picker.options
    return picker.select(_account(panel, email)["id"]).run()


def _emails(app: AppTest) -> list[str]:
    return list(app.dataframe[0].value["Email"])


def _keys(app: AppTest) -> set[str]:
    return {b.key for b in app.button}


def _confirm(app: AppTest, key: str) -> AppTest:
    """Press the action button, then Confirm."""
    app.button(key=key).click().run()
    assert app.warning[0].value.startswith(("Are you sure?", "Вы уверены?"))
    return app.button(key=f"{key}:yes").click().run()


class Downloads:
    """What the page's download buttons would send: the page is run for real; each button's data (a
    callable, made only when clicked) is kept by key, as Streamlit's media manager would keep it."""

    def __init__(self, monkeypatch) -> None:
        self.data: dict[str, Callable[[], bytes]] = {}
        original = DeltaGenerator.download_button

        def spy(dg, label, data, *args, **kwargs):
            self.data[kwargs["key"]] = data
            return original(dg, label, data, *args, **kwargs)

        monkeypatch.setattr(DeltaGenerator, "download_button", spy)

    def raw(self, key: str) -> bytes:
        """The file's bytes (made now if the page gave a callable)."""
        data = self.data[key]
        return data() if callable(data) else data

    def csv(self, key: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.raw(key).decode("utf-8"))))

    def xlsx(self, key: str) -> list[tuple]:
        sheet = load_workbook(io.BytesIO(self.raw(key)), read_only=True).worksheets[0]
        return [tuple(row) for row in sheet.iter_rows(values_only=True)]


@sqlite_only
def test_users_page_shows_each_role_only_the_actions_it_may_take_in_english_and_russian(panel, env_settings):
    with httpx.Client(base_url=panel.api_url) as http:
        register(http, "ada@example.com", country="DE")
    expected = {
        # role: (tabs, action buttons)
        "admin": (4, {"block", "change_plan", "balance", "impersonate"}),
        "moderator": (4, {"block", "change_plan", "balance"}),
        "analyst": (2, set()),
    }
    for role, (tabs, actions) in expected.items():
        for locale, title in (("en", "Users"), ("ru", "Пользователи")):
            app = panel("users", role=role, locale=locale)
            assert not app.exception, (role, locale)
            assert [t.value for t in app.title] == [title]
            assert locale == "en" or untranslated(app) == [], role
            app = _open(panel, app, "ada@example.com")
            assert not app.exception, (role, locale)
            assert locale == "en" or untranslated(app) == [], role
            assert app.subheader[0].value == "ada@example.com"
            assert len(app.tabs) == tabs, (role, locale)
            uid = _account(panel, "ada@example.com")["id"]
            offered = {k.removeprefix(f"users:{uid}:") for k in _keys(app) if k.startswith(f"users:{uid}:")}
            assert offered == actions, (role, locale)
    russian = panel("users", role="analyst", locale="ru")
    assert "Найдено пользователей: **4**" in [m.value for m in russian.markdown]  # ada and three staff
    assert list(russian.dataframe[0].value.columns)[:2] == ["Эл. почта", "Роль"]


@sqlite_only
def test_users_list_searches_filters_sorts_and_pages_on_the_server(panel, env_settings):
    with httpx.Client(base_url=panel.api_url) as http:
        for n in range(12):
            register(http, f"user{n:02d}@example.com", country="DE" if n % 3 == 0 else "FR")
        register(http, "zed@other.org", country="DE")
    app = panel("users", role="moderator")
    assert "Users found: **14**" in [m.value for m in app.markdown]  # 13 end users and the moderator

    app.selectbox(key="users:role").select("user").run()
    app.selectbox(key="users:sort").select("email").run()
    app.selectbox(key="users:order").select("asc").run()
    app.selectbox(key="users:size").select(10).run()
    assert "Users found: **13**" in [m.value for m in app.markdown]
    assert _emails(app) == [f"user{n:02d}@example.com" for n in range(10)]
    assert "Page 1 of 2" in [c.value for c in app.caption]
    app.button(key="users:page:next").click().run()
    assert _emails(app) == ["user10@example.com", "user11@example.com", "zed@other.org"]
    assert "Page 2 of 2" in [c.value for c in app.caption]
    assert app.button(key="users:page:next").disabled

    app.text_input(key="users:country").input("de").run()  # a new filter starts again at page 1
    assert "Users found: **5**" in [m.value for m in app.markdown]
    assert _emails(app) == ["user00@example.com", "user03@example.com", "user06@example.com",
                            "user09@example.com", "zed@other.org"]  # fmt: skip
    app.text_input(key="users:q").input("@example.com").run()
    assert _emails(app) == ["user00@example.com", "user03@example.com", "user06@example.com",
                            "user09@example.com"]  # fmt: skip
    app.text_input(key="users:q").input("nobody-like-this").run()
    assert "Users found: **0**" in [m.value for m in app.markdown]
    assert "No user matches" in app.info[0].value


@sqlite_only
def test_users_list_downloads_hold_the_whole_filtered_list(panel, env_settings, monkeypatch):
    downloads = Downloads(monkeypatch)
    with httpx.Client(base_url=panel.api_url) as http:
        for n in range(4):
            register(http, f"user{n}@example.com")
    app = panel("users", role="admin")
    admin = _admin_api(panel)
    for n, credits in ((1, "5"), (2, "20"), (3, "80")):
        uid = _account(panel, f"user{n}@example.com")["id"]
        admin.post(f"/api/v1/admin/users/{uid}/balance", {"amount": credits, "reason": "test credits"})

    app.selectbox(key="users:role").select("user").run()
    app.selectbox(key="users:size").select(10).run()
    rows = downloads.csv("users:export:csv")
    assert sorted(r["email"] for r in rows) == [f"user{n}@example.com" for n in range(4)]
    sheet = downloads.xlsx("users:export:xlsx")
    assert sheet[0][:2] == ("id", "email") and len(sheet) == 5

    # The balance filter is not one the API's export takes: the file is narrowed the same way as the list.
    app.number_input(key="users:balance_min").set_value(10.0).run()
    app.number_input(key="users:balance_max").set_value(50.0).run()
    assert _emails(app) == ["user2@example.com"]
    assert [r["email"] for r in downloads.csv("users:export:csv")] == ["user2@example.com"]
    sheet = downloads.xlsx("users:export:xlsx")
    assert [row[1] for row in sheet[1:]] == ["user2@example.com"]


@sqlite_only
def test_blocking_a_user_through_the_panel_blocks_them_and_writes_the_audit_log(panel, env_settings):
    with httpx.Client(base_url=panel.api_url) as http:
        register(http, "ada@example.com")
    app = _open(panel, panel("users", role="moderator"), "ada@example.com")
    uid = _account(panel, "ada@example.com")["id"]
    assert open_tab(app, "users:tab").label == "Profile"
    app.session_state["users:tab"] = "Actions"  # as the browser reports a click on the tab
    assert app.button(key=f"users:{uid}:block").disabled  # a reason comes first
    app.text_input(key=f"users:{uid}:block_reason").input("spam in every chat").run()
    app = _confirm(app, f"users:{uid}:block")
    assert not app.error, [e.value for e in app.error]
    actions = open_tab(app, "users:tab")
    assert actions.label == "Actions"  # the page stays on the tab the action was taken in
    assert [s.value for s in actions.success] == [
        "ada@example.com is blocked: their sessions and API keys stop working."
    ]  # shown there, naming the user and the effect
    reason = app.text_input(key=f"users:{uid}:block_reason")
    assert reason.value == "" and reason.proto.set_value  # emptied, and the browser is told so
    assert app.button(key=f"users:{uid}:unblock").disabled  # unblocking asks for a reason of its own

    assert _account(panel, "ada@example.com")["is_blocked"] is True
    entries = _admin_api(panel).get("/api/v1/admin/audit", action="user.block", target_id=uid)
    assert [(e["actor_email"], e["reason"], e["after"]) for e in entries] == [
        ("moderator@example.com", "spam in every chat", {"is_blocked": True})
    ]
    # The page now offers the opposite, and the staff history shows the block with its reason.
    assert f"users:{uid}:unblock" in _keys(app) and f"users:{uid}:block" not in _keys(app)
    history = app.dataframe[-1].value
    assert list(history["Action"]) == ["Blocked"] and list(history["Reason"]) == ["spam in every chat"]


@sqlite_only
def test_changing_the_plan_and_adjusting_the_balance_through_the_panel(panel, env_settings):
    with httpx.Client(base_url=panel.api_url) as http:
        register(http, "ada@example.com")
    app = _open(panel, panel("users", role="admin"), "ada@example.com")
    uid = _account(panel, "ada@example.com")["id"]

    app.selectbox(key=f"users:{uid}:plan").select("pro").run()
    app.text_input(key=f"users:{uid}:plan_reason").input("bought a year").run()
    app = _confirm(app, f"users:{uid}:change_plan")
    assert app.success[0].value == "ada@example.com is now on Pro (pro)."
    assert _account(panel, "ada@example.com")["plan_code"] == "pro"
    assert app.selectbox(key=f"users:{uid}:plan").value is None  # the inputs it used are empty again
    assert app.text_input(key=f"users:{uid}:plan_reason").value == ""

    app.number_input(key=f"users:{uid}:amount").set_value(12.5).run()
    app.text_input(key=f"users:{uid}:balance_reason").input("goodwill").run()
    app = _confirm(app, f"users:{uid}:balance")
    assert app.success[0].value == "ada@example.com's balance is now 12.50 credits."
    amount = app.number_input(key=f"users:{uid}:amount")
    assert amount.value == 0 and amount.proto.set_value  # back to its default, in the browser too
    assert Decimal(_account(panel, "ada@example.com")["balance"]) == Decimal("12.5")

    app.number_input(key=f"users:{uid}:amount").set_value(-2.5).run()
    app.text_input(key=f"users:{uid}:balance_reason").input("correction").run()
    app = _confirm(app, f"users:{uid}:balance")
    assert Decimal(_account(panel, "ada@example.com")["balance"]) == Decimal("10")

    actions = [e["action"] for e in _admin_api(panel).get("/api/v1/admin/audit", target_id=uid)]
    assert actions == ["user.balance_adjust", "user.balance_adjust", "user.plan_change"]


@sqlite_only
def test_an_admin_impersonating_a_user_is_shown_a_read_only_token_once(panel, env_settings):
    with httpx.Client(base_url=panel.api_url) as http:
        register(http, "ada@example.com")
    app = _open(panel, panel("users", role="admin"), "ada@example.com")
    uid = _account(panel, "ada@example.com")["id"]
    app.text_input(key=f"users:{uid}:impersonate_reason").input("ticket 1234: cannot see chats").run()
    app = _confirm(app, f"users:{uid}:impersonate")
    assert not app.error, [e.value for e in app.error]
    assert any("Every request with it is audited" in w.value for w in app.warning)
    token = app.code[0].value
    with httpx.Client(base_url=panel.api_url, headers={"Authorization": f"Bearer {token}"}) as http:
        assert http.get("/api/v1/me").json()["email"] == "ada@example.com"
        assert http.post("/api/v1/auth/logout").status_code == 403  # read-only
    app.run()  # any next interaction: the token is gone from the page
    assert not app.code


@sqlite_only
def test_the_apis_refusal_is_shown_as_an_error(panel, env_settings):
    create_staff_account(env_settings, "other-admin@example.com", "admin")
    app = _open(panel, panel("users", role="moderator"), "other-admin@example.com")
    uid = _account(panel, "other-admin@example.com")["id"]
    app.text_input(key=f"users:{uid}:block_reason").input("testing the rules").run()
    app = _confirm(app, f"users:{uid}:block")
    assert [e.value for e in app.error] == ["only an admin may change a staff account"]
    assert _account(panel, "other-admin@example.com")["is_blocked"] is False

    # An admin may not impersonate a staff member either: the API says why.
    app = _open(panel, panel("users", role="admin"), "other-admin@example.com")
    app.text_input(key=f"users:{uid}:impersonate_reason").input("looking around").run()
    app = _confirm(app, f"users:{uid}:impersonate")
    assert [e.value for e in app.error] == ["only end users can be impersonated"]
    assert not app.code


@sqlite_only
def test_a_moderator_reads_a_users_chat_and_the_read_is_audited(panel, env_settings, monkeypatch):
    import uuid

    downloads = Downloads(monkeypatch)

    with httpx.Client(base_url=panel.api_url) as http:
        headers = sign_up(http, "ada@example.com", env_settings)
        chat = str(uuid.uuid4())
        reply = http.post(
            "/v1/chat/completions", headers={**headers, "X-Chat-Id": chat},
            json=completion_body(content="Where is my order?"),
        )  # fmt: skip
        assert reply.status_code == 200, reply.text
    app = _open(panel, panel("users", role="moderator"), "ada@example.com")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Chats"] == "1" and metrics["Completions"] == "1"
    # The last 30 days' activity: a chart, its data beside it (today holds sign-up, sign-in, chat, call…).
    assert len(app.get("vega_lite_chart")) == 1
    activity = next(d.value for d in app.dataframe if "Events" in d.value.columns)
    now = datetime.now(UTC)
    today = f"{now.day} {now:%b %Y}"
    assert len(activity) >= 31 and activity.set_index("Day")["Events"][today] == activity["Events"].sum() >= 4
    # Its downloads hold the days as dates and the counts as numbers, not the text shown (decision 0046).
    sheet = load_workbook(io.BytesIO(downloads.raw("activity_ada@example.com:xlsx"))).active
    header, *rows = list(sheet.iter_rows())
    assert [c.value for c in header] == ["Day", "Events"] and len(rows) == len(activity)
    assert all(day.is_date and events.data_type == "n" for day, events in rows), [
        (day.value, events.value) for day, events in rows[:3]
    ]
    assert rows[-1][0].value.date() == now.date() and rows[-1][1].value == activity["Events"].sum()
    saved = downloads.csv("activity_ada@example.com:csv")
    assert saved[-1] == {"Day": now.date().isoformat(), "Events": str(activity["Events"].sum())}

    uid = _account(panel, "ada@example.com")["id"]
    app.selectbox(key=f"users:{uid}:chat").select(chat).run()
    app.text_input(key=f"users:{uid}:read_reason").input("complaint 77").run()
    app.button(key="users:read").click().run()
    assert not app.error, [e.value for e in app.error]
    assert "Where is my order?" in [t.value for t in app.text]
    reads = _admin_api(panel).get("/api/v1/admin/audit", action="conversation.read", target_id=chat)
    assert [(r["actor_email"], r["reason"]) for r in reads] == [("moderator@example.com", "complaint 77")]


@sqlite_only
def test_audit_page_tabs_follow_the_role_in_english_and_russian(panel, env_settings):
    for role, tabs in (
        ("admin", ["Audit log", "Sign-ins & security", "Errors"]),
        ("moderator", ["Audit log", "Errors"]),
    ):
        app = panel("audit", role=role, locale="en")
        assert not app.exception, role
        assert [t.value for t in app.title] == ["Audit & logs"]
        assert [t.label for t in app.tabs] == tabs
        russian = panel("audit", role=role, locale="ru")
        assert not russian.exception, role
        assert [t.value for t in russian.title] == ["Аудит и журналы"]
        assert russian.tabs[0].label == "Журнал аудита"
        assert untranslated(russian) == [], role


@sqlite_only
def test_audit_page_finds_the_block_and_failed_sign_ins_and_downloads_them(panel, env_settings, monkeypatch):
    downloads = Downloads(monkeypatch)
    with httpx.Client(base_url=panel.api_url) as http:
        register(http, "ada@example.com")
        for _ in range(2):
            wrong = http.post(
                "/api/v1/auth/login", json={"email": "ada@example.com", "password": "not-it-at-all"}
            )
            assert wrong.status_code == 401
    app = panel("audit", role="admin")
    uid = _account(panel, "ada@example.com")["id"]
    _admin_api(panel).post(f"/api/v1/admin/users/{uid}/block", {"reason": "fraud ring"})
    _admin_api(panel).post("/api/v1/admin/users/" + uid + "/plan", {"plan": "pro"})

    app.selectbox(key="audit:action").select("user.block").run()
    rows = app.dataframe[0].value
    assert list(rows["Action"]) == ["Block a user (user.block)"]
    assert list(rows["Reason"]) == ["fraud ring"]
    assert list(rows["Before"]) == ['{"is_blocked": false}'] and list(rows["After"]) == [
        '{"is_blocked": true}'
    ]
    exported = downloads.csv("audit:page:export:csv")
    assert [(r["action"], r["target_id"], r["reason"]) for r in exported] == [
        ("user.block", uid, "fraud ring")
    ]
    sheet = downloads.xlsx("audit:page:export:xlsx")
    assert sheet[0][:5] == ("id", "occurred_at", "actor_id", "actor_email", "action") and len(sheet) == 2

    app.text_input(key="audit:actor").input("admin@example.com").run()  # staff by email
    app.selectbox(key="audit:action").select(None).run()
    assert {"Block a user (user.block)", "Change a user's plan (user.plan_change)"} <= set(
        app.dataframe[0].value["Action"]
    )
    app.text_input(key="audit:actor").input("nobody@example.com").run()
    assert "No staff member has the email nobody@example.com" in app.warning[0].value

    app.selectbox(key="security:kind").select("user.login_failed").run()
    app.text_input(key="security:email").input("ada@example.com").run()
    rows = app.dataframe[-1].value
    assert list(rows["Event"]) == ["Failed sign-in (user.login_failed)"] * 2
    assert list(rows["Outcome"]) == ["failure", "failure"]
    exported = downloads.csv("security:page:export:csv")
    assert [(r["kind"], r["email"]) for r in exported] == [("user.login_failed", "ada@example.com")] * 2
    assert len(downloads.xlsx("security:page:export:xlsx")) == 3

    assert "No errors match" in app.info[-1].value  # nothing went wrong: nothing to download either
    assert "errors:page:export:csv" not in downloads.data


@sqlite_only
def test_error_log_tab_finds_an_error_by_its_request_id_and_downloads_the_log(
    panel, env_settings, monkeypatch
):
    from api.system.models import ErrorEntry

    downloads = Downloads(monkeypatch)
    app = panel("audit", role="moderator")
    assert "No errors match" in app.info[-1].value
    # Two failures as the API notes them (an unhandled exception, a provider that failed).
    entry = {
        "occurred_at": datetime.now(UTC),
        "method": "POST",
        "path": "/v1/chat/completions",
        "details": {},
    }
    db_execute(
        env_settings,
        ErrorEntry.__table__.insert().values(
            **entry, kind="unhandled", request_id="req-aaa", status=500, error_type="KeyError",
            message="'choices'",
        ),
        ErrorEntry.__table__.insert().values(
            **entry, kind="provider", request_id="req-bbb", status=502, error_type="provider_timeout",
            message="the provider did not answer in 5 s",
        ),
    )  # fmt: skip
    app.run()
    assert list(app.dataframe[-1].value["Kind"]) == ["Provider failure", "Unhandled exception"]
    app.text_input(key="errors:request_id").input("req-aaa").run()
    rows = app.dataframe[-1].value
    assert list(rows["Error"]) == ["KeyError"] and list(rows["Request"]) == ["POST /v1/chat/completions"]
    assert [(r["request_id"], r["status"]) for r in downloads.csv("errors:page:export:csv")] == [
        ("req-aaa", "500")
    ]
    assert [row[3] for row in downloads.xlsx("errors:page:export:xlsx")] == ["request_id", "req-aaa"]

    app.selectbox(key="errors:kind").select("provider").run()  # and an unhandled one's id: nothing
    assert "No errors match" in app.info[-1].value
