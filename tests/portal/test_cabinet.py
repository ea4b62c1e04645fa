"""The portal's cabinet against the real API (a live uvicorn): sign-in required, an expired access token
renewed once with the rotating refresh token, a refused refresh signing the user out; the home page
(profile form, plan and today's use, balance), the balance page (ledger, test top-up, "payments are not
enabled"), the plans page; CSRF, a tampered cookie and hostile text."""

from __future__ import annotations

import re
import time

import jwt
import pytest
from fastapi.testclient import TestClient

from portal.app import create_app as create_portal
from portal.session import SESSION_COOKIE, Keys
from portal.settings import PortalSettings
from tests.portal.support import KEY, PORTAL, csrf_of, portal_world, session_of, signed_in, submit
from tests.support.api import (
    PASSWORD,
    bearer,
    completion_body,
    enrol_two_factor,
    free_port,
    grant_credits,
    next_code,
    sign_up,
)

PAGES = ["/cabinet", "/cabinet/balance", "/cabinet/plans", "/cabinet/api-keys", "/cabinet/security"]


def put_session(portal, session: dict) -> None:
    put_cookie(portal, Keys(KEY.encode()).seal(session))


def put_cookie(portal, sealed: str) -> None:
    """The browser's session cookie replaced (as an attacker or a stale browser would send it)."""
    (domain,) = {cookie.domain for cookie in portal.cookies.jar if cookie.name == SESSION_COOKIE}
    portal.cookies.set(SESSION_COOKIE, sealed, domain=domain)


def expired(settings, access: str) -> str:
    """The same access token (same session) as it is once its 15 minutes are over."""
    secret = settings.secret_key.get_secret_value()
    claims = jwt.decode(access, options={"verify_signature": False})
    claims |= {"iat": claims["iat"] - 3600, "exp": int(time.time()) - 60}
    return jwt.encode(claims, secret, algorithm="HS256")


def test_every_cabinet_page_needs_sign_in_and_a_tampered_or_foreign_cookie_is_no_session(world):
    portal, api, settings = world
    for path in PAGES:
        response = portal.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/sign-in", path
    session = signed_in(portal, api, settings)
    assert portal.get("/cabinet").status_code == 200
    sealed = portal.cookies[SESSION_COOKIE]
    tampered = sealed[:-6] + ("AAAAAA" if not sealed.endswith("AAAAAA") else "BBBBBB")
    put_cookie(portal, tampered)
    assert portal.get("/cabinet", follow_redirects=False).status_code == 303
    # Another user's tokens sealed under another key (another install, or a forger) open nothing either.
    put_cookie(portal, Keys(b"not the portal key").seal(session))
    assert portal.get("/cabinet", follow_redirects=False).status_code == 303


def test_an_expired_access_token_is_renewed_once_and_the_new_pair_kept(world):
    portal, api, settings = world
    session = signed_in(portal, api, settings)
    put_session(portal, {**session, "access": expired(settings, session["access"])})
    page = portal.get("/cabinet")
    assert page.status_code == 200 and "ada@example.com" in page.text
    renewed = session_of(portal)
    assert renewed["refresh"] != session["refresh"]  # rotated: the new pair is in the cookie
    assert api.get("/api/v1/me", headers=bearer(renewed["access"])).status_code == 200
    spent = api.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh"]})
    assert spent.status_code == 401  # the old refresh token was spent by the portal
    # That reuse made the API end the session; the next page signs the user out with a message.
    put_session(portal, {**renewed, "access": expired(settings, renewed["access"])})
    out = portal.get("/cabinet/balance")
    assert out.status_code == 401 and "Your session has ended: please sign in again." in out.text
    assert SESSION_COOKIE not in portal.cookies


