"""Notifications, alerts and system health in the panel: pages run by AppTest, signed in as real staff,
against a live API; what a page did is checked through the API as the user it reached."""

from __future__ import annotations

import httpx
import pytest

from tests.dashboard.conftest import ROLES
from tests.support.api import bearer, completion_body, sign_up
from tests.support.russian import untranslated
from warehouse.status import record_run

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NOTIFICATIONS = "/api/v1/admin/notifications"
ALERTS = "/api/v1/admin/alerts"


@pytest.fixture
def settings(settings):
    """The test settings with the offline mock obeying `metadata.mock`: a call can be made to fail."""
    return settings.model_copy(update={"mock_faults": True})


@pytest.fixture
def http(panel):
    with httpx.Client(base_url=panel.api_url) as client:
        yield client


def staff_headers(panel, role: str) -> dict[str, str]:
    """The API headers of the staff member the panel signed in as `role`."""
    return bearer(panel.sessions[role].token)


def markdown(app) -> str:
    """Every markdown of the page (badges are markdown), as one text."""
    return "\n".join(m.value for m in app.markdown)


def button_keys(app) -> set[str]:
    return {b.key for b in app.button if b.key}


def rows(app, tab: int | None = None) -> list[dict]:
    """The rows of every table on the page (or in one tab), as the user sees them."""
    frames = app.tabs[tab].dataframe if tab is not None else app.dataframe
    return [row for frame in frames for row in frame.value.to_dict("records")]


# ------------------------------------------------------------------------------ every role, both languages


@sqlite_only
def test_the_messaging_and_health_pages_render_for_every_role_that_may_see_them_in_both_languages(panel):
    titles = {
        "notifications": ("Notifications", "Уведомления"),
        "alerts": ("Alerts", "Оповещения"),
        "health": ("System health", "Состояние системы"),
    }
    may_see = {"notifications": ("admin",), "alerts": ROLES, "health": ROLES}
    for page, roles in may_see.items():
        for role in roles:
            for locale, title in zip(("en", "ru"), titles[page], strict=True):
                app = panel(page, role=role, locale=locale)
                assert not app.exception, (page, role, locale, app.exception)
                assert [t.value for t in app.title] == [title], (page, role, locale)
                assert not app.error, (page, role, locale, [e.value for e in app.error])
                assert locale == "en" or untranslated(app) == [], (page, role)

    ru = panel("notifications", locale="ru")
    assert [t.label for t in ru.tabs] == [
        "Новая рассылка",
        "Отправленные рассылки",
        "Автоматические правила",
        "Журнал доставки",
    ]
    assert "Приветствие · вкл." in [e.label for e in ru.expander]


