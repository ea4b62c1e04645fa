"""The panel's texts: one catalogue per language (dashboard/locales/<language>.toml), both with the same keys
and the same placeholders, holding exactly the keys the code looks up with `i18n.t`.

The code is read, not run: every `i18n.t(...)` and `i18n.has(...)` under dashboard/ is found in its syntax
tree. A key written out (`i18n.t("users.block")`, or either branch of `"a" if x else "b"`) is taken as it is;
a key built at run time (`i18n.t(f"users.col_{c}")`) must be declared in DYNAMIC below with the values it is
built from, so that each of its keys is checked too. A key looked up only after `i18n.has` says it exists
(a label for a code the API sends, shown as the bare code when there is none) is in OPTIONAL instead.

The `[columns]` and `[errors]` tables name what comes from elsewhere (decision 0039), so their keys are held
to that: every error code the API and the panel's client can refuse with has an entry, and every label is for
a column the warehouse's queries return (tests/dashboard/test_panel.py holds every column a page shows to
a label).
"""

from __future__ import annotations

import ast
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboard import i18n

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboard"


def constant(module: str, name: str) -> Any:
    """A module-level constant of dashboard/app_pages/<module>.py (or dashboard/<module>.py), read from its
    source: importing a page would run it."""
    path = DASHBOARD / "app_pages" / f"{module}.py"
    if not path.exists():
        path = DASHBOARD / f"{module}.py"
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise LookupError(f"{path} has no constant {name}")


# Keys built at run time, as the code builds them ({} where a value goes in), and every value that goes in.
DYNAMIC: dict[str, tuple[str, ...]] = {
    "app.pages.{}": tuple(constant("app", "PAGES")),
    "app.sections.{}": constant("app", "SECTIONS"),
    "common.{}": (
        *("completions", "failed_calls", "users", "input_tokens", "output_tokens"),  # ui.catalogue_usage
        *("day", "week", "month"),  # the grains of the overview and the reports
    ),
    "requests.status_{}": constant("requests", "STATUSES"),
    "moderation.status_{}": constant("moderation", "STATUSES"),
    "cache.hits_{}": constant("cache", "HITS_TAKE"),
    "cache.scope_{}": constant("cache", "SCOPES"),
    "cache.clear_{}": constant("cache", "CLEAR"),
    "experiments.status_{}": constant("experiments", "STATUSES"),
    "experiments.do_{}": tuple(constant("experiments", "ICONS")),  # start, pause, resume
    "experiments.did_{}": tuple(constant("experiments", "ICONS")),
    "experiments.c_{}": constant("experiments", "COUNTS"),
    "experiments.target_{}": constant("experiments", "TARGETS"),  # what a new experiment is on
    "experiments.m_{}": constant("verdicts", "METRICS"),  # a metric's label
    "experiments.n_{}": constant("verdicts", "METRICS"),  # a metric named inside a verdict
    "experiments.said_{}": tuple(
        f"{metric}_{outcome}" for metric in constant("verdicts", "METRICS") for outcome in ("better", "worse")
    ),
    "roles.tool_{}": tuple(tool or "none" for tool in constant("roles", "TOOLS")),  # None: chat only
    "requests.{}": ("succeeded", "failed"),  # a call's outcome
    "alerts.m_{}": constant("alerts", "METRICS"),
    "alerts.threshold_{}": constant("alerts", "METRICS"),
    "alerts.ch_{}": constant("alerts", "CHANNELS"),
    "alerts.target_{}": constant("alerts", "CHANNELS"),
    "alerts.k_{}": constant("alerts", "KINDS"),
    "alerts.d_{}": constant("alerts", "DELIVERY"),
    "alerts.state_{}": ("ok", "firing"),  # an enabled rule's state as the API gives it
    "audit.{}": (
        *("tab_audit", "tab_security", "tab_errors"),  # the tabs (TABS)
        *("success", "failure"),  # a security event's outcome
        *("unhandled", "provider"),  # an error's kind
    ),
    "health.{}": tuple(constant("health", "BADGE")),
    "health.tp_{}": constant("health", "THROUGHPUT_MEASURES"),
    "models.{}": ("free", "paid"),  # a model's tier
    "notifications.kind_{}": constant("notifications", "KINDS"),
    "notifications.ch_{}": constant("notifications", "CHANNELS"),
    "notifications.st_{}": constant("notifications", "STATUSES"),
    "notifications.rule_{}": constant("notifications", "RULES"),
    "notifications.when_{}": constant("notifications", "RULES"),
    "notifications.ph_{}": constant("notifications", "PLACEHOLDER_ORDER"),
    "notifications.lang_{}": ("en", "ru"),  # the languages of a broadcast's texts
    "overview.{}": constant("overview", "KPIS"),
    "plans.{}": (*constant("plans", "TIERS"), *constant("plans", "LIMITS")),
    "providers.{}": constant("providers", "KINDS"),
    "reports.{}": (
        *constant("reports", "DIMENSIONS"),  # costs split by
        *("cost", "calls", "tokens", "credits"),  # models and roles ranked by
        *("revenue_usd", "provider_cost_usd", "margin_usd"),  # the revenue chart's lines
    ),
    "roles.{}": tuple(constant("roles", "FIELD_LABELS").values()),
    "users.{}": (
        *("active", "blocked"),  # the status filter
        *("desc", "asc"),  # the order
        *("tab_profile", "tab_history", "tab_chats", "tab_actions"),  # a user's tabs
        *("block", "unblock"),  # the block button
    ),
    "users.did_{}": ("block", "unblock"),
    "users.bulk_{}": constant("users", "BULK_ACTIONS"),
    "users.bulk_do_{}": ("block", "unblock"),
    "users.col_{}": constant("users", "SORTS"),
    "users.role_{}": constant("users", "ROLES"),
}
# Keys looked up only when `i18n.has` finds them: not every value needs a text, but every text must be for one
# of these values.
OPTIONAL: dict[str, tuple[str, ...]] = {
    "users.actions.{}": constant("audit", "AUDIT_ACTIONS"),  # staff actions on an account
    "audit.labels.{}": (*constant("audit", "AUDIT_ACTIONS"), *constant("audit", "SECURITY_KINDS")),
}


