"""The tools (docs/portal.md): the AI editor (a text and an operation: a result with its diff against the
text), the prompt generator (an idea and a style: a prompt) and the chat (a conversation kept by the API).

Each use is one completion through the API's OpenAI-compatible endpoint as the signed-in user, in a chat
of its own for the editor and the generator (so the History lists it, with the role that made it). A page
works without JavaScript (the form is posted, the answer page rendered); with it, portal.js posts the same
form to `/tools/stream` and shows the answer as it is written (server-sent events the portal words itself:
`delta` text, then `done` or `refused` with the fragment the page would have shown)."""

from __future__ import annotations

import difflib
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel

from portal import i18n
from portal.api_client import ApiError, SignedInCaller, SignedOut, path_id
from portal.kit import Kit
from portal.session import SESSION_COOKIE, set_session

EDITOR, PROMPTS, CHAT = "editor", "prompts", "chat"
TOOLS = {EDITOR: "/tools/editor", PROMPTS: "/tools/prompts", CHAT: "/tools/chat"}
MAX_TEXT = 20_000  # characters of one request: a clear refusal above, never a truncation
COMPLETIONS = "/v1/chat/completions"
_WORDS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Notice:
    """A refusal worded for the user, with where to go about it (`link`: (href, label) or None)."""

    text: str
    link: tuple[str, str] | None = None


class ToolForm(BaseModel):
    """A tool's form as the browser sends it (any field may be missing: the checks say what is wrong)."""

    text: str = ""
    role: str = ""
    model: str = ""
    chat_id: str = ""
    csrf: str = ""
    tool: str = ""  # the stream's: which tool's form it is


@dataclass(frozen=True, slots=True)
class ModelChoice:
    id: str
    name: str
    plan: str | None  # None: the user's plan has it; else the name of the cheapest plan that does


