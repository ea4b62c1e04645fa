"""Assistant roles: the persona's system prompt, model and parameters are applied server-side."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from api.catalogue.models import AssistantRole, ModelRoute
from api.core.db import make_sync_engine
from api.main import create_app
from tests.support.api import db_execute, events_of, http_provider_row, sign_up


def _route_small_to(settings, upstream_url: str) -> None:
    db_execute(
        settings,
        http_provider_row(settings, "remote", f"{upstream_url}/v1", priority=1),
        delete(ModelRoute).where(ModelRoute.model_id == "mock-small"),
        ModelRoute.__table__.insert().values(
            model_id="mock-small", provider_id="remote", provider_model="small-v2"
        ),
    )


def _role_prompt(settings, role_id: str) -> str:
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        prompt = conn.scalar(select(AssistantRole.system_prompt).where(AssistantRole.id == role_id))
    engine.dispose()
    return prompt


def test_a_role_named_in_the_header_supplies_the_system_prompt_model_and_temperature(settings, upstream):
    _route_small_to(settings, upstream.url)
    with TestClient(create_app(settings)) as client:
        headers = {**sign_up(client, "ada@example.com"), "X-Assistant-Role": "fix-grammar"}
        body = {"messages": [{"role": "user", "content": "me and him goes home"}]}  # no model: the role's
        response = client.post("/v1/chat/completions", headers=headers, json=body)
    assert response.status_code == 200, response.text
    sent = upstream.app.state.last_body
    assert sent["model"] == "small-v2"  # the provider's own name for mock-small
    assert sent["messages"][0] == {"role": "system", "content": _role_prompt(settings, "fix-grammar")}
    assert sent["messages"][1]["content"] == "me and him goes home"
    assert sent["temperature"] == 0.0
    (event,) = events_of(settings, "llm.call_succeeded")
    assert event.role_id == "fix-grammar" and event.model_id == "mock-small"


def test_metadata_role_works_with_the_openai_client_and_the_clients_parameters_win(settings, upstream):
    import openai

    from tests.support.api import LiveServer

    _route_small_to(settings, upstream.url)
    with LiveServer(create_app(settings)) as server:
        import httpx

        with httpx.Client(base_url=server.url) as http:
            token = sign_up(http, "ada@example.com", settings)["Authorization"].removeprefix("Bearer ")
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=token, max_retries=0)
        client.chat.completions.create(
            model="mock-small",
            messages=[{"role": "user", "content": "the meeting moved to Thursday"}],
            metadata={"role": "paraphrase"},
            temperature=0.2,
        )
    sent = upstream.app.state.last_body
    assert sent["messages"][0]["content"] == _role_prompt(settings, "paraphrase")
    assert sent["temperature"] == 0.2


def test_unknown_role_is_a_404_and_no_model_nor_role_is_a_400(client):
    headers = sign_up(client, "ada@example.com")
    body = {
        "model": "mock-small",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"role": "wizard"},
    }
    unknown = client.post("/v1/chat/completions", headers=headers, json=body)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "role_not_found"
    no_model = client.post(
        "/v1/chat/completions", headers=headers, json={"messages": [{"role": "user", "content": "hi"}]}
    )
    assert no_model.status_code == 400 and no_model.json()["error"]["code"] == "model_required"
