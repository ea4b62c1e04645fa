"""Experiments: A/B tests on an assistant role or a model alias (docs/decisions/0059, 0061, 0062). The
list (filtered by role), one experiment's variants and its comparison (each metric with its 95 % interval
per variant, and a plain verdict per variant against the control), and for catalogue writers: a new
experiment (on a role: 2-5 variants, each a model and/or a version of the role with a weight; on an alias:
each a model and a weight; the traffic split shown as it is typed), start, pause, resume, stop (final,
after a confirmation) and the winner (a role's: its version and model become the role's new version; an
alias's: the alias points to its model), after a confirmation. Every change is the API's, which audits
it."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import i18n, ui
from dashboard.api_client import ApiError
from dashboard.verdicts import METRICS, RATES, verdict

EXPERIMENTS = "/api/v1/admin/experiments"
ROLES = "/api/v1/admin/roles"
MODELS = "/api/v1/admin/models"
ALIASES = "/api/v1/admin/model-aliases"
TARGETS = ("role", "alias")  # what a new experiment is on
COMPARISON = "/api/v1/analytics/experiments"
STATUSES = ("draft", "running", "paused", "stopped")
KEYS = "ABCDE"
# What each status may do next (the API's rule; a button the API would refuse is not offered).
ACTIONS = {"draft": ("start",), "running": ("pause",), "paused": ("resume",), "stopped": ()}
ICONS = {"start": ":material/play_arrow:", "pause": ":material/pause:", "resume": ":material/play_arrow:"}
COUNTS = ("calls", "users", "errors", "excluded", "cache_hits", "feedback_count")
# The unit of each metric's figures: a share of calls (%), milliseconds, tokens, dollars.
UNITS = {
    "error_rate": "share",
    "latency_p50_ms": "ms",
    "latency_p95_ms": "ms",
    "tokens_per_call": "tokens",
    "cost_per_call_usd": "usd",
    "feedback_positive_share": "share",
}
BOUNDS = {  # the interval's fields of each metric in a variant's row: (value, low, high)
    "error_rate": ("error_rate", "error_rate_low", "error_rate_high"),
    "latency_p50_ms": ("latency_p50_ms", "latency_p50_low", "latency_p50_high"),
    "latency_p95_ms": ("latency_p95_ms", "latency_p95_low", "latency_p95_high"),
    "tokens_per_call": ("tokens_per_call", "tokens_per_call_low", "tokens_per_call_high"),
    "cost_per_call_usd": ("cost_per_call_usd", "cost_per_call_low", "cost_per_call_high"),
    "feedback_positive_share": (
        "feedback_positive_share",
        "feedback_positive_low",
        "feedback_positive_high",
    ),
}


def subject(experiment: dict[str, Any]) -> str:
    """The role an experiment is on by its name, or the model alias of one without a role."""
    if on_alias(experiment):
        return i18n.t("experiments.on_alias", alias=experiment.get("alias") or "—")
    role = roles_by_id.get(experiment["role_id"])
    return f"{role['name']} ({role['id']})" if role else experiment["role_id"]


def role_label(role_id: str) -> str:
    """A role of the filter by its name, or "All roles" for "" (Streamlit shows a None option as nothing
    chosen, so the choices are never None)."""
    return subject({"role_id": role_id}) if role_id else i18n.t("experiments.all_roles")


def shares(weights: list[int]) -> list[str]:
    total = sum(weights) or 1
    return [i18n.percent(w / total, 1) for w in weights]


def on_alias(experiment: dict[str, Any]) -> bool:
    """Whether the experiment is on a model alias (its variants are models only), not on a role."""
    return experiment.get("role_id") is None


def variant_text(variant: dict[str, Any], share: str, *, alias: bool = False) -> str:
    model = variant["model_id"] or i18n.t("experiments.role_model")
    if alias:
        return i18n.t("experiments.variant_text_alias", variant=variant["key"], model=model, share=share)
    version = version_text(variant["role_version"])
    return i18n.t(
        "experiments.variant_text", variant=variant["key"], model=model, version=version, share=share
    )


def version_text(version: int | None) -> str:
    """A variant's role version; none (0 in the form's choices) is the role's current content."""
    if not version:
        return i18n.t("experiments.current_version")
    return i18n.t("experiments.version_n", n=version)


