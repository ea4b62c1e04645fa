"""The cabinet's notifications (docs/portal.md): the in-app inbox the API keeps (a quota used up, a low
balance, staff's messages), newest first, marked read one by one or all at once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from portal.api_client import ApiError, SignedInCaller
from portal.kit import Kit

PAGE = 30


def register(app: FastAPI, kit: Kit) -> None:
    def inbox_page(request: Request, user: SignedInCaller, page: int = 0, status: int = 200, **context: Any):
        inbox = user.call("GET", f"/api/v1/me/notifications?limit={PAGE}&offset={page * PAGE}")
        return kit.render(
            request, "notifications.html", status, inbox=inbox, page=page,
            more=(page + 1) * PAGE < inbox["total"], **context,
        )  # fmt: skip

    def with_page(request: Request):
        return lambda user, **context: inbox_page(request, user, **context)

    @app.get("/cabinet/notifications", response_class=HTMLResponse)
    def notifications(request: Request, page: Annotated[int, Query(ge=0, le=10_000)] = 0) -> Response:
        return kit.cabinet(request, lambda user: inbox_page(request, user, page))

    @app.post("/cabinet/notifications/read", response_class=HTMLResponse)
    def read(request: Request, notification_id: str = Form(""), csrf: str = Form("")) -> Response:
        """One notification marked read (none named: all of them)."""

        def change(user: SignedInCaller) -> Any:
            if not notification_id:
                return user.call("POST", "/api/v1/me/notifications/read-all")
            if not notification_id.isdigit() or len(notification_id) > 15:
                raise ApiError(404, "not_found", "no such notification")
            return user.call("POST", f"/api/v1/me/notifications/{int(notification_id)}/read")

        return kit.cabinet_form(request, csrf, with_page(request), change)