def test_a_refused_refresh_signs_the_user_out_with_a_message_in_their_language(world):
    portal, api, settings = world
    session = signed_in(portal, api, settings)
    put_session(portal, {**session, "access": expired(settings, session["access"]), "refresh": "made-up"})
    out = portal.get("/cabinet/plans?lang=ru")
    assert out.status_code == 401 and "Сеанс завершён: войдите снова." in out.text
    assert 'action="/sign-in"' in out.text and SESSION_COOKIE not in portal.cookies
    assert portal.get("/cabinet", follow_redirects=False).status_code == 303


def test_the_home_page_shows_the_account_its_use_and_balance_and_saves_the_profile(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    grant_credits(settings, "ada@example.com", 40)
    home = portal.get("/cabinet")
    assert home.status_code == 200 and "<strong>ada@example.com</strong>" in home.text
    usage = api.get("/api/v1/me/usage", headers=bearer(session_of(portal)["access"])).json()
    limit = usage["requests_today"]["limit"]
    assert limit is not None and f"0 of {limit}" in home.text
    call = api.post(
        "/v1/chat/completions", headers=bearer(session_of(portal)["access"]), json=completion_body()
    )
    assert call.status_code == 200, call.text
    home = portal.get("/cabinet")
    assert f"1 of {limit}" in home.text
    assert re.search(r"Daily limits reset at \d{4}-\d\d-\d\d 00:00 UTC\.", home.text), home.text
    assert "40 credits" in home.text, home.text

    hostile = '<script>alert("x")</script>'
    saved = submit(portal, "/cabinet", "/cabinet/profile", display_name=hostile, locale="ru", country="de")
    assert saved.status_code == 200 and "Saved." in saved.text
    assert "<script>alert" not in saved.text and "&lt;script&gt;alert" in saved.text
    me = api.get("/api/v1/me", headers=bearer(session_of(portal)["access"])).json()
    assert (me["display_name"], me["locale"], me["country"]) == (hostile, "ru", "DE")

    refused = submit(portal, "/cabinet", "/cabinet/profile", display_name="Ada", locale="ru", country="ZZZ")
    assert (
        refused.status_code == 400
        and 'role="alert"' in refused.text
        and "Please check the form" in refused.text
    )
    cleared = submit(portal, "/cabinet", "/cabinet/profile", display_name="", locale="en", country="")
    assert cleared.status_code == 200
    me = api.get("/api/v1/me", headers=bearer(session_of(portal)["access"])).json()
    assert (me["display_name"], me["locale"], me["country"]) == (None, "en", None)


def test_a_cabinet_form_without_its_csrf_token_changes_nothing(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    portal.get("/cabinet")
    missing = portal.post("/cabinet/profile", data={"display_name": "Eve", "locale": "ru"})
    assert missing.status_code == 403 and "came from another site" in missing.text
    forged = portal.post("/cabinet/balance/top-up", data={"csrf": "0" * 64, "amount": "5", "currency": "USD"})
    assert forged.status_code == 403
    token = csrf_of(portal.get("/cabinet"))
    elsewhere = portal.post(
        "/cabinet/profile",
        data={"csrf": token, "display_name": "Eve", "locale": "ru"},
        headers={"Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    me = api.get("/api/v1/me", headers=bearer(session_of(portal)["access"])).json()
    balance = api.get("/api/v1/me/balance", headers=bearer(session_of(portal)["access"])).json()
    assert me["display_name"] is None and me["locale"] == "en" and balance["entries"] == []


def test_the_balance_page_tops_up_at_the_rate_and_lists_the_ledger_in_plain_words(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    grant_credits(settings, "ada@example.com", 5)
    page = portal.get("/cabinet/balance")
    assert page.status_code == 200 and "One credit costs 0.01" in page.text and "USD" in page.text
    topped = submit(portal, "/cabinet/balance", "/cabinet/balance/top-up", amount="2.50", currency="USD")
    assert topped.status_code == 200 and "Added 250 credits: your balance is 255." in topped.text
    assert "Top-up of 2.50 USD" in topped.text and "Credits added by support" in topped.text
    bad = submit(portal, "/cabinet/balance", "/cabinet/balance/top-up", amount="-1", currency="USD")
    assert bad.status_code == 400 and "Please check the form" in bad.text
    russian = portal.get("/cabinet/balance?lang=ru")
    assert "Пополнение" in russian.text and "Изменение поддержкой" in russian.text


def test_where_top_ups_are_off_the_page_says_payments_are_not_enabled(settings, tmp_path):
    with portal_world(settings, tmp_path, test_top_ups=False) as (portal, api, api_settings):
        signed_in(portal, api, api_settings)
        refused = submit(portal, "/cabinet/balance", "/cabinet/balance/top-up", amount="5", currency="USD")
        assert refused.status_code == 400 and "Payments are not enabled here" in refused.text
        assert "No movements yet." in refused.text


def test_the_plans_page_lists_the_offered_plans_and_says_how_to_change(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    offered = api.get("/api/v1/plans").json()
    page = portal.get("/cabinet/plans")
    assert page.status_code == 200
    for plan in offered:
        assert f"<h2>{plan['name']}" in page.text
    mine = api.get("/api/v1/me", headers=bearer(session_of(portal)["access"])).json()["plan_code"]
    (name,) = [plan["name"] for plan in offered if plan["code"] == mine]
    assert f"Your plan: {name}." in page.text and f"<h2>{name} · your plan</h2>" in page.text
    assert "paid from your balance, a month at a time" in page.text


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_cabinet_pages_label_every_field_and_fetch_nothing(world, lang):
    portal, api, settings = world
    signed_in(portal, api, settings)
    for path in [*PAGES, "/tools/editor", "/tools/prompts", "/tools/chat", "/history"]:
        html = portal.get(path, params={"lang": lang}).text
        assert f'<html lang="{lang}">' in html and "<link" not in html
        # the one script is the portal's own (served from the package), on the pages it enhances
        assert set(re.findall(r"<script[^>]*>", html)) <= {'<script src="/assets/portal.js" defer>'}, path
        for field in re.findall(r"<(?:input|select|textarea) [^>]*>", html):
            if 'type="hidden"' in field:
                continue
            (field_id,) = re.findall(r'id="([^"]+)"', field)
            assert f'<label for="{field_id}">' in html, (path, field)


def test_an_api_key_is_shown_once_works_and_is_revoked(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    assert "You have no API keys." in portal.get("/cabinet/api-keys").text
    hostile = "<b>my bot</b>"
    made = submit(portal, "/cabinet/api-keys", name=hostile)
    assert made.status_code == 200 and "it is shown this once" in made.text
    key = re.search(r'id="new_key" type="text" readonly value="([^"]+)"', made.text).group(1)
    assert "<b>my bot" not in made.text and "&lt;b&gt;my bot" in made.text
    assert key not in portal.get("/cabinet/api-keys").text  # once: not on the next page
    assert key not in str(session_of(portal))
    listed = api.get("/api/v1/me/api-keys", headers=bearer(session_of(portal)["access"])).json()
    assert [k["name"] for k in listed] == [hostile]
    assert api.get("/v1/models", headers=bearer(key)).status_code == 200

    blank = submit(portal, "/cabinet/api-keys", name="   ")
    assert blank.status_code == 400 and "Please check the form" in blank.text
    gone = submit(portal, "/cabinet/api-keys", "/cabinet/api-keys/revoke", key_id=listed[0]["id"])
    assert (
        gone.status_code == 200 and "The key is revoked" in gone.text and "You have no API keys." in gone.text
    )
    assert api.get("/v1/models", headers=bearer(key)).status_code == 401
    again = submit(portal, "/cabinet/api-keys", "/cabinet/api-keys/revoke", key_id=listed[0]["id"])
    assert again.status_code == 200  # the API's revoke is idempotent (204 again)
    nonsense = submit(portal, "/cabinet/api-keys", "/cabinet/api-keys/revoke", key_id="../../me")
    assert nonsense.status_code == 400 and "reload the page" in nonsense.text


def test_another_users_key_cannot_be_revoked_from_ones_cabinet(world):
    portal, api, settings = world
    bo = sign_up(api, "bo@example.com", settings)
    bos_key = api.post("/api/v1/me/api-keys", headers=bo, json={"name": "bo's"}).json()
    signed_in(portal, api, settings)
    refused = submit(portal, "/cabinet/api-keys", "/cabinet/api-keys/revoke", key_id=bos_key["id"])
    assert refused.status_code == 400
    assert api.get("/v1/models", headers=bearer(bos_key["key"])).status_code == 200


def test_the_security_page_lists_sessions_and_signs_out_everywhere(world):
    portal, api, settings = world
    session = signed_in(portal, api, settings)
    other = api.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}).json()
    page = portal.get("/cabinet/security")
    sessions = page.text.split("<h2>Password</h2>")[0]  # the sessions' table (the login history is below)
    assert page.status_code == 200 and sessions.count("<tr><td>") == 3  # sign_up's, the portal's, other
    assert "this browser" in page.text
    out = submit(portal, "/cabinet/security", "/cabinet/sign-out-everywhere")
    assert out.status_code == 200 and "You are signed out everywhere" in out.text
    assert SESSION_COOKIE not in portal.cookies
    for access in (session["access"], other["access_token"]):
        assert api.get("/api/v1/me", headers=bearer(access)).status_code == 401


def test_deleting_the_account_needs_the_password_and_signs_out(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    wrong = submit(portal, "/cabinet/security", "/cabinet/delete-account", password="not-the-password")
    assert wrong.status_code == 400 and "Wrong password." in wrong.text
    assert SESSION_COOKIE in portal.cookies  # a wrong password is not a lost session
    missing = portal.post("/cabinet/delete-account", data={"password": PASSWORD})
    assert missing.status_code == 403
    deleted = submit(portal, "/cabinet/security", "/cabinet/delete-account", password=PASSWORD)
    assert deleted.status_code == 200 and "Your account is deleted." in deleted.text
    assert SESSION_COOKIE not in portal.cookies
    gone = api.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert gone.status_code == 401


def test_deleting_an_account_with_two_factor_asks_for_the_code(world):
    portal, api, settings = world
    headers = sign_up(api, "cy@example.com", settings)
    totp, recovery = enrol_two_factor(api, headers)
    assert (
        submit(portal, "/sign-in", email="cy@example.com", password=PASSWORD, otp=next_code(totp)).status_code
        == 303
    )
    page = portal.get("/cabinet/security")
    assert 'name="code"' in page.text
    wrong = submit(portal, "/cabinet/security", "/cabinet/delete-account", password=PASSWORD, code="000000")
    assert wrong.status_code == 400 and "This code is wrong or expired." in wrong.text
    assert SESSION_COOKIE in portal.cookies
    # The TOTP step after the one sign-in used is not yet accepted: a recovery code is.
    form = {"password": PASSWORD, "code": recovery[0]}
    done = submit(portal, "/cabinet/security", "/cabinet/delete-account", **form)
    assert done.status_code == 200 and "Your account is deleted." in done.text


def test_a_cabinet_page_says_so_when_the_api_is_away(tmp_path):
    """Nothing listens at the API's address: the page is a message (503), and the user stays signed in."""
    settings = PortalSettings(api_url=f"http://127.0.0.1:{free_port()}", portal_key=KEY, data_dir=tmp_path)
    with TestClient(create_portal(settings), base_url=PORTAL) as portal:
        portal.cookies.set(
            SESSION_COOKIE, Keys(KEY.encode()).seal({"access": "a", "refresh": "r", "email": "x"})
        )
        page = portal.get("/cabinet")
        assert page.status_code == 503 and "The service is not answering right now" in page.text
        assert "Traceback" not in page.text and SESSION_COOKIE in portal.cookies
