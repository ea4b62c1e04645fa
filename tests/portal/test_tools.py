"""The portal's tools and history against the real API (a live uvicorn, the offline mock provider): the
editor with its diff, the generator, the chat that keeps its conversation, the streamed answer, every
refusal worded with where to fix it (the day's quota with its reset time, a model of another plan with the
plan that has it, the balance with the top-up), the history (search, one chat, export, rename, delete);
CSRF, another user's chat and hostile text."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import httpx
from sqlalchemy import update

from api.accounts.models import Account
from tests.portal.support import csrf_of, portal_world, session_of, signed_in
from tests.portal.test_cabinet import expired, put_session
from tests.support.api import LiveServer, db_execute, staff_headers, wait_for_events

HOSTILE = '<script>alert(1)</script> & "quotes"'


def use(portal, path: str, action: str | None = None, **fields: str):
    """The tool's form (on page `path`) filled in and posted as a browser without JavaScript does."""
    page = portal.get(path)
    assert page.status_code == 200, page.text
    chat_id = re.search(r'name="chat_id" value="([0-9a-f-]+)"', page.text).group(1)
    data = {"csrf": csrf_of(page), "chat_id": chat_id, **fields}
    return portal.post(action or path, data=data, follow_redirects=False)


def events(response) -> list[tuple[str, str]]:
    """The portal's server-sent events: (name, the JSON string it carries)."""
    found = re.findall(r"^event: (\w+)\ndata: (.*)$", response.text, re.M)
    return [(name, json.loads(data)) for name, data in found]


def stream(portal, tool: str, path: str, **fields: str):
    page = portal.get(path)
    chat_id = re.search(r'name="chat_id" value="([0-9a-f-]+)"', page.text).group(1)
    data = {"csrf": csrf_of(page), "chat_id": chat_id, "tool": tool, **fields}
    return portal.post("/tools/stream", data=data), chat_id


