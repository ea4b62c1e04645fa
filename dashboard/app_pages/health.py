"""System health (health:read): the database, how fresh the warehouse is, the pipeline's last runs and each
LLM provider's calls; for roles with analytics:read, the live figures of the last minutes, refreshed on their
own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import i18n, ui

LIVE_SECONDS = 10
STALE_HOURS = 26  # the daily refresh runs at 03:00 UTC: older than a day and a bit, it has not published


BADGE = {
    "ok": ("green", ":material/check_circle:"),
    "degraded": ("orange", ":material/warning:"),
    "failing": ("red", ":material/error:"),
    "idle": ("gray", ":material/pause_circle:"),
}


def badge(status: str, label: str | None = None) -> None:
    color, icon = BADGE[status]
    st.badge(label or i18n.t(f"health.{status}"), color=color, icon=icon)


def status_line(status: str, label: str | None = None) -> None:
    """A status in a narrow card: coloured like a badge, but wrapping where a badge would be cut short."""
    color, icon = BADGE[status]
    st.markdown(f"**:{color}[{icon} {label or i18n.t(f'health.{status}')}]**")


def provider_status(provider: dict[str, Any]) -> str:
    succeeded, failed = provider["calls_succeeded"], provider["calls_failed"]
    if not failed:
        return "ok" if succeeded else "idle"
    return "degraded" if succeeded else "failing"


def database(health: dict[str, Any]) -> None:
    db = health["database"]
    st.markdown(f"**:material/database: {i18n.t('health.database')}**")
    status_line("ok" if db["ok"] else "failing")
    st.metric(i18n.t("health.db_latency"), i18n.t("health.ms", value=i18n.number(db["latency_ms"], 1)))


def warehouse(health: dict[str, Any]) -> None:
    wh = health["warehouse"]
    st.markdown(f"**:material/warehouse: {i18n.t('health.warehouse')}**")
    if wh["published_at"] is None:
        status_line("idle", i18n.t("health.not_published"))
        st.caption(i18n.t("health.run_pipeline"))
        return
    stale = wh["age_seconds"] > STALE_HOURS * 3600
    status_line("degraded" if stale else "ok", i18n.t("health.stale") if stale else i18n.t("health.fresh"))
    st.metric(i18n.t("health.published_age"), i18n.t("health.ago", age=i18n.duration(wh["age_seconds"])))
    st.caption(
        i18n.t("health.published_at", at=i18n.moment(wh["published_at"]))
        + (f" {i18n.t('health.stale_help')}" if stale else "")
    )


def pipeline(health: dict[str, Any]) -> None:
    runs = health["pipeline"]
    st.markdown(f"**:material/account_tree: {i18n.t('health.pipeline')}**")
    last = runs["last_run"]
    if last is None:
        status_line("idle", i18n.t("health.no_run"))
        return
    status_line(
        "ok" if runs["ok"] else "failing",
        i18n.t("health.run_success") if runs["ok"] else i18n.t("health.run_failure"),
    )
    st.metric(i18n.t("health.last_run"), i18n.moment(last.get("finished_at")))
    if runs["last_success"] and runs["last_success"] is not last and not runs["ok"]:
        st.caption(i18n.t("health.last_success", at=i18n.moment(runs["last_success"].get("finished_at"))))
    failure = runs["last_failure"]
    if failure:
        with st.expander(i18n.t("health.last_failure"), icon=":material/error:", expanded=not runs["ok"]):
            st.write(i18n.t("health.failure_at", at=i18n.moment(failure.get("finished_at"))))
            if failure.get("failed_steps"):
                st.write(
                    i18n.t("health.failed_steps", steps=", ".join(f"`{s}`" for s in failure["failed_steps"]))
                )
            if failure.get("message"):
                st.code(failure["message"], language=None)


def providers(health: dict[str, Any]) -> None:
    st.subheader(i18n.t("health.providers"))
    st.caption(i18n.t("health.providers_window"))
    listed = health["providers"]
    if not listed:
        st.info(i18n.t("health.no_providers"), icon=":material/inbox:")
        return
    with st.container(horizontal=True):
        for provider in listed:
            status = provider_status(provider)
            badge(
                status, i18n.t("health.provider_badge", id=provider["id"], status=i18n.t(f"health.{status}"))
            )
    rows = []
    for p in listed:
        calls = p["calls_succeeded"] + p["calls_failed"]
        rows.append(
            {
                i18n.t("health.col_provider"): p["id"],
                i18n.t("health.col_kind"): p["kind"],
                i18n.t("health.col_status"): i18n.t(f"health.{provider_status(p)}"),
                i18n.t("health.col_succeeded"): p["calls_succeeded"],
                i18n.t("health.col_failed"): p["calls_failed"],
                i18n.t("health.col_failure_share"): i18n.percent(p["calls_failed"] / calls) if calls else "—",
            }
        )
    ui.table(rows, "providers_health")


@st.fragment(run_every=LIVE_SECONDS)
def live() -> None:
    # The fragment reruns alone, without the router: the client refreshes the token ahead of its expiry
    # itself, and a session that has ended signs out (ui.call), so no error box after idle minutes.
    figures = ui.fetch(lambda: ui.api().get("/api/v1/admin/live"))
    if figures is None:
        return
    for column, window in zip(st.columns(3), figures["windows"], strict=False):
        with column.container(border=True):
            st.markdown(f"**{i18n.t('health.last_minutes', minutes=window['minutes'])}**")
            st.metric(i18n.t("health.requests"), i18n.number(window["requests"]))
            rate = window["error_rate"]
            st.metric(
                i18n.t("health.errors"), i18n.number(window["errors"]),
                delta=i18n.t("health.error_rate", rate=i18n.percent(rate)) if rate else None,
                delta_color="inverse", delta_arrow="off",
            )  # fmt: skip
            st.metric(
                i18n.t("health.active_users"),
                i18n.number(window["active_users"]),
                help=i18n.t("health.active_help"),
            )
            latency = window["latency_p95_ms"]
            st.metric(
                i18n.t("health.p95"),
                i18n.t("health.ms", value=i18n.number(latency, 0)) if latency is not None else "—",
            )
    at = datetime.fromisoformat(figures["at"])
    st.caption(i18n.t("health.live_at", at=f"{i18n.day(at)} {at:%H:%M:%S} UTC"))


THROUGHPUT_HOURS = (1, 3, 6, 12, 24)
THROUGHPUT_MEASURES = ("requests", "tokens")


def throughput_frame(
    minutes: list[dict[str, Any]], since: datetime, at: datetime, measure: str
) -> pd.DataFrame:
    """One row per minute from `since` to `at` (a minute without a call is a 0), a column per model and
    provider."""
    if not minutes:
        return pd.DataFrame()
    rows = pd.DataFrame(minutes)
    rows["series"] = rows["model"].fillna("—") + " · " + rows["provider"].fillna("—")
    rows["minute"] = pd.to_datetime(rows["minute"], utc=True)
    wide = rows.pivot_table(index="minute", columns="series", values=measure, aggfunc="sum", fill_value=0)
    every = pd.date_range(pd.Timestamp(since).floor("min"), pd.Timestamp(at).floor("min"), freq="min")
    return wide.reindex(every, fill_value=0).rename_axis(i18n.t("health.minute"))


def throughput() -> None:
    """Requests (RPM) or tokens (TPM) a minute by model and provider over the last hours, from the API."""
    st.subheader(i18n.t("health.throughput"))
    left, right = st.columns(2)
    hours = left.selectbox(
        i18n.t("health.hours"), THROUGHPUT_HOURS, index=1, key="hl:tp:hours", format_func=i18n.number
    )
    measure = right.radio(
        i18n.t("health.measure"), THROUGHPUT_MEASURES, horizontal=True, key="hl:tp:measure",
        format_func=ui.fixed(lambda m: i18n.t(f"health.tp_{m}"), THROUGHPUT_MEASURES),
    )  # fmt: skip
    figures = ui.fetch(lambda: client.get("/api/v1/admin/live/throughput", hours=hours))
    if figures is None:
        return
    since, at = datetime.fromisoformat(figures["since"]), datetime.fromisoformat(figures["at"])
    frame = throughput_frame(figures["minutes"], since, at, measure)
    if frame.empty:
        st.info(i18n.t("health.no_calls", hours=i18n.number(hours)), icon=":material/monitoring:")
        return
    st.line_chart(frame, y_label=i18n.t(f"health.tp_{measure}"), x_label=i18n.t("health.minute"))
    st.caption(i18n.t("health.throughput_help"))
    with st.expander(i18n.t("health.throughput_data")):
        ui.table(frame.reset_index(), f"throughput_{measure}_{hours}h")


# ------------------------------------------------------------------------------------------- the page

ui.staff()
client = ui.api()
st.title(i18n.t("health.title"))
st.caption(i18n.t("health.intro"))
st.button(
    i18n.t("health.refresh"), key="hl:refresh", icon=":material/refresh:"
)  # a click runs the page again
health = ui.fetch(lambda: client.get("/api/v1/admin/health"), message=i18n.t("health.checking"))
if health is not None:
    if health["status"] == "ok":
        badge("ok", i18n.t("health.overall_ok"))
    else:
        badge("degraded", i18n.t("health.overall_degraded"))
    st.caption(i18n.t("health.checked_at", at=i18n.moment(health["checked_at"])))
    with st.container(horizontal=True):  # three cards that wrap on a tablet: a time is never cut short
        for part in (database, warehouse, pipeline):
            with st.container(border=True, width="content"):
                part(health)
    providers(health)
if ui.can("analytics:read"):
    st.subheader(i18n.t("health.live"))
    st.caption(i18n.t("health.live_help", seconds=LIVE_SECONDS))
    live()
    throughput()
