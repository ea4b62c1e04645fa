"""Reports: users, usage, costs, models, roles and retention for any period, each table and chart's data
downloadable as CSV and XLSX."""

from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard import i18n, ui
from warehouse.queries import ServingNotReady

load = ui.analytics
DIMENSIONS = ("model", "provider", "role", "plan", "country")


def revenue_tab(published: str, role: str, start: date, end: date, stamp: str) -> None:
    """Revenue (what top-ups paid, on the plan of the moment) against provider cost, by day and plan."""
    st.caption(i18n.t("reports.revenue_help"))
    frame = load(published, role, "revenue", start, end)
    if frame.empty:
        st.info(i18n.t("reports.no_revenue"), icon=":material/payments:")
        return
    totals = frame[["revenue_usd", "provider_cost_usd", "margin_usd"]].sum()
    ui.metrics(
        [
            (i18n.t("reports.revenue_usd"), f"$ {i18n.number(float(totals.revenue_usd), 2)}"),
            (i18n.t("reports.provider_cost_usd"), f"$ {i18n.number(float(totals.provider_cost_usd), 4)}"),
            (i18n.t("reports.margin_usd"), f"$ {i18n.number(float(totals.margin_usd), 2)}"),
        ]
    )
    measures = ["revenue_usd", "provider_cost_usd", "margin_usd"]
    ui.chart(frame.groupby("day")[measures].sum().reset_index(), "day", measures)
    by_plan = frame.groupby("plan")[["revenue_usd", "provider_cost_usd", "margin_usd"]].sum()
    st.subheader(i18n.t("reports.revenue_by_plan"))
    ui.table(by_plan.reset_index(), f"revenue_by_plan_{stamp}")
    ui.table(frame, f"revenue_by_day_and_plan_{stamp}")


def feedback_table(published: str, role: str, by: str, start: date, end: date, stamp: str) -> None:
    """End users' scores by model or role: how many, and the share positive (decision 0054)."""
    st.subheader(i18n.t("reports.feedback"))
    st.caption(i18n.t("reports.feedback_help"))
    frame = load(published, role, "feedback", start, end, by=by)
    shown = ["model_id" if by == "model" else "role_id", "scores", "share_positive", "ratings_up",
             "ratings_down", "value_avg"]  # fmt: skip
    ui.table(frame[shown], f"feedback_by_{by}_{stamp}", empty=i18n.t("reports.no_feedback"))


role = ui.staff().role
st.title(i18n.t("reports.title"))
published = ui.data_as_of()
left, right = st.columns([3, 1])
with left:
    start, end = ui.period("reports:period", days=90)
with right:
    grains = ("day", "week", "month")
    grain = st.selectbox(
        i18n.t("common.grain"),
        grains,
        format_func=ui.fixed(lambda g: i18n.t(f"common.{g}"), grains),
        key=f"reports:grain:{i18n.current()}",
    )
stamp = f"{start:%Y%m%d}_{end:%Y%m%d}"

try:
    with st.spinner(i18n.t("common.loading")):
        load(published, role, "usage", start, end, grain=grain)
except ServingNotReady:
    st.info(i18n.t("common.not_published"), icon=":material/hourglass_empty:")
    st.stop()

users, usage, costs, models, roles, retention, revenue = st.tabs(
    [
        i18n.t("reports.users"),
        i18n.t("reports.usage"),
        i18n.t("reports.costs"),
        i18n.t("reports.models"),
        i18n.t("reports.roles"),
        i18n.t("reports.retention"),
        i18n.t("reports.revenue"),
    ]
)
with users:
    st.subheader(i18n.t("reports.active_and_new"))
    actives = load(published, role, "active_users", start, end, grain=grain)
    if not actives.empty:
        measure = "dau" if grain == "day" else "active_users"
        ui.chart(actives, "period_start", [measure, "new_users"])
    ui.table(actives, f"active_users_by_{grain}_{stamp}")
    st.subheader(i18n.t("reports.top_users"))
    ui.table(load(published, role, "top", start, end, kind="users", limit=100), f"top_users_{stamp}")
with usage:
    st.subheader(i18n.t("reports.calls_errors"))
    frame = load(published, role, "usage", start, end, grain=grain)
    if not frame.empty:
        ui.chart(frame, "period_start", ["completions", "failed_calls"], kind="bar", stack=True)
    ui.table(frame, f"usage_by_{grain}_{stamp}")
with costs:
    by = st.selectbox(
        i18n.t("reports.by"),
        DIMENSIONS,
        format_func=ui.fixed(lambda by: i18n.t(f"reports.{by}"), DIMENSIONS),
        key=f"reports:by:{i18n.current()}",
    )
    frame = load(published, role, "costs", start, end, by=by)
    if not frame.empty:
        ui.chart(frame.head(20), by, ["cost_usd"], kind="bar", horizontal=True)
    ui.table(frame, f"costs_by_{by}_{stamp}")
for tab, kind in ((models, "models"), (roles, "roles")):
    with tab:
        metrics = ("cost", "calls", "tokens", "credits")
        metric = st.selectbox(
            i18n.t("reports.rank_by"),
            metrics,
            format_func=ui.fixed(lambda metric: i18n.t(f"reports.{metric}"), metrics),
            key=f"reports:{kind}:metric:{i18n.current()}",
        )
        frame = load(published, role, "top", start, end, kind=kind, metric=metric, limit=50)
        key = "model_id" if kind == "models" else "role_id"
        if not frame.empty:
            ui.chart(frame, key, ["calls"], kind="bar", horizontal=True)
        ui.table(frame, f"{kind}_by_{metric}_{stamp}")
        if kind == "models":
            st.subheader(i18n.t("reports.latency"))
            ui.table(load(published, role, "latency", start, end), f"latency_{stamp}")
        feedback_table(published, role, kind.removesuffix("s"), start, end, stamp)
with retention:
    st.caption(i18n.t("reports.cohorts"))
    frame = load(published, role, "retention", start, end)
    if not frame.empty:
        matrix = frame.pivot_table(index="cohort_week", columns="week_number", values="retention_pct")
        matrix = matrix.rename_axis(index=i18n.column("cohort_week"), columns=i18n.column("week_number"))
        matrix.index = matrix.index.map(i18n.day)
        decimal = "," if i18n.current() == "ru" else "."
        st.dataframe(
            matrix.style.apply(ui.heat_shades, axis=None).format("{:.1f}", decimal=decimal, na_rep=""),
            width="stretch",
        )
    ui.table(frame, f"retention_{stamp}")
with revenue:
    revenue_tab(published, role, start, end, stamp)
