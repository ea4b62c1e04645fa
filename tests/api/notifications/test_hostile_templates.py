"""Notification templates written by a hostile or careless staff member: no attribute reached, no padding to
megabytes, no text longer than its column; refused where written, harmless if stored before the check."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from api.notifications.models import NotificationRule
from api.notifications.templates import MAX_BODY, MAX_SUBJECT
from tests.support.api import db_execute, delivered, mails, register, sign_up, staff_headers

ADMIN = "/api/v1/admin/notifications"
INBOX = "/api/v1/me/notifications"
HOSTILE = [
    "{email.__class__.__mro__}",  # str.format walks attributes: a way to the interpreter's objects
    "{email.__class__.__init__.__globals__}",
    "{email[0]}",  # and items
    "{email:>99999999}",  # a format spec pads: 100 MB per recipient
    "{email:{plan}}",  # nested specs
    "{email!r}",  # conversions
    "{0}",  # positional fields
    "{}",
    "Hello {",  # a lone brace
    "Hello }",
]


def _welcome(client, admin, subject: str, body: str):
    return client.put(
        f"{ADMIN}/rules/welcome", headers=admin, json={"texts": {"en": {"subject": subject, "body": body}}}
    )


def _broadcast(client, admin, subject: str, body: str):
    texts = {"en": {"subject": subject, "body": body}}
    return client.post(
        f"{ADMIN}/broadcasts", headers=admin, json={"segment": {}, "channels": ["in_app"], "texts": texts}
    )


@pytest.mark.parametrize("template", HOSTILE)
def test_markup_beyond_name_placeholders_is_refused_where_staff_write_it(client, settings, template):
    sign_up(client, "ada@example.com")
    admin = staff_headers(client, settings, "admin")
    before = client.get(f"{ADMIN}/rules", headers=admin).json()
    for part in ("subject", "body"):
        texts = {"subject": "Hi", "body": "Hello", part: template}
        for write in (_welcome, _broadcast):
            refused = write(client, admin, texts["subject"], texts["body"])
            assert refused.status_code == 422, (write.__name__, part, refused.text)
            assert refused.json()["error"]["code"] == "bad_template"
    assert client.get(f"{ADMIN}/rules", headers=admin).json() == before
    assert client.get(f"{ADMIN}/broadcasts", headers=admin).json() == []


def test_a_body_that_could_render_to_a_megabyte_is_refused(client, settings):
    """20,000 characters of {email}: 2,857 addresses of up to 320 characters, 914 kB per recipient."""
    sign_up(client, "ada@example.com")
    admin = staff_headers(client, settings, "admin")
    flood = "{email}" * 2857
    for write in (_welcome, _broadcast):
        refused = write(client, admin, "Hi", flood)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "template_too_long"
    fits = "{email} " * (MAX_BODY // 330)
    assert _welcome(client, admin, "Hi", fits).status_code == 200
    assert _broadcast(client, admin, "Hi", fits).status_code == 201


def test_placeholders_and_escaped_braces_still_render(client, settings):
    admin = staff_headers(client, settings, "admin")
    assert _welcome(client, admin, "Hi {email}", "{{plan}} is {plan}, go to {app_url}").status_code == 200
    ada = sign_up(client, "ada@example.com")
    (welcome,) = client.get(INBOX, headers=ada).json()["items"]
    assert welcome["subject"] == "Hi ada@example.com"
    assert welcome["body"] == f"{{plan}} is free, go to {settings.app_url}"


def test_a_hostile_template_stored_before_the_check_renders_as_written(client, settings):
    """A rule saved by an earlier version (or straight in the database) is rendered, never interpreted."""
    hostile = "{email.__class__} {email!r} {email:>100000} {plan}"
    stored = {"en": {"subject": "{email:>5000}", "body": hostile}}
    welcome = NotificationRule.code == "welcome"
    db_execute(settings, update(NotificationRule).where(welcome).values(templates=stored))
    register(client, "ada@example.com")
    (mail,) = mails(settings, "ada@example.com", "notification")
    (sent,) = delivered("ada@example.com", mail.subject)
    assert mail.subject == "{email:>5000}"
    assert sent.body == "{email.__class__} {email!r} {email:>100000} free"


@pytest.mark.both_databases  # PostgreSQL refuses a subject longer than its varchar(300)
def test_a_subject_that_fills_in_longer_than_its_column_is_cut_not_a_500(client, settings):
    admin = staff_headers(client, settings, "admin")
    long_subject = "{email}" * 40  # 280 characters written, 40 addresses once filled in
    assert _welcome(client, admin, long_subject, "Hello").status_code == 200
    ada = sign_up(client, "ada@example.com")  # the welcome notification is written in the sign-up
    assert _broadcast(client, admin, long_subject, "News").status_code == 201
    subjects = [n["subject"] for n in client.get(INBOX, headers=ada).json()["items"]]
    assert len(subjects) == 2 and all(s == ("ada@example.com" * 40)[:MAX_SUBJECT] for s in subjects)
