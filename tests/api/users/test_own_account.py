"""`PATCH /api/v1/me` (one's profile) and `DELETE /api/v1/me` (one's account, docs/decisions/0047), each
attacked: hostile text, someone else's or a staff token, a stolen or revoked one, two deletions at once and
a client that hangs up."""

from __future__ import annotations

import json
import socket
import threading
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from api.accounts.models import Account
from api.billing.models import LedgerEntry
from api.chats.models import Chat, Message
from api.events.models import UsageEvent
from api.feedback.models import CompletionFeedback
from api.mail.models import EmailMessage
from api.notifications.models import Notification
from api.security.models import SecurityEvent
from tests.support.api import (
    PASSWORD,
    bearer,
    completion_body,
    db_rows,
    db_scalar,
    enrol_two_factor,
    events_of,
    grant_credits,
    next_code,
    sign_up,
    staff_headers,
    tokens,
    wait_for_events,
)

ME = "/api/v1/me"


def _code(response) -> str:
    return response.json()["error"]["code"]


# ---------------------------------------------------------------- PATCH /me


def test_a_profile_change_is_saved_and_logged_without_the_name(client, settings):
    headers = sign_up(client, "ada@example.com")
    changed = client.patch(ME, headers=headers, json={"display_name": "  Ada <b>L</b>  ", "locale": "ru",
                                                     "country": "de"})  # fmt: skip
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["display_name"], body["locale"], body["country"]) == ("Ada <b>L</b>", "ru", "DE")
    assert client.get(ME, headers=headers).json()["display_name"] == "Ada <b>L</b>"  # text, stored verbatim
    [event] = events_of(settings, "user.profile_updated")
    assert event.properties == {
        "changed": ["country", "display_name", "locale"],
        "country": "DE",
        "locale": "ru",
    }
    assert "Ada" not in json.dumps(event.properties)
    log = client.get(f"{ME}/security-events", headers=headers).json()
    assert log[0]["kind"] == "user.profile_updated"

    only_country = client.patch(ME, headers=headers, json={"country": None})
    assert only_country.json()["country"] is None and only_country.json()["locale"] == "ru"  # the rest stays
    cleared = client.patch(ME, headers=headers, json={"display_name": None}).json()
    assert cleared["display_name"] is None
    assert len(events_of(settings, "user.profile_updated")) == 3
    client.patch(ME, headers=headers, json={"locale": "ru"})  # no change: nothing logged
    assert len(events_of(settings, "user.profile_updated")) == 3


def test_after_a_change_of_language_what_is_sent_to_the_account_is_in_the_new_one(client, settings):
    headers = sign_up(client, "ada@example.com", locale="en")
    assert client.patch(ME, headers=headers, json={"locale": "ru"}).status_code == 200
    admin = staff_headers(client, settings, "admin")
    texts = {"en": {"subject": "News", "body": "Hello"}, "ru": {"subject": "Новости", "body": "Привет"}}
    sent = client.post(
        "/api/v1/admin/notifications/broadcasts", headers=admin,
        json={"segment": {}, "channels": ["in_app"], "texts": texts},
    )  # fmt: skip
    assert sent.status_code in (200, 201), sent.text
    inbox = client.get("/api/v1/me/notifications", headers=headers).json()["items"]
    assert [n["body"] for n in inbox if n["broadcast_id"]] == ["Привет"]


HOSTILE_PROFILES = [
    {},
    {"display_name": "x" * 101},
    {"display_name": "   "},
    {"display_name": "bell\x07"},
    {"display_name": "two\nlines"},
    {"display_name": "nul\x00"},
    {"display_name": "right\u202eto-left"},
    {"display_name": "zero\u200bwidth"},
    {"display_name": 42},
    {"locale": "de"},
    {"locale": None},
    {"country": "DEU"},
    {"country": "1A"},
    {"country": "Ü"},
    {"email": "other@example.com"},
    {"role": "admin"},
    {"plan_code": "pro"},
    ["display_name"],
]


def test_hostile_or_malformed_profile_input_is_a_422_with_the_stable_code(client):
    headers = sign_up(client, "mallory@example.com")
    before = client.get(ME, headers=headers).json()
    for body in HOSTILE_PROFILES:
        refused = client.patch(ME, headers=headers, json=body)
        assert (refused.status_code, _code(refused)) == (422, "validation_error"), (body, refused.text)
    not_json = client.patch(
        ME, headers={**headers, "Content-Type": "application/json"}, content=b'{"locale":'
    )
    assert not_json.status_code == 400 and _code(not_json) == "invalid_json"
    huge = client.patch(ME, headers=headers, json={"display_name": "x" * 3_000_000})
    assert huge.status_code == 413 and _code(huge) == "body_too_large"
    assert client.get(ME, headers=headers).json() == before


