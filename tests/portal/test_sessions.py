"""The security page's sessions: one other browser signed out, or all the others, while this one goes on;
a forged form or someone else's session changes nothing."""

from __future__ import annotations

import re

import jwt
import pyotp

from tests.portal.support import csrf_of, session_of, signed_in
from tests.support.api import PASSWORD, bearer, sign_up, tokens

NEW_PASSWORD = "a brand new passphrase, long"


def _sid(access: str) -> str:
    return jwt.decode(access, options={"verify_signature": False})["sid"]


def test_one_other_session_then_all_the_others_are_signed_out_from_the_security_page(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    phone, laptop = (tokens(api, "ada@example.com") for _ in range(2))
    page = portal.get("/cabinet/security")
    assert page.text.count('action="/cabinet/sessions/end"') == 3  # every session but this browser's

    forged = portal.post(
        "/cabinet/sessions/end", data={"csrf": "0" * 64, "session_id": _sid(phone["access_token"])}
    )
    assert forged.status_code == 403
    assert api.get("/api/v1/me", headers=bearer(phone["access_token"])).status_code == 200

    ended = portal.post(
        "/cabinet/sessions/end", data={"csrf": csrf_of(page), "session_id": _sid(phone["access_token"])}
    )
    assert ended.status_code == 200 and "Signed out: 1." in ended.text
    assert api.get("/api/v1/me", headers=bearer(phone["access_token"])).status_code == 401

    eve = tokens(api, sign_up(api, "eve@example.com", settings) and "eve@example.com")
    not_hers = portal.post(
        "/cabinet/sessions/end", data={"csrf": csrf_of(page), "session_id": _sid(eve["access_token"])}
    )
    assert not_hers.status_code == 400 and "not there any more" in not_hers.text
    assert api.get("/api/v1/me", headers=bearer(eve["access_token"])).status_code == 200
    junk = portal.post("/cabinet/sessions/end", data={"csrf": csrf_of(page), "session_id": "<x>"})
    assert junk.status_code == 400

    others = portal.post("/cabinet/sign-out-others", data={"csrf": csrf_of(page)})
    assert others.status_code == 200 and "Signed out: 2." in others.text  # the laptop and sign-up's own
    assert api.get("/api/v1/me", headers=bearer(laptop["access_token"])).status_code == 401
    assert portal.get("/cabinet").status_code == 200  # this browser goes on


def test_password_change_two_step_sign_in_and_the_login_history_from_the_security_page(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    other = tokens(api, "ada@example.com")
    page = portal.get("/cabinet/security")
    assert "Signed in" in page.text and "Account created" in page.text  # the login history, worded

    wrong = portal.post(
        "/cabinet/password",
        data={
            "csrf": csrf_of(page),
            "current_password": "not-it-at-all",
            "new_password": "a brand new passphrase",
        },
    )
    assert wrong.status_code == 400 and "The current password is wrong." in wrong.text
    changed = portal.post(
        "/cabinet/password",
        data={"csrf": csrf_of(page), "current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200 and "Your password is changed." in changed.text
    assert api.get("/api/v1/me", headers=bearer(other["access_token"])).status_code == 401  # others ended
    assert "Password changed" in portal.get("/cabinet/security").text  # and this one goes on

    setup = portal.post("/cabinet/2fa/setup", data={"csrf": csrf_of(page)})
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', setup.text).group(1)
    assert 'href="otpauth://totp/' in setup.text
    enable = {"csrf": csrf_of(page), "password": NEW_PASSWORD, "secret": secret}
    bad = portal.post("/cabinet/2fa/enable", data={**enable, "code": "000000"})
    assert bad.status_code == 400 and "This code is wrong or expired." in bad.text
    assert secret in bad.text  # the key stays shown for another try
    on = portal.post("/cabinet/2fa/enable", data={**enable, "code": pyotp.TOTP(secret).now()})
    assert on.status_code == 200 and "Two-step sign-in is on." in on.text
    codes = re.search(r'<pre id="recovery-codes">([^<]+)</pre>', on.text).group(1).split()
    assert len(codes) >= 8
    assert api.get("/api/v1/me", headers=bearer(session_of(portal)["access"])).json()["two_factor_enabled"]

    off = portal.post(
        "/cabinet/2fa/disable", data={"csrf": csrf_of(page), "password": NEW_PASSWORD, "code": codes[0]}
    )
    assert off.status_code == 200 and "Two-step sign-in is off." in off.text
    forged = portal.post("/cabinet/2fa/setup", data={"csrf": "0" * 64})
    assert forged.status_code == 403 and "totp-secret" not in forged.text
