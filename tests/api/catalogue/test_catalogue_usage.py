"""`GET /api/v1/admin/models/{id}/usage` and `…/roles/{id}/usage`: the LLM calls of the model or role, and
nothing else that names it (a chat's `message.sent`, a refusal)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import update

from api.accounts.models import Account
from tests.support.api import db_execute, events_of, sign_up, staff_headers

ROLE = {
    "id": "pirate",
    "name": "Pirate",
    "system_prompt": "Talk like a pirate.",
    "default_model": "mock-small",
}


def test_a_chat_message_counts_its_calls_tokens_once_and_a_refused_user_is_no_user(client, settings):
    admin = staff_headers(client, settings, "admin")
    assert client.post("/api/v1/admin/roles", json=ROLE, headers=admin).status_code == 201

    ada = sign_up(client, "ada@example.com")
    asked = {
        "model": "mock-small",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "metadata": {"chat_id": str(uuid.uuid4()), "role": "pirate"},
    }
    answer = client.post("/v1/chat/completions", headers=ada, json=asked)
    assert answer.status_code == 200, answer.text
    # The prompt the mock provider reads: the role's "Talk like a pirate." (5 tokens + 3 for the message)
    # and "What is the capital of France?" (7 + 3): 18 tokens in. The chat's message.sent carries the 7
    # tokens of the user's words again: they are inside the call's 18, not beside them.
    assert answer.json()["usage"]["prompt_tokens"] == 18
    (call,) = events_of(settings, "llm.call_succeeded")
    (message,) = events_of(settings, "message.sent")
    assert (call.input_tokens, message.input_tokens, message.model_id, message.role_id) == (
        18, 7, "mock-small", "pirate",
    )  # fmt: skip

    # Bob, on a paying plan without credits, is refused a paid model as the pirate: an event that names
    # the model and the role, but no call.
    bob = sign_up(client, "bob@example.com")
    db_execute(settings, update(Account).where(Account.email == "bob@example.com").values(plan_code="pro"))
    paid = {**asked, "model": "mock-large", "metadata": {"chat_id": str(uuid.uuid4()), "role": "pirate"}}
    refused = client.post("/v1/chat/completions", headers=bob, json=paid)
    assert refused.status_code == 402, refused.text
    assert [(e.model_id, e.role_id) for e in events_of(settings, "balance.insufficient")] == [
        ("mock-large", "pirate")
    ]

    call_totals = {
        "completions": 1, "failed_calls": 0, "input_tokens": 18, "output_tokens": call.output_tokens,
        "users": 1,
    }  # fmt: skip
    model = client.get("/api/v1/admin/models/mock-small/usage", headers=admin).json()
    assert {k: model[k] for k in call_totals} == call_totals
    assert Decimal(model["cost_usd"]) == call.cost_usd > 0
    role = client.get("/api/v1/admin/roles/pirate/usage", headers=admin).json()
    assert {k: role[k] for k in call_totals} == call_totals
    unused = client.get("/api/v1/admin/models/mock-large/usage", headers=admin).json()
    assert {k: unused[k] for k in call_totals} == dict.fromkeys(call_totals, 0)
    assert Decimal(unused["cost_usd"]) == 0
