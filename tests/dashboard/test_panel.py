"""The panel as Streamlit runs it (AppTest): login through a live API, the Overview page."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.fresh import FreshLane
from tests.support.api import (
    PASSWORD,
    completion_body,
    create_staff_account,
    next_code,
    sign_up,
    staff_member,
)
from tests.support.russian import chart_titles, charts_in_russian, untranslated
from warehouse.settings import WarehouseSettings

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _staff(settings, api_url: str, email: str, role: str = "admin"):
    """A staff member made as `aiadmin create-admin` makes one, enrolled in TOTP (as every staff role must
    be): its authenticator."""
    with httpx.Client(base_url=api_url, timeout=60) as http:
        return staff_member(http, settings, role, email)[1]


def _sign_in(email: str, totp=None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60).run()
    app.text_input[0].input(email)
    app.text_input[1].input(PASSWORD)
    if totp is not None:
        app.text_input[2].input(next_code(totp))
    app.button[0].click().run()
    return app


@sqlite_only
def test_staff_sign_in_through_the_api_and_land_on_the_overview(env_settings, live_server, monkeypatch):
    monkeypatch.setenv("AIADMIN_API_URL", live_server.url)
    totp = _staff(env_settings, live_server.url, "analyst@example.com", role="analyst")
    app = _sign_in("analyst@example.com", totp)
    assert not app.exception
    assert [t.value for t in app.title] == ["Overview"]
    assert "analyst@example.com" in app.sidebar.markdown[0].value


@sqlite_only
def test_an_end_user_or_a_wrong_password_cannot_sign_in_to_the_panel(env_settings, live_server, monkeypatch):
    monkeypatch.setenv("AIADMIN_API_URL", live_server.url)
    with httpx.Client(base_url=live_server.url) as http:
        sign_up(http, "user@example.com", env_settings)
    app = _sign_in("user@example.com")
    assert [e.value for e in app.error] == ["this account is not a staff account"]
    assert "staff" not in app.session_state

    _staff(env_settings, live_server.url, "admin@example.com")
    app = AppTest.from_file(APP, default_timeout=60).run()
    app.text_input[0].input("admin@example.com")
    app.text_input[1].input("not-the-password")
    app.button[0].click().run()
    assert [e.value for e in app.error] == ["wrong email or password"]


@sqlite_only
def test_overview_says_what_to_do_before_the_first_publication(panel):
    app = panel("overview", role="analyst")
    assert not app.exception
    assert "aiadmin pipeline run" in app.info[0].value


@sqlite_only
def test_overview_shows_the_periods_kpis_charts_and_top_10s_from_the_serving_copy(
    panel, env_settings, pipeline
):
    usage = []
    with httpx.Client(base_url=panel.api_url, timeout=60) as client:  # a wait, not a speed limit
        for email, calls in {"ada@example.com": 2, "bob@example.com": 1, "cy@example.com": 0}.items():
            headers = sign_up(client, email, env_settings)
            for _ in range(calls):
                response = client.post("/v1/chat/completions", headers=headers, json=completion_body())
                usage.append(response.json()["usage"])
            if email == "ada@example.com":  # the Reports page's revenue
                paid = {"amount": "2.50", "currency": "USD"}
                assert client.post("/api/v1/me/balance/top-up", headers=headers, json=paid).status_code == 201
    pipeline()

    app = panel("overview", role="analyst")
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["DAU"] == "3" and metrics["New users"] == "3" and metrics["Completions"] == "3"
    assert metrics["Tokens in"] == f"{sum(u['prompt_tokens'] for u in usage):,}"
    assert metrics["Tokens out"] == f"{sum(u['completion_tokens'] for u in usage):,}"
    assert metrics["Requests"] == "3"  # the live strip: the last 5 minutes, from the API
    assert [s.value for s in app.subheader][:4] == [
        "Active users",
        "Completions and errors",
        "Tokens",
        "Cost",
    ]
    top_users = app.dataframe[1].value
    assert list(top_users["Email"])[:2] == ["ada@example.com", "bob@example.com"]  # by cost, under its label
    assert "Cost, USD" in chart_titles(app) and "period_start" not in chart_titles(app)

    reports = panel("reports", role="analyst")
    assert not reports.exception
    revenue = reports.tabs[6]
    assert reports.tabs[6].label == "Revenue"
    assert {m.label: m.value for m in revenue.metric}["Revenue, USD"] == "$ 2.50"
    by_day = revenue.dataframe[-1].value
    assert list(by_day["Plan"]) == ["free"] and list(by_day["Revenue, USD"]) == [2.5]
    assert by_day["Margin, USD"][0] == pytest.approx(2.5 - by_day["Provider cost, USD"][0])

    russian = panel("overview", role="analyst", locale="ru")
    assert [t.value for t in russian.title] == ["Обзор"]
    assert {m.label: m.value for m in russian.metric}["Токены на входе"] == metrics["Tokens in"].replace(
        ",", "\u202f"
    )
    assert "Стоимость, USD" in chart_titles(russian) and charts_in_russian(russian)
    assert untranslated(russian) == []
    assert russian.caption[0].value.startswith("Данные на ")
    reports = panel("reports", role="analyst", locale="ru")  # every tab, each with its table and chart
    assert not reports.exception and not reports.error
    assert len(reports.get("vega_lite_chart")) >= 4 and charts_in_russian(reports)
    assert untranslated(reports) == []
    assert reports.caption[0].value.startswith("Данные на ")

    # Every analytics page says how fresh its figures are, and its caches follow the serving copy's
    # publications, not a timer: a new event published by the fresh lane shows at the page's next run.
    assert app.caption[0].value.startswith("Data as of ") and app.caption[0].value.endswith(" UTC")
    with httpx.Client(base_url=panel.api_url) as client:
        headers = sign_up(client, "dee@example.com", env_settings)
        client.post("/v1/chat/completions", headers=headers, json=completion_body())
    FreshLane.of(WarehouseSettings(data_dir=env_settings.data_dir), env_settings.database_url).run()
    app.run()
    assert {m.label: m.value for m in app.metric}["Completions"] == "4"


@sqlite_only
def test_a_blocked_or_demoted_staff_member_is_signed_out_at_the_next_interaction(
    env_settings, live_server, monkeypatch
):
    from sqlalchemy import update

    from api.accounts.models import Account
    from api.core.db import make_sync_engine

    monkeypatch.setenv("AIADMIN_API_URL", live_server.url)
    for change in ({"is_blocked": True}, {"role": "user"}):
        email = f"staff{len(change)}{next(iter(change))}@example.com"
        totp = _staff(env_settings, live_server.url, email, role="analyst")
        app = _sign_in(email, totp)
        assert [t.value for t in app.title] == ["Overview"]
        engine = make_sync_engine(env_settings)
        with engine.begin() as conn:
            conn.execute(update(Account).where(Account.email == email).values(**change))
        engine.dispose()
        app.run()
        assert [t.value for t in app.title] == ["aiadmin"], change
        assert "You were signed out" in app.warning[0].value


@sqlite_only
def test_an_expired_access_token_is_refreshed_without_signing_out(env_settings, live_server, monkeypatch):
    monkeypatch.setenv("AIADMIN_API_URL", live_server.url)
    totp = _staff(env_settings, live_server.url, "analyst@example.com", role="analyst")
    app = _sign_in("analyst@example.com", totp)
    staff = app.session_state["staff"]
    signed_in_with = staff.token
    staff.credentials.access_token = "expired-or-garbage"  # refused: refreshed, and the call made again
    app.run()
    assert [t.value for t in app.title] == ["Overview"]
    assert app.session_state["staff"].token not in ("expired-or-garbage", signed_in_with)


@sqlite_only
def test_an_admin_without_a_second_factor_enrols_in_the_panel_before_anything_else(
    env_settings, live_server, monkeypatch
):
    import pyotp

    monkeypatch.setenv("AIADMIN_API_URL", live_server.url)
    create_staff_account(env_settings, "new-admin@example.com", "admin")
    app = _sign_in("new-admin@example.com")
    assert not app.exception
    assert [t.value for t in app.title] == ["Set up two-factor authentication"]
    secret = app.text_input[0].value
    assert app.code[0].value.startswith("otpauth://totp/") and secret in app.code[0].value
    app.text_input[2].input(pyotp.TOTP(secret).now())
    _press(app, "Turn on two-factor authentication")
    assert app.error[0].value.startswith("confirm it is you")  # the password is asked for again
    app.text_input[1].input(PASSWORD)
    app.text_input[2].input("000000")
    _press(app, "Turn on two-factor authentication")
    assert app.error[0].value  # a wrong code: the API's refusal, still on the enrolment page
    app.text_input[2].input(pyotp.TOTP(secret).now())
    _press(app, "Turn on two-factor authentication")
    assert len(app.code[0].value.split()) == 10  # the recovery codes, once
    _press(app, "Continue")
    assert [t.value for t in app.title] == ["Overview"]
    assert app.session_state["staff"].must_enrol is False


def _press(app: AppTest, label: str) -> None:
    (button,) = [b for b in app.button if b.label == label]
    button.click().run()