def diff(before: str, after: str) -> list[tuple[str, str]]:
    """`after` against `before` word by word: ("same" | "removed" | "added", text) pieces in order."""
    old, new = _WORDS.findall(before), _WORDS.findall(after)
    pieces: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append(("same", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("removed", "".join(old[i1:i2])))
        if j2 > j1:
            pieces.append(("added", "".join(new[j1:j2])))
    return pieces


def completion_body(
    text: str, role: str, model: str, chat_id: str, history: list[dict] | None = None
) -> dict:
    """One completion in chat `chat_id`: the conversation so far, then `text`; the role (its system prompt
    is the API's to add) and the model, when chosen."""
    metadata = {"chat_id": chat_id} | ({"role": role} if role else {})
    body: dict[str, Any] = {
        "messages": [*(history or []), {"role": "user", "content": text}],
        "metadata": metadata,
    }
    return body | ({"model": model} if model else {})


def register(app: FastAPI, kit: Kit) -> None:
    def t_of(request: Request):
        return i18n.translator(kit.language(request))

    def notice(request: Request, exc: ApiError, model: str = "", plans: list[dict] | None = None) -> Notice:
        """The refusal in the user's words, pointing where it can be fixed: the plans (a quota, a model the
        plan lacks: with the plans that have it), the balance, the history (too many chats)."""
        t = t_of(request)
        if exc.code == "quota_exceeded":
            seconds = int(exc.extra.get("retry_after") or 0)
            # the nearest minute: the API counted the seconds a moment before
            at = (datetime.now(UTC) + timedelta(seconds=seconds + 30)).strftime("%Y-%m-%d %H:%M")
            metric = str(exc.extra.get("metric") or "requests_per_day")
            key = (
                f"tools.quota_{metric}"
                if f"tools.quota_{metric}" in i18n.catalogue(kit.language(request))
                else "tools.quota_requests_per_day"
            )
            return Notice(
                t(key, limit=exc.extra.get("limit", "?"), at=at), ("/cabinet/plans", t("tools.see_plans"))
            )
        if exc.code == "insufficient_balance":
            return Notice(t("tools.insufficient_balance"), ("/cabinet/balance", t("tools.top_up")))
        if exc.code == "model_not_in_plan":
            having = [p["name"] for p in plans or [] if any(m["id"] == model for m in p["models"])]
            text = t("tools.model_not_in_plan", model=model, plans=", ".join(having) or "—")
            return Notice(text, ("/cabinet/plans", t("tools.see_plans")))
        if exc.code == "chat_limit_reached":
            return Notice(t("tools.chat_limit_reached"), ("/history", t("history.title")))
        if exc.code == "chat_message_limit_reached":
            return Notice(t("tools.chat_message_limit_reached"), ("/tools/chat", t("chat.new")))
        if exc.code in ("model_not_found", "role_not_found"):
            return Notice(t("tools.gone"))
        if exc.code == "provider_error":
            return Notice(t("tools.provider_error"))
        return Notice(kit.refusal(request, exc))

    def choices(
        user: SignedInCaller, tool: str, offered: list[dict] | None
    ) -> tuple[list[dict], list[ModelChoice]]:
        """The roles the tool offers this user (of `offered`, the user's roles, when the caller has them
        already) and the models: the plan's, then the others a public plan has, named with it (picking one
        says which plan to take)."""
        offered = user.call("GET", "/api/v1/me/roles") if offered is None else offered
        roles = [r for r in offered if r["tool"] == (None if tool == CHAT else tool)]
        mine = user.call("GET", "/v1/models")["data"]
        plans = kit.api.call("GET", "/api/v1/plans")
        models = [ModelChoice(m["id"], m.get("display_name") or m["id"], None) for m in mine]
        known = {m.id for m in models}
        for plan in plans:  # cheapest first: a model is named with the first plan that has it
            for m in plan["models"]:
                if m["id"] not in known:
                    known.add(m["id"])
                    models.append(ModelChoice(m["id"], m["name"], plan["name"]))
        return roles, models

    def model_for(user: SignedInCaller, role: str, model: str) -> str:
        """The model the user chose; none chosen: the role's own, or, when the user's plan lacks that one,
        the first the plan has (as GET /api/v1/me/roles says; "" leaves the choice to the API)."""
        if model or not role:
            return model
        offered = next((r for r in user.call("GET", "/api/v1/me/roles") if r["id"] == role), None)
        if offered is None or offered["default_model"] or not offered["models"]:
            return ""
        return offered["models"][0]

    def tool_page(
        request: Request,
        user: SignedInCaller,
        tool: str,
        status: int = 200,
        offered: list[dict] | None = None,
        **context: Any,
    ) -> Response:
        roles, models = choices(user, tool, offered)
        usage = user.call("GET", "/api/v1/me/usage")
        context.setdefault("chat_id", str(uuid.uuid4()))  # the form's next chat: a repost makes no second one
        return kit.render(
            request, "tool.html", status, tool=tool, roles=roles, models=models, usage=usage,
            action=TOOLS[tool], max_text=MAX_TEXT, **context,
        )  # fmt: skip

    def checked(request: Request, csrf: str, text: str, chat_id: str) -> Notice | None:
        t = t_of(request)
        if not kit.keys.csrf_ok(request, csrf):
            return Notice(t("errors.csrf"))
        if not text.strip():
            return Notice(t("tools.empty"))
        if len(text) > MAX_TEXT:
            return Notice(t("tools.too_long", limit=MAX_TEXT))
        try:
            uuid.UUID(chat_id)
        except ValueError:
            return Notice(t("errors.csrf"))
        return None

    def one_shot(tool: str):
        """The editor and the generator: GET the form; POST it (no JavaScript) for the answer page."""

        @app.get(TOOLS[tool], response_class=HTMLResponse)
        def page(request: Request) -> Response:
            return kit.cabinet(request, lambda user: tool_page(request, user, tool))

        @app.post(TOOLS[tool], response_class=HTMLResponse)
        def use(request: Request, sent: Annotated[ToolForm, Form()]) -> Response:
            text, role, model, chat_id, csrf = sent.text, sent.role, sent.model, sent.chat_id, sent.csrf

            def build(user: SignedInCaller) -> Response:
                form = {"text": text, "role": role, "model": model}
                refused = checked(request, csrf, text, chat_id)
                if refused is not None:
                    return tool_page(request, user, tool, 400, notice=refused, form=form)
                try:
                    answer = user.call(
                        "POST",
                        COMPLETIONS,
                        completion_body(text, role, model_for(user, role, model), chat_id),
                    )
                except ApiError as exc:
                    if exc.status == 401:
                        raise
                    plans = kit.api.call("GET", "/api/v1/plans") if exc.code == "model_not_in_plan" else None
                    return tool_page(
                        request, user, tool, 503 if exc.status >= 500 else 400,
                        notice=notice(request, exc, model, plans), form=form,
                    )  # fmt: skip
                result = answer["choices"][0]["message"]["content"]
                return tool_page(
                    request, user, tool, form=form, result=result, pieces=diff(text, result),
                    answered_chat=chat_id,
                )  # fmt: skip

            return kit.cabinet(request, build)

    one_shot(EDITOR)
    one_shot(PROMPTS)

    def chat_page(request: Request, user: SignedInCaller, chat_id: str | None, status: int = 200, **context):
        chat = user.call("GET", f"/api/v1/chats/{path_id(chat_id, 'chat')}") if chat_id else None
        # The chats only: each editor or generator use is a chat of its own, listed in the history instead.
        offered = user.call("GET", "/api/v1/me/roles")
        tools_roles = {r["id"] for r in offered if r["tool"]}
        recent = [c for c in user.call("GET", "/api/v1/chats?limit=100") if c["role_id"] not in tools_roles][
            :20
        ]
        if chat:
            context["chat_id"] = chat["id"]
        return tool_page(request, user, CHAT, status, offered, chat=chat, recent=recent, **context)

    @app.get("/tools/chat", response_class=HTMLResponse)
    def new_chat(request: Request) -> Response:
        return kit.cabinet(request, lambda user: chat_page(request, user, None))

    @app.get("/tools/chat/{chat_id}", response_class=HTMLResponse)
    def open_chat(request: Request, chat_id: str) -> Response:
        return kit.cabinet(request, lambda user: chat_page(request, user, chat_id))

    def history_of(user: SignedInCaller, chat_id: str) -> list[dict]:
        """The chat's messages so far, as the API keeps them (a new chat: none)."""
        try:
            chat = user.call("GET", f"/api/v1/chats/{chat_id}")
        except ApiError as exc:
            if exc.status == 404:
                return []
            raise
        return [{"role": m["role"], "content": m["content"]} for m in chat["messages"]]

    @app.post("/tools/chat", response_class=HTMLResponse)
    def say(request: Request, sent: Annotated[ToolForm, Form()]) -> Response:
        """A message in the chat (no JavaScript): the chat's page again once answered (303: a reload does
        not send it twice)."""
        text, role, model, chat_id, csrf = sent.text, sent.role, sent.model, sent.chat_id, sent.csrf

        def build(user: SignedInCaller) -> Response:
            form = {"text": text, "role": role, "model": model}
            refused = checked(request, csrf, text, chat_id)
            if refused is not None:
                return chat_page(request, user, None, 400, notice=refused, form=form)
            history: list[dict] = []
            try:
                history = history_of(user, chat_id)
                body = completion_body(text, role, model_for(user, role, model), chat_id, history)
                user.call("POST", COMPLETIONS, body)
            except ApiError as exc:
                if exc.status == 401:
                    raise
                plans = kit.api.call("GET", "/api/v1/plans") if exc.code == "model_not_in_plan" else None
                known = chat_id if history else None  # a refused first message made no chat
                return chat_page(
                    request, user, known, 503 if exc.status >= 500 else 400,
                    notice=notice(request, exc, model, plans), form=form,
                )  # fmt: skip
            return RedirectResponse(f"/tools/chat/{chat_id}", status_code=303)

        return kit.cabinet(request, build)

    @app.post("/tools/stream")
    async def stream(request: Request, sent: Annotated[ToolForm, Form()]) -> Response:
        """The answer as it is written, for portal.js: the same form as the tool's page, the same checks."""
        tool, text, role, model, chat_id = sent.tool, sent.text, sent.role, sent.model, sent.chat_id
        session = kit.keys.open(request.cookies.get(SESSION_COOKIE))
        t = t_of(request)
        signed_out = Notice(t("errors.session_ended"), ("/sign-in", t("nav.sign_in")))
        if session is None:
            return _refused(kit, request, signed_out, 401)
        if tool not in TOOLS:  # a form from an older page, or one made up
            return _refused(kit, request, Notice(t("errors.form_outdated")), 400)
        user = SignedInCaller(kit.api, session)
        refused = checked(request, sent.csrf, text, chat_id)
        if refused is not None:
            return _refused(kit, request, refused, 400)
        try:
            history = await run_in_threadpool(history_of, user, chat_id) if tool == CHAT else []
            chosen = await run_in_threadpool(model_for, user, role, model)
            body = completion_body(text, role, chosen, chat_id, history) | {"stream": True}
            upstream = await user.stream("POST", COMPLETIONS, body)
        except SignedOut:
            return _refused(kit, request, signed_out, 401)
        except ApiError as exc:
            plans = None
            if exc.code == "model_not_in_plan":
                plans = await run_in_threadpool(kit.api.call, "GET", "/api/v1/plans")
            return _refused(kit, request, notice(request, exc, model, plans), 200)

        async def events() -> AsyncIterator[str]:
            written: list[str] = []
            try:
                async for line in upstream.response.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    if "error" in chunk:  # the provider broke off: the API refunded the call
                        error = chunk["error"]
                        exc = ApiError(502, error.get("code", "provider_error"), error.get("message", ""))
                        yield _event("refused", _notice_html(kit, request, notice(request, exc, model)))
                        return
                    for choice in chunk.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            written.append(piece)
                            yield _event("delta", json.dumps(piece))
            finally:
                await upstream.aclose()
            result = "".join(written)
            usage = await run_in_threadpool(user.call, "GET", "/api/v1/me/usage")
            yield _event("done", _answer_html(kit, request, tool, text, result, chat_id, usage))

        response = StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        if user.renewed:
            set_session(request, response, kit.keys, user.session)
        return response


def _event(name: str, data: str) -> str:
    return f"event: {name}\ndata: {json.dumps(data) if name != 'delta' else data}\n\n"


def _refused(kit: Kit, request: Request, notice: Notice, status: int) -> Response:
    """The stream's one event when it is refused before any answer: the worded refusal."""
    html = _notice_html(kit, request, notice)
    return Response(_event("refused", html), status_code=status, media_type="text/event-stream")


def _notice_html(kit: Kit, request: Request, notice: Notice) -> str:
    return kit.templates.get_template("_notice.html").render(**kit.context(request), notice=notice)


def _answer_html(
    kit: Kit, request: Request, tool: str, text: str, result: str, chat_id: str, usage: dict
) -> str:
    return kit.templates.get_template("_answer.html").render(
        **kit.context(request), tool=tool, result=result, pieces=diff(text, result), answered_chat=chat_id,
        usage=usage, form={"text": text}, streamed=True,
        next_chat=None if tool == CHAT else str(uuid.uuid4()),
    )  # fmt: skip
