"""System health (health:read): the database, how fresh the warehouse is, the pipeline's last runs and each
LLM provider's calls; for roles with analytics:read, the live figures of the last minutes, refreshed on their
own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st

from dashboard import i18n, ui
from dashboard.api_client import ApiClient, ApiError

LIVE_SECONDS = 10
STALE_HOURS = 26  # the daily refresh runs at 03:00 UTC: older than a day and a bit, it has not published

T = i18n.texts(
    {
        "title": ("System health", "Состояние системы"),
        "intro": (
            "Is everything behind the API well: the database, the analytics warehouse, the pipeline that "
            "fills it, and the LLM providers.",
            "Всё ли в порядке за API: база данных, аналитическое хранилище, конвейер, который его наполняет, "
            "и провайдеры LLM.",
        ),
        "refresh": ("Check again", "Проверить снова"),
        "checking": ("Checking…", "Проверяем…"),
        "overall_ok": ("All systems ok", "Все системы в порядке"),
        "overall_degraded": (
            "Degraded: the last pipeline run failed",
            "Есть проблемы: последний запуск конвейера завершился ошибкой",
        ),
        "checked_at": ("Checked {at}.", "Проверено {at}."),
        "ok": ("ok", "в порядке"),
        "degraded": ("degraded", "сбои"),
        "failing": ("failing", "не работает"),
        "idle": ("no calls", "нет вызовов"),
        "database": ("Database", "База данных"),
        "db_latency": ("Query latency", "Задержка запроса"),
        "ms": ("{value} ms", "{value} мс"),
        "warehouse": ("Warehouse", "Хранилище"),
        "fresh": ("fresh", "актуально"),
        "stale": ("stale", "устарело"),
        "not_published": ("not published", "не опубликовано"),
        "published_age": ("Published", "Опубликовано"),
        "ago": ("{age} ago", "{age} назад"),
        "published_at": ("At {at}.", "В {at}."),
        "stale_help": (
            "Older than a day: the daily refresh (03:00 UTC) has not published. Look at the pipeline.",
            "Старше суток: ежедневное обновление (03:00 UTC) не опубликовало данные. Проверьте конвейер.",
        ),
        "run_pipeline": (
            "Analytics pages stay empty until the pipeline publishes: run `aiadmin pipeline run`.",
            "Страницы аналитики пусты, пока конвейер не опубликует данные: запустите `aiadmin pipeline run`.",
        ),
        "pipeline": ("Pipeline", "Конвейер"),
        "no_run": ("no run yet", "ещё не запускался"),
        "run_success": ("last run succeeded", "последний запуск успешен"),
        "run_failure": ("last run failed", "последний запуск с ошибкой"),
        "last_run": ("Last run", "Последний запуск"),
        "last_success": ("Last success: {at}.", "Последний успех: {at}."),
        "last_failure": ("Last failure", "Последняя ошибка"),
        "failure_at": ("Failed {at}.", "Ошибка {at}."),
        "failed_steps": ("Failed steps: {steps}.", "Шаги с ошибкой: {steps}."),
        "providers": ("LLM providers", "Провайдеры LLM"),
        "providers_window": (
            "Calls in the last 15 minutes, by the provider that served or failed them.",
            "Вызовы за последние 15 минут по провайдеру, который их обслужил или не смог.",
        ),
        "no_providers": (
            "No provider serves a model of the catalogue.",
            "Ни один провайдер не обслуживает модели каталога.",
        ),
        "provider_badge": ("{id}: {status}", "{id}: {status}"),
        "col_provider": ("Provider", "Провайдер"),
        "col_kind": ("Kind", "Тип"),
        "col_succeeded": ("Succeeded", "Успешно"),
        "col_failed": ("Failed", "С ошибкой"),
        "col_failure_share": ("Failed share", "Доля ошибок"),
        "col_status": ("Status", "Состояние"),
        "live": ("Live", "Сейчас"),
        "live_help": (
            "LLM calls straight from the database, refreshed every {seconds} s.",
            "Вызовы LLM прямо из базы данных, обновляется каждые {seconds} с.",
        ),
        "last_minutes": ("Last {minutes} min", "За {minutes} мин"),
        "requests": ("Requests", "Запросы"),
        "errors": ("Errors", "Ошибки"),
        "error_rate": ("{rate} of requests", "{rate} запросов"),
        "active_users": ("Active users", "Пользователи"),
        "active_help": (
            "End users who did anything in the window (staff are never counted).",
            "Активные пользователи: сделавшие что-либо за это время (сотрудники не считаются).",
        ),
        "p95": ("p95 latency", "Задержка p95"),
        "live_at": ("As of {at}.", "По состоянию на {at}."),
    }
)

BADGE = {
    "ok": ("green", ":material/check_circle:"),
    "degraded": ("orange", ":material/warning:"),
    "failing": ("red", ":material/error:"),
    "idle": ("gray", ":material/pause_circle:"),
}


def badge(status: str, label: str | None = None) -> None:
    color, icon = BADGE[status]
    st.badge(label or T(status), color=color, icon=icon)


def status_line(status: str, label: str | None = None) -> None:
    """A status in a narrow card: coloured like a badge, but wrapping where a badge would be cut short."""
    color, icon = BADGE[status]
    st.markdown(f"**:{color}[{icon} {label or T(status)}]**")


def provider_status(provider: dict[str, Any]) -> str:
    succeeded, failed = provider["calls_succeeded"], provider["calls_failed"]
    if not failed:
        return "ok" if succeeded else "idle"
    return "degraded" if succeeded else "failing"


def database(health: dict[str, Any]) -> None:
    db = health["database"]
    st.markdown(f"**:material/database: {T('database')}**")
    status_line("ok" if db["ok"] else "failing")
    st.metric(T("db_latency"), T("ms", value=i18n.number(db["latency_ms"], 1)))


def warehouse(health: dict[str, Any]) -> None:
    wh = health["warehouse"]
    st.markdown(f"**:material/warehouse: {T('warehouse')}**")
    if wh["published_at"] is None:
        status_line("idle", T("not_published"))
        st.caption(T("run_pipeline"))
        return
    stale = wh["age_seconds"] > STALE_HOURS * 3600
    status_line("degraded" if stale else "ok", T("stale") if stale else T("fresh"))
    st.metric(T("published_age"), T("ago", age=i18n.duration(wh["age_seconds"])))
    st.caption(
        T("published_at", at=i18n.moment(wh["published_at"])) + (f" {T('stale_help')}" if stale else "")
    )


def pipeline(health: dict[str, Any]) -> None:
    runs = health["pipeline"]
    st.markdown(f"**:material/account_tree: {T('pipeline')}**")
    last = runs["last_run"]
    if last is None:
        status_line("idle", T("no_run"))
        return
    status_line("ok" if runs["ok"] else "failing", T("run_success") if runs["ok"] else T("run_failure"))
    st.metric(T("last_run"), i18n.moment(last.get("finished_at")))
    if runs["last_success"] and runs["last_success"] is not last and not runs["ok"]:
        st.caption(T("last_success", at=i18n.moment(runs["last_success"].get("finished_at"))))
    failure = runs["last_failure"]
    if failure:
        with st.expander(T("last_failure"), icon=":material/error:", expanded=not runs["ok"]):
            st.write(T("failure_at", at=i18n.moment(failure.get("finished_at"))))
            if failure.get("failed_steps"):
                st.write(T("failed_steps", steps=", ".join(f"`{s}`" for s in failure["failed_steps"])))
            if failure.get("message"):
                st.code(failure["message"], language=None)


def providers(health: dict[str, Any]) -> None:
    st.subheader(T("providers"))
    st.caption(T("providers_window"))
    listed = health["providers"]
    if not listed:
        st.info(T("no_providers"), icon=":material/inbox:")
        return
    with st.container(horizontal=True):
        for provider in listed:
            status = provider_status(provider)
            badge(status, T("provider_badge", id=provider["id"], status=T(status)))
    rows = []
    for p in listed:
        calls = p["calls_succeeded"] + p["calls_failed"]
        rows.append(
            {
                T("col_provider"): p["id"],
                T("col_kind"): p["kind"],
                T("col_status"): T(provider_status(p)),
                T("col_succeeded"): p["calls_succeeded"],
                T("col_failed"): p["calls_failed"],
                T("col_failure_share"): i18n.percent(p["calls_failed"] / calls) if calls else "—",
            }
        )
    ui.table(rows, "providers_health")


def live_now() -> dict[str, Any]:
    """The live figures. This fragment reruns on its own, without the router that refreshes the staff
    member's access token on every full run, so it refreshes the token itself when it has expired."""
    try:
        return ui.api().get("/api/v1/admin/live")
    except ApiError as exc:
        if exc.status != 401:
            raise
    st.session_state["staff"] = ApiClient().revalidate(ui.staff())  # a revoked session raises: shown
    return ui.api().get("/api/v1/admin/live")


