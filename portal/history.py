"""The history (docs/portal.md): the user's chats, each editor and generator use being one, newest first;
search, a chat's messages with copy buttons, export (one chat or all, JSON or CSV, as the API writes them),
rename and delete. The API keeps them (`/api/v1/chats`); the portal only shows them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from portal import i18n
from portal.api_client import ApiError, SignedInCaller, SignedOut, path_id
from portal.kit import Kit
from portal.session import SESSION_COOKIE, set_session

PAGE = 30
TOOL_OF = {"editor": "/tools/editor", "prompts": "/tools/prompts"}


def _chat_id(raw: str) -> str:
    return path_id(raw, "chat")


def _passed_on(answer: Any) -> Response:
    """The API's file as the browser gets it: its type and its name."""
    headers = {k: v for k, v in answer.headers.items() if k.lower() == "content-disposition"}
    return Response(answer.content, media_type=answer.headers.get("content-type"), headers=headers)


def register(app: FastAPI, kit: Kit) -> None:
    def roles_by_id(user: SignedInCaller) -> dict[str, dict]:
        return {r["id"]: r for r in user.call("GET", "/api/v1/me/roles")}

    def list_page(request: Request, user: SignedInCaller, q: str, page: int, status: int = 200, **context):
        query = {"limit": PAGE + 1, "offset": page * PAGE} | ({"q": q} if q else {})
        chats = user.call("GET", "/api/v1/chats?" + urlencode(query))
        return kit.render(
            request, "history.html", status, chats=chats[:PAGE], more=len(chats) > PAGE, q=q, page=page,
            roles=roles_by_id(user), **context,
        )  # fmt: skip

    @app.get("/history", response_class=HTMLResponse)
    def history(
        request: Request,
        q: Annotated[str, Query(max_length=200)] = "",
        page: Annotated[int, Query(ge=0, le=10_000)] = 0,
    ) -> Response:
        return kit.cabinet(request, lambda user: list_page(request, user, q.strip(), page))

    @app.get("/history/export")
    async def export_all(request: Request, format: Literal["json", "csv"] = "json") -> Response:
        """Everything, passed on as the API writes it (the API streams it a page at a time, and so does
        this: a long history is never held whole here)."""
        session = kit.keys.open(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return RedirectResponse("/sign-in", status_code=303)
        user = SignedInCaller(kit.api, session)
        try:
            upstream = await user.stream("GET", f"/api/v1/chats/export?format={format}")
        except (ApiError, SignedOut):  # the page (sign-in, or the refusal) as the other history pages give it
            return await run_in_threadpool(kit.cabinet, request, lambda user: list_page(request, user, "", 0))

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.response.aiter_raw():
                    yield chunk
            finally:
                await upstream.aclose()

        passed = ("content-disposition", "content-encoding")
        headers = {k: v for k, v in upstream.response.headers.items() if k.lower() in passed}
        media_type = upstream.response.headers.get("content-type")
        response = StreamingResponse(body(), media_type=media_type, headers=headers)
        if user.renewed:
            set_session(request, response, kit.keys, user.session)
        return response

    def chat_page(request: Request, user: SignedInCaller, chat_id: str, status: int = 200, **context):
        chat = user.call("GET", f"/api/v1/chats/{_chat_id(chat_id)}")
        role = roles_by_id(user).get(chat.get("role_id") or "")
        tool = (role or {}).get("tool")
        again = TOOL_OF.get(tool or "", f"/tools/chat/{chat['id']}")
        return kit.render(request, "history_chat.html", status, chat=chat, role=role, again=again, **context)

    @app.get("/history/{chat_id}", response_class=HTMLResponse)
    def one(request: Request, chat_id: str) -> Response:
        return kit.cabinet(request, lambda user: chat_page(request, user, chat_id))

    @app.get("/history/{chat_id}/export")
    def export_one(request: Request, chat_id: str, format: Literal["json", "csv"] = "json") -> Response:
        return kit.cabinet(
            request,
            lambda user: _passed_on(
                user.call("GET", f"/api/v1/chats/{_chat_id(chat_id)}/export?format={format}", raw=True)
            ),
        )

    @app.post("/history/{chat_id}/rename", response_class=HTMLResponse)
    def rename(request: Request, chat_id: str, title: str = Form(""), csrf: str = Form("")) -> Response:
        def build(user: SignedInCaller) -> Response:
            t = i18n.translator(kit.language(request))
            if not kit.keys.csrf_ok(request, csrf):
                return chat_page(request, user, chat_id, 403, error=t("errors.csrf"))
            try:
                user.call("PATCH", f"/api/v1/chats/{_chat_id(chat_id)}", {"title": title})
            except ApiError as exc:
                if exc.status in (401, 404):
                    raise
                return chat_page(request, user, chat_id, 400, error=kit.refusal(request, exc))
            return chat_page(request, user, chat_id, saved=True)

        return kit.cabinet(request, build)

    @app.post("/history/{chat_id}/delete", response_class=HTMLResponse)
    def delete(request: Request, chat_id: str, csrf: str = Form("")) -> Response:
        """Deleted for good (its messages too): back to the list, saying so."""

        def build(user: SignedInCaller) -> Response:
            t = i18n.translator(kit.language(request))
            if not kit.keys.csrf_ok(request, csrf):
                return list_page(request, user, "", 0, 403, error=t("errors.csrf"))
            user.call("DELETE", f"/api/v1/chats/{_chat_id(chat_id)}")
            return RedirectResponse("/history?deleted=1", status_code=303)

        return kit.cabinet(request, build)
