"""The floor under aiadmin's gateway: FastAPI on uvicorn relaying a completion to the upstream with the
same aiohttp client, and nothing else (no auth, no database, no quota, no billing, no events).

    AIADMIN_BENCH_UPSTREAM=http://127.0.0.1:9100 uvicorn bench.passthrough:app

bench/gateway.py runs it as target (d): whatever aiadmin adds to a call costs CPU on top of this.
"""

from __future__ import annotations

import os
from ipaddress import ip_network

from fastapi import FastAPI, Request

from api.core.egress import Egress
from api.providers.base import CallParams, ChatMessage
from api.providers.openai_compatible import OpenAICompatibleProvider

app = FastAPI()
_base = os.environ.get("AIADMIN_BENCH_UPSTREAM", "http://127.0.0.1:9100")
# The same client as the gateway's, connection guard included (the upstream's loopback address allowed).
_egress = Egress((ip_network("127.0.0.1/32"),))
_upstream = OpenAICompatibleProvider(f"{_base}/v1", api_key=None, timeout_seconds=30, egress=_egress)


@app.post("/v1/chat/completions")
async def completions(request: Request) -> dict:
    body = await request.json()
    messages = [ChatMessage(m["role"], m["content"]) for m in body["messages"]]
    answer = await _upstream.complete(body["model"], messages, CallParams(max_tokens=None, temperature=None))
    usage = {"prompt_tokens": answer.input_tokens, "completion_tokens": answer.output_tokens}
    return {
        "id": "chatcmpl-floor",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.content},
                     "finish_reason": answer.finish_reason}],
        "usage": {**usage, "total_tokens": answer.input_tokens + answer.output_tokens},
    }  # fmt: skip