def status_text(status: str) -> str:
    return i18n.t(f"experiments.status_{status}")


def described(experiment: dict[str, Any]) -> str:
    created = i18n.moment(experiment["created_at"])
    return f"{subject(experiment)} · {status_text(experiment['status'])} · {created} · {experiment['id'][:8]}"


def experiments_table(experiments: list[dict[str, Any]]) -> None:
    rows = []
    for e in experiments:
        split = shares([v["weight"] for v in e["variants"]])
        rows.append(
            {
                i18n.t("experiments.subject"): subject(e),
                i18n.t("experiments.status"): status_text(e["status"]),
                i18n.t("experiments.variants"): "; ".join(
                    variant_text(v, s, alias=on_alias(e)) for v, s in zip(e["variants"], split, strict=True)
                ),
                i18n.t("experiments.created"): i18n.moment(e["created_at"]),
                i18n.t("experiments.started"): i18n.moment(e["started_at"]),
                i18n.t("experiments.stopped"): i18n.moment(e["stopped_at"]),
                i18n.t("experiments.winner"): e["winner"] or "—",
            }
        )
    ui.table(rows, "experiments", empty=i18n.t("experiments.empty"))


def variants_table(experiment: dict[str, Any]) -> None:
    alias = on_alias(experiment)
    split = shares([v["weight"] for v in experiment["variants"]])
    ui.table(
        [
            {
                i18n.t("experiments.variant"): v["key"],
                i18n.t("experiments.model"): v["model_id"] or i18n.t("experiments.role_model"),
                i18n.t("experiments.role_version"): "—" if alias else version_text(v["role_version"]),
                i18n.t("experiments.weight"): i18n.number(v["weight"]),
                i18n.t("experiments.share"): s,
            }
            for v, s in zip(experiment["variants"], split, strict=True)
        ],
        f"experiment_{experiment['id'][:8]}_variants",
    )


def run_controls(experiment: dict[str, Any]) -> None:
    """Start, pause or resume (what the experiment's status allows) and, apart, stop for good."""
    id_, status = experiment["id"], experiment["status"]
    path = f"{EXPERIMENTS}/{id_}"
    if status == "stopped":
        return
    left, right = st.columns(2)
    for action in ACTIONS[status]:
        if left.button(
            i18n.t(f"experiments.do_{action}"), key=f"experiments:{action}:{id_}", icon=ICONS[action],
            type="secondary" if action == "pause" else "primary",
        ):  # fmt: skip
            with st.spinner(i18n.t("experiments.saving")):
                done = ui.call(lambda a=action: api.post(f"{path}/{'start' if a == 'resume' else a}"))
            if done is not None:
                ui.changed(i18n.t(f"experiments.did_{action}", subject=subject(experiment)))
    with right:
        if ui.confirmed(f"experiments:stop:{id_}", i18n.t("experiments.do_stop"), icon=":material/stop:"):
            with st.spinner(i18n.t("experiments.saving")):
                done = ui.call(lambda: api.post(f"{path}/stop"))
            if done is not None:
                ui.changed(i18n.t("experiments.did_stop", subject=subject(experiment)))
        st.caption(i18n.t("experiments.stop_help"))


def winner_control(experiment: dict[str, Any]) -> None:
    """Pick the winner (once), after a confirmation that says what it does."""
    id_ = experiment["id"]
    if experiment["winner"] is not None:
        return
    keys = [v["key"] for v in experiment["variants"]]
    st.subheader(i18n.t("experiments.pick_winner"))
    st.caption(i18n.t("experiments.winner_help_alias" if on_alias(experiment) else "experiments.winner_help"))
    chosen = st.selectbox(i18n.t("experiments.variant"), keys, key=f"experiments:winner:{id_}")
    if ui.confirmed(
        f"experiments:win:{id_}:{chosen}", i18n.t("experiments.do_win", variant=chosen),
        icon=":material/emoji_events:",
    ):  # fmt: skip
        with st.spinner(i18n.t("experiments.saving")):
            done = ui.call(lambda: api.post(f"{EXPERIMENTS}/{id_}/winner", {"variant": chosen}))
        if done is not None:
            on = subject(experiment)
            ui.changed(
                i18n.t("experiments.did_win_alias", variant=chosen, subject=on) if on_alias(experiment)
                else i18n.t("experiments.did_win", variant=chosen, subject=on)
            )  # fmt: skip


