"""The cabinet's notifications: staff's message in the user's inbox, in their language, escaped; marked
read one by one or all at once; someone else's id or a forged form changes nothing."""

from __future__ import annotations

import re

from tests.portal.support import csrf_of, signed_in
from tests.support.api import staff_headers

TEXTS = {"en": {"subject": "<b>News</b> for {plan} users", "body": "Hello {email}"}}


def test_staff_messages_reach_the_inbox_and_are_marked_read(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    admin = staff_headers(api, settings, "admin")
    for _ in range(2):
        sent = api.post(
            "/api/v1/admin/notifications/broadcasts",
            headers=admin,
            json={"segment": {}, "channels": ["in_app"], "texts": TEXTS},
        )
        assert sent.status_code == 201, sent.text
    page = portal.get("/cabinet/notifications")
    assert page.status_code == 200 and "Unread: 3." in page.text  # the welcome and the two messages
    assert "&lt;b&gt;News&lt;/b&gt; for free users" in page.text and "Hello ada@example.com" in page.text

    first = re.search(r'name="notification_id" value="(\d+)"', page.text).group(1)
    assert (
        portal.post(
            "/cabinet/notifications/read", data={"csrf": "0" * 64, "notification_id": first}
        ).status_code
        == 403
    )
    one = portal.post("/cabinet/notifications/read", data={"csrf": csrf_of(page), "notification_id": first})
    assert one.status_code == 200 and "Unread: 2." in one.text
    junk = portal.post(
        "/cabinet/notifications/read", data={"csrf": csrf_of(page), "notification_id": "1 or 1=1"}
    )
    assert junk.status_code == 400 and "Unread: 2." in junk.text
    everything = portal.post("/cabinet/notifications/read", data={"csrf": csrf_of(page)})
    assert everything.status_code == 200 and "Unread: 0." in everything.text
    assert "Уведомлений пока нет." not in portal.get("/cabinet/notifications?lang=ru").text
