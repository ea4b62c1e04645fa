"""The cabinet's security page (docs/portal.md): where the user is signed in (sign one other session out,
all the others, or everywhere), the password, two-factor authentication, the login history, and deleting
the account."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response

from portal import i18n
from portal.api_client import ApiError, SignedInCaller, path_id
from portal.kit import Kit
from portal.session import clear_session


def register(app: FastAPI, kit: Kit) -> None:
    def security_page(request: Request, user: SignedInCaller, status: int = 200, **context: Any) -> Response:
        me = user.call("GET", "/api/v1/me")
        sessions = [s for s in user.call("GET", "/api/v1/me/sessions") if s["revoked_at"] is None]
        events = user.call("GET", "/api/v1/me/security-events?limit=20")
        return kit.render(
            request, "security.html", status, me=me, sessions=sessions, events=events, **context
        )

    def page_with(request: Request):
        return lambda user, **context: security_page(request, user, **context)

    @app.post("/cabinet/password", response_class=HTMLResponse)
    def change_password(
        request: Request, current_password: str = Form(""), new_password: str = Form(""), csrf: str = Form("")
    ) -> Response:
        """The API ends the other sessions and keeps this one."""
        body = {"current_password": current_password, "new_password": new_password}

        def change(user: SignedInCaller) -> Any:
            user.call("POST", "/api/v1/auth/change-password", body)
            return {"password": True}

        return kit.cabinet_form(request, csrf, page_with(request), change)

    @app.post("/cabinet/2fa/setup", response_class=HTMLResponse)
    def two_factor_setup(request: Request, csrf: str = Form("")) -> Response:
        """A new secret for the authenticator app (shown on this answer; on until /enable confirms it)."""
        return kit.cabinet_form(
            request,
            csrf,
            page_with(request),
            lambda user: {"setup": user.call("POST", "/api/v1/auth/2fa/setup")},
        )

    def with_code(path: str, done):
        """A second-factor change: the password and a code in the request itself, as the API asks."""

        def handler(
            request: Request,
            password: str = Form(""),
            code: str = Form(""),
            secret: str = Form(""),
            otpauth_uri: str = Form(""),
            csrf: str = Form(""),
        ) -> Response:
            body = {"password": password, "code": code.strip()}
            pending = {"secret": secret[:64], "otpauth_uri": otpauth_uri[:500]} if secret else None

            def build(user: SignedInCaller, **context: Any) -> Response:
                if "error" in context and pending:  # a wrong code while enabling: the secret stays shown
                    context["setup"] = pending
                return security_page(request, user, **context)

            return kit.cabinet_form(request, csrf, build, lambda user: done(user.call("POST", path, body)))

        return handler

    app.post("/cabinet/2fa/enable", response_class=HTMLResponse)(
        with_code(
            "/api/v1/auth/2fa/enable", lambda answer: {"codes": answer["recovery_codes"], "enabled": True}
        )
    )
    app.post("/cabinet/2fa/disable", response_class=HTMLResponse)(
        with_code("/api/v1/auth/2fa/disable", lambda _: {"disabled": True})
    )
    app.post("/cabinet/2fa/recovery-codes", response_class=HTMLResponse)(
        with_code("/api/v1/auth/2fa/recovery-codes", lambda answer: {"codes": answer["recovery_codes"]})
    )

    @app.get("/cabinet/security", response_class=HTMLResponse)
    def security(request: Request) -> Response:
        return kit.cabinet(request, lambda user: security_page(request, user))

    @app.post("/cabinet/sessions/end", response_class=HTMLResponse)
    def end_session(request: Request, session_id: str = Form(""), csrf: str = Form("")) -> Response:
        """Sign one other browser or device out."""

        def change(user: SignedInCaller) -> Any:
            user.call("DELETE", f"/api/v1/me/sessions/{path_id(session_id, 'session')}")
            return {"ended": 1}

        return kit.cabinet_form(
            request, csrf, lambda user, **context: security_page(request, user, **context), change
        )

    @app.post("/cabinet/sign-out-others", response_class=HTMLResponse)
    def sign_out_others(request: Request, csrf: str = Form("")) -> Response:
        return kit.cabinet_form(
            request, csrf,
            lambda user, **context: security_page(request, user, **context),
            lambda user: user.call("POST", "/api/v1/auth/logout-others"),
        )  # fmt: skip

    def leave(request: Request, csrf: str, change, message: str) -> Response:
        """A POST that ends this session too (sign out everywhere, delete the account): on success the
        cookie goes and the landing says `message`; a refusal stays on the security page."""

        def page(user: SignedInCaller) -> Response:
            t = i18n.translator(kit.language(request))
            if not kit.keys.csrf_ok(request, csrf):
                return security_page(request, user, status=403, error=t("errors.csrf"))
            try:
                change(user)
            except ApiError as exc:
                status = 503 if exc.status >= 500 else 400
                return security_page(request, user, status=status, error=kit.refusal(request, exc))
            response = kit.render(request, "landing.html", left=t(message), signed_in=False)
            clear_session(response)
            user.renewed = False  # the session is over: nothing goes back into the cookie
            return response

        return kit.cabinet(request, page)

    @app.post("/cabinet/sign-out-everywhere", response_class=HTMLResponse)
    def sign_out_everywhere(request: Request, csrf: str = Form("")) -> Response:
        return leave(
            request,
            csrf,
            lambda user: user.call("POST", "/api/v1/auth/logout-all"),
            "security.signed_out_all",
        )

    @app.post("/cabinet/delete-account", response_class=HTMLResponse)
    def delete_account(
        request: Request, password: str = Form(""), code: str = Form(""), csrf: str = Form("")
    ) -> Response:
        body = {"password": password} | ({"code": code.strip()} if code.strip() else {})
        return leave(request, csrf, lambda user: user.call("DELETE", "/api/v1/me", body), "security.deleted")