def with_interval(row: dict[str, Any], metric: str) -> str:
    """A metric with its 95 % interval, in its unit: "5.0 % (3.1-8.0 %)", "820 ms (700-910 ms)" (an en dash
    between the bounds)."""
    value, low, high = (row.get(f) for f in BOUNDS[metric])
    if value is None:
        return "—"
    shown = {
        "share": lambda x: i18n.percent(x, 1),
        "ms": lambda x: i18n.t("experiments.ms", value=i18n.number(x)),
        "tokens": lambda x: i18n.number(x, 1),
        "usd": lambda x: f"$ {i18n.amount(x)}",
    }[UNITS[metric]]
    if low is None and high is None:
        return shown(value)
    if high is None:  # an open bound
        return f"{shown(value)} (≥ {shown(low)})"
    if low is None:
        return f"{shown(value)} (≤ {shown(high)})"
    return f"{shown(value)} ({shown(low)}–{shown(high)})"


NOT_PUBLISHED: dict[str, Any] = {}


def report(experiment_id: str) -> dict[str, Any]:
    """The experiment's comparison, or NOT_PUBLISHED before the pipeline's first publication (a state to
    explain, not a refusal to show as an error)."""
    try:
        return api.get(f"{COMPARISON}/{experiment_id}")
    except ApiError as exc:
        if exc.code != "warehouse_not_ready":
            raise
        return NOT_PUBLISHED


def comparison_view(experiment: dict[str, Any]) -> None:
    if experiment["started_at"] is None:
        st.info(i18n.t("experiments.not_started"), icon=":material/hourglass_empty:")
        return
    with st.spinner(i18n.t("experiments.comparison_loading")):
        found = ui.call(lambda: report(experiment["id"]))
    if found is None:
        return
    if found is NOT_PUBLISHED:
        st.info(i18n.t("common.not_published"), icon=":material/hourglass_empty:")
        return
    refreshed = found.get("refreshed_at")
    st.caption(
        i18n.t("experiments.refreshed", at=i18n.moment(refreshed)) if refreshed
        else i18n.t("experiments.never_refreshed")
    )  # fmt: skip
    st.caption(
        i18n.t(
            "experiments.rules", confidence=i18n.number(100 * found["confidence"]),
            calls=found["min_calls"], feedback=found["min_feedback"],
        )
    )  # fmt: skip
    control = found["control"]
    rows = found["variants"]
    if not rows:
        st.info(i18n.t("experiments.no_calls_counted"), icon=":material/hourglass_empty:")
        return
    for row in rows:
        if row["variant"] != control:
            said = verdict(found, row["variant"])
            outcomes = {c["outcome"] for c in found["comparisons"] if c["variant"] == row["variant"]}
            box = st.warning if "worse" in outcomes else st.success if "better" in outcomes else st.info
            box(f"**{i18n.t('experiments.variant_head', variant=row['variant'])}**: {said}")
    heads = {
        r["variant"]: i18n.t("experiments.control_head", variant=r["variant"]) if r["variant"] == control
        else i18n.t("experiments.variant_head", variant=r["variant"])
        for r in rows
    }  # fmt: skip
    lines = [
        {i18n.t("experiments.figure"): i18n.t(f"experiments.c_{count}")}
        | {heads[r["variant"]]: i18n.number(r.get(count)) for r in rows}
        for count in COUNTS
    ] + [
        {i18n.t("experiments.figure"): i18n.t(f"experiments.m_{metric}")}
        | {heads[r["variant"]]: with_interval(r, metric) for r in rows}
        for metric in METRICS
    ]
    # Every row in sight: 35 px a row and the header's.
    ui.table(lines, f"experiment_{experiment['id'][:8]}_comparison", height=35 * (len(lines) + 1) + 3)
    chart(rows)


