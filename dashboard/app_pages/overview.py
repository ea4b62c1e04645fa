"""Overview: the KPIs of a period against the period before, charts by day, week or month, the top 10s,
geography, errors and latency from the published warehouse; a live strip from the API."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from dashboard import i18n, ui
from warehouse import queries
from warehouse.queries import ServingNotReady

T = i18n.texts(
    {
        "title": ("Overview", "Обзор"),
        "dau": ("DAU", "DAU"),
        "wau": ("WAU", "WAU"),
        "mau": ("MAU", "MAU"),
        "stickiness": ("Stickiness (DAU/MAU)", "Липкость (DAU/MAU)"),
        "new_users": ("New users", "Новые пользователи"),
        "chats": ("Chats", "Чаты"),
        "messages": ("Messages", "Сообщения"),
        "calls": ("Completions", "Запросы к LLM"),
        "input_tokens": ("Tokens in", "Токены на входе"),
        "output_tokens": ("Tokens out", "Токены на выходе"),
        "cost_usd": ("Cost, USD", "Затраты, USD"),
        "credits": ("Credits", "Кредиты"),
        "vs_previous": (
            "Change against {start} – {end}, the period before.",
            "Изменение относительно {start} – {end}, предыдущего периода.",
        ),
        "active_users": ("Active users", "Активные пользователи"),
        "usage": ("Completions and errors", "Запросы и ошибки"),
        "tokens": ("Tokens", "Токены"),
        "cost": ("Cost", "Затраты"),
        "top": ("Top 10", "Топ-10"),
        "top_users": ("Users", "Пользователи"),
        "top_models": ("Models", "Модели"),
        "top_roles": ("Roles", "Роли"),
        "geography": ("Geography", "География"),
        "errors_latency": ("Errors and latency", "Ошибки и задержки"),
        "live": ("Live: the last 5 minutes", "Сейчас: последние 5 минут"),
        "live_requests": ("Requests", "Запросы"),
        "live_errors": ("Errors", "Ошибки"),
        "live_users": ("Active users", "Активные пользователи"),
        "live_p95": ("p95 latency, ms", "Задержка p95, мс"),
        "no_activity": (
            "No activity in this period yet. Pick a longer period, or come back after the first completions.",
            "В этом периоде активности пока нет. Выберите период длиннее или зайдите после первых запросов.",
        ),
    }
)
KPIS = ("dau", "wau", "mau", "stickiness", "new_users", "chats", "messages", "calls", "input_tokens",
        "output_tokens", "cost_usd", "credits")  # fmt: skip


@st.cache_data(ttl=60, show_spinner=False)
def load(role: str, name: str, start: date, end: date, **options) -> pd.DataFrame | dict:
    """A warehouse query, cached per role (so pages never share another role's data), range and options."""
    del role
    return getattr(queries, name)(start=start, end=end, **options)


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
    st.caption(T("live"))
    live = ui.call(lambda: ui.api().get("/api/v1/admin/live"))
    if not live:
        return
    window = next((w for w in live["windows"] if w["minutes"] == 5), live["windows"][0])
    cols = st.columns(4)
    cols[0].metric(T("live_requests"), i18n.number(window["requests"]))
    cols[1].metric(T("live_errors"), i18n.number(window["errors"]))
    cols[2].metric(T("live_users"), i18n.number(window["active_users"]))
    cols[3].metric(T("live_p95"), i18n.number(window["latency_p95_ms"]))


role = ui.staff().role
st.title(T("title"))
live_strip()

left, right = st.columns([3, 1])
with left:
    start, end = ui.period("overview:period")
with right:
    grains = ("day", "week", "month")
    grain = st.selectbox(
        i18n.t("grain"), grains, format_func=ui.fixed(i18n.t, grains), key=f"overview:grain:{i18n.current()}"
    )
length = (end - start).days + 1
before_start, before_end = start - timedelta(days=length), start - timedelta(days=1)

try:
    with st.spinner(i18n.t("loading")):
        now = load(role, "kpis", start, end)
        before = load(role, "kpis", before_start, before_end)
        usage = load(role, "usage", start, end, grain=grain)
        actives = load(role, "active_users", start, end, grain=grain)
except ServingNotReady:
    st.info(i18n.t("not_published"), icon=":material/hourglass_empty:")
    st.stop()

if usage.empty and not now.get("new_users"):
    st.info(T("no_activity"), icon=":material/inbox:")
    st.stop()

for row in (KPIS[:4], KPIS[4:8], KPIS[8:]):  # four a row: the labels fit, also on a tablet
    cols = st.columns(len(row))
    for col, kpi in zip(cols, row, strict=True):
        col.metric(T(kpi), show(now.get(kpi), kpi), change(now.get(kpi), before.get(kpi), kpi))
st.caption(T("vs_previous", start=i18n.day(before_start), end=i18n.day(before_end)))

st.subheader(T("active_users"))
series = ["dau", "wau", "mau"] if grain == "day" else ["active_users"]
st.line_chart(actives.set_index("period_start")[series])
left, right = st.columns(2)
with left:
    st.subheader(T("usage"))
    st.bar_chart(usage.set_index("period_start")[["completions", "failed_calls"]], stack=True)
with right:
    st.subheader(T("tokens"))
    st.area_chart(usage.set_index("period_start")[["input_tokens", "output_tokens"]])
st.subheader(T("cost"))
st.bar_chart(usage.set_index("period_start")[["cost_usd"]])
with st.expander(i18n.t("data")):
    ui.table(usage, f"usage_by_{grain}_{start:%Y%m%d}_{end:%Y%m%d}")

st.subheader(T("top"))
for tab, kind in zip(st.tabs([T("top_users"), T("top_models"), T("top_roles")]), ("users", "models", "roles"),
                     strict=True):  # fmt: skip
    with tab:
        ui.table(load(role, "top", start, end, kind=kind), f"top_{kind}_{start:%Y%m%d}_{end:%Y%m%d}")

left, right = st.columns(2)
with left:
    st.subheader(T("geography"))
    countries = load(role, "geography", start, end)
    if not countries.empty:
        st.bar_chart(countries.head(15).set_index("country_code")[["active_users"]], horizontal=True)
    ui.table(countries, f"geography_{start:%Y%m%d}_{end:%Y%m%d}")
with right:
    st.subheader(T("errors_latency"))
    ui.table(load(role, "latency", start, end), f"latency_{start:%Y%m%d}_{end:%Y%m%d}")
