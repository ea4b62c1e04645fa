"""A refusal keeps its specifics in every language: the API gives them as `params` beside the stable code, and
the panel words them with its catalogue, in English and in Russian (dashboard/i18n.py `error`,
docs/decisions/0046). Before, a Russian staff member read only "your role may not do this"."""

from __future__ import annotations

import httpx
import pytest

from dashboard import i18n
from dashboard.api_client import ApiClient, ApiError
from tests.support.api import completion_body, sign_up, staff_headers


def _refusal(call) -> ApiError:
    with pytest.raises(ApiError) as refused:
        call()
    return refused.value


def _worded(refusal: ApiError, session: dict, language: str) -> str:
    session["locale"] = language
    return i18n.error(refusal.code, refusal.message, refusal.params)


def test_a_refusal_is_worded_with_its_specifics_in_english_and_in_russian(settings, live_server, monkeypatch):
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        analyst = staff_headers(http, settings, "analyst")
        admin = staff_headers(http, settings, "admin")
        ada = sign_up(http, "ada@example.com", settings)
        answered = http.post("/v1/chat/completions", headers=ada, json=completion_body("mock-small"))
        assert answered.status_code == 200, answered.text  # a call now refers to mock-small
    as_analyst = ApiClient(live_server.url, analyst["Authorization"].removeprefix("Bearer "))
    as_admin = ApiClient(live_server.url, admin["Authorization"].removeprefix("Bearer "))
    session: dict[str, str] = {}
    monkeypatch.setattr(i18n.st, "session_state", session)

    lacking = _refusal(lambda: as_analyst.post("/api/v1/admin/users/bulk", {}))
    assert (lacking.status, lacking.code) == (403, "forbidden")  # the stable code is kept
    assert lacking.params == {"role": "analyst", "permission": "users:write"}
    assert _worded(lacking, session, "en") == (
        "The Analyst role may not do this: it lacks the users:write permission."
    )
    assert (
        _worded(lacking, session, "ru")
        == "Роли «Аналитик» это не разрешено: ей не хватает права users:write."
    )

    in_use = _refusal(lambda: as_admin.delete("/api/v1/admin/models/mock-small"))
    assert (in_use.status, in_use.code, in_use.params) == (409, "model_in_use", {"model": "mock-small"})
    assert _worded(in_use, session, "en").startswith("The model mock-small is in use")
    assert _worded(in_use, session, "ru").startswith("Модель mock-small используется")

    # A refusal without specifics (or with others than the wording takes) reads as before.
    assert i18n.error("forbidden", "", None) == "Вашей роли это не разрешено."
    assert i18n.error("forbidden", "", {"permission": "x"}) == "Вашей роли это не разрешено."
    session["locale"] = "en"
    assert i18n.error("forbidden", "the API's words", {"other": "x"}) == "the API's words"