def chart(rows: list[dict[str, Any]]) -> None:
    """One metric per variant, as bars (the table above has the intervals)."""
    metric = st.selectbox(
        i18n.t("experiments.chart_metric"), METRICS, key="experiments:chart",
        format_func=ui.fixed(lambda m: i18n.t(f"experiments.m_{m}"), METRICS),
    )  # fmt: skip
    scale = 100 if metric in RATES else 1
    variant, label = i18n.t("experiments.variant"), i18n.t(f"experiments.m_{metric}")
    if metric in RATES:
        label = f"{label}, %"
    frame = pd.DataFrame(
        [{variant: r["variant"], label: None if r.get(metric) is None else scale * r[metric]} for r in rows]
    )
    if frame[label].notna().any():
        ui.chart(frame, variant, [label], kind="bar", height=220)


def new_experiment(roles: list[dict[str, Any]]) -> None:
    """A draft on a role (2-5 variants, each a model and/or a version of the role, and a weight) or on a
    model alias (each variant a model, and a weight)."""
    target = st.radio(
        i18n.t("experiments.target"), TARGETS, key="experiments:new:target", horizontal=True,
        format_func=ui.fixed(lambda x: i18n.t(f"experiments.target_{x}"), TARGETS),
    )  # fmt: skip
    with st.spinner(i18n.t("experiments.loading")):
        models = ui.call(lambda: api.get(MODELS))
    if models is None:
        return
    if target == "alias":
        alias_experiment(models)
        return
    by_id = {r["id"]: r for r in roles}
    role_id = st.selectbox(
        i18n.t("experiments.role"), list(by_id), key="experiments:new:role",
        format_func=ui.fixed(lambda i: f"{by_id[i]['name']} ({i})", by_id),
    )  # fmt: skip
    if role_id is None:
        return
    with st.spinner(i18n.t("experiments.loading")):
        versions = ui.call(lambda: api.get(f"{ROLES}/{role_id}/versions"))
    if versions is None:
        return
    model_ids = ["", *(m["id"] for m in models if m["enabled"])]  # "": the role's own model
    numbers = [0, *(v["version"] for v in reversed(versions))]  # 0: the role's current version
    count = st.number_input(i18n.t("experiments.how_many"), 2, len(KEYS), 2, key="experiments:new:count")
    st.caption(i18n.t("experiments.variant_help"))
    variants = []
    for key in KEYS[:count]:
        prefix = f"experiments:new:{key}:"
        left, middle, right = st.columns([3, 3, 2])
        model = left.selectbox(
            i18n.t("experiments.variant_model", variant=key), model_ids, key=f"{prefix}model",
            format_func=ui.fixed(lambda m: m or i18n.t("experiments.role_model"), model_ids),
        )  # fmt: skip
        version = middle.selectbox(
            i18n.t("experiments.variant_version", variant=key), numbers, key=f"{prefix}version:{role_id}",
            format_func=ui.fixed(version_text, numbers),
        )  # fmt: skip
        weight = right.number_input(i18n.t("experiments.weight"), 1, 1000, 50, key=f"{prefix}weight")
        variants.append({"model_id": model or None, "role_version": version or None, "weight": int(weight)})
    split = shares([v["weight"] for v in variants])
    st.markdown(
        i18n.t("experiments.split", split=", ".join(f"{k} {s}" for k, s in zip(KEYS, split, strict=False)))
    )
    if not st.button(i18n.t("experiments.create"), key="experiments:new:create", type="primary"):
        return
    empty = [k for k, v in zip(KEYS, variants, strict=False) if not (v["model_id"] or v["role_version"])]
    if empty:
        st.error(i18n.t("experiments.need_something", keys=", ".join(empty)), icon=":material/error:")
        return
    named = [{k: v for k, v in x.items() if v is not None} for x in variants]
    create({"role_id": role_id, "variants": named})