def test_a_profile_change_needs_a_live_token_of_the_account_itself(client, settings):
    headers = sign_up(client, "ada@example.com")
    assert client.patch(ME, json={"locale": "ru"}).status_code == 401
    assert client.patch(ME, headers=bearer("forged"), json={"locale": "ru"}).status_code == 401
    client.post("/api/v1/auth/logout", headers=headers)
    assert _code(client.patch(ME, headers=headers, json={"locale": "ru"})) == "not_authenticated"
    # A staff member changes their own profile only: nothing here names another account.
    staff = staff_headers(client, settings, "moderator")
    assert (
        client.patch(ME, headers=staff, json={"display_name": "Mod"}).json()["email"]
        == "moderator@example.com"
    )


# ---------------------------------------------------------------- DELETE /me


def _delete(client, headers, **body):
    return client.request("DELETE", ME, headers=headers, json={"password": PASSWORD, **body})


def _chatted(client, headers) -> str:
    body = {**completion_body(content="my secret diary"), "metadata": {"chat_id": str(uuid.uuid4())}}
    answer = client.post("/v1/chat/completions", headers=headers, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


@pytest.mark.both_databases  # the deletes, the rewritten addresses and the revocation on the fast lane
def test_deletion_erases_personal_data_keeps_the_books_and_ends_every_way_in(client, settings):
    bystander = sign_up(client, "stays@example.com")
    _chatted(client, bystander)
    headers = sign_up(client, "gone@example.com")
    pair = tokens(client, "gone@example.com")  # a second session, on another device
    key = client.post(f"{ME}/api-keys", headers=headers, json={"name": "laptop"}).json()["key"]
    grant_credits(settings, "gone@example.com", 5)
    client.patch(ME, headers=headers, json={"display_name": "Gone", "country": "FR"})
    scored = _chatted(client, headers)
    feedback = {"rating": "down", "comment": "my secret opinion"}
    assert client.post(f"/v1/chat/completions/{scored}/feedback", headers=headers, json=feedback).is_success
    account_id = uuid.UUID(client.get(ME, headers=headers).json()["id"])

    assert _code(_delete(client, headers, password="wrong-password")) == "invalid_password"
    assert client.get(ME, headers=headers).status_code == 200  # a wrong password changes nothing
    events_before = db_scalar(settings, select(func.count()).where(UsageEvent.user_id == account_id))
    deleted = _delete(client, headers)
    assert deleted.status_code == 204, deleted.text

    # Erased: email, name, country, chats and messages, the address in the mail and security logs.
    row = db_scalar(
        settings, select(Account).where(Account.id == account_id).with_only_columns(Account.email)
    )
    assert row == f"deleted-{account_id.hex}@deleted.invalid"
    for column in (Account.display_name, Account.country):
        assert db_scalar(settings, select(column).where(Account.id == account_id)) is None
    assert db_scalar(settings, select(func.count()).where(Chat.account_id == account_id)) == 0
    assert (
        db_scalar(settings, select(func.count()).select_from(Message)) == 2
    )  # the bystander's question, answer
    assert len(client.get("/api/v1/chats", headers=bystander).json()) == 1  # someone else's: untouched
    # The comment on a completion goes; the score stays, as its event does.
    [kept] = db_rows(settings, CompletionFeedback, CompletionFeedback.account_id == account_id)
    assert (kept.rating, kept.comment) == ("down", None)
    for column in (EmailMessage.to_address, SecurityEvent.email):
        assert db_scalar(settings, select(func.count()).where(column == "gone@example.com")) == 0
    welcome = select(func.count()).where(Notification.body.contains("gone@example.com"))
    assert db_scalar(settings, welcome) == 0  # the welcome quoted the address

    # No way in: the access token, the refresh token, the API key, the password.
    assert _code(client.get(ME, headers=headers)) == "not_authenticated"
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    )
    assert client.get("/v1/models", headers=bearer(key)).status_code == 401
    signed_in = client.post("/api/v1/auth/login", json={"email": "gone@example.com", "password": PASSWORD})
    assert _code(signed_in) == "invalid_credentials"

    # Kept: every usage event under the account's id (one more: user.deleted), the ledger, the security log.
    assert (
        db_scalar(settings, select(func.count()).where(UsageEvent.user_id == account_id)) == events_before + 1
    )
    [gone] = events_of(settings, "user.deleted")
    assert gone.user_id == account_id and gone.properties["sessions_revoked"] >= 2
    assert gone.properties["api_keys_revoked"] == 1 and gone.properties["chats_erased"] == 1
    assert db_scalar(settings, select(func.count()).where(LedgerEntry.account_id == account_id)) >= 1
    assert db_scalar(settings, select(func.count()).where(SecurityEvent.account_id == account_id)) > 0

    # The address is free again: a new account, with nothing of the old one.
    again = sign_up(client, "gone@example.com")
    fresh = client.get(ME, headers=again).json()
    assert fresh["id"] != str(account_id) and fresh["display_name"] is None
    assert client.get("/api/v1/chats", headers=again).json() == []


