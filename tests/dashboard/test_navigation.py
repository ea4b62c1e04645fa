"""Every page as every role, through the router: each role sees exactly the pages its permissions allow,
and each of them renders, in English and in Russian (tests/dashboard/test_i18n.py checks the texts)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from api.auth.permissions import ROLE_PERMISSIONS
from dashboard import i18n
from tests.dashboard.conftest import APP, PAGES, ROLES, sign_in_staff

ROOT = Path(__file__).resolve().parents[2]
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


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


@sqlite_only
@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_only_its_pages_and_each_renders_in_both_languages(
    role, env_settings, live_server, monkeypatch
):
    monkeypatch.setenv("AIADMIN_API_URL", live_server.url)
    registry = _registry()
    allowed = {name for name, (*_, permission) in registry.items() if permission in ROLE_PERMISSIONS[role]}
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state["staff"] = sign_in_staff(env_settings, live_server.url, role)
    for locale in ("en", "ru"):
        app.session_state["locale"] = locale
        for name in sorted(allowed):
            app.switch_page(f"app_pages/{name}.py").run()
            assert not app.exception, (role, locale, name, app.exception)
            english, russian = registry[name][1:3]
            assert [t.value for t in app.title][:1] == [russian if locale == "ru" else english], (role, name)
    # A page the role may not see is not in its navigation: it cannot be reached, even by its path.
    for name in sorted(set(registry) - allowed):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            app.switch_page(f"app_pages/{name}.py")