@dataclass(frozen=True)
class Lookup:
    where: str  # file:line
    key: str  # a key, or a pattern with {} for a key built at run time
    built: bool  # whether `key` is a pattern
    values: frozenset[str] | None  # the placeholders passed (None: passed as **values, unknown)
    guard: bool  # an `i18n.has`, not an `i18n.t`


def _is_lookup(node: ast.AST, path: Path) -> bool:
    """`i18n.t` or `i18n.has` (or `t` and `has` inside i18n.py itself)."""
    if isinstance(node, ast.Attribute):
        return node.attr in ("t", "has") and isinstance(node.value, ast.Name) and node.value.id == "i18n"
    return path.name == "i18n.py" and isinstance(node, ast.Name) and node.id in ("t", "has")


def _keys(node: ast.expr) -> list[tuple[str, bool]] | None:
    """The keys an argument can be: a literal, both branches of a conditional, or an f-string's pattern."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [(node.value, False)]
    if isinstance(node, ast.IfExp):
        body, orelse = _keys(node.body), _keys(node.orelse)
        return None if body is None or orelse is None else body + orelse
    if isinstance(node, ast.JoinedStr):
        return [("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values), True)]
    return None


def scan() -> tuple[list[Lookup], list[str]]:
    """Every lookup in dashboard/, and where a lookup's key cannot be read (or `t` is passed around)."""
    lookups, unreadable = [], []
    for path in sorted(DASHBOARD.rglob("*.py")):
        tree = ast.parse(path.read_text())
        called = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _is_lookup(node.func, path):
                called.add(id(node.func))
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                keys = _keys(node.args[0]) if node.args else None
                if keys is None:
                    unreadable.append(where)
                    continue
                passed = [k.arg for k in node.keywords]
                values = None if None in passed else frozenset(passed)
                guard = (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "has"
                lookups += [Lookup(where, key, built, values, guard) for key, built in keys]
        for node in ast.walk(tree):
            if _is_lookup(node, path) and id(node) not in called and not isinstance(node.ctx, ast.Store):
                unreadable.append(f"{path.relative_to(ROOT)}:{node.lineno} (passed around, not called)")
    return lookups, unreadable


def fields(text: str) -> set[str]:
    """The placeholders `str.format` fills in: `{name}` (`{{` is a brace)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def expand(pattern: str, values: tuple[str, ...]) -> set[str]:
    return {pattern.replace("{}", value) for value in values}


def test_each_language_has_one_catalogue_and_both_hold_the_same_keys():
    assert {p.stem for p in i18n.LOCALES.glob("*.toml")} == set(i18n.LANGUAGES)
    english, russian = set(i18n.catalogue("en")), set(i18n.catalogue("ru"))
    assert not english - russian, f"only in en.toml: {sorted(english - russian)}"
    assert not russian - english, f"only in ru.toml: {sorted(russian - english)}"


def test_each_text_has_the_same_placeholders_in_both_languages():
    english, russian = i18n.catalogue("en"), i18n.catalogue("ru")
    different = {
        key: (sorted(fields(text)), sorted(fields(russian[key])))
        for key, text in english.items()
        if key in russian and fields(text) != fields(russian[key])
    }
    assert not different, f"placeholders differ (en, ru): {different}"
    empty = [f"{language}: {key}" for language in ("en", "ru")
             for key, text in i18n.catalogue(language).items() if not text.strip()]  # fmt: skip
    assert not empty, f"empty texts: {empty}"


def test_every_key_the_code_looks_up_is_in_the_catalogues_with_the_placeholders_it_fills_in():
    lookups, unreadable = scan()
    assert not unreadable, (
        f"lookups whose key the test cannot read (write it out, or as an f-string): {unreadable}"
    )
    catalogue = i18n.catalogue("en")
    missing = sorted({f"{x.where}: {x.key}" for x in lookups if not x.built and x.key not in catalogue})
    assert not missing, f"keys not in the catalogues: {missing}"

    guarded = {x.key for x in lookups if x.built and x.guard}
    built = {x.key for x in lookups if x.built and not x.guard} - guarded
    assert not built - set(DYNAMIC), f"keys built at run time, not declared: {built - set(DYNAMIC)}"
    assert not guarded - set(OPTIONAL), (
        f"keys looked up with i18n.has, not declared: {guarded - set(OPTIONAL)}"
    )
    assert not set(DYNAMIC) - built, f"declared, no longer built by the code: {set(DYNAMIC) - built}"
    assert not set(OPTIONAL) - guarded, f"declared, no longer looked up: {set(OPTIONAL) - guarded}"
    missing = sorted(
        key for pattern, values in DYNAMIC.items() for key in expand(pattern, values) - set(catalogue)
    )
    assert not missing, f"keys built at run time, not in the catalogues: {missing}"

    # The placeholders a call fills in are those of its text: a text left with a `{name}`, or a value the
    # text has no place for, is a mistake (a call passing `**values` is not checked).
    wrong = []
    for x in lookups:
        if x.guard or x.values is None:
            continue
        keys = expand(x.key, {**DYNAMIC, **OPTIONAL}[x.key]) & set(catalogue) if x.built else {x.key}
        for key in keys:
            if fields(catalogue[key]) != x.values:
                wrong.append(
                    f"{x.where}: {key} has {sorted(fields(catalogue[key]))}, given {sorted(x.values)}"
                )
    assert not wrong, wrong


def test_every_catalogue_key_is_used_by_the_code():
    lookups, _ = scan()
    used = {x.key for x in lookups if not x.built}
    for pattern, values in DYNAMIC.items():
        used |= expand(pattern, values)
    for pattern, values in OPTIONAL.items():
        used |= expand(pattern, values)
    named_elsewhere = {
        key for key in i18n.catalogue("en") if key.startswith(("columns.", "errors.", "error_details."))
    }
    unused = sorted(set(i18n.catalogue("en")) - used - named_elsewhere)
    assert not unused, f"keys no code looks up: {unused}"


def _labelled(table: str) -> set[str]:
    return {key.removeprefix(f"{table}.") for key in i18n.catalogue("en") if key.startswith(f"{table}.")}


def _codes_in_source() -> tuple[set[str], set[str]]:
    """The error codes written in api/ and dashboard/api_client.py: a class's `code = "…"`, a `code="…"`
    argument, the code given to `ApiError`, `RequestRefused` or `error_body`; and, of those, the ones the
    panel's own client raises."""
    written, panel = set(), set()
    paths = [*sorted((ROOT / "api").rglob("*.py")), DASHBOARD / "api_client.py"]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            found = []
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if [getattr(target, "id", None) for target in targets] == ["code"]:
                    found.append(node.value)
            elif isinstance(node, ast.Call):
                found += [k.value for k in node.keywords if k.arg == "code"]
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name in ("ApiError", "RequestRefused", "error_body"):
                    found += node.args[:2]
            codes = {v.value for v in found if isinstance(v, ast.Constant) and isinstance(v.value, str)}
            codes = {code for code in codes if code.isidentifier() and code.islower()}
            written |= codes
            if path.name == "api_client.py":
                panel |= codes
    return written, panel


def _codes_in_openapi() -> set[str]:
    """Every code the API's OpenAPI document lists under a route's 4xx ("error codes: a, b")."""
    from api.core.errors import AppError
    from api.main import app

    codes = set()
    for route in app.openapi()["paths"].values():
        for operation in route.values():
            for response in operation.get("responses", {}).values():
                listed = response.get("description", "").removeprefix("error codes: ")
                if listed != response.get("description", ""):
                    codes |= {code.strip() for code in listed.split(",")}

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    # The API's refusals only: the CLI's own (aiadmin/, never sent to the panel) exist only when another test
    # of the same worker imported them.
    return codes | {error.code for error in subclasses(AppError) if error.__module__.startswith("api.")}


def test_every_error_code_the_panel_can_be_refused_with_is_worded_in_both_languages():
    written, panel = _codes_in_source()
    required = _codes_in_openapi() | panel
    assert {"quota_exceeded", "forbidden", "validation_error", "api_unreachable"} <= required
    missing = sorted(required - _labelled("errors"))
    assert not missing, f"error codes without an [errors] entry: {missing}"
    stale = sorted(_labelled("errors") - required - written)
    assert not stale, f"[errors] entries for codes the code no longer has: {stale}"


def test_every_refusal_worded_with_its_specifics_is_a_refusal_worded_without_them():
    """`[error_details]` (the wording with the API's `params`) is for codes `[errors]` has: a refusal whose
    specifics are missing or different still reads."""
    assert _labelled("error_details") and not _labelled("error_details") - _labelled("errors")


def test_every_column_label_is_for_a_column_the_warehouse_returns():
    """A word of warehouse/queries.py (a column or an alias it selects): a label for no column is stale."""
    import re

    words = set(re.findall(r"[a-z][a-z0-9_]*", (ROOT / "warehouse" / "queries.py").read_text()))
    assert not _labelled("columns") - words, _labelled("columns") - words


def test_a_column_and_a_refusal_are_named_in_the_current_language(monkeypatch):
    session: dict[str, str] = {}
    monkeypatch.setattr(i18n.st, "session_state", session)
    assert i18n.column("cost_usd") == "Cost, USD" and i18n.column("no_such_column") == "no_such_column"
    # English shows the API's own words (they name the specifics), Russian its catalogue's.
    assert i18n.error("forbidden", "the analyst role lacks x") == "the analyst role lacks x"
    assert i18n.error("forbidden", "") == "Your role may not do this."
    session["locale"] = "ru"
    assert i18n.column("cost_usd") == "Стоимость, USD"
    assert i18n.error("forbidden", "the analyst role lacks x") == "Вашей роли это не разрешено."
    assert i18n.error("mock_failure", "the mock was told to fail") == "the mock was told to fail"
    assert i18n.chart_locale()["number"]["decimal"] == ","


def test_a_text_is_looked_up_in_the_current_language_and_filled_in(monkeypatch):
    session: dict[str, str] = {}
    monkeypatch.setattr(i18n.st, "session_state", session)
    assert i18n.t("common.are_you_sure", action="Block?") == "Are you sure? Block?"
    assert i18n.t("ui.params_json", error="x").endswith(
        'e.g. {"temperature": 0.7}: x'
    )  # {{ and }} are braces
    session["locale"] = "ru"
    assert i18n.t("common.are_you_sure", action="Block?") == "Вы уверены? Block?"
    assert i18n.yes_no(True) == "да" and i18n.duration(3 * 3600 + 5 * 60) == "3 ч 5 мин"
    assert i18n.has("audit.labels.user.block") and not i18n.has("audit.labels.model.create")


def test_the_catalogues_are_installed_with_the_package():
    """A non-editable install copies only the data files pyproject.toml's package-data names."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        package_data = tomllib.load(file)["tool"]["setuptools"]["package-data"]
    shipped = {path for pattern in package_data.get("dashboard", []) for path in DASHBOARD.glob(pattern)}
    assert set(i18n.LOCALES.glob("*.toml")) <= shipped