def alias_experiment(models: list[dict[str, Any]]) -> None:
    """A draft on a model alias: the alias, then 2-5 variants, each an enabled model and a weight."""
    with st.spinner(i18n.t("experiments.loading")):
        aliases = ui.call(lambda: api.get(ALIASES))
    if aliases is None:
        return
    if not aliases:
        st.info(i18n.t("experiments.no_aliases"), icon=":material/info:")
        return
    names = [a["alias"] for a in aliases]
    targets = {a["alias"]: a["model_id"] for a in aliases}
    alias = st.selectbox(
        i18n.t("experiments.alias"), names, key="experiments:new:alias",
        format_func=ui.fixed(lambda a: f"{a} → {targets[a]}", names),
    )  # fmt: skip
    model_ids = [m["id"] for m in models if m["enabled"]]
    count = st.number_input(
        i18n.t("experiments.how_many"), 2, len(KEYS), 2, key="experiments:new:alias_count"
    )  # fmt: skip
    st.caption(i18n.t("experiments.variant_help_alias"))
    variants = []
    for key in KEYS[:count]:
        left, right = st.columns([6, 2])
        model = left.selectbox(
            i18n.t("experiments.variant_model", variant=key), model_ids,
            key=f"experiments:new:alias:{key}:model",
        )  # fmt: skip
        weight = right.number_input(
            i18n.t("experiments.weight"), 1, 1000, 50, key=f"experiments:new:alias:{key}:weight"
        )  # fmt: skip
        variants.append({"model_id": model, "weight": int(weight)})
    split = shares([v["weight"] for v in variants])
    st.markdown(
        i18n.t("experiments.split", split=", ".join(f"{k} {s}" for k, s in zip(KEYS, split, strict=False)))
    )
    if st.button(i18n.t("experiments.create"), key="experiments:new:alias:create", type="primary"):
        create({"alias": alias, "variants": variants})


def create(body: dict[str, Any]) -> None:
    with st.spinner(i18n.t("experiments.saving")):
        created = ui.call(lambda: api.post(EXPERIMENTS, body))
    if created is not None:
        st.session_state["experiments:show"] = created["id"]
        ui.changed(i18n.t("experiments.created_ok", subject=subject(created)), clear="experiments:new:")


st.title(i18n.t("experiments.title"))
st.caption(i18n.t("experiments.intro"))
ui.notice()
api = ui.api()
writer = ui.can("catalogue:write")

with st.spinner(i18n.t("experiments.loading")):
    roles = ui.call(lambda: api.get(ROLES))
if roles is None:
    st.stop()
roles_by_id = {r["id"]: r for r in roles}
role_ids = ["", *roles_by_id]
ui.chosen_from_link("role", "experiments:role", roles_by_id)  # a click-through (`?role=<id>`)
if shown := st.session_state.pop("experiments:show", None):  # the one just created, in any role
    st.session_state["experiments:role"] = ""
    st.session_state["experiments:chosen"] = shown
role_filter = st.selectbox(
    i18n.t("experiments.filter_role"), role_ids, key="experiments:role",
    format_func=ui.fixed(role_label, role_ids),
)  # fmt: skip
with st.spinner(i18n.t("experiments.loading")):
    experiments = ui.call(lambda: api.get(EXPERIMENTS, role_id=role_filter))
if experiments is None:
    st.stop()
experiments_table(experiments)

if experiments:
    by_id = {e["id"]: e for e in experiments}
    if st.session_state.get("experiments:chosen") not in by_id:
        st.session_state.pop("experiments:chosen", None)
    chosen = by_id[
        st.selectbox(
            i18n.t("experiments.choose"),
            list(by_id),
            key="experiments:chosen",
            format_func=ui.fixed(lambda i: described(by_id[i]), by_id),
        )
    ]
    st.subheader(f"{subject(chosen)} · {i18n.moment(chosen['created_at'])}")
    ui.metrics(
        [
            (i18n.t("experiments.status"), status_text(chosen["status"])),
            (i18n.t("experiments.started"), i18n.moment(chosen["started_at"])),
            (i18n.t("experiments.stopped"), i18n.moment(chosen["stopped_at"])),
            (i18n.t("experiments.winner"), chosen["winner"] or "—"),
        ]
    )
    variants_table(chosen)
    if writer:
        run_controls(chosen)
    st.subheader(i18n.t("experiments.comparison"))
    comparison_view(chosen)
    if writer:
        winner_control(chosen)

if not writer:
    st.caption(i18n.t("experiments.read_only"))
    st.stop()
with st.expander(i18n.t("experiments.new"), icon=":material/add:", expanded=not experiments):
    new_experiment(roles)
