"""One real usage event from an API call to a dashboard number.

Users register and call the API over HTTP (the official openai client), `aiadmin pipeline run` loads and
publishes, and the panel's query layer reads back the same DAU and token totals.
"""

from __future__ import annotations

import httpx
import openai
import pytest

from aiadmin.cli import main
from tests.support.api import sign_up
from warehouse.queries import daily_usage


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # the production path, end to end
def test_activity_over_http_reaches_the_panel_query_layer_exactly(
    env_settings, live_server, monkeypatch, tmp_path, clock
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    prompt_tokens = completion_tokens = completions = 0
    with httpx.Client(base_url=live_server.url) as http:
        plan = {"ada@example.com": 3, "bob@example.com": 4, "cy@example.com": 1, "dee@example.com": 0}
        for email, calls in plan.items():
            headers = sign_up(http, email, env_settings, country="GB")
            llm = openai.OpenAI(
                base_url=f"{live_server.url}/v1",
                api_key=headers["Authorization"].removeprefix("Bearer "),
                max_retries=0,
            )
            for n in range(calls):
                try:
                    done = llm.chat.completions.create(
                        model="mock-small",
                        messages=[{"role": "user", "content": f"question {n} from {email}"}],
                    )
                except openai.RateLimitError:
                    continue
                completions += 1
                prompt_tokens += done.usage.prompt_tokens
                completion_tokens += done.usage.completion_tokens

    assert main(["pipeline", "run"]) == 0

    usage = daily_usage()
    # One day: the clock is held (no UTC midnight passes between the calls, nor before the count).
    assert list(usage["day"].astype(str)) == [clock.now().date().isoformat()]
    today = usage.iloc[0]
    assert today["active_users"] == 4
    assert completions == 7 and today["completions"] == 7
    assert today["input_tokens"] == prompt_tokens
    assert today["output_tokens"] == completion_tokens
    assert (tmp_path / "dagster" / "dagster.yaml").exists()  # the run is recorded in the local instance
