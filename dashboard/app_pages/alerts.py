"""Alerts (health:read to look, alerts:write to change): rules on the error rate, p95 latency, spend and
provider failures of the LLM calls, an "evaluate now" button, and the history of what fired and resolved."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import streamlit as st

from dashboard import i18n, ui

ALERTS = "/api/v1/admin/alerts"
PAGE_SIZE = 50
WEEK_MINUTES = 7 * 24 * 60
METRICS = ("error_rate", "p95_latency_ms", "spend_usd", "provider_failures")
CHANNELS = ("email", "webhook")
KINDS = ("fired", "repeated", "resolved")
DELIVERY = ("pending", "queued", "sent", "failed", "skipped")


def metric_label(metric: str) -> str:
    return i18n.t(f"alerts.m_{metric}")


def figure(metric: str, value: float | None) -> str:
    """A figure in the metric's unit and the locale's form."""
    if value is None:
        return "—"
    if metric == "error_rate":
        return i18n.percent(value, 1)
    if metric == "p95_latency_ms":
        return i18n.t("alerts.ms", value=i18n.number(value, 0))
    if metric == "spend_usd":
        return i18n.t("alerts.usd", value=i18n.number(value, 2))
    return i18n.number(value)


def state_label(rule: dict[str, Any]) -> str:
    return i18n.t("alerts.state_paused") if not rule["enabled"] else i18n.t(f"alerts.state_{rule['state']}")


def provider_options(client) -> list[str]:
    """The choices: every provider (""), then each one of the catalogue, as the health endpoint lists them."""
    health = ui.fetch(lambda: client.get("/api/v1/admin/health"))
    return ["", *(p["id"] for p in (health or {}).get("providers", []))]


# --------------------------------------------------------------------------------------------- rules


def rules_table(rules: list[dict[str, Any]]) -> None:
    firing = [r for r in rules if r["enabled"] and r["state"] == "firing"]
    if firing:
        with st.container(horizontal=True):
            for rule in firing:
                st.badge(i18n.t("alerts.firing_now", name=rule["name"]), icon=":material/error:", color="red")
    else:
        st.badge(i18n.t("alerts.all_ok"), icon=":material/check_circle:", color="green")
    rows = [
        {
            i18n.t("alerts.col_name"): r["name"],
            i18n.t("alerts.col_state"): state_label(r),
            i18n.t("alerts.col_metric"): metric_label(r["metric"]),
            i18n.t("alerts.col_provider"): r["provider"] or i18n.t("alerts.every_provider"),
            i18n.t("alerts.col_window"): i18n.duration(r["window_minutes"] * 60),
            i18n.t("alerts.col_threshold"): figure(r["metric"], r["threshold"]),
            i18n.t("alerts.col_last_value"): figure(r["metric"], r["last_value"]),
            i18n.t("alerts.col_last_evaluated"): i18n.moment(r["last_evaluated_at"]),
            i18n.t("alerts.col_channel"): i18n.t(f"alerts.ch_{r['channel']}"),
            i18n.t("alerts.col_target"): r["target"],
            i18n.t("alerts.col_repeat"): i18n.duration(r["repeat_minutes"] * 60)
            if r["repeat_minutes"]
            else i18n.t("alerts.never"),
            i18n.t("alerts.col_resolved"): i18n.yes_no(r["notify_resolved"]),
        }
        for r in rules
    ]
    ui.table(rows, "alert_rules")


def rule_fields(key: str, providers: list[str], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fields of a rule as typed (the target "" when left empty), laid out two side by side."""
    was = current or {}
    values: dict[str, Any] = {}
    left, right = st.columns(2)
    values["name"] = left.text_input(
        i18n.t("alerts.name"), value=was.get("name", ""), max_chars=100, key=f"{key}:name"
    )
    metric = right.selectbox(
        i18n.t("alerts.metric"), METRICS, index=METRICS.index(was.get("metric", "error_rate")),
        help=i18n.t("alerts.metric_help"), format_func=ui.fixed(metric_label, METRICS), key=f"{key}:metric",
    )  # fmt: skip
    values["metric"] = metric
    provider = was.get("provider") or ""
    options = providers if provider in providers else [*providers, provider]
    values["provider"] = left.selectbox(
        i18n.t("alerts.provider"), options, index=options.index(provider), key=f"{key}:provider",
        accept_new_options=True,
        format_func=ui.fixed(lambda p: p or i18n.t("alerts.every_provider"), options),
    ) or None  # fmt: skip
    window = right.number_input(
        i18n.t("alerts.window"), min_value=1, max_value=WEEK_MINUTES, value=int(was.get("window_minutes", 5)),
        step=1, help=i18n.t("alerts.window_help"), key=f"{key}:window",
    )  # fmt: skip
    values["window_minutes"] = int(window)
    # One threshold widget per figure: 5 (%) of an error rate is not 5 ms.
    same_metric = was.get("metric") == metric
    if metric == "error_rate":
        shown = float(was["threshold"]) * 100 if same_metric else 5.0
        percent = left.number_input(
            i18n.t("alerts.threshold_error_rate"), min_value=0.0, max_value=100.0, value=shown, step=1.0,
            format="%.2f", key=f"{key}:threshold:{metric}",
        )  # fmt: skip
        values["threshold"] = round(percent / 100, 6)
    else:
        default = {"p95_latency_ms": 2000.0, "spend_usd": 10.0, "provider_failures": 5.0}[metric]
        values["threshold"] = left.number_input(
            i18n.t(f"alerts.threshold_{metric}"), min_value=0.0, max_value=1e12,
            value=float(was["threshold"]) if same_metric else default,
            step=1.0 if metric != "spend_usd" else 0.5, format="%.2f" if metric == "spend_usd" else "%.0f",
            key=f"{key}:threshold:{metric}",
        )  # fmt: skip
    channel = right.selectbox(
        i18n.t("alerts.channel"), CHANNELS, index=CHANNELS.index(was.get("channel", "email")),
        format_func=ui.fixed(lambda c: i18n.t(f"alerts.ch_{c}"), CHANNELS), key=f"{key}:channel",
    )  # fmt: skip
    values["channel"] = channel
    if current and channel == "webhook" and current["channel"] == "webhook":
        # The API shows a webhook masked and keeps it unless a new one is sent.
        values["target"] = st.text_input(
            i18n.t("alerts.target_webhook"), placeholder=current["target"], max_chars=500,
            key=f"{key}:target:{channel}", help=i18n.t("alerts.target_unchanged", target=current["target"]),
        ).strip()  # fmt: skip
    else:
        keep = current["target"] if current and current["channel"] == channel else ""
        values["target"] = st.text_input(
            i18n.t(f"alerts.target_{channel}"), value=keep, max_chars=500, key=f"{key}:target:{channel}"
        ).strip()
    left, right = st.columns(2)
    repeat = left.number_input(
        i18n.t("alerts.repeat"), min_value=0, max_value=WEEK_MINUTES,
        value=int(was.get("repeat_minutes") or 0), step=5, key=f"{key}:repeat",
    )  # fmt: skip
    values["repeat_minutes"] = int(repeat) or None
    values["notify_resolved"] = right.toggle(
        i18n.t("alerts.notify_resolved"),
        value=was.get("notify_resolved", True),
        help=i18n.t("alerts.notify_resolved_help"),
        key=f"{key}:resolved",
    )
    return values