@sqlite_only
def test_only_admins_get_the_controls_that_change_alert_rules(panel, http):
    admin = panel("alerts", role="admin")
    assert {"al:create", "al:evaluate"} <= button_keys(admin)
    assert "Create one below" in admin.tabs[0].info[0].value  # no rule yet: says how to start
    created = http.post(
        f"{ALERTS}/rules",
        headers=staff_headers(panel, "admin"),
        json={
            "name": "Spend per day", "metric": "spend_usd", "window_minutes": 1440, "threshold": 50,
            "channel": "email", "target": "ops@example.com",
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text

    for role in ("moderator", "analyst", "viewer"):  # health:read: they look, they cannot change
        app = panel("alerts", role=role)
        assert not app.exception
        (rule,) = rows(app, tab=0)
        assert rule["Rule"] == "Spend per day" and rule["State"] == "ok" and rule["Threshold"] == "50.00 USD"
        assert not {"al:create", "al:evaluate"} & button_keys(app), role
        assert not [k for k in button_keys(app) if k.startswith("al:edit")], role
        assert not [e for e in app.expander if e.label in ("New rule", "Change a rule")], role
        assert "alerts:write" in "\n".join(c.value for c in app.caption)

    admin.run()
    assert {"al:edit:1:save", "al:edit:1:toggle", "al:edit:1:delete"} <= button_keys(admin)


# ------------------------------------------------------------------------------------------ notifications


@sqlite_only
def test_a_broadcast_composed_in_the_panel_reaches_the_segments_inbox_and_the_delivery_log(
    panel, http, env_settings
):
    ada = sign_up(http, "ada@example.com", env_settings, country="DE")
    boris = sign_up(http, "boris@example.com", env_settings, country="FR")
    app = panel("notifications")
    assert [m.value for m in app.metric if m.label == "Recipients now"] == ["2"]

    app.selectbox(key="nt:kind").set_value("country").run()
    app.text_input(key="nt:country").input("de").run()
    assert [m.value for m in app.metric if m.label == "Recipients now"] == ["1"]
    app.multiselect(key="nt:channels").set_value(["in_app"])
    app.text_input(key="nt:text:en:subject").input("News for {plan} users")
    app.text_area(key="nt:text:en:body").input("Hello {email}, see {app_url}").run()
    assert app.button(key="nt:send").label == "Send · recipients: 1"
    app.button(key="nt:send").click().run()
    assert "Are you sure? Send · recipients: 1" in [w.value for w in app.warning]
    app.button(key="nt:send:yes").click().run()
    assert not app.exception and not app.error
    assert [s.value for s in app.success] == ["Broadcast #1 sent; recipients: 1."]
    assert app.text_input(key="nt:text:en:subject").value == ""  # the form starts empty again

    inbox = http.get("/api/v1/me/notifications", headers=ada).json()
    (news,) = [n for n in inbox["items"] if n["broadcast_id"] == 1]
    assert news["subject"] == "News for free users" and news["body"].startswith("Hello ada@example.com, see ")
    assert not [
        n for n in http.get("/api/v1/me/notifications", headers=boris).json()["items"] if n["broadcast_id"]
    ]

    (sent,) = rows(app, tab=1)
    assert (sent["Segment"], sent["Channels"], sent["Recipients"]) == ("country DE", "In-app", 1)
    log = rows(app, tab=3)
    assert {(r["Recipient"], r["Source"], r["Subject"], r["Status"]) for r in log} >= {
        ("ada@example.com", "broadcast #1", "News for free users", "delivered")
    }
    app.tabs[3].selectbox(key="nt:log:broadcast").set_value(1).run()
    assert [(r["Recipient"], r["Channel"]) for r in rows(app, tab=3)] == [("ada@example.com", "In-app")]
    assert [d.label for d in app.tabs[3].get("download_button")][-2:] == [
        "Download all as CSV",
        "Download all as XLSX",
    ]


@sqlite_only
def test_a_broadcast_to_an_empty_segment_shows_the_apis_refusal(panel, http, env_settings):
    sign_up(http, "ada@example.com", env_settings, country="DE")
    app = panel("notifications")
    app.selectbox(key="nt:kind").set_value("country").run()
    app.text_input(key="nt:country").input("JP").run()
    assert [m.value for m in app.metric if m.label == "Recipients now"] == ["0"]
    assert "Nobody is in this segment now" in app.warning[0].value
    app.text_input(key="nt:text:en:subject").input("Hello")
    app.text_area(key="nt:text:en:body").input("Anyone?").run()
    app.button(key="nt:send").click().run()
    app.button(key="nt:send:yes").click().run()
    assert [e.value for e in app.error] == ["no user is in this segment: nothing sent"]
    assert not app.success
    assert http.get(f"{NOTIFICATIONS}/broadcasts", headers=staff_headers(panel, "admin")).json() == []


@sqlite_only
def test_a_broadcast_is_not_offered_until_the_english_text_is_written(panel):
    app = panel("notifications")
    assert app.button(key="nt:send").disabled
    assert "Write the English subject and message" in app.tabs[0].info[0].value
    app.text_input(key="nt:text:en:subject").input("Hello")
    app.text_area(key="nt:text:en:body").input("Hi {email}")
    app.text_input(key="nt:text:ru:subject").input("Привет").run()  # a Russian subject without a message
    assert app.button(key="nt:send").disabled
    assert "Give the Russian text both a subject and a message" in app.tabs[0].info[0].value
    app.text_area(key="nt:text:ru:body").input("Здравствуйте, {email}").run()
    assert not app.button(key="nt:send").disabled


@sqlite_only
def test_turning_the_welcome_rule_off_in_the_panel_stops_welcome_notifications(panel, http, env_settings):
    app = panel("notifications")
    assert app.toggle(key="nt:rule:welcome:enabled").value is True
    app.toggle(key="nt:rule:welcome:enabled").set_value(False)
    app.button(key="nt:rule:welcome:save").click().run()
    assert not app.exception and not app.error
    assert [s.value for s in app.success] == ["“Welcome” saved."]
    assert "Welcome · off" in [e.label for e in app.expander]

    admin = staff_headers(panel, "admin")
    rules = {r["code"]: r for r in http.get(f"{NOTIFICATIONS}/rules", headers=admin).json()}
    assert rules["welcome"]["enabled"] is False
    assert rules["welcome"]["templates"]["en"]["subject"] == "Welcome to the assistant"  # texts untouched
    ada = sign_up(http, "ada@example.com", env_settings)
    assert http.get("/api/v1/me/notifications", headers=ada).json()["items"] == []

    app.number_input(key="nt:rule:balance_low:threshold").set_value(25.0)
    app.button(key="nt:rule:balance_low:save").click().run()
    rules = {r["code"]: r for r in http.get(f"{NOTIFICATIONS}/rules", headers=admin).json()}
    assert float(rules["balance_low"]["threshold"]) == 25


@sqlite_only
def test_a_rule_text_with_a_placeholder_it_does_not_have_shows_the_apis_refusal(panel):
    app = panel("notifications")
    assert "`{balance}` the balance left" in "\n".join(c.value for c in app.caption)
    app.text_area(key="nt:rule:welcome:en:body").input("You have {balance} credits")
    app.button(key="nt:rule:welcome:save").click().run()
    (error,) = app.error
    assert "unknown placeholder {balance}" in error.value


# --------------------------------------------------------------------------------------------------- alerts


@sqlite_only
def test_an_alert_rule_created_in_the_panel_fires_when_evaluated_and_shows_in_the_history(
    panel, http, env_settings
):
    ada = sign_up(http, "ada@example.com", env_settings)
    assert http.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
    failing = {**completion_body(), "metadata": {"mock": "fail"}}
    assert http.post("/v1/chat/completions", headers=ada, json=failing).status_code == 502

    app = panel("alerts")
    app.text_input(key="al:new:name").input("Errors up")
    app.number_input(key="al:new:threshold:error_rate").set_value(10.0)  # percent of calls
    app.text_input(key="al:new:target:email").input("ops@example.com").run()
    app.button(key="al:create").click().run()
    assert not app.exception and not app.error
    assert [s.value for s in app.success] == ["Rule “Errors up” created."]
    assert app.text_input(key="al:new:name").value == ""
    (rule,) = rows(app, tab=0)
    assert (rule["Rule"], rule["State"], rule["Threshold"], rule["Sent to"]) == (
        "Errors up", "ok", "10.0 %", "ops@example.com",
    )  # fmt: skip

    app.button(key="al:evaluate").click().run()
    assert not app.error
    (notice,) = [s.value for s in app.success]
    assert notice.startswith("Rules evaluated: 1; Errors up fired (notification ")
    (rule,) = rows(app, tab=0)
    assert (rule["State"], rule["Last figure"]) == ("firing", "50.0 %")
    assert "Errors up: firing" in markdown(app)
    (event,) = rows(app, tab=1)
    assert (event["Rule"], event["Event"], event["Figure"], event["Sent to"]) == (
        "Errors up", "fired", "50.0 %", "ops@example.com",
    )  # fmt: skip

    assert [d.label for d in app.tabs[1].get("download_button")][-2:] == [
        "Download all as CSV",
        "Download all as XLSX",
    ]  # the whole filtered history, from the API's export
    api_history = http.get(f"{ALERTS}/history", headers=staff_headers(panel, "admin")).json()
    assert [(e["rule_name"], e["kind"]) for e in api_history["items"]] == [("Errors up", "fired")]


@sqlite_only
def test_an_alert_rule_is_changed_paused_and_deleted_from_the_panel(panel, http):
    app = panel("alerts")
    admin = staff_headers(panel, "admin")
    body = {
        "name": "Slow", "metric": "p95_latency_ms", "window_minutes": 5, "threshold": 2000,
        "channel": "webhook", "target": "https://hooks.example.com/services/T0/B0/s3cr3t-token",
    }  # fmt: skip
    rule_id = http.post(f"{ALERTS}/rules", headers=admin, json=body).json()["id"]
    app.run()
    key = f"al:edit:{rule_id}"
    app.number_input(key=f"{key}:threshold:p95_latency_ms").set_value(3000.0)
    app.button(key=f"{key}:save").click().run()
    assert [s.value for s in app.success] == ["Rule “Slow” saved."]
    shown = http.get(f"{ALERTS}/rules/{rule_id}", headers=admin).json()
    assert shown["threshold"] == 3000 and shown["target"].endswith("oken")  # the webhook kept, still masked

    app.button(key=f"{key}:toggle").click().run()
    assert [s.value for s in app.success] == ["Rule “Slow” paused: it is not evaluated until it is resumed."]
    assert http.get(f"{ALERTS}/rules/{rule_id}", headers=admin).json()["enabled"] is False
    assert rows(app, tab=0)[0]["State"] == "paused"

    app.button(key=f"{key}:delete").click().run()
    assert http.get(f"{ALERTS}/rules/{rule_id}", headers=admin).status_code == 200  # asked first
    app.button(key=f"{key}:delete:yes").click().run()
    assert [s.value for s in app.success] == ["Rule “Slow” deleted; its history stays."]
    assert http.get(f"{ALERTS}/rules/{rule_id}", headers=admin).status_code == 404
    assert not rows(app, tab=0)


# --------------------------------------------------------------------------------------------------- health


@sqlite_only
def test_health_shows_the_database_ok_the_providers_and_the_live_figures(panel, http, env_settings):
    ada = sign_up(http, "ada@example.com", env_settings)
    answer = http.post("/v1/chat/completions", headers=ada, json=completion_body())
    assert answer.status_code == 200

    app = panel("health", role="analyst")
    assert not app.exception and not app.error
    shown = markdown(app)
    assert "All systems ok" in shown
    assert "**:green[:material/check_circle: ok]**" in shown  # the database
    assert "not published" in shown and "no run yet" in shown
    assert "run `aiadmin pipeline run`" in "\n".join(c.value for c in app.caption)
    mock = next(r for r in rows(app) if r["Provider"] == "mock")
    assert (mock["Succeeded"], mock["Failed"], mock["Status"]) == (1, 0, "ok")
    assert "mock: ok" in shown
    live = [(m.label, m.value) for m in app.metric if m.label in ("Requests", "Active users")]
    assert live == [("Requests", "1"), ("Active users", "1")] * 3  # the last 1, 5 and 60 minutes
    assert "Last 60 min" in shown
    # Throughput: the last 3 hours minute by minute (180 or 181 minutes), the one call in one of them.
    assert "Throughput by minute" in [h.value for h in app.subheader]
    per_minute = app.dataframe[-1].value
    assert 180 <= len(per_minute) <= 181 and list(per_minute.columns)[1:] == ["mock-small · mock"]
    assert per_minute["mock-small · mock"].sum() == 1 and per_minute["mock-small · mock"].max() == 1
    app.radio(key="hl:tp:measure").set_value("tokens").run()
    assert app.dataframe[-1].value["mock-small · mock"].sum() == answer.json()["usage"]["total_tokens"]

    record_run(
        env_settings.data_dir, run_id="r1", succeeded=False, failed_steps=["dbt_models"], message="boom"
    )
    app.button(key="hl:refresh").click().run()
    shown = markdown(app)
    assert "Degraded: the last pipeline run failed" in shown and "last run failed" in shown
    assert "Failed steps: `dbt_models`." in shown

    ru = panel("health", role="viewer", locale="ru")
    assert [t.value for t in ru.title] == ["Состояние системы"]
    assert "Degraded" not in markdown(ru)  # still degraded, now said in Russian
    assert "Есть проблемы: последний запуск конвейера завершился ошибкой" in markdown(ru)
    assert [m.label for m in ru.metric].count("Запросы") == 3
