"""Every page as every role, through the router: each role sees exactly the pages its permissions allow,
and each of them renders, in English and in Russian; every label exists in both languages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from api.auth.permissions import ROLE_PERMISSIONS
from tests.dashboard.conftest import APP, PAGES, ROLES, sign_in_staff

ROOT = Path(__file__).resolve().parents[2]
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _registry() -> dict[str, tuple]:
    """dashboard/app.py's PAGES, read from its source (running it needs a Streamlit session)."""
    tree = ast.parse((ROOT / "dashboard" / "app.py").read_text())
    (node,) = [
        n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "PAGES"
    ]
    return ast.literal_eval(node.value)


def _texts(path: Path) -> dict[str, tuple[str, str]]:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "T":
            return ast.literal_eval(node.value.args[0])
    return {}


def test_every_registered_page_exists_and_every_page_file_is_registered():
    registry = _registry()
    assert {p.stem for p in PAGES.glob("*.py")} == set(registry)
    assert all(
        section in {"analytics", "people", "catalogue", "messaging", "system"}
        for section, *_ in registry.values()
    )


@pytest.mark.parametrize("page", [*sorted(p.name for p in PAGES.glob("*.py")), "../app.py"])
def test_every_label_a_page_uses_exists_in_english_and_russian(page):
    path = PAGES / page
    table = _texts(path)
    for key, (english, russian) in table.items():
        assert english.strip() and russian.strip(), (page, key)
        assert set(re.findall(r"{(\w*)}", english)) == set(re.findall(r"{(\w*)}", russian)), (page, key)
    used = set(re.findall(r"\bT\(\s*\"([a-z0-9_]+)\"", path.read_text()))
    assert used <= set(table), (page, used - set(table))


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