def create_rule(client, providers: list[str]) -> None:
    with st.expander(i18n.t("alerts.new_rule"), icon=":material/add_alert:", expanded=False):
        values = rule_fields("al:new", providers)
        values["enabled"] = st.toggle(i18n.t("alerts.enabled"), value=True, key="al:new:enabled")
        if st.button(i18n.t("alerts.create"), type="primary", key="al:create", icon=":material/add:"):
            if not values["name"].strip():
                st.error(i18n.t("alerts.need_name"), icon=":material/error:")
                return
            if not values["target"]:
                st.error(i18n.t("alerts.need_target"), icon=":material/error:")
                return
            with st.spinner(i18n.t("common.loading")):
                created = ui.call(lambda: client.post(f"{ALERTS}/rules", values))
            if created is not None:
                ui.changed(i18n.t("alerts.created", name=created["name"]), clear="al:new:", where="al:rules")


def change_rule(client, rules: list[dict[str, Any]], providers: list[str]) -> None:
    with st.expander(i18n.t("alerts.change_rule"), icon=":material/edit:", expanded=False):
        by_id = {r["id"]: r for r in rules}
        rule_id = st.selectbox(
            i18n.t("alerts.rule_to_change"), list(by_id), key="al:edit",
            format_func=ui.fixed(lambda i: f"{by_id[i]['name']} · {state_label(by_id[i])}", by_id),
        )  # fmt: skip
        rule = by_id[rule_id]
        key = f"al:edit:{rule_id}"
        values = rule_fields(key, providers, rule)
        changes = {
            name: value
            for name, value in values.items()
            if name != "target" and value != (float(rule[name]) if name == "threshold" else rule[name])
        }
        if values["target"] and values["target"] != rule["target"]:
            changes["target"] = values["target"]
        save, toggle = st.columns(2)
        if save.button(i18n.t("alerts.save"), type="primary", key=f"{key}:save", icon=":material/save:"):
            if not changes:
                st.info(i18n.t("alerts.nothing_changed"), icon=":material/info:")
            elif "channel" in changes and "target" not in changes:  # an address of the other kind
                st.error(i18n.t("alerts.need_target"), icon=":material/error:")
            elif not values["name"].strip():
                st.error(i18n.t("alerts.need_name"), icon=":material/error:")
            else:
                with st.spinner(i18n.t("common.loading")):
                    saved = ui.call(lambda: client.patch(f"{ALERTS}/rules/{rule_id}", changes))
                if saved is not None:
                    ui.changed(i18n.t("alerts.saved", name=saved["name"]), where="al:rules")
        pausing = rule["enabled"]
        if toggle.button(
            i18n.t("alerts.pause") if pausing else i18n.t("alerts.resume"), key=f"{key}:toggle",
            icon=":material/pause:" if pausing else ":material/play_arrow:",
        ):  # fmt: skip
            with st.spinner(i18n.t("common.loading")):
                done = ui.call(lambda: client.patch(f"{ALERTS}/rules/{rule_id}", {"enabled": not pausing}))
            if done is not None:
                ui.changed(
                    i18n.t("alerts.paused" if pausing else "alerts.resumed", name=rule["name"]),
                    where="al:rules",
                )
        if ui.confirmed(
            f"{key}:delete", i18n.t("alerts.delete", name=rule["name"]), icon=":material/delete:"
        ):
            with st.spinner(i18n.t("common.loading")):
                gone = ui.call(lambda: client.delete(f"{ALERTS}/rules/{rule_id}") or True)
            if gone:
                ui.changed(i18n.t("alerts.deleted", name=rule["name"]), forget=f"{key}:", where="al:rules")


