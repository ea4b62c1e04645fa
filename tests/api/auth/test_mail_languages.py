"""The account mails are in the recipient's language (en or ru) and their links lead to portal pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from api.auth.mails import text
from api.main import create_app
from tests.support.api import delivered, mails, register, sign_up

PORTAL = "http://portal.test"


@pytest.fixture
def portal_settings(settings):
    """The API's settings with the portal at its own address (AIADMIN_APP_URL): mail links lead there."""
    return settings.model_copy(update={"app_url": PORTAL})


@pytest.fixture
def api(portal_settings) -> Iterator[TestClient]:
    with TestClient(create_app(portal_settings)) as client:
        yield client


def newest(settings, to: str, kind: str) -> tuple[str, str]:
    """(subject, body) of the newest `kind` mail to `to`: from the outbox, or the mailbox once delivered."""
    found = mails(settings, to, kind)
    assert found, f"no {kind} mail to {to}"
    mail = found[-1]
    return mail.subject, mail.body or delivered(to, mail.subject)[-1].body


def forgot(client: TestClient, email: str) -> None:
    assert client.post("/api/v1/auth/forgot-password", json={"email": email}).status_code == 202


def test_the_confirmation_mail_is_in_the_language_of_the_sign_up_and_links_to_the_portal(
    api, portal_settings
):
    register(api, "ivan@example.com", locale="ru")
    subject, body = newest(portal_settings, "ivan@example.com", "confirm_email")
    assert subject == "Подтвердите адрес почты"
    assert f"{PORTAL}/confirm-email?token=" in body and "действует 48 часов" in body

    headers = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"}  # no locale in the body: the browser's
    olga = {"email": "olga@example.com", "password": "a long passphrase"}
    assert api.post("/api/v1/auth/register", headers=headers, json=olga).status_code == 202
    assert newest(portal_settings, "olga@example.com", "confirm_email")[0] == "Подтвердите адрес почты"

    register(api, "ada@example.com", locale="en")
    subject, body = newest(portal_settings, "ada@example.com", "confirm_email")
    assert subject == "Confirm your email"
    assert f"{PORTAL}/confirm-email?token=" in body and "expires in 48 hours" in body
    assert "Подтвердите" not in body


def test_a_reset_mail_is_in_the_account_language_at_the_time_it_is_sent(api, portal_settings):
    sign_up(api, "ivan@example.com", portal_settings, locale="ru")
    forgot(api, "ivan@example.com")
    subject, body = newest(portal_settings, "ivan@example.com", "reset_password")
    assert subject == "Сброс пароля"
    assert f"{PORTAL}/reset-password?token=" in body and "действует 30 минут" in body

    headers = sign_up(api, "ada@example.com", portal_settings, locale="en")
    forgot(api, "ada@example.com")
    assert newest(portal_settings, "ada@example.com", "reset_password")[0] == "Reset your password"
    assert api.patch("/api/v1/me", headers=headers, json={"locale": "ru"}).status_code == 200
    forgot(api, "ada@example.com")
    subject, body = newest(portal_settings, "ada@example.com", "reset_password")
    assert subject == "Сброс пароля" and f"{PORTAL}/reset-password?token=" in body


def test_the_note_about_a_taken_address_is_in_its_owner_language_and_links_to_sign_in(api, portal_settings):
    register(api, "ivan@example.com", locale="ru")
    register(api, "ivan@example.com", locale="en")  # someone else, in English, with Ivan's address
    subject, body = newest(portal_settings, "ivan@example.com", "account_exists")
    assert subject == "Кто-то пытался зарегистрироваться с вашим адресом"
    assert f"{PORTAL}/sign-in" in body


def test_without_a_portal_the_links_are_the_api_own(client, settings):
    register(client, "ivan@example.com", locale="ru")
    _, body = newest(settings, "ivan@example.com", "confirm_email")
    assert f"{settings.public_url}/api/v1/auth/confirm-email?token=" in body
    register(client, "ivan@example.com")
    _, body = newest(settings, "ivan@example.com", "account_exists")
    assert f"{settings.public_url}\n" in body and "/sign-in" not in body


@pytest.mark.parametrize(
    ("lifetime", "ru", "en"),
    [
        (timedelta(minutes=1), "1 минуту", "1 minute"),
        (timedelta(minutes=5), "5 минут", "5 minutes"),
        (timedelta(minutes=11), "11 минут", "11 minutes"),
        (timedelta(minutes=22), "22 минуты", "22 minutes"),
        (timedelta(minutes=21), "21 минуту", "21 minutes"),
        (timedelta(hours=24), "24 часа", "24 hours"),
        (timedelta(hours=48), "48 часов", "48 hours"),
        (timedelta(hours=21), "21 час", "21 hours"),
    ],
)
def test_a_link_lifetime_reads_right_in_both_languages(lifetime, ru, en):
    assert text("reset_password", "ru", link="x", lifetime=lifetime)[1].endswith(f"действует {ru}.")
    assert text("reset_password", "en", link="x", lifetime=lifetime)[1].endswith(f"expires in {en}.")
    assert text("reset_password", "de", link="x", lifetime=lifetime)[0] == "Reset your password"  # English
