"""The offline mock as a real HTTP server speaking the OpenAI chat-completions API.

For tests and benchmarks of the gateway over real HTTP: `python -m api.providers.mock_server
--port 9100`. Faults on request: the `X-Mock-Fault` header or `metadata.mock` ("fail" → 503, "stall",
"slow"); `X-Mock-Status: 429` answers that status; `X-Mock-No-Usage: 1` reports no usage;
`X-Mock-Tokenizer: bytes` bills as a tokenizer making one token of each UTF-8 byte of the prompt (the
most any byte-level tokenizer can), where the default counts words.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from api.providers.base import ChatMessage, ProviderError
from api.providers.mock import PER_MESSAGE_OVERHEAD, SLOW_SECONDS, answer, apply_fault, pieces

MODELS = ("mock-small", "mock-large")


def create_mock_app() -> FastAPI:
    app = FastAPI(title="aiadmin mock LLM provider")
    app.state.calls = 0
    app.state.last_authorization = None
    app.state.last_body = None

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "mock"} for m in MODELS],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        app.state.calls += 1
        app.state.last_authorization = request.headers.get("authorization")
        body = await request.json()
        app.state.last_body = body
        if status := request.headers.get("x-mock-status"):
            return JSONResponse({"error": {"message": "as asked", "code": status}}, status_code=int(status))
        fault = request.headers.get("x-mock-fault") or (body.get("metadata") or {}).get("mock")
        try:
            await apply_fault(fault)
        except ProviderError as exc:
            return JSONResponse({"error": {"message": str(exc), "code": exc.code}}, status_code=503)
        messages = [ChatMessage(m["role"], m.get("content") or "") for m in body["messages"]]
        completion = answer(body["model"], messages, body.get("max_tokens"))
        if request.headers.get("x-mock-tokenizer") == "bytes":
            billed = sum(len(m.content.encode()) + PER_MESSAGE_OVERHEAD for m in messages)
            completion = replace(completion, input_tokens=billed)
        report_usage = not request.headers.get("x-mock-no-usage")
        if body.get("stream"):
            return StreamingResponse(
                _sse(body["model"], completion, fault, report_usage), media_type="text/event-stream"
            )
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": completion.content},
                        "finish_reason": completion.finish_reason,
                    }
                ],
                **({"usage": _usage(completion)} if report_usage else {}),
            }
        )

    return app


def _usage(completion) -> dict[str, int]:
    return {
        "prompt_tokens": completion.input_tokens,
        "completion_tokens": completion.output_tokens,
        "total_tokens": completion.input_tokens + completion.output_tokens,
    }


async def _sse(model: str, completion, fault: str | None, report_usage: bool):
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    for piece in pieces(completion.content):
        if fault == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        yield f"data: {json.dumps(chunk)}\n\n"
    done = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": completion.finish_reason}]}
    yield f"data: {json.dumps(done)}\n\n"
    if report_usage:
        yield f"data: {json.dumps({**base, 'choices': [], 'usage': _usage(completion)})}\n\n"
    yield "data: [DONE]\n\n"


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    uvicorn.run(create_mock_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
