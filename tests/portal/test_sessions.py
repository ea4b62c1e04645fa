"""The security page's sessions: one other browser signed out, or all the others, while this one goes on;
a forged form or someone else's session changes nothing."""

from __future__ import annotations

import jwt

from tests.portal.support import csrf_of, signed_in
from tests.support.api import bearer, sign_up, tokens


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