def test_deletion_needs_the_password_and_the_second_factor_when_it_is_on(client):
    headers = sign_up(client, "careful@example.com")
    totp, _ = enrol_two_factor(client, headers)
    assert client.request("DELETE", ME, headers=headers, json={}).status_code == 422  # no password
    assert _code(client.request("DELETE", ME, headers=headers)) == "validation_error"  # no body at all
    assert _code(_delete(client, headers)) == "otp_required"  # a stolen access token and password
    assert _code(_delete(client, headers, code="000000")) == "invalid_otp"
    assert _code(_delete(client, headers, password="x" * 10_000)) == "validation_error"
    assert _delete(client, headers, code=next_code(totp)).status_code == 204


def test_a_staff_account_is_not_deleted_from_here(client, settings):
    staff = staff_headers(client, settings, "admin")
    refused = _delete(client, staff)
    assert refused.status_code == 403 and _code(refused) == "staff_account_not_deletable"
    assert client.get(ME, headers=staff).status_code == 200


@pytest.mark.both_databases  # the row lock that queues the second deletion behind the first
def test_two_deletions_at_once_delete_once_and_the_second_is_told_the_credentials_ended(
    live_server, settings
):
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        headers = sign_up(http, "twice@example.com", settings)
        statuses: list[int] = []
        start = threading.Barrier(2)

        def delete() -> None:
            start.wait()
            statuses.append(_delete(http, headers).status_code)

        threads = [threading.Thread(target=delete) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [204, 401]
    assert len(events_of(settings, "user.deleted")) == 1


def test_a_client_that_hangs_up_mid_deletion_leaves_the_account_deleted_whole_or_not_at_all(
    live_server, settings
):
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        headers = sign_up(http, "hangup@example.com", settings)
        _chatted(http, headers)
    body = json.dumps({"password": PASSWORD}).encode()
    request = (
        f"DELETE {ME} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {headers['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", live_server.port)) as raw:
        raw.sendall(request)  # and hang up at once, without reading the answer
    [gone] = wait_for_events(settings, "user.deleted")
    assert db_scalar(settings, select(func.count()).select_from(Chat)) == 0
    assert db_scalar(settings, select(Account.email).where(Account.id == gone.user_id)).endswith(
        "@deleted.invalid"
    )
    with httpx.Client(base_url=live_server.url) as http:
        assert http.get(ME, headers=headers).status_code == 401


def test_an_admin_acting_as_the_user_can_neither_change_nor_delete_the_account(client, settings):
    ada = sign_up(client, "ada@example.com")
    admin = staff_headers(client, settings, "admin")
    ada_id = client.get(ME, headers=ada).json()["id"]
    granted = client.post(
        f"/api/v1/admin/users/{ada_id}/impersonate", json={"reason": "ticket"}, headers=admin
    )
    as_ada = bearer(granted.json()["access_token"])
    assert _code(client.patch(ME, headers=as_ada, json={"locale": "ru"})) == "impersonation_read_only"
    assert _code(_delete(client, as_ada)) == "impersonation_read_only"  # even with the user's password
    assert client.get(ME, headers=ada).json()["locale"] == "en"


def test_staff_cannot_change_or_impersonate_a_deleted_account_but_still_see_it(client, settings):
    headers = sign_up(client, "gone@example.com")
    account_id = client.get(ME, headers=headers).json()["id"]
    assert _delete(client, headers).status_code == 204
    admin = staff_headers(client, settings, "admin")
    base = f"/api/v1/admin/users/{account_id}"
    reason = {"reason": "testing the tombstone"}
    for path, body in [
        ("/block", reason),
        ("/unblock", reason),
        ("/plan", {**reason, "plan": "pro"}),
        ("/balance", {**reason, "amount": "5"}),
        ("/impersonate", reason),
    ]:
        refused = client.post(base + path, headers=admin, json=body)
        assert refused.status_code == 409 and _code(refused) == "account_deleted", (path, refused.text)
    bulk = client.post(
        "/api/v1/admin/users/bulk",
        headers=admin,
        json={**reason, "action": "block", "user_ids": [account_id]},
    )
    assert bulk.status_code == 409 and _code(bulk) == "account_deleted", bulk.text
    assert client.get(base, headers=admin).status_code == 200  # the record stays readable
