"""Buying a plan from the portal: the price in credits at the rate, a low balance pointing to the top-up,
a month bought once however often the form is sent, the paid model then usable, and back to free."""

from __future__ import annotations

import re

from tests.portal.support import csrf_of, signed_in
from tests.support.api import grant_credits


def _form(page_text: str, plan: str) -> dict[str, str]:
    plan_field = f'<input type="hidden" name="plan" value="{plan}">'
    match = re.search(plan_field + r'\s*<input type="hidden" name="key" value="([0-9a-f-]+)">', page_text)
    assert match, page_text
    return {"plan": plan, "key": match.group(1)}


def test_a_month_of_pro_is_bought_once_from_the_balance_and_its_model_then_answers(world):
    portal, api, settings = world
    signed_in(portal, api, settings)
    page = portal.get("/cabinet/plans")
    assert "Buy a month of Pro for 1000 credits" in page.text and "It does not end." in page.text

    poor = portal.post("/cabinet/plans/buy", data={"csrf": csrf_of(page), **_form(page.text, "pro")})
    assert poor.status_code == 400
    assert "this takes 1000 credits and you have 0" in poor.text and 'href="/cabinet/balance"' in poor.text

    grant_credits(settings, "ada@example.com", 1500)
    page = portal.get("/cabinet/plans")
    form = {"csrf": csrf_of(page), **_form(page.text, "pro")}
    bought = portal.post("/cabinet/plans/buy", data=form)
    assert bought.status_code == 200, bought.text
    assert re.search(
        r"Done: you are on pro until \d{4}-\d\d-\d\d \d\d:\d\d UTC\. 1000 credits were taken", bought.text
    )
    twice = portal.post("/cabinet/plans/buy", data=form)  # the same form again (a double click): bought once
    assert twice.status_code == 200 and "your balance is 500" in twice.text
    assert "Paid until" in portal.get("/cabinet/plans").text
    assert "1000" in portal.get("/cabinet/balance").text  # the ledger's line

    editor = portal.get("/tools/editor")
    assert not re.search(r'<option value="mock-large">[^<]*in Pro<', editor.text)  # the plan's own now
    chat_id = re.search(r'name="chat_id" value="([0-9a-f-]+)"', editor.text).group(1)
    data = {"csrf": csrf_of(editor), "chat_id": chat_id, "text": "Hello there", "role": "paraphrase"}
    answered = portal.post("/tools/editor", data={**data, "model": "mock-large"})
    assert answered.status_code == 200 and 'id="result"' in answered.text

    page = portal.get("/cabinet/plans")
    back = portal.post("/cabinet/plans/buy", data={"csrf": csrf_of(page), **_form(page.text, "free")})
    assert back.status_code == 200 and "Done: you are on free." in back.text
    forged = portal.post("/cabinet/plans/buy", data={"csrf": "0" * 64, **_form(page.text, "pro")})
    assert forged.status_code == 403 and "Your plan: Free." in forged.text
