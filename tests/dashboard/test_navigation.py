"""Every page as every role, through the router: each role sees exactly the pages its permissions allow,
and each of them renders with every tab, with published data, in English and in Russian
(tests/dashboard/test_i18n.py checks the texts)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from api.auth.permissions import ROLE_PERMISSIONS
from dashboard import i18n
from dashboard.api_client import ApiClient
from tests.dashboard.conftest import APP, PAGES, ROLES, StaffSessions
from tests.support.world import published_world

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(tmp_path_factory, published_template):
    """Users with activity, published (so that every chart, table and heatmap has rows to draw), and the
    live API: one for the module (its pipeline run is most of its time)."""
    with pytest.MonkeyPatch.context() as patch:
        with published_world(tmp_path_factory.mktemp("pages-world"), published_template, patch) as world:
            patch.setenv("AIADMIN_API_URL", world[1].url)
            yield world


@pytest.fixture(scope="module")
def staff(world) -> StaffSessions:
    """The world's staff, one signed-in member per role for the module (each page test only reads)."""
    return StaffSessions(world[0], world[1].url)


def _registry() -> dict[str, tuple]:
    """dashboard/app.py's PAGES (read from its source: running it needs a Streamlit session), with each page's
    title from the catalogues: name → (section, English title, Russian title, icon, permission)."""
    tree = ast.parse((ROOT / "dashboard" / "app.py").read_text())
    (node,) = [
        n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "PAGES"
    ]
    english, russian = i18n.catalogue("en"), i18n.catalogue("ru")
    return {
        name: (section, english[f"app.pages.{name}"], russian[f"app.pages.{name}"], icon, permission)
        for name, (section, icon, permission) in ast.literal_eval(node.value).items()
    }


def test_every_registered_page_exists_and_every_page_file_is_registered():
    registry = _registry()
    assert {p.stem for p in PAGES.glob("*.py")} == set(registry)
    assert all(
        section in {"analytics", "people", "catalogue", "messaging", "system"}
        for section, *_ in registry.values()
    )


# One worker builds the module's world and renders every role: a second build would cost more than it saves.
@pytest.mark.xdist_group("panel-pages")
@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_only_its_pages_and_each_renders_every_tab_in_both_languages(role, world, staff):
    """Streamlit runs every tab's body on each run: a page that renders has rendered all of its tabs. The
    Users page's tabs are a user's: one is opened; on the Requests page, one call."""
    _, live_server = world
    registry = _registry()
    allowed = {name for name, (*_, permission) in registry.items() if permission in ROLE_PERMISSIONS[role]}
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["staff"] = session = staff[role]
    if "users" in allowed:
        found = ApiClient(live_server.url, session.token).get("/api/v1/admin/users", q="ada@example.com")
        (ada,) = found["items"]
        (call,) = ApiClient(live_server.url, session.token).get("/api/v1/admin/calls", limit=1)["items"]
    for locale in ("en", "ru"):
        app.session_state["locale"] = locale
        for name in sorted(allowed):
            app.switch_page(f"app_pages/{name}.py").run()
            assert not app.exception, (role, locale, name, app.exception)
            english, russian = registry[name][1:3]
            assert [t.value for t in app.title][:1] == [russian if locale == "ru" else english], (role, name)
            if name == "users":
                app.selectbox(key="users:picked").select(ada["id"]).run()
                assert not app.exception, (role, locale, "a user", app.exception)
                assert len(app.tabs) >= 2, (role, locale, "a user's tabs")
            if name == "requests":  # one call, with its attempts and messages
                app.text_input(key="requests:call").input(str(call["id"])).run()
                assert not app.exception, (role, locale, "a call", app.exception)
                assert app.subheader, (role, locale, "a call's page")
    # A page the role may not see is not in its navigation: it cannot be reached, even by its path.
    for name in sorted(set(registry) - allowed):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            app.switch_page(f"app_pages/{name}.py")


@pytest.mark.xdist_group("panel-pages")
def test_models_and_roles_pages_show_the_usage_the_api_counts_from_the_published_warehouse(world, staff):
    """A model's and a role's usage on their pages is read from the published warehouse (one row of
    mart_catalogue_usage), not counted over every event at each view: the same figures as the API's `…/usage`
    counts in the OLTP database, when nothing happened since the publication."""
    _, live_server = world
    admin = staff["admin"]
    api = ApiClient(live_server.url, admin.token)
    labels = {"completions": "Completions", "failed_calls": "Failed calls", "users": "Users",
              "input_tokens": "Input tokens", "output_tokens": "Output tokens"}  # fmt: skip
    for page, path, picker in (("models", "/api/v1/admin/models", "models:chosen"),
                               ("roles", "/api/v1/admin/roles", "roles:chosen")):  # fmt: skip
        counted = {item["id"]: api.get(f"{path}/{item['id']}/usage") for item in api.get(path)}
        used = [i for i, figures in counted.items() if figures["completions"]]
        assert used or page == "roles", counted  # the world's calls name a model (no assistant role)
        app = AppTest.from_file(str(ROOT / "dashboard" / "app_pages" / f"{page}.py"), default_timeout=60)
        app.session_state["staff"], app.session_state["locale"] = admin, "en"
        app.run()
        for item_id in [*used[:1], *[i for i in counted if i not in used][:1]]:  # one used, one not
            app.selectbox(key=picker).select(item_id).run()
            assert not app.exception, (page, item_id, app.exception)
            shown = {m.label: m.value for m in app.metric}
            expected = {labels[k]: f"{counted[item_id][k]:,}" for k in labels}
            if page == "models":
                expected["Cost, USD"] = str(i18n.amount(counted[item_id]["cost_usd"]))
            assert shown == expected, (page, item_id)
            assert any(c.value.startswith("Data as of") for c in app.caption), (page, item_id)


@pytest.mark.xdist_group("panel-pages")
def test_the_reports_models_and_roles_tabs_show_the_share_of_positive_scores(world, staff):
    """The world's two scores (a thumb up, a 2 of 5) of free-tier calls naming no role: half positive, by
    model and by role (decision 0054)."""
    app = AppTest.from_file(str(ROOT / "dashboard" / "app_pages" / "reports.py"), default_timeout=60)
    app.session_state["staff"], app.session_state["locale"] = staff["analyst"], "en"
    app.run()
    assert not app.exception, app.exception
    shown = [frame.value for frame in app.dataframe if "Share positive" in frame.value.columns]
    assert [f.iloc[:, 0].tolist() for f in shown] == [["mock-small"], ["(none)"]]  # by model, by role
    assert all(f["Share positive"].tolist() == [0.5] and f["Scored"].tolist() == [2] for f in shown)
