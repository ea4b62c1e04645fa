"""The Experiments page (docs/decisions/0059, 0061) as Streamlit runs it (AppTest), signed in as real staff
against a live API: an experiment defined through the form (its traffic split shown as typed), started,
paused, resumed, stopped after a confirmation, and its winner picked, which gives the role a new version; a
refusal worded; a viewer without catalogue:write sees the list and no forms; Russian."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import insert
from streamlit.testing.v1 import AppTest

from api.audit.models import AuditEntry
from dashboard import i18n
from tests.dashboard.test_navigation import _registry
from tests.dashboard.test_pages_catalogue import admin_api, button, confirm, table
from tests.support.api import db_execute, db_rows, events_of, sign_up
from tests.support.russian import untranslated

EXPERIMENTS = "/api/v1/admin/experiments"
ROLE = "shorten"  # a seeded role (version 1, on the default model)
QUESTION = [{"role": "user", "content": "A long text to shorten."}]
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def listed(panel) -> list[dict]:
    with admin_api(panel) as admin:
        return admin.get(EXPERIMENTS, params={"role_id": ROLE}).json()


def role(panel) -> dict:
    with admin_api(panel) as admin:
        (found,) = [r for r in admin.get("/api/v1/admin/roles").json() if r["id"] == ROLE]
    return found


def define(app: AppTest, variants: list[tuple[str | None, int | None, int]]) -> AppTest:
    """Fill in the new experiment's form on ROLE: each variant's (model, role version, weight)."""
    app.selectbox(key="experiments:new:role").select(ROLE).run()
    app.number_input(key="experiments:new:count").set_value(len(variants)).run()
    for key, (model, version, weight) in zip("ABCDE", variants, strict=False):
        app.selectbox(key=f"experiments:new:{key}:model").select(model or "")  # "": the role's model
        app.selectbox(key=f"experiments:new:{key}:version:{ROLE}").select(version or 0)  # 0: its current
        app.number_input(key=f"experiments:new:{key}:weight").set_value(weight)
    return app.run()


def markdown(app: AppTest) -> list[str]:
    return [m.value for m in app.markdown]


@sqlite_only
def test_an_admin_defines_runs_and_ends_an_experiment_whose_winner_becomes_the_roles_new_version(
    panel, env_settings
):
    app = panel("experiments")
    assert not app.exception and app.title[0].value == "Experiments"
    assert "No experiments yet." in [i.value for i in app.info]

    # A variant with neither a model nor a version is refused before the API is asked.
    app = define(app, [(None, 1, 1), (None, None, 3)])
    assert "Traffic split: A 25.0 %, B 75.0 %" in markdown(app)
    app = button(app, "Create as a draft").click().run()
    assert "Give variant B a model, a role version or both." in [e.value for e in app.error]
    assert listed(panel) == []

    app = define(app, [(None, 1, 1), ("mock-large", None, 3)])
    app = button(app, "Create as a draft").click().run()
    assert not app.exception, app.exception
    (experiment,) = listed(panel)
    id_ = experiment["id"]
    assert experiment["status"] == "draft"
    assert [(v["key"], v["model_id"], v["role_version"], v["weight"]) for v in experiment["variants"]] == [
        ("A", None, 1, 1),
        ("B", "mock-large", None, 3),
    ]
    assert any(s.value.startswith("A draft experiment on") for s in app.success)
    (row,) = table(app)
    assert row["Status"] == "Draft"
    assert row["Variants"] == (
        "A: the role's model, version 1, 25.0 %; B: mock-large, the role's current version, 75.0 %"
    )
    assert "No calls yet" in app.info[-1].value  # a draft has nothing to compare

    app = app.button(key=f"experiments:start:{id_}").click().run()
    assert listed(panel)[0]["status"] == "running"
    app = app.button(key=f"experiments:pause:{id_}").click().run()
    assert listed(panel)[0]["status"] == "paused"
    app = app.button(key=f"experiments:resume:{id_}").click().run()
    assert listed(panel)[0]["status"] == "running"
    app = confirm(app, f"experiments:stop:{id_}")
    assert not app.exception, app.exception
    stopped = listed(panel)[0]
    assert stopped["status"] == "stopped" and stopped["stopped_at"] is not None
    assert not [b for b in app.button if b.key in (f"experiments:start:{id_}", f"experiments:stop:{id_}")]

    before = role(panel)
    app.selectbox(key=f"experiments:winner:{id_}").select("B").run()
    app = confirm(app, f"experiments:win:{id_}:B")
    assert not app.exception, app.exception
    assert listed(panel)[0]["winner"] == "B"
    after = role(panel)
    assert after["version"] == before["version"] + 1 and after["default_model"] == "mock-large"
    assert after["system_prompt"] == before["system_prompt"]  # B left the version as it was
    assert "B won: its version and model are now the role's new version" in " ".join(
        s.value for s in app.success
    )
    actions = {a.action for a in db_rows(env_settings, AuditEntry, AuditEntry.target_id == id_)}
    assert actions == {"experiment.create", "experiment.start", "experiment.pause", "experiment.stop",
                       "experiment.win"}  # fmt: skip


@sqlite_only
def test_a_second_running_experiment_on_a_role_is_refused_in_words_and_a_viewer_sees_no_forms(panel):
    body = {"role_id": ROLE, "variants": [{"role_version": 1}, {"model_id": "mock-large"}]}
    with admin_api(panel) as admin:
        first, second = (admin.post(EXPERIMENTS, json=body).json() for _ in range(2))
        assert admin.post(f"{EXPERIMENTS}/{first['id']}/start").status_code == 200
    app = panel("experiments")
    app.selectbox(key="experiments:chosen").select(second["id"]).run()
    app = app.button(key=f"experiments:start:{second['id']}").click().run()
    # In English the API's own words (they name the experiment); in Russian the catalogue's for the code.
    assert [e.value for e in app.error] == [f"role '{ROLE}' already runs experiment {first['id']}"]
    russian = panel("experiments", locale="ru")
    russian.selectbox(key="experiments:chosen").select(second["id"]).run()
    russian = russian.button(key=f"experiments:start:{second['id']}").click().run()
    assert [e.value for e in russian.error] == [i18n.catalogue("ru")["errors.experiment_already_running"]]
    assert not russian.exception and russian.title[0].value == i18n.catalogue("ru")["experiments.title"]
    assert not untranslated(russian), untranslated(russian)

    viewer = panel("experiments", role="viewer")
    assert not viewer.exception and len(table(viewer)) == 2
    assert not viewer.button and not viewer.number_input and not viewer.expander
    assert [s.key for s in viewer.selectbox] == ["experiments:role", "experiments:chosen"]
    assert "catalogue:write" in viewer.caption[-1].value


def test_the_page_is_in_the_catalogue_section_for_whoever_may_read_analytics():
    section, english, russian, _icon, permission = _registry()["experiments"]
    assert (section, english, permission) == ("catalogue", "Experiments", "analytics:read")
    assert russian == i18n.catalogue("ru")["experiments.title"]


def _calls(experiment_id: str, variant: str, n: int, *, failed: bool = False, cost: str = "0.002") -> list:
    """`n` calls of the variant by as many users, as the gateway records them (its event's properties name
    the experiment and the variant), added behind the API's back: an experiment's 40 calls a variant in a
    test, where the free plan allows 3 a day."""
    from api.events.models import UsageEvent

    at = datetime.now(UTC) - timedelta(minutes=5)
    return [
        insert(UsageEvent).values(
            event_id=uuid.uuid4(), occurred_at=at, type="llm.call_failed" if failed else "llm.call_succeeded",
            user_id=uuid.uuid4(), role_id=ROLE, model_id="mock-small", provider="mock", plan="free",
            input_tokens=None if failed else 50, output_tokens=None if failed else 50,
            cost_usd=None if failed else Decimal(cost), latency_ms=400, status="error" if failed else "ok",
            error_code="provider_error" if failed else None, client="api",
            properties={"experiment_id": experiment_id, "variant": variant, "role_version": 1},
        )
        for _ in range(n)
    ]  # fmt: skip


@sqlite_only
def test_the_comparison_shows_each_variants_figures_and_a_plain_verdict_from_the_published_events(
    panel, env_settings, pipeline
):
    body = {"role_id": ROLE, "variants": [{"role_version": 1}, {"model_id": "mock-large"}]}
    with admin_api(panel) as admin:
        experiment = admin.post(EXPERIMENTS, json=body).json()
        assert admin.post(f"{EXPERIMENTS}/{experiment['id']}/start").status_code == 200
    app = panel("experiments", role="analyst")
    assert [i.value for i in app.info] == [i18n.catalogue("en")["common.not_published"]]  # no error box

    with httpx.Client(base_url=panel.api_url, timeout=60) as http:  # real calls of the role, both variants
        for n in range(4):
            user = sign_up(http, f"user{n}@example.com", env_settings) | {"X-Assistant-Role": ROLE}
            answered = http.post("/v1/chat/completions", headers=user, json={"messages": QUESTION})
            assert answered.status_code == 200, answered.text
    real = {v: sum(e.properties.get("variant") == v for e in events_of(env_settings, "llm.call_succeeded"))
            for v in "AB"}  # fmt: skip
    assert sum(real.values()) == 4
    # B: half the cost of A's calls, and one call in five failed.
    db_execute(
        env_settings,
        *_calls(experiment["id"], "A", 40, cost="0.002"),
        *_calls(experiment["id"], "B", 40, cost="0.001"),
        *_calls(experiment["id"], "B", 10, failed=True),
    )
    assert pipeline().success

    app = panel("experiments", role="analyst")
    assert not app.exception and not app.error, [e.value for e in app.error]
    figures = {row["Figure"]: row for row in table(app, 2)}  # the list, the variants, the comparison
    # B's real calls were on mock-large, which the free plan may not call: on the role's model, left out.
    assert figures["Calls"] == {
        "Figure": "Calls",
        "Variant A (control)": str(40 + real["A"]),
        "Variant B": "50",
    }
    left_out = figures["Left out (the caller's or the plan's model)"]
    assert (left_out["Variant A (control)"], left_out["Variant B"]) == ("0", str(real["B"]))
    assert figures["Failed calls"]["Variant B"] == "10"
    assert figures["Error rate"]["Variant A (control)"].startswith("0.0 % (0.0 %")
    (said,) = [box.value for box in app.warning]  # B errs more often: a warning
    assert said.startswith("**Variant B**: Compared with A, B errs more often (+")
    assert "is cheaper per call (\u2212" in said
    assert said.endswith("Too little feedback yet to compare it (B has 0 and A has 0 of the 10 needed).")
    assert any(c.value.startswith("Figures as of ") for c in app.caption)
    assert len(app.get("vega_lite_chart")) == 1

    russian = panel("experiments", locale="ru")
    (said,) = [box.value for box in russian.warning]
    words = i18n.catalogue("ru")
    assert said.startswith(
        f"**{words['experiments.variant_head'].format(variant='B')}**: "
        + words["experiments.v_found"].split("{findings}")[0].format(control="A", variant="B")
    )
    assert words["experiments.said_error_rate_worse"].split("{figure}")[0] + "+" in said
    assert not untranslated(russian), untranslated(russian)


@sqlite_only
def test_an_experiment_on_a_model_alias_is_defined_shows_its_alias_its_models_and_what_its_winner_does(panel):
    app = panel("experiments")
    app.radio(key="experiments:new:target").set_value("alias").run()
    assert i18n.catalogue("en")["experiments.no_aliases"] in [i.value for i in app.info]
    with admin_api(panel) as admin:
        assert (
            admin.put("/api/v1/admin/model-aliases/smart", json={"model_id": "mock-small"}).status_code == 200
        )
    app.run()
    app.selectbox(key="experiments:new:alias").select("smart")
    app.selectbox(key="experiments:new:alias:A:model").select("mock-small")
    app.selectbox(key="experiments:new:alias:B:model").select("mock-large")
    app.number_input(key="experiments:new:alias:A:weight").set_value(1)
    app = app.number_input(key="experiments:new:alias:B:weight").set_value(3).run()
    assert "Traffic split: A 25.0 %, B 75.0 %" in markdown(app)
    app = app.button(key="experiments:new:alias:create").click().run()
    assert not app.exception, app.exception
    with admin_api(panel) as admin:
        (created,) = admin.get(EXPERIMENTS, params={"alias": "smart"}).json()
    assert (created["alias"], created["role_id"], created["status"]) == ("smart", None, "draft")
    assert [(v["model_id"], v["role_version"], v["weight"]) for v in created["variants"]] == [
        ("mock-small", None, 1),
        ("mock-large", None, 3),
    ]
    (row,) = table(app)
    assert (row["Role"], row["Variants"]) == (
        "model alias smart",
        "A: mock-small, 25.0 %; B: mock-large, 75.0 %",
    )
    assert [r["Role version"] for r in table(app, 1)] == ["—", "—"]
    assert i18n.catalogue("en")["experiments.winner_help_alias"] in [c.value for c in app.caption]
    app.selectbox(key=f"experiments:winner:{created['id']}").select("B").run()
    app = confirm(app, f"experiments:win:{created['id']}:B")
    assert "B won: model alias smart now points to its model." in [s.value for s in app.success]
    with admin_api(panel) as admin:
        (alias,) = admin.get("/api/v1/admin/model-aliases").json()
    assert alias["model_id"] == "mock-large"
