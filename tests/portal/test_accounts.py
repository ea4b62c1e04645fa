"""The portal's landing and account pages against the real API (a live uvicorn): sign up, confirm from the
mailed link, sign in (with a second factor), sign out, forgot and reset password, resend confirmation;
the CSRF check; API refusals as messages; hostile text escaped. Chromium and axe come in a later slice."""

from __future__ import annotations

import re
import time

import pytest

from portal.i18n import catalogue
from portal.session import SESSION_COOKIE, Keys
from portal.settings import PortalSettings
from tests.portal.support import KEY, PORTAL, csrf_of, submit
from tests.support.api import (
    PASSWORD,
    bearer,
    delivered,
    enrol_two_factor,
    login,
    mails,
    next_code,
    register,
    sign_up,
)


def mails_of(settings, to: str, kind: str, count: int = 1) -> list:
    """The `kind` mails to `to`, once there are `count` of them: the API writes a requested link after its
    answer (no enumeration by timing), so the mail lands a moment after the page."""
    deadline = time.monotonic() + 10
    while len(found := mails(settings, to, kind)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def mailed_link(settings, to: str, kind: str, count: int = 1) -> str:
    """The link of the newest `kind` mail delivered to `to`: it must lead to a portal page."""
    mail = mails_of(settings, to, kind, count)[-1]
    body = mail.body or delivered(to, mail.subject)[-1].body
    match = re.search(r"(\S+token=[A-Za-z0-9_-]+)", body)
    assert match, body
    assert match.group(1).startswith(f"{PORTAL}/"), match.group(1)
    return match.group(1).removeprefix(PORTAL)


def test_a_user_signs_up_confirms_from_the_mail_signs_in_and_signs_out(world):
    portal, api, settings = world
    landing = portal.get("/")
    assert (
        landing.status_code == 200 and 'href="/sign-up"' in landing.text and 'href="/sign-in"' in landing.text
    )

    signed_up = submit(portal, "/sign-up", email="ada@example.com", password=PASSWORD)
    assert signed_up.status_code == 200 and "Check your mail" in signed_up.text

    unconfirmed = submit(portal, "/sign-in", email="ada@example.com", password=PASSWORD)
    assert unconfirmed.status_code == 400 and "Confirm your email first" in unconfirmed.text

    link = mailed_link(settings, "ada@example.com", "confirm_email")
    assert link.startswith("/confirm-email?token=")
    token = link.split("token=", 1)[1]
    opened = portal.get(link)  # opening the link (as a mail scanner does) spends nothing
    assert opened.status_code == 200 and f'name="token" value="{token}"' in opened.text
    confirmed = submit(portal, link, "/confirm-email", token=token)
    assert confirmed.status_code == 200 and "Your email is confirmed" in confirmed.text
    assert confirmed.headers["content-type"].startswith("text/html")
    again = submit(portal, link, "/confirm-email", token=token)  # the link works once: the page says so
    assert again.status_code == 400 and "invalid, already used or expired" in again.text
    assert "This link did not work" in again.text

    refused = submit(portal, "/sign-in", email="ada@example.com", password="not-the-password")
    assert refused.status_code == 400 and "Wrong email or password." in refused.text
    signed_in = submit(portal, "/sign-in", email="ada@example.com", password=PASSWORD)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/cabinet"
    cookie = next(c for c in signed_in.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # http here
    session = Keys(KEY.encode()).open(portal.cookies[SESSION_COOKIE])
    assert session["access"] not in cookie  # sealed, not readable in the cookie
    assert api.get("/api/v1/me", headers=bearer(session["access"])).status_code == 200
    home = portal.get("/")
    assert "You are signed in as ada@example.com." in home.text

    token = csrf_of(home)
    signed_out = portal.post("/sign-out", data={"csrf": token})
    assert signed_out.status_code == 200 and "You are signed out." in signed_out.text
    assert SESSION_COOKIE not in portal.cookies
    assert (
        api.get("/api/v1/me", headers=bearer(session["access"])).status_code == 401
    )  # the API session ended


def test_pages_speak_russian_when_asked_and_the_choice_sticks(world):
    portal, _, _ = world
    assert 'lang="ru"' in portal.get("/", headers={"Accept-Language": "ru-RU,ru;q=0.9"}).text
    chosen = portal.get("/sign-in?lang=ru")
    assert "Вход" in chosen.text and 'for="email">Эл. почта</label>' in chosen.text
    refused = submit(portal, "/sign-in", email="nobody@example.com", password="whatever-it-is")
    assert "Неверная почта или пароль." in refused.text


def test_sign_in_asks_for_the_second_factor_when_the_api_does(world):
    portal, api, _ = world
    headers = sign_up(api, "bo@example.com", world[2])
    totp, _ = enrol_two_factor(api, headers)
    asked = submit(portal, "/sign-in", email="bo@example.com", password=PASSWORD)
    assert asked.status_code == 400 and 'name="otp"' in asked.text and 'for="otp"' in asked.text
    wrong = submit(portal, "/sign-in", email="bo@example.com", password=PASSWORD, otp="000000")
    assert 'name="otp"' in wrong.text and "This code is wrong or expired." in wrong.text
    signed_in = submit(portal, "/sign-in", email="bo@example.com", password=PASSWORD, otp=next_code(totp))
    assert signed_in.status_code == 303, signed_in.text


def test_forgot_and_reset_password_through_the_mailed_link(world):
    portal, api, settings = world
    sign_up(api, "cy@example.com", settings)
    sent = submit(portal, "/forgot-password", email="cy@example.com")
    assert sent.status_code == 200 and "a reset link is on its way" in sent.text

    link = mailed_link(settings, "cy@example.com", "reset_password")
    assert link.startswith("/reset-password?token=")
    page = portal.get(link)
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    assert link.endswith(token)
    weak = portal.post(
        link.split("?")[0], data={"csrf": csrf_of(page), "token": token, "new_password": "password123"}
    )
    assert weak.status_code == 400 and "too easy to guess" in weak.text
    done = portal.post(
        "/reset-password",
        data={"csrf": csrf_of(page), "token": token, "new_password": "a-new-long-secret-phrase"},
    )
    assert done.status_code == 200 and "Your password is changed" in done.text
    login(api, "cy@example.com", "a-new-long-secret-phrase")
    used = portal.post(
        "/reset-password",
        data={"csrf": csrf_of(page), "token": token, "new_password": "another-long-phrase-9"},
    )
    assert used.status_code == 400 and "invalid, already used or expired" in used.text


def test_resend_confirmation_sends_a_new_link_and_shows_the_throttle_with_its_wait(world):
    portal, api, settings = world
    register(api, "di@example.com")  # a mail request of this address (the limit is 5 per address)
    for _ in range(4):
        resent = submit(portal, "/resend-confirmation", email="di@example.com")
        assert resent.status_code == 200 and "a new link is on its way" in resent.text
    assert len(mails_of(settings, "di@example.com", "confirm_email", 5)) == 5
    throttled = submit(portal, "/resend-confirmation", email="di@example.com")
    assert throttled.status_code == 400
    assert re.search(r"Too many requests\. Try again in \d+ seconds\.", throttled.text), throttled.text
    assert portal.get(mailed_link(settings, "di@example.com", "confirm_email", 5)).status_code == 200


def test_a_form_without_its_csrf_token_or_from_another_site_is_refused(world):
    portal, _, settings = world
    portal.get("/sign-up")  # the CSRF cookie is set
    missing = portal.post("/sign-up", data={"email": "eve@example.com", "password": PASSWORD})
    assert missing.status_code == 403 and "came from another site" in missing.text
    forged = portal.post(
        "/sign-up", data={"csrf": "0" * 64, "email": "eve@example.com", "password": PASSWORD}
    )
    assert forged.status_code == 403
    token = csrf_of(portal.get("/sign-up"))
    elsewhere = portal.post(
        "/sign-up",
        data={"csrf": token, "email": "eve@example.com", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    portal.cookies.clear()  # another browser: the token is bound to the nonce of the cookie it came with
    assert (
        portal.post(
            "/sign-up", data={"csrf": token, "email": "eve@example.com", "password": PASSWORD}
        ).status_code
        == 403
    )
    assert mails(settings, "eve@example.com") == []  # nothing reached the API
    accepted = portal.post(
        "/sign-up",
        data={"csrf": csrf_of(portal.get("/sign-up")), "email": "eve@example.com", "password": PASSWORD},
        headers={"Origin": PORTAL},
    )
    assert accepted.status_code == 200


def test_hostile_text_is_shown_escaped_and_a_refusal_is_a_page_not_a_traceback(world):
    portal, _, _ = world
    hostile = '"><script>alert(1)</script>@example.com'
    page = submit(portal, "/sign-up", email=hostile, password=PASSWORD)
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "Please check the form" in page.text and "Traceback" not in page.text
    bad_link = submit(portal, "/confirm-email?token=<b>nope</b>", "/confirm-email", token="<b>nope</b>")
    assert bad_link.status_code == 400 and "<b>nope" not in bad_link.text


def test_the_catalogues_hold_the_same_keys_and_placeholders():
    en, ru = catalogue("en"), catalogue("ru")
    assert en.keys() == ru.keys()
    for key in en:
        assert set(re.findall(r"{(\w+)}", en[key])) == set(re.findall(r"{(\w+)}", ru[key])), key


def test_portal_processes_of_one_data_directory_share_a_generated_key(tmp_path):
    """No AIADMIN_PORTAL_KEY: the first process makes one (0600) and every other reads it, so a cookie one
    process sealed opens in another."""
    first, second = (PortalSettings(portal_key=None, data_dir=tmp_path).key() for _ in range(2))
    assert first == second and len(first) >= 32
    assert (tmp_path / "portal_key").stat().st_mode & 0o777 == 0o600
    sealed = Keys(first).seal({"email": "ada@example.com"})
    assert Keys(second).open(sealed) == {"email": "ada@example.com"}
    assert Keys(b"another key").open(sealed) is None


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_page_is_self_contained_and_labels_every_field(world, lang):
    """No script, no stylesheet or font fetched from anywhere; a phone viewport; dark and light; each visible
    field named by a label. (The axe-core check in Chromium is a later slice.)"""
    portal, _, _ = world
    pages = ["/", "/sign-up", "/check-mail", "/sign-in", "/forgot-password", "/reset-password?token=x"]
    for path in [*pages, "/resend-confirmation"]:
        html = portal.get(path, params={"lang": lang}).text
        assert f'<html lang="{lang}">' in html
        assert "<script" not in html and "<link" not in html and "@import" not in html and "url(" not in html
        assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
        assert "prefers-color-scheme: dark" in html
        for field in re.findall(r"<input [^>]*>", html):
            if 'type="hidden"' in field:
                continue
            (field_id,) = re.findall(r'id="([^"]+)"', field)
            assert f'<label for="{field_id}">' in html, (path, field)