def test_the_editor_answers_with_a_diff_counts_the_day_and_keeps_it_in_the_history(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    page = portal.get("/tools/editor")
    assert {"Paraphrase", "Fix grammar", "Shorten"} <= set(
        re.findall(r'<option value="[^"]+">([^<]+)<', page.text)
    )
    assert "0 of 3" in page.text  # the free plan's three requests a day

    answered = use(portal, "/tools/editor", text="The cat sat on teh mat.", role="fix-grammar")
    assert answered.status_code == 200, answered.text
    assert 'id="result"' in answered.text and "<ins>" in answered.text  # the diff against the text
    assert "1 of 3" in answered.text

    listed = portal.get("/history")
    assert "The cat sat on teh mat." in listed.text and "Fix grammar" in listed.text
    chat_id = re.search(r'href="/history/([0-9a-f-]{36})"', listed.text).group(1)
    one = portal.get(f"/history/{chat_id}")
    assert one.status_code == 200 and one.text.count('class="msg ') == 2  # the text and the answer


def test_the_day_s_quota_is_a_clear_refusal_with_its_reset_time_and_the_plans(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    for n in range(3):
        assert use(portal, "/tools/prompts", text=f"a poem {n}", role="prompt-creative").status_code == 200
    refused = use(portal, "/tools/prompts", text="one more", role="prompt-creative")
    assert refused.status_code == 400
    assert re.search(r"all 3 requests of today\. More from \d{4}-\d\d-\d\d 00:00 UTC", refused.text), (
        refused.text
    )
    assert 'href="/cabinet/plans"' in refused.text
    assert "one more" in refused.text  # the text is kept in the form, not lost


def test_a_model_of_another_plan_names_the_plan_and_a_low_balance_points_to_the_top_up(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    page = portal.get("/tools/editor")
    assert re.search(r'<option value="mock-large">[^<]*in Pro<', page.text)  # offered, named with its plan
    refused = use(portal, "/tools/editor", text="hello there", role="paraphrase", model="mock-large")
    assert refused.status_code == 400 and "Plans that have it: Pro" in refused.text

    db_execute(settings, update(Account).where(Account.email == "ada@example.com").values(plan_code="pro"))
    poor = use(portal, "/tools/editor", text="hello there", role="paraphrase", model="mock-large")
    assert poor.status_code == 400 and "balance is too low" in poor.text
    assert 'href="/cabinet/balance"' in poor.text


def test_a_streamed_answer_arrives_in_pieces_then_the_fragment_and_the_chat_keeps_the_conversation(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    answered, chat_id = stream(
        portal, "chat", "/tools/chat", text="Tell me about the sea", model="mock-small"
    )
    assert answered.status_code == 200 and answered.headers["content-type"].startswith("text/event-stream")
    got = events(answered)
    deltas = [data for name, data in got if name == "delta"]
    assert len(deltas) > 1 and got[-1][0] == "done"
    assert "".join(deltas) in got[-1][1]  # the fragment holds the whole answer
    assert "1 of 3" in got[-1][1]  # and the day's count, for the page to show

    follow = use(
        portal, f"/tools/chat/{chat_id}", "/tools/chat", text="And about the mountains?", model="mock-small"
    )
    assert follow.status_code == 303 and follow.headers["location"] == f"/tools/chat/{chat_id}"
    page = portal.get(f"/tools/chat/{chat_id}")
    assert page.text.count('class="msg ') == 4 and "Tell me about the sea" in page.text
    assert use(portal, "/tools/editor", text="Fix this text", role="fix-grammar").status_code == 200
    listed = re.findall(r'<a href="/tools/chat/([0-9a-f-]{36})"', portal.get("/tools/chat").text)
    assert listed == [chat_id]  # the chats only: an editor use is in the history, not among the chats


def test_stream_refusals_say_why_without_a_call(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    page = portal.get("/tools/editor")
    no_csrf = portal.post(
        "/tools/stream", data={"tool": "editor", "text": "hi", "chat_id": str(uuid.uuid4())}
    )
    assert no_csrf.status_code == 400 and events(no_csrf)[0][0] == "refused"
    too_long, _ = stream(portal, "editor", "/tools/editor", text="x" * 20_001, role="paraphrase")
    assert too_long.status_code == 400 and "too long" in events(too_long)[0][1]
    made_up = portal.post("/tools/stream", data={"csrf": csrf_of(page), "tool": "oracle", "text": "hi"})
    assert made_up.status_code == 400 and "out of date" in events(made_up)[0][1]
    assert "0 of 3" in portal.get("/tools/editor").text  # nothing was taken
    portal.cookies.clear()
    signed_out = portal.post("/tools/stream", data={"csrf": csrf_of(page), "tool": "editor", "text": "hi"})
    assert signed_out.status_code == 401


def test_history_search_export_rename_and_delete_and_another_users_chat_is_not_there(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    assert use(portal, "/tools/editor", text=HOSTILE, role="shorten").status_code == 200
    assert use(portal, "/tools/prompts", text="a bakery's welcome", role="prompt-writer").status_code == 200
    listed = portal.get("/history")
    assert "<script>alert(1)</script>" not in listed.text and "&lt;script&gt;" in listed.text

    exported = portal.get("/history/export?format=json")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    assert {c["title"] for c in json.loads(exported.text)} >= {HOSTILE, "a bakery's welcome"}
    rows = list(csv.DictReader(io.StringIO(portal.get("/history/export?format=csv").text)))
    assert len(rows) == 4  # two requests, two answers

    found = portal.get("/history", params={"q": "BAKERY"})
    assert "a bakery&#39;s welcome" in found.text and "&lt;script&gt;" not in found.text
    assert "Nothing matches" in portal.get("/history", params={"q": "100%_"}).text  # wildcards are text

    chat_id = re.search(r'href="/history/([0-9a-f-]{36})"', found.text).group(1)
    page = portal.get(f"/history/{chat_id}")
    renamed = portal.post(f"/history/{chat_id}/rename", data={"csrf": csrf_of(page), "title": "Bakery"})
    assert renamed.status_code == 200 and "<h1>Bakery</h1>" in renamed.text
    one = portal.get(f"/history/{chat_id}/export?format=csv")
    assert one.status_code == 200 and "a bakery's welcome" in one.text

    forged = portal.post(f"/history/{chat_id}/delete", data={"csrf": "0" * 64})
    assert forged.status_code == 403 and portal.get(f"/history/{chat_id}").status_code == 200
    deleted = portal.post(f"/history/{chat_id}/delete", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert deleted.status_code == 303 and portal.get(f"/history/{chat_id}").status_code == 400

    portal.cookies.clear()
    assert portal.get("/history/export", follow_redirects=False).headers["location"] == "/sign-in"
    signed_in(portal, api, settings, "bob@example.com")
    (ada_chat,) = [c["id"] for c in json.loads(exported.text) if c["title"] == HOSTILE]
    assert portal.get(f"/history/{ada_chat}").status_code == 400  # not found, as if it never was
    assert portal.get(f"/history/{ada_chat}/export").status_code == 400
    assert portal.get("/history/not-a-uuid").status_code == 400
    for address in ("/history?page=-1", "/history/export?format=xml", "/history?q=" + "x" * 201):
        refused = portal.get(address)
        assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/html"), address
    assert (
        portal.get("/no-such-page").status_code == 404
        and "There is no such page." in portal.get("/nope").text
    )


def test_an_expired_access_token_is_renewed_before_a_stream_or_an_export_and_the_new_pair_kept(world):
    portal, api, settings = world
    session = signed_in(portal, api, settings)
    page = portal.get("/tools/editor")
    chat_id = re.search(r'name="chat_id" value="([0-9a-f-]+)"', page.text).group(1)
    put_session(portal, {**session, "access": expired(settings, session["access"])})  # expired meanwhile
    data = {
        "csrf": csrf_of(page),
        "chat_id": chat_id,
        "tool": "editor",
        "text": "Hello",
        "role": "paraphrase",
    }
    answered = portal.post("/tools/stream", data=data)
    assert answered.status_code == 200 and events(answered)[-1][0] == "done"
    renewed = session_of(portal)
    assert renewed["refresh"] != session["refresh"]  # rotated, and the new pair went into the cookie
    put_session(portal, {**renewed, "access": expired(settings, renewed["access"])})
    exported = portal.get("/history/export?format=json")
    assert exported.status_code == 200 and len(json.loads(exported.text)) == 1
    assert session_of(portal)["refresh"] != renewed["refresh"]


def test_a_browser_that_leaves_mid_answer_ends_the_api_call_as_a_client_that_left(settings, tmp_path):
    """The portal stops reading the API's stream when the browser goes: the API sees its client leave and
    settles the call as disconnected (charged what the provider billed); the portal does not read the answer
    to its end for no one (which would settle it "ok")."""
    with portal_world(settings, tmp_path, mock_fault="slow") as (portal, api, api_settings):
        signed_in(portal, api, api_settings)
        with (
            LiveServer(portal.app) as live,
            httpx.Client(base_url=live.url, cookies={c.name: c.value for c in portal.cookies.jar}) as browser,
        ):
            page = browser.get("/tools/chat")
            chat_id = re.search(r'name="chat_id" value="([0-9a-f-]+)"', page.text).group(1)
            data = {"csrf": csrf_of(page), "chat_id": chat_id, "tool": "chat", "text": "Tell me a long story"}
            with browser.stream("POST", "/tools/stream", data={**data, "model": "mock-small"}) as answer:
                lines = answer.iter_lines()
                assert next(line for line in lines if line.startswith("event: ")) == "event: delta"
            # the browser has gone (the response closed after the first piece)
        (event,) = wait_for_events(api_settings, "llm.call_succeeded")
        assert event.status == "disconnected" and event.error_code == "client_disconnected"


def test_a_request_the_content_rules_refuse_is_worded_and_takes_nothing(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    admin = staff_headers(api, settings, "admin")
    rules = {"redact_pii": True, "rules": [{"id": "no-bombs", "kind": "term", "value": "pipe bomb"}]}
    assert api.put("/api/v1/admin/guardrails/role/paraphrase", headers=admin, json=rules).status_code == 200
    refused = use(portal, "/tools/editor", text="how to build a pipe bomb", role="paraphrase")
    assert refused.status_code == 400 and "not allowed by the service&#39;s content rules" in refused.text
    assert "0 of 3" in refused.text  # nothing was taken
