"""Overview: the KPIs of a period against the period before, charts by day, week or month, the top 10s,
geography, errors and latency from the published warehouse; a live strip from the API."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboard import i18n, ui
from warehouse.queries import ServingNotReady

KPIS = ("dau", "wau", "mau", "stickiness", "new_users", "chats", "messages", "calls", "input_tokens",
        "output_tokens", "cost_usd", "credits")  # fmt: skip


load = ui.analytics


def show(value: float | None, kpi: str) -> str:
    if kpi == "stickiness":
        return i18n.percent(value)
    return i18n.number(value, 2 if kpi in ("cost_usd", "credits") else 0)


def change(now: float | None, before: float | None, kpi: str) -> str | None:
    if now is None or before is None:
        return None
    if kpi == "stickiness":
        return f"{i18n.number(100 * (now - before), 1)} pp"
    return show(now - before, kpi)


@st.fragment(run_every=15)
def live_strip() -> None:
    st.caption(i18n.t("overview.live"))
    live = ui.call(lambda: ui.api().get("/api/v1/admin/live"))
    if not live:
        return
    window = next((w for w in live["windows"] if w["minutes"] == 5), live["windows"][0])
    ui.metrics(
        [
            (i18n.t("overview.live_requests"), i18n.number(window["requests"])),
            (i18n.t("overview.live_errors"), i18n.number(window["errors"])),
            (i18n.t("overview.live_users"), i18n.number(window["active_users"])),
            (i18n.t("overview.live_p95"), i18n.number(window["latency_p95_ms"])),
        ]
    )


role = ui.staff().role
st.title(i18n.t("overview.title"))
published = ui.data_as_of()
live_strip()

left, right = st.columns([3, 1])
with left:
    start, end = ui.period("overview:period")
with right:
    grains = ("day", "week", "month")
    grain = st.selectbox(
        i18n.t("common.grain"),
        grains,
        format_func=ui.fixed(lambda g: i18n.t(f"common.{g}"), grains),
        key=f"overview:grain:{i18n.current()}",
    )
length = (end - start).days + 1
before_start, before_end = start - timedelta(days=length), start - timedelta(days=1)

try:
    with st.spinner(i18n.t("common.loading")):
        now = load(published, role, "kpis", start, end)
        before = load(published, role, "kpis", before_start, before_end)
        usage = load(published, role, "usage", start, end, grain=grain)
        actives = load(published, role, "active_users", start, end, grain=grain)
except ServingNotReady:
    st.info(i18n.t("common.not_published"), icon=":material/hourglass_empty:")
    st.stop()

if usage.empty and not now.get("new_users"):
    st.info(i18n.t("overview.no_activity"), icon=":material/inbox:")
    st.stop()

ui.metrics(  # one row that wraps: every figure whole, also on a tablet
    [
        (i18n.t(f"overview.{kpi}"), show(now.get(kpi), kpi), change(now.get(kpi), before.get(kpi), kpi))
        for kpi in KPIS
    ]
)
st.caption(i18n.t("overview.vs_previous", start=i18n.day(before_start), end=i18n.day(before_end)))
cache = load(published, role, "response_cache", start, end)
if cache["hits"] or cache["misses"]:  # some model or role has its response cache on (decision 0057)
    ui.metrics(
        [
            (i18n.t("overview.cache_hit_ratio"), i18n.percent(cache["hit_ratio"])),
            (i18n.t("overview.cache_saved_cost"), i18n.number(cache["saved_cost_usd"], 4)),
        ]
    )

st.subheader(i18n.t("overview.active_users"))
series = ["dau", "wau", "mau"] if grain == "day" else ["active_users"]
ui.chart(actives, "period_start", series)
left, right = st.columns(2)
with left:
    st.subheader(i18n.t("overview.usage"))
    ui.chart(usage, "period_start", ["completions", "failed_calls"], kind="bar", stack=True)
with right:
    st.subheader(i18n.t("overview.tokens"))
    ui.chart(usage, "period_start", ["input_tokens", "output_tokens"], kind="area", stack=True)
st.subheader(i18n.t("overview.cost"))
ui.chart(usage, "period_start", ["cost_usd"], kind="bar")
with st.expander(i18n.t("common.data")):
    ui.table(usage, f"usage_by_{grain}_{start:%Y%m%d}_{end:%Y%m%d}")

st.subheader(i18n.t("overview.top"))
tabs = st.tabs([i18n.t("overview.top_users"), i18n.t("overview.top_models"), i18n.t("overview.top_roles")])
for tab, kind in zip(tabs, ("users", "models", "roles"), strict=True):
    with tab:
        ui.table(
            load(published, role, "top", start, end, kind=kind), f"top_{kind}_{start:%Y%m%d}_{end:%Y%m%d}"
        )

left, right = st.columns(2)
with left:
    st.subheader(i18n.t("overview.geography"))
    countries = load(published, role, "geography", start, end)
    if not countries.empty:
        ui.chart(countries.head(15), "country_code", ["active_users"], kind="bar", horizontal=True)
    ui.table(countries, f"geography_{start:%Y%m%d}_{end:%Y%m%d}")
with right:
    st.subheader(i18n.t("overview.errors_latency"))
    ui.table(load(published, role, "latency", start, end), f"latency_{start:%Y%m%d}_{end:%Y%m%d}")