@st.fragment(run_every=LIVE_SECONDS)
def live() -> None:
    figures = ui.fetch(live_now)
    if figures is None:
        return
    for column, window in zip(st.columns(3), figures["windows"], strict=False):
        with column.container(border=True):
            st.markdown(f"**{T('last_minutes', minutes=window['minutes'])}**")
            st.metric(T("requests"), i18n.number(window["requests"]))
            rate = window["error_rate"]
            st.metric(
                T("errors"), i18n.number(window["errors"]),
                delta=T("error_rate", rate=i18n.percent(rate)) if rate else None, delta_color="inverse",
                delta_arrow="off",
            )  # fmt: skip
            st.metric(T("active_users"), i18n.number(window["active_users"]), help=T("active_help"))
            latency = window["latency_p95_ms"]
            st.metric(T("p95"), T("ms", value=i18n.number(latency, 0)) if latency is not None else "—")
    at = datetime.fromisoformat(figures["at"])
    st.caption(T("live_at", at=f"{i18n.day(at)} {at:%H:%M:%S} UTC"))


# ------------------------------------------------------------------------------------------- the page

ui.staff()
client = ui.api()
st.title(T("title"))
st.caption(T("intro"))
st.button(T("refresh"), key="hl:refresh", icon=":material/refresh:")  # a click runs the page again
health = ui.fetch(lambda: client.get("/api/v1/admin/health"), message=T("checking"))
if health is not None:
    if health["status"] == "ok":
        badge("ok", T("overall_ok"))
    else:
        badge("degraded", T("overall_degraded"))
    st.caption(T("checked_at", at=i18n.moment(health["checked_at"])))
    for column, part in zip(st.columns(3), (database, warehouse, pipeline), strict=True):
        with column.container(border=True):
            part(health)
    providers(health)
if ui.can("analytics:read"):
    st.subheader(T("live"))
    st.caption(T("live_help", seconds=LIVE_SECONDS))
    live()