def evaluate(client) -> None:
    if not st.button(i18n.t("alerts.evaluate"), key="al:evaluate", icon=":material/play_circle:"):
        return
    with st.spinner(i18n.t("alerts.evaluating")):
        result = ui.call(lambda: client.post(f"{ALERTS}/evaluate"))
    if result is None:
        return
    events = "; ".join(
        i18n.t(
            "alerts.event",
            rule=e["rule_name"],
            kind=i18n.t(f"alerts.k_{e['kind']}"),
            status=i18n.t(f"alerts.d_{e['delivery_status']}"),
        )
        for e in result["events"]
    )
    ui.changed(
        i18n.t(
            "alerts.evaluated",
            count=i18n.number(result["evaluated"]),
            events=events or i18n.t("alerts.no_events"),
        )
    )


# ------------------------------------------------------------------------------------------- history


def history_tab(client, rules: list[dict[str, Any]]) -> None:
    names = {r["id"]: r["name"] for r in rules}
    left, right = st.columns(2)
    rule_id = left.selectbox(
        i18n.t("alerts.col_name"),
        (0, *names),
        format_func=ui.fixed(lambda i: names[i] if i else i18n.t("alerts.any_rule"), (0, *names)),
        key="al:h:rule",
    )
    kind = right.selectbox(
        i18n.t("alerts.kind"),
        ("", *KINDS),
        format_func=ui.fixed(
            lambda k: i18n.t(f"alerts.k_{k}") if k else i18n.t("alerts.any_kind"), ("", *KINDS)
        ),
        key="al:h:kind",
    )
    start, end = ui.period("al:h:period", days=7)
    filters = {
        "rule_id": rule_id or None,
        "kind": kind,
        "since": datetime.combine(start, time(), UTC).isoformat(),
        "until": datetime.combine(end + timedelta(days=1), time(), UTC).isoformat(),
    }
    offset = ui.page_offset("al:h:page", PAGE_SIZE, tuple(filters.values()))
    page = ui.fetch(lambda: client.get(f"{ALERTS}/history", limit=PAGE_SIZE, offset=offset, **filters))
    if page is None:
        return
    if not page["items"]:
        st.info(i18n.t("alerts.no_history"), icon=":material/inbox:")
        return
    st.caption(i18n.t("alerts.history_total", count=i18n.number(page["total"])))
    rows = [
        {
            i18n.t("alerts.col_time"): i18n.moment(e["occurred_at"]),
            i18n.t("alerts.col_name"): e["rule_name"],
            i18n.t("alerts.col_kind"): i18n.t(f"alerts.k_{e['kind']}"),
            i18n.t("alerts.col_metric"): metric_label(e["metric"]),
            i18n.t("alerts.col_value"): figure(e["metric"], e["value"]),
            i18n.t("alerts.col_threshold"): figure(e["metric"], e["threshold"]),
            i18n.t("alerts.col_window"): i18n.duration(e["window_minutes"] * 60),
            i18n.t("alerts.col_channel"): i18n.t(f"alerts.ch_{e['channel']}"),
            i18n.t("alerts.col_target"): e["target"],
            i18n.t("alerts.col_delivery"): i18n.t(f"alerts.d_{e['delivery_status']}"),
            i18n.t("alerts.col_error"): e["delivery_error"] or "",
            i18n.t("alerts.col_delivered_at"): i18n.moment(e["delivered_at"]) if e["delivered_at"] else "",
        }
        for e in page["items"]
    ]
    ui.table(rows, "alert_history")
    ui.page_buttons("al:h:page", size=PAGE_SIZE, shown=len(rows), total=page["total"])
    st.caption(i18n.t("alerts.full_export"))
    ui.list_downloads(f"{ALERTS}/history/export", "alert_history_all", key="al:h:export", **filters)


# ------------------------------------------------------------------------------------------- the page

ui.staff()
client = ui.api()
writer = ui.can("alerts:write")
st.title(i18n.t("alerts.title"))
st.caption(i18n.t("alerts.intro"))
ui.notice()
if writer:
    evaluate(client)
else:
    st.caption(i18n.t("alerts.read_only"))
rules = ui.fetch(lambda: client.get(f"{ALERTS}/rules"))
tabs = ui.kept_tabs("al:tab", {"rules": i18n.t("alerts.tab_rules"), "history": i18n.t("alerts.tab_history")})
with tabs["rules"]:
    ui.notice("al:rules")
    if rules is not None:
        if rules:
            rules_table(rules)
        else:
            st.info(
                i18n.t("alerts.no_rules") if writer else i18n.t("alerts.no_rules_read_only"),
                icon=":material/inbox:",
            )
        if writer:
            providers = provider_options(client)
            create_rule(client, providers)
            if rules:
                change_rule(client, rules, providers)
with tabs["history"]:
    history_tab(client, rules or [])
