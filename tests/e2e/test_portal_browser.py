"""The portal in a real browser: Debian's chromium, headless, driven by Playwright (never a downloaded
browser), against the real portal and the real API, each served by uvicorn (docs/testing.md).

- The accessibility gate: axe-core (bundled in the pinned axe-playwright-python wheel, decision 0052) on
  every page of PAGES, in English and Russian, light and dark, at 375 px and 1280 px: a violation of impact
  serious or critical fails, named by rule, element and help page; so does a page wider than a 375 px phone.
- The keyboard: the sign-up form is filled in and sent with Tab, typing and Enter alone.
- The journey of issue 18 (SCENARIO, one step after another, each with a screenshot): sign up in the form,
  open the mailed link and confirm, sign in, see the free plan's quota, top up (a test top-up).

Screenshots go to `$AIADMIN_TEST_ARTIFACTS/screenshots`. Without chromium the tests are skipped with the
reason, unless AIADMIN_REQUIRE_BROWSER=1 (CI), where a missing browser fails them.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance
from sqlalchemy import update

import api.main
from api.accounts.models import Account
from api.core.settings import Settings, get_settings
from pipelines.definitions import build_definitions
from pipelines.run import run_pipeline
from portal.app import create_app as create_portal
from portal.settings import PortalSettings
from tests.conftest import TEST_SECRET, export_settings
from tests.support.api import PASSWORD, LiveServer, db_execute, mail_body, mails, recording, register, sign_up
from tests.support.browser import PanelServer, launch, panel_sign_in, require_chromium, screenshot
from warehouse.settings import WarehouseSettings, get_warehouse_settings

require_chromium()

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402

# One worker runs the module, so that its tests share one API, one portal and one browser.
pytestmark = pytest.mark.xdist_group("portal-browser")

AXE = (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")
GATE = {"serious", "critical"}  # the impacts that fail; "minor" and "moderate" are read, not gated
LANGUAGES = ("en", "ru")
SCHEMES = ("light", "dark")
WIDTHS = (375, 1280)  # a small phone, a desktop
SHOWN = {("light", 1280), ("dark", 375)}  # the combinations every page is photographed in
KEY = "a-test-portal-key-of-enough-length"


class Later:
    """An ASGI app set after its server has its address: the API's mail links need the portal's address and
    the portal needs the API's, so the portal's socket is bound first and its app made once the API runs
    (before the portal's server starts)."""

    app = None

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


@dataclass
class World:
    url: str  # the portal's
    api: httpx.Client
    settings: Settings  # the API's
    emails: Iterator[str]

    def new_email(self) -> str:
        return next(self.emails)


@contextmanager
def serving(root: Path, sqlite_template: Path) -> Iterator[World]:
    """The API (its mails linking to the portal and noted in the test's mailbox, test top-ups on, no
    background jobs) and the portal, each on a live uvicorn, over a fresh database in `root`."""
    shutil.copyfile(sqlite_template, root / "aiadmin.db")
    later = Later()
    portal_server = LiveServer(later)  # its address now, served once its app is made
    settings = Settings(
        environment="test",
        secret_key=TEST_SECRET,
        data_dir=root / "var",
        database_url=f"sqlite:///{root / 'aiadmin.db'}",
        background_jobs=False,
        app_url=portal_server.url,
        test_top_ups=True,
    )
    with pytest.MonkeyPatch.context() as patch:
        # The mails the API sends are noted in the test's mailbox (tests/conftest.py `mailbox` does so for
        # the apps a test makes; these are made outside any test's fixtures).
        patch.setattr(api.main, "make_sender", lambda s, make=api.main.make_sender: recording(make(s)))
        with (
            LiveServer(api.main.create_app(settings)) as api_server,
            httpx.Client(base_url=api_server.url, timeout=30) as client,  # a wait, not a limit
        ):
            later.app = create_portal(
                PortalSettings(api_url=api_server.url, portal_key=KEY, data_dir=root, api_timeout_seconds=30)
            )
            with portal_server:
                emails = (f"user{n}@example.com" for n in itertools.count(1))
                yield World(portal_server.url, client, settings, emails)


@pytest.fixture(scope="module")
def world(tmp_path_factory, sqlite_template) -> Iterator[World]:
    """One API and portal shared by the module's page walks."""
    with serving(tmp_path_factory.mktemp("portal-browser"), sqlite_template) as world:
        yield world


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        # Waits, not speed limits: on a busy machine (a parallel test run) a page that calls the API, or a
        # streamed answer, may take more than the 5 s `expect` waits by default.
        expect.set_options(timeout=15_000)
        yield browser
        browser.close()


def new_context(browser: Browser, lang: str) -> BrowserContext:
    """A browser whose Accept-Language is `lang` (the portal's language follows it), at desktop size."""
    context = browser.new_context(locale={"en": "en-GB", "ru": "ru-RU"}[lang],
                                  viewport={"width": 1280, "height": 900})  # fmt: skip
    context.set_default_timeout(15_000)
    return context


def send_form(page: Page, world: World, path: str, csrf: str | None = None, **fields: str) -> None:
    """Open `path`, fill in its fields (by id), send its form; `csrf`: a token put in place of the page's."""
    page.goto(world.url + path)
    if csrf is not None:
        page.locator("input[name=csrf]").evaluate("(field, token) => field.value = token", csrf)
    for field, value in fields.items():
        page.locator(f"#{field}").fill(value)
    page.locator("main button[type=submit]").click()


def sign_in(page: Page, world: World, email: str) -> None:
    send_form(page, world, "/sign-in", email=email, password=PASSWORD)
    expect(page).to_have_url(f"{world.url}/cabinet")


def mailed_link(settings: Settings, to: str, kind: str) -> str:
    """The link of the newest mail of this kind to `to`, as the mail writes it."""
    body = mail_body(settings, to, kind)
    match = re.search(r"https?://\S+?token=[A-Za-z0-9_-]+", body)
    assert match, body
    return match.group(0)


# --- the pages the gate walks ----------------------------------------------------------------------------


def a_confirmation_link(page: Page, world: World) -> None:
    """The mailed link opened: a page with one button (opening it spends nothing)."""
    email = world.new_email()
    register(world.api, email)
    page.goto(mailed_link(world.settings, email, "confirm_email"))


def a_confirmed_email(page: Page, world: World) -> None:
    a_confirmation_link(page, world)
    page.locator("main button[type=submit]").click()
    expect(page.locator("main .ok[role=status]")).to_be_visible()


def a_bad_confirmation(page: Page, world: World) -> None:
    page.goto(f"{world.url}/confirm-email?token=not-a-token")
    page.locator("main button[type=submit]").click()
    expect(page.locator("main a[href='/resend-confirmation']")).to_be_visible()


def a_tool_used(path: str, text: str, refused: bool = False) -> Callable[[Page, World], None]:
    """The tool at `path` asked once (one of the day's requests): the page with its answer (or, `refused`,
    its refusal) as the page's script shows it once the answer is written."""

    def use(page: Page, world: World) -> None:
        page.goto(world.url + path)
        page.locator("#text").fill(text)
        page.locator("form[data-stream] button[type=submit]").click()
        answer = page.locator("#answer section.answer, #messages article.msg.assistant")
        expect(page.locator("#answer [role=alert]") if refused else answer.first).to_be_visible()
        expect(page.locator("form[aria-busy]")).to_have_count(0)

    return use


def a_new_api_key(page: Page, world: World) -> None:
    """The key shown once, in a read-only field of its own."""
    page.goto(f"{world.url}/cabinet/api-keys")
    page.locator("#name").fill("my laptop")
    page.locator("form[action='/cabinet/api-keys'] button[type=submit]").click()
    expect(page.locator("#new_key")).to_be_visible()


def a_two_step_setup(page: Page, world: World) -> None:
    """The authenticator's new key shown, with the form that turns two-step sign-in on (it stays off)."""
    page.goto(f"{world.url}/cabinet/security")
    page.locator("form[action='/cabinet/2fa/setup'] button[type=submit]").click()
    expect(page.locator("form[action='/cabinet/2fa/enable']")).to_be_visible()


def a_chat_in_the_history(page: Page, world: World) -> None:
    page.goto(f"{world.url}/history")
    page.locator("main table a").first.click()
    expect(page.locator("main .msg, main article").first).to_be_visible()


def a_wrong_password(page: Page, world: World) -> None:
    send_form(page, world, "/sign-in", email="nobody@example.com", password="not-the-password")
    expect(page.get_by_role("alert")).to_be_visible()


def a_forged_form(page: Page, world: World) -> None:
    """The CSRF refusal: a form sent with a token that is not the page's."""
    send_form(page, world, "/forgot-password", csrf="0" * 64, email="ada@example.com")
    expect(page.get_by_role("alert")).to_be_visible()


def a_refused_cabinet(page: Page, world: World) -> None:
    """The cabinet's error page (the API refuses a page's read: here the account was blocked meanwhile),
    as another user in this browser; the walker's own session cookie is put back afterwards."""
    kept = page.context.cookies()
    page.context.clear_cookies()
    email = world.new_email()
    sign_up(world.api, email, world.settings)
    sign_in(page, world, email)
    db_execute(world.settings, update(Account).where(Account.email == email).values(is_blocked=True))
    page.goto(f"{world.url}/cabinet/balance")
    expect(page.get_by_role("alert")).to_be_visible()
    page.context.clear_cookies()
    page.context.add_cookies(kept)


@dataclass(frozen=True)
class PortalPage:
    name: str
    open: str | Callable[[Page, World], None]  # a path, or how the browser gets to the page in this state
    signed_in: bool = False


# Every portal page, in every state worth a look: the accessibility gate walks them all. Add each new page
# (and each new state of a page: a form's answer, an error) here. Signed-out pages are walked first, then
# the walker (a new user on the free plan, 3 requests a day, for each language) signs in and walks the
# signed-in ones, in this order: the three tools' answers use the day's requests, so the fourth is refused.
PAGES = (
    PortalPage("landing", "/"),
    PortalPage("sign-up", "/sign-up"),
    PortalPage("check-mail", "/check-mail"),
    PortalPage("confirm", a_confirmation_link),
    PortalPage("confirmed", a_confirmed_email),
    PortalPage("confirm-bad-token", a_bad_confirmation),
    PortalPage("sign-in", "/sign-in"),
    PortalPage("sign-in-refused", a_wrong_password),
    PortalPage("forgot-password", "/forgot-password"),
    PortalPage("reset-password", "/reset-password?token=from-the-mail"),
    PortalPage("resend-confirmation", "/resend-confirmation"),
    PortalPage("csrf-refused", a_forged_form),
    PortalPage("not-found", "/no-such-page"),
    PortalPage("cabinet", "/cabinet", signed_in=True),
    PortalPage("balance", "/cabinet/balance", signed_in=True),
    PortalPage("plans", "/cabinet/plans", signed_in=True),
    PortalPage("api-keys", "/cabinet/api-keys", signed_in=True),
    PortalPage("api-key-made", a_new_api_key, signed_in=True),
    PortalPage("security", "/cabinet/security", signed_in=True),
    PortalPage("two-step-setup", a_two_step_setup, signed_in=True),
    PortalPage("notifications", "/cabinet/notifications", signed_in=True),
    PortalPage("cabinet-error", a_refused_cabinet, signed_in=True),
    PortalPage("editor", "/tools/editor", signed_in=True),
    PortalPage("editor-answer", a_tool_used("/tools/editor", "The cat sat on teh mat."), signed_in=True),
    PortalPage("prompts", "/tools/prompts", signed_in=True),
    PortalPage("prompts-answer", a_tool_used("/tools/prompts", "a poem about the sea"), signed_in=True),
    PortalPage("chat", "/tools/chat", signed_in=True),
    PortalPage("chat-answer", a_tool_used("/tools/chat", "Hello, how are you?"), signed_in=True),
    PortalPage("quota-met", a_tool_used("/tools/editor", "One more.", refused=True), signed_in=True),
    PortalPage("history", "/history", signed_in=True),
    PortalPage("history-chat", a_chat_in_the_history, signed_in=True),
)


def axe_violations(page: Page) -> list[str]:
    """axe-core's violations of impact serious or critical on the page as it is now: rule, impact, element,
    help page (axe is put into the page once per load; it reads the live page, styles and size included)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE)
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")["violations"]
    return [
        f"{rule['id']} ({rule['impact']}) at {node['target']}: {rule['help']} {rule['helpUrl']}"
        for rule in found
        if rule["impact"] in GATE
        for node in rule["nodes"]
    ]


# What axe-core does not check: WCAG 1.4.11, a control's edge against the page (3:1), so that a field or a
# button can be found at all. Fields by their border, buttons by their fill; a text-like button is text.
WEAK_EDGES = """() => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => rgb(c).map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const seen = c => (/^rgba\\(.*, 0\\)$/.test(c) ? null : c);  // a transparent colour shows what is below
  const page = seen(getComputedStyle(document.body).backgroundColor)
    || seen(getComputedStyle(document.documentElement).backgroundColor) || 'rgb(255, 255, 255)';
  const edge = e => seen(getComputedStyle(e)[e.matches('button') ? 'backgroundColor' : 'borderTopColor'])
    || page;
  return [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button:not(.link)')]
    .filter(e => e.getClientRects().length)
    .map(e => [e.id || e.name || e.textContent.trim(), ratio(edge(e), page)])
    .filter(([, r]) => r < 3)
    .map(([what, r]) => `${what}: its edge is ${r.toFixed(2)}:1 against the page, under WCAG 1.4.11's 3:1`);
}"""


def weak_edges(page: Page) -> list[str]:
    return page.evaluate(WEAK_EDGES)


def too_wide(page: Page) -> list[str]:
    """The page scrolls sideways (wider than the window): a phone user would have to pan."""
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return [f"the page is {wide} px wider than the window"] if wide > 0 else []


FLAWED = """<!doctype html><html lang="en"><title>Flawed</title><main><h1>Flawed</h1>
<p style="color: #bbb; background: #fff">grey on white</p><input style="border: 1px solid #eee">
<div style="width: 600px">wide</div></main></html>"""


def test_the_checks_fail_a_page_with_each_flaw(browser):
    """The gate can fail: an unlabelled field, faint text, a field's faint edge, a page wider than a phone."""
    page = browser.new_page(viewport={"width": 375, "height": 900})
    page.set_content(FLAWED)
    rules = {problem.split(" ")[0] for problem in axe_violations(page)}
    assert {"label", "color-contrast"} <= rules, rules
    assert len(weak_edges(page)) == 1 and too_wide(page), (weak_edges(page), too_wide(page))
    page.close()


# Every language, scheme and width, pairwise (each pair of a language and a scheme, a language and a width, a
# scheme and a width is checked on every page): half the full matrix, for `make test`. The full matrix is a
# long test (`make test-long`).
PAIRWISE = {("en", "light", 1280), ("en", "dark", 375), ("ru", "light", 375), ("ru", "dark", 1280)}
EVERY = set(itertools.product(LANGUAGES, SCHEMES, WIDTHS))


def walk(world: World, browser: Browser, combinations: set[tuple[str, str, int]]) -> None:
    """Every page of PAGES opened once per language and checked in each of its `combinations`."""
    problems, checked = [], 0
    for lang in LANGUAGES:
        context = new_context(browser, lang)
        page = context.new_page()
        signed_in = False
        for portal_page in sorted(PAGES, key=lambda p: p.signed_in):
            if portal_page.signed_in and not signed_in:
                walker = world.new_email()
                sign_up(world.api, walker, world.settings)
                sign_in(page, world, walker)
                signed_in = True
            if isinstance(portal_page.open, str):
                response = page.goto(world.url + portal_page.open)
                assert response.status < 500, (portal_page.name, response.status)
            else:
                portal_page.open(page, world)
            assert page.evaluate("document.documentElement.lang") == lang, portal_page.name
            for scheme, width in sorted((s, w) for (language, s, w) in combinations if language == lang):
                page.emulate_media(color_scheme=scheme)
                page.set_viewport_size({"width": width, "height": 900})
                where = f"{portal_page.name} [{lang}, {scheme}, {width} px]"
                found = axe_violations(page) + weak_edges(page) + (too_wide(page) if width < 600 else [])
                if found or (scheme, width) in SHOWN:
                    flawed = "-a11y" if found else ""
                    screenshot(page, f"portal{flawed}-{portal_page.name}-{lang}-{scheme}-{width}")
                problems += [f"{where}: {problem}" for problem in found]
                checked += 1
        context.close()
    assert checked == len(PAGES) * len(combinations)
    assert not problems, "\n".join(problems)


def test_every_page_passes_axe_in_both_languages_both_schemes_phone_and_desktop_pairwise(world, browser):
    walk(world, browser, PAIRWISE)


@pytest.mark.long
def test_every_page_passes_axe_in_every_language_scheme_and_width(world, browser):
    walk(world, browser, EVERY)


def test_the_sign_up_form_is_filled_in_and_sent_with_the_keyboard_alone(world, browser):
    context = new_context(browser, "en")
    page = context.new_page()
    page.goto(f"{world.url}/sign-up")
    page.keyboard.press("Tab")  # the first stop: the skip link, shown while it has the focus
    skip = page.locator("a.skip")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["x"] >= 0, "the skip link is off screen while focused"
    for _ in range(15):  # on through the header's links to the form's first field
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "email":
            break
    email_field = page.locator("#email")
    expect(email_field).to_be_focused()
    outline = email_field.evaluate(
        "e => getComputedStyle(e).outlineStyle + ' ' + getComputedStyle(e).outlineWidth"
    )
    assert not outline.startswith("none") and not outline.endswith(" 0px"), f"no visible focus: {outline}"
    email = world.new_email()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
    assert mails(world.settings, email, "confirm_email"), "the form was sent but no account was made"
    context.close()


# --- the journey of issue 18, step by step ---------------------------------------------------------------


@dataclass
class Journey:
    page: Page
    world: World
    email: str


def signs_up_in_the_form(j: Journey) -> None:
    j.page.goto(j.world.url)
    j.page.get_by_role("main").get_by_role("link", name="Sign up").click()
    j.page.get_by_label("Email").fill(j.email)
    j.page.get_by_label("Password").fill(PASSWORD)
    j.page.get_by_role("main").get_by_role("button", name="Sign up").click()
    expect(j.page.get_by_role("heading", name="Check your mail")).to_be_visible()
    expect(j.page.get_by_text(j.email)).to_be_visible()


def confirms_from_the_mail(j: Journey) -> None:
    link = mailed_link(j.world.settings, j.email, "confirm_email")
    assert link.startswith(f"{j.world.url}/confirm-email?token="), link  # the mail links to the portal
    j.page.goto(link)
    j.page.get_by_role("button", name="Confirm my email").click()
    expect(j.page.get_by_role("status")).to_contain_text("confirmed")


def signs_in(j: Journey) -> None:
    j.page.get_by_role("main").get_by_role("link", name="Sign in").click()
    j.page.get_by_label("Email").fill(j.email)
    j.page.get_by_label("Password").fill(PASSWORD)
    j.page.get_by_role("main").get_by_role("button", name="Sign in").click()
    expect(j.page).to_have_url(f"{j.world.url}/cabinet")


def sees_the_free_plan_unused(j: Journey) -> None:
    usage = j.page.locator("dl")
    expect(usage).to_contain_text("free")
    requests = j.page.locator("dt", has_text="Requests today").locator("xpath=following-sibling::dd[1]")
    expect(requests).to_have_text("0 of 3")


def uses_a_tool(path: str, role: str, text: str, done: str, model: str | None = None):
    """A step: the tool at `path` asked once through the page's script (the answer streamed in), with the
    day's count `done` after it ("1 of 3")."""

    def step(j: Journey) -> None:
        j.page.goto(j.world.url + path)
        j.page.get_by_label(re.compile("Your text|Your idea")).fill(text)
        j.page.locator("#role").select_option(role)
        if model:
            j.page.locator("#model").select_option(model)
        j.page.locator("form[data-stream] button[type=submit]").click()
        expect(j.page.locator("#answer section.answer #result")).not_to_be_empty()
        expect(j.page.locator("#quota")).to_contain_text(done)
        if path == "/tools/editor":
            expect(j.page.locator("#answer .diff")).to_be_visible()  # what changed, against the text

    step.__name__ = f"uses {path} as {role}"
    return step


def meets_the_free_quota(j: Journey) -> None:
    j.page.goto(j.world.url + "/tools/prompts")
    j.page.get_by_label("Your idea or rough prompt").fill("one more, please")
    j.page.locator("form[data-stream] button[type=submit]").click()
    alert = j.page.locator("#answer [role=alert]")
    expect(alert).to_contain_text("You have used all 3 requests of today. More from ")
    expect(alert.get_by_role("link", name="See the plans")).to_have_attribute("href", "/cabinet/plans")


def tops_up(j: Journey) -> None:
    j.page.goto(j.world.url + "/cabinet")
    j.page.get_by_role("navigation", name="Your cabinet").get_by_role("link", name="Balance").click()
    expect(j.page.get_by_text("0 credits")).to_be_visible()
    j.page.get_by_label("Amount (USD)").fill("15.00")
    j.page.get_by_role("button", name="Top up").click()
    expect(j.page.get_by_role("status")).to_have_text("Added 1500 credits: your balance is 1500.")
    expect(j.page.get_by_text("1500 credits", exact=True)).to_be_visible()
    expect(j.page.get_by_role("table")).to_contain_text("Top-up of 15.00 USD")


def upgrades(j: Journey) -> None:
    j.page.get_by_role("navigation", name="Your cabinet").get_by_role("link", name="Plans").click()
    j.page.get_by_role("button", name="Buy a month of Pro for 1000 credits").click()
    expect(j.page.get_by_role("status")).to_contain_text("Done: you are on pro until")
    expect(j.page.get_by_role("status")).to_contain_text("your balance is 500")


def exports_the_history(j: Journey) -> None:
    j.page.goto(j.world.url + "/history")
    expect(j.page.locator("main table tbody tr")).to_have_count(4)  # three free uses and the paid one
    with j.page.expect_download() as download:
        j.page.get_by_role("link", name="JSON").click()
    chats = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert sorted(c["role_id"] for c in chats) == [
        "fix-grammar",
        "paraphrase",
        "prompt-creative",
        "prompt-writer",
    ]
    assert all(len(c["messages"]) == 2 for c in chats)  # each request with its answer


def the_panel_counts_the_user(j: Journey) -> None:
    """The warehouse refreshed (one pipeline run over the API's database), the panel's Overview, signed in
    as an admin: this world's one user, active today, with the four answered completions."""
    settings = j.world.settings
    with pytest.MonkeyPatch.context() as patch:
        export_settings(settings, patch)
        with DagsterInstance.ephemeral() as instance:
            warehouse = WarehouseSettings(data_dir=settings.data_dir)
            assert run_pipeline(build_definitions(settings, warehouse), instance).success
        get_settings.cache_clear()
        get_warehouse_settings.cache_clear()
        with PanelServer(str(j.world.api.base_url).rstrip("/"), settings.data_dir) as panel:
            page = j.page.context.new_page()
            panel_sign_in(
                page, panel.url, str(j.world.api.base_url).rstrip("/"), settings, "admin@example.com"
            )
            for label, value in (("DAU", "1"), ("New users", "1"), ("Completions", "4")):
                metric = page.get_by_test_id("stMetric").filter(has_text=label).first
                expect(metric.get_by_test_id("stMetricValue")).to_have_text(value)
            screenshot(page, "portal-journey-panel-overview")
            page.close()


# The steps, in order.
SCENARIO = (
    signs_up_in_the_form,
    confirms_from_the_mail,
    signs_in,
    sees_the_free_plan_unused,
    uses_a_tool("/tools/editor", "fix-grammar", "The cat sat on teh mat.", "1 of 3"),
    uses_a_tool("/tools/prompts", "prompt-creative", "a poem about the sea", "2 of 3"),
    uses_a_tool("/tools/prompts", "prompt-writer", "a bakery's welcome page", "3 of 3"),
    meets_the_free_quota,
    tops_up,
    upgrades,
    uses_a_tool("/tools/editor", "paraphrase", "Hello there, friend.", "4 of 1000", model="mock-large"),
    exports_the_history,
    the_panel_counts_the_user,
)


def test_a_new_user_signs_up_uses_the_tools_to_the_quota_upgrades_exports_and_the_panel_counts_them(
    tmp_path_factory, sqlite_template, browser
):
    """Issue 18's journey in Chromium, on a world of its own (so the panel's figures are this user's)."""
    with serving(tmp_path_factory.mktemp("portal-journey"), sqlite_template) as world:
        context = new_context(browser, "en")
        context.set_default_timeout(30_000)
        journey = Journey(context.new_page(), world, world.new_email())
        for number, step in enumerate(SCENARIO, 1):
            step(journey)
            screenshot(
                journey.page,
                f"portal-journey-{number:02}-{step.__name__.replace('/', '-').replace(' ', '-')}",
            )
        context.close()
