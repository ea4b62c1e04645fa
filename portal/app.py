"""The end users' web app: server-rendered pages (Jinja2) over the API, reached over HTTP only
(docs/portal.md). Run it with `uvicorn portal.app:app`; it keeps nothing between requests but cookies."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from portal import history, i18n, inbox, security, tools
from portal.api_client import ApiClient, ApiError, SignedInCaller, SignedOut, path_id
from portal.forwarding import ForwardBrowser
from portal.kit import Kit
from portal.session import SESSION_COOKIE, Keys, clear_session, csrf_nonce, keep_nonce, set_session
from portal.settings import PortalSettings, get_portal_settings

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANG_COOKIE = "portal_lang"
SCRIPT = (Path(__file__).resolve().parent / "assets" / "portal.js").read_bytes()


def create_app(settings: PortalSettings | None = None) -> FastAPI:
    settings = settings or get_portal_settings()
    keys = Keys(settings.key())
    api = ApiClient(settings.api_url, settings.api_timeout_seconds, settings.forwarding_key)
    templates = Jinja2Templates(directory=TEMPLATES)  # autoescape on for .html: hostile text stays text
    templates.env.filters["number"] = i18n.number
    app = FastAPI(title="aiadmin portal", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(ForwardBrowser, trusted_proxies=settings.portal_trusted_proxies)  # the user's address

    def language(request: Request) -> str:
        chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
        if chosen in i18n.LANGUAGES:
            return chosen
        return i18n.negotiate(request.headers.get("accept-language", ""))

    def page_context(request: Request, nonce: str | None = None) -> dict[str, Any]:
        """What every template gets: the language's texts, the form's CSRF token, whether signed in."""
        lang = language(request)
        return {
            "t": i18n.translator(lang),
            "lang": lang,
            "languages": i18n.LANGUAGES,
            "csrf": keys.csrf_token(nonce or csrf_nonce(request)),
            "has": lambda key: key in i18n.catalogue(lang),
            "signed_in": keys.open(request.cookies.get(SESSION_COOKIE)) is not None,
            "path": request.url.path,
        }

    def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
        nonce = csrf_nonce(request)
        response = templates.TemplateResponse(
            request, template, {**page_context(request, nonce), **context}, status_code=status
        )
        keep_nonce(request, response, nonce)
        if request.query_params.get("lang") in i18n.LANGUAGES:
            response.set_cookie(LANG_COOKIE, language(request), max_age=365 * 86400, samesite="lax", path="/")
        return response

    def refusal(request: Request, exc: ApiError) -> str:
        return i18n.error(language(request), exc.code, exc.message, exc.extra)

    def csrf_refused(request: Request, template: str, **context: Any) -> Response:
        """The form's page again, 403, saying its CSRF token was wrong."""
        error = i18n.translator(language(request))("errors.csrf")
        return render(request, template, 403, error=error, **context)

    def form_page(request: Request, template: str, csrf: str, call, done, **context: Any) -> Response:
        """A POSTed form: refused (403) when its CSRF token is wrong; else `call()` the API, then `done()`;
        an API refusal re-shows the form with its message."""
        if not keys.csrf_ok(request, csrf):
            return csrf_refused(request, template, **context)
        try:
            result = call()
        except ApiError as exc:
            status = 503 if exc.status >= 500 else 400
            return render(request, template, status, error=refusal(request, exc), **context)
        return done(result)

    @app.get("/", response_class=HTMLResponse)
    def landing(request: Request) -> Response:
        session = keys.open(request.cookies.get(SESSION_COOKIE))
        return render(request, "landing.html", email=session["email"] if session else None)

    @app.get("/sign-up", response_class=HTMLResponse)
    def sign_up_page(request: Request) -> Response:
        return render(request, "sign_up.html")

    @app.post("/sign-up", response_class=HTMLResponse)
    def sign_up(
        request: Request, email: str = Form(""), password: str = Form(""), csrf: str = Form("")
    ) -> Response:
        body = {"email": email, "password": password, "locale": language(request)}
        return form_page(
            request, "sign_up.html", csrf,
            lambda: api.call("POST", "/api/v1/auth/register", body),
            lambda _: render(request, "check_mail.html", email=email),
            email=email,
        )  # fmt: skip

    @app.get("/check-mail", response_class=HTMLResponse)
    def check_mail(request: Request) -> Response:
        return render(request, "check_mail.html")

    @app.get("/confirm-email", response_class=HTMLResponse)
    def confirm_email_page(request: Request, token: str = "") -> Response:
        """The confirmation mail's link lands here, on a page with one button: opening the link spends
        nothing, so a mail scanner that fetches every link does not use it up before the user clicks."""
        return render(request, "confirm.html", token=token[:200])

    @app.post("/confirm-email", response_class=HTMLResponse)
    def confirm_email(request: Request, token: str = Form(""), csrf: str = Form("")) -> Response:
        """The API spends the token; the page says how it went."""
        return form_page(
            request, "confirm.html", csrf,
            lambda: api.call("POST", "/api/v1/auth/confirm-email", {"token": token[:200]}),
            lambda _: render(request, "confirm.html", confirmed=True),
            token=token[:200], failed=True,
        )  # fmt: skip

    @app.get("/sign-in", response_class=HTMLResponse)
    def sign_in_page(request: Request) -> Response:
        return render(request, "sign_in.html")

    @app.post("/sign-in", response_class=HTMLResponse)
    def sign_in(
        request: Request,
        email: str = Form(""),
        password: str = Form(""),
        otp: str = Form(""),
        csrf: str = Form(""),
    ) -> Response:
        if not keys.csrf_ok(request, csrf):
            return csrf_refused(request, "sign_in.html", email=email)
        body = {"email": email, "password": password} | ({"otp": otp.strip()} if otp.strip() else {})
        try:
            tokens = api.call("POST", "/api/v1/auth/login", body)
            me = api.call("GET", "/api/v1/me", token=tokens["access_token"])
        except ApiError as exc:
            # A second factor asked for (or mistyped): the page shows its field.
            otp_needed = exc.code in ("otp_required", "invalid_otp")
            status = 503 if exc.status >= 500 else 400
            return render(
                request,
                "sign_in.html",
                status,
                email=email,
                otp_needed=otp_needed,
                error=refusal(request, exc),
            )
        response = RedirectResponse("/cabinet", status_code=303)  # the user lands in their cabinet
        session = {"access": tokens["access_token"], "refresh": tokens["refresh_token"], "email": me["email"]}
        set_session(request, response, keys, session)
        return response

    @app.post("/sign-out", response_class=HTMLResponse)
    def sign_out(request: Request, csrf: str = Form("")) -> Response:
        if not keys.csrf_ok(request, csrf):
            return csrf_refused(request, "landing.html")
        session = keys.open(request.cookies.get(SESSION_COOKIE))
        if session:
            try:  # the API session ends too; signing out of the portal works even if that fails
                api.call("POST", "/api/v1/auth/logout", token=session["access"])
            except ApiError:
                pass
        response = render(request, "landing.html", signed_out=True, signed_in=False)
        clear_session(response)
        return response

    def mail_request(path: str, template: str):
        @app.get(path, response_class=HTMLResponse)
        def page(request: Request) -> Response:
            return render(request, template)

        @app.post(path, response_class=HTMLResponse)
        def submit(request: Request, email: str = Form(""), csrf: str = Form("")) -> Response:
            return form_page(
                request, template, csrf,
                lambda: api.call("POST", f"/api/v1/auth{path}", {"email": email}),
                lambda _: render(request, template, sent=True, email=email),
                email=email,
            )  # fmt: skip

    mail_request("/forgot-password", "forgot_password.html")
    mail_request("/resend-confirmation", "resend_confirmation.html")

    @app.get("/reset-password", response_class=HTMLResponse)
    def reset_password_page(request: Request, token: str = "") -> Response:
        """The reset mail's link lands here."""
        return render(request, "reset_password.html", token=token[:200])

    @app.post("/reset-password", response_class=HTMLResponse)
    def reset_password(
        request: Request, token: str = Form(""), new_password: str = Form(""), csrf: str = Form("")
    ) -> Response:
        body = {"token": token, "new_password": new_password}
        return form_page(
            request, "reset_password.html", csrf,
            lambda: api.call("POST", "/api/v1/auth/reset-password", body),
            lambda _: render(request, "reset_password.html", done=True),
            token=token,
        )  # fmt: skip

    # The cabinet: every page needs a signed-in user (else: the sign-in page) and calls the API as them.

    def cabinet(request: Request, build) -> Response:
        """`build(user)` with `user` the API as the signed-in user; a renewed token pair goes back into the
        cookie; a session the API ended signs the user out here too, with a message."""
        session = keys.open(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return RedirectResponse("/sign-in", status_code=303)
        user = SignedInCaller(api, session)
        try:
            response = build(user)
        except SignedOut:
            t = i18n.translator(language(request))
            response = render(request, "sign_in.html", 401, error=t("errors.session_ended"), signed_in=False)
            clear_session(response)
            return response
        except ApiError as exc:  # the API away, or a refusal of a page's read
            response = render(request, "cabinet_error.html", 503 if exc.status >= 500 else 400,
                              error=refusal(request, exc))  # fmt: skip
        if user.renewed:
            set_session(request, response, keys, user.session)
        return response

    def cabinet_form(request: Request, csrf: str, build, change) -> Response:
        """A cabinet POST: refused (403) without its CSRF token; else `change(user)` the API, then the page
        `build(user, saved=…)`, or `build(user, error=…)` with the API's refusal worded."""

        def page(user: SignedInCaller) -> Response:
            if not keys.csrf_ok(request, csrf):
                t = i18n.translator(language(request))
                return build(user, status=403, error=t("errors.csrf"))
            try:
                result = change(user)
            except ApiError as exc:
                return build(user, status=503 if exc.status >= 500 else 400, error=refusal(request, exc))
            return build(user, saved=result if result is not None else True)

        return cabinet(request, page)

    def home_page(request: Request, user: SignedInCaller, status: int = 200, **context: Any) -> Response:
        me = user.call("GET", "/api/v1/me")
        usage = user.call("GET", "/api/v1/me/usage")
        balance = user.call("GET", "/api/v1/me/balance")
        return render(request, "cabinet.html", status, me=me, usage=usage, balance=balance, **context)

    @app.get("/cabinet", response_class=HTMLResponse)
    def cabinet_home(request: Request) -> Response:
        return cabinet(request, lambda user: home_page(request, user))

    @app.post("/cabinet/profile", response_class=HTMLResponse)
    def update_profile(
        request: Request,
        display_name: str = Form(""),
        locale: str = Form(""),
        country: str = Form(""),
        csrf: str = Form(""),
    ) -> Response:
        body = {
            "display_name": display_name.strip() or None,
            "locale": locale,
            "country": country.strip().upper() or None,
        }
        return cabinet_form(
            request, csrf,
            lambda user, **context: home_page(request, user, **context),
            lambda user: user.call("PATCH", "/api/v1/me", body),
        )  # fmt: skip

    def balance_page(request: Request, user: SignedInCaller, status: int = 200, **context: Any) -> Response:
        balance = user.call("GET", "/api/v1/me/balance")
        return render(request, "balance.html", status, balance=balance, **context)

    @app.get("/cabinet/balance", response_class=HTMLResponse)
    def balance(request: Request) -> Response:
        return cabinet(request, lambda user: balance_page(request, user))

    @app.post("/cabinet/balance/top-up", response_class=HTMLResponse)
    def top_up(
        request: Request, amount: str = Form(""), currency: str = Form(""), csrf: str = Form("")
    ) -> Response:
        body = {"amount": amount, "currency": currency}
        return cabinet_form(
            request, csrf,
            lambda user, **context: balance_page(request, user, **context),
            lambda user: user.call("POST", "/api/v1/me/balance/top-up", body),
        )  # fmt: skip

    def plans_page(request: Request, user: SignedInCaller, status: int = 200, **context: Any) -> Response:
        me = user.call("GET", "/api/v1/me")
        balance = user.call("GET", "/api/v1/me/balance")
        offered = api.call("GET", "/api/v1/plans")
        return render(
            request, "plans.html", status, me=me, plans=offered, balance=balance,
            prices={p["code"]: Decimal(p["price_credits"]) for p in offered if p.get("price_credits")},
            purchase_key=str(uuid.uuid4()),
            **context,
        )  # fmt: skip

    @app.get("/cabinet/plans", response_class=HTMLResponse)
    def plans(request: Request) -> Response:
        return cabinet(request, lambda user: plans_page(request, user))

    @app.post("/cabinet/plans/buy", response_class=HTMLResponse)
    def buy_plan(
        request: Request, plan: str = Form(""), key: str = Form(""), csrf: str = Form("")
    ) -> Response:
        """A month of `plan` from the balance (or the free plan, at once). The form's key, made when the page
        was rendered, goes as the Idempotency-Key: a double click buys once."""

        def page(user: SignedInCaller) -> Response:
            t = i18n.translator(language(request))
            if not keys.csrf_ok(request, csrf):
                return plans_page(request, user, 403, notice=tools.Notice(t("errors.csrf")))
            try:
                headers = {"Idempotency-Key": str(uuid.UUID(key))}
            except ValueError:
                return plans_page(request, user, 400, notice=tools.Notice(t("errors.csrf")))
            try:
                bought = user.call("POST", "/api/v1/me/plan", {"plan": plan}, headers=headers)
            except ApiError as exc:
                if exc.status == 401:
                    raise
                link = ("/cabinet/balance", t("tools.top_up")) if exc.code == "insufficient_balance" else None
                status = 503 if exc.status >= 500 else 400
                return plans_page(request, user, status, notice=tools.Notice(refusal(request, exc), link))
            return plans_page(request, user, saved=bought)

        return cabinet(request, page)

    def keys_page(request: Request, user: SignedInCaller, status: int = 200, **context: Any) -> Response:
        api_keys = [k for k in user.call("GET", "/api/v1/me/api-keys") if k["revoked_at"] is None]
        return render(request, "api_keys.html", status, api_keys=api_keys, **context)

    @app.get("/cabinet/api-keys", response_class=HTMLResponse)
    def api_keys(request: Request) -> Response:
        return cabinet(request, lambda user: keys_page(request, user))

    @app.post("/cabinet/api-keys", response_class=HTMLResponse)
    def create_api_key(request: Request, name: str = Form(""), csrf: str = Form("")) -> Response:
        """The new key is on this answer's page only (the API keeps its hash): never in a cookie or a URL."""
        return cabinet_form(
            request, csrf,
            lambda user, **context: keys_page(request, user, **context),
            lambda user: user.call("POST", "/api/v1/me/api-keys", {"name": name}),
        )  # fmt: skip

    @app.post("/cabinet/api-keys/revoke", response_class=HTMLResponse)
    def revoke_api_key(request: Request, key_id: str = Form(""), csrf: str = Form("")) -> Response:
        def change(user: SignedInCaller) -> Any:
            user.call("DELETE", f"/api/v1/me/api-keys/{path_id(key_id, 'key')}")
            return {"revoked": True}

        return cabinet_form(
            request, csrf, lambda user, **context: keys_page(request, user, **context), change
        )

    @app.exception_handler(RequestValidationError)
    async def bad_address(request: Request, exc: RequestValidationError) -> Response:
        """An address a page does not take (`?page=-1`, `?format=xml`, a form field too long): a page saying
        so, 400, never the framework's JSON."""
        t = i18n.translator(language(request))
        return render(request, "cabinet_error.html", 400, error=t("errors.bad_address"))

    @app.exception_handler(StarletteHTTPException)
    async def not_found(request: Request, exc: StarletteHTTPException) -> Response:
        """No such page (404), a method a page does not take (405): a page, not JSON."""
        t = i18n.translator(language(request))
        key = "errors.no_page" if exc.status_code == 404 else "errors.bad_address"
        return render(request, "cabinet_error.html", exc.status_code, error=t(key))

    kit = Kit(api, keys, templates, render, cabinet, cabinet_form, language, refusal, page_context)
    security.register(app, kit)
    inbox.register(app, kit)
    tools.register(app, kit)
    history.register(app, kit)

    @app.get("/assets/portal.js")
    def script() -> Response:
        """The pages' one script (streamed answers, copy buttons), from the package: nothing is fetched."""
        return Response(
            SCRIPT, media_type="text/javascript", headers={"Cache-Control": "public, max-age=3600"}
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app() -> FastAPI:
    """`uvicorn --factory portal.app:app`."""
    return create_app()
