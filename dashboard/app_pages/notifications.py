"""Notifications (notifications:send): broadcasts to a segment of users, the automatic rules (welcome, quota
exhausted, balance low), and the delivery log of everything sent."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import streamlit as st

from dashboard import i18n, ui

ADMIN = "/api/v1/admin/notifications"
PAGE_SIZE = 50
RECENT_BROADCASTS = 100
KINDS = ("all", "plan", "country", "inactive")
CHANNELS = ("email", "in_app")
STATUSES = ("delivered", "read", "queued", "sent", "retrying", "failed")
RULES = ("welcome", "quota_exhausted", "balance_low")

PLACEHOLDER_ORDER = ("email", "plan", "app_url", "limit", "metric", "resets_at", "balance", "threshold")


def channel_label(channel: str) -> str:
    return i18n.t(f"notifications.ch_{channel}")


def status_label(status: str) -> str:
    return i18n.t(f"notifications.st_{status}")


def rule_label(code: str) -> str:
    return i18n.t(f"notifications.rule_{code}") if code in RULES else code


def placeholders_help(names: list[str] | tuple[str, ...]) -> str:
    ordered = sorted(names, key=lambda n: PLACEHOLDER_ORDER.index(n) if n in PLACEHOLDER_ORDER else 99)
    described = [
        f"`{{{name}}}` {i18n.t(f'notifications.ph_{name}')}" if name in PLACEHOLDER_ORDER else f"`{{{name}}}`"
        for name in ordered
    ]
    return i18n.t("notifications.placeholders", names="; ".join(described))


def broadcast_option(by_id: dict[int, dict[str, Any]]) -> Callable[[int], str]:
    return lambda i: i18n.t(
        "notifications.broadcast_option", id=i, subject=by_id[i]["templates"]["en"]["subject"]
    )


def segment_text(segment: dict[str, Any]) -> str:
    kind = segment.get("kind", "all")
    if kind == "plan":
        return i18n.t("notifications.seg_plan", plan=segment.get("plan"))
    if kind == "country":
        return i18n.t("notifications.seg_country", country=segment.get("country"))
    if kind == "inactive":
        return i18n.t("notifications.seg_inactive", days=segment.get("inactive_days"))
    return i18n.t("notifications.seg_all")


def text_inputs(key: str, current: dict[str, dict[str, str]] | None = None) -> dict[str, dict[str, str]]:
    """Subject and message in English (left) and Russian (right): what was typed, per locale."""
    current = current or {}
    typed: dict[str, dict[str, str]] = {}
    for column, locale in zip(st.columns(2), ("en", "ru"), strict=True):
        with column:
            st.markdown(
                f"**{i18n.t('notifications.english' if locale == 'en' else 'notifications.russian')}**"
            )
            was = current.get(locale) or {}
            subject = st.text_input(
                i18n.t("notifications.subject"),
                value=was.get("subject", ""),
                max_chars=300,
                key=f"{key}:{locale}:subject",
            )
            body = st.text_area(
                i18n.t("notifications.body"),
                value=was.get("body", ""),
                max_chars=20_000,
                height=160,
                key=f"{key}:{locale}:body",
            )
            typed[locale] = {
                "subject": subject,
                "body": body,
            }  # as typed: a rule's text may end with a newline
    return typed


def texts_problem(typed: dict[str, dict[str, str]]) -> str | None:
    if not (typed["en"]["subject"].strip() and typed["en"]["body"].strip()):
        return i18n.t("notifications.need_english")
    if bool(typed["ru"]["subject"].strip()) != bool(typed["ru"]["body"].strip()):
        return i18n.t("notifications.need_both")
    return None


def texts_body(typed: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The API's `texts`: English, and Russian when given."""
    return {locale: parts for locale, parts in typed.items() if locale == "en" or parts["subject"].strip()}


# ------------------------------------------------------------------------------------------- compose


def plan_codes(client) -> list[str] | None:
    """The plans to choose from (reading them needs users:read; without it the code is typed)."""
    if not ui.can("users:read"):
        return None
    plans = ui.fetch(lambda: client.get("/api/v1/admin/plans"))
    return [plan["code"] for plan in plans] if plans else None


def segment_picker(client) -> dict[str, Any] | None:
    """The segment chosen, or None (with what is missing said) while it is incomplete."""
    kind = st.selectbox(
        i18n.t("notifications.segment"),
        KINDS,
        format_func=ui.fixed(lambda k: i18n.t(f"notifications.kind_{k}"), KINDS),
        key="nt:kind",
    )
    segment: dict[str, Any] = {"kind": kind}
    if kind == "plan":
        plans = plan_codes(client)
        if plans:
            segment["plan"] = st.selectbox(i18n.t("notifications.plan"), plans, key="nt:plan")
        else:
            segment["plan"] = st.text_input(
                i18n.t("notifications.plan"), max_chars=32, key="nt:plan_code"
            ).strip()
        if not segment["plan"]:
            st.info(i18n.t("notifications.need_plan"), icon=":material/info:")
            return None
    elif kind == "country":
        country = (
            st.text_input(i18n.t("notifications.country"), max_chars=2, key="nt:country").strip().upper()
        )
        if len(country) != 2 or not country.isalpha():
            st.info(i18n.t("notifications.need_country"), icon=":material/info:")
            return None
        segment["country"] = country
    elif kind == "inactive":
        segment["inactive_days"] = int(
            st.number_input(
                i18n.t("notifications.inactive_days"),
                min_value=1,
                max_value=3650,
                value=30,
                step=1,
                key="nt:days",
            )
        )
    return segment


def compose(client) -> None:
    left, right = st.columns(2)
    with left:
        segment = segment_picker(client)
        st.caption(i18n.t("notifications.segment_help"))
    recipients = None
    with right:
        if segment is not None:
            audience = ui.fetch(lambda: client.get(f"{ADMIN}/audience", **segment))
            if audience is not None:
                recipients = audience["recipients"]
                st.metric(i18n.t("notifications.recipients_now"), i18n.number(recipients))
                if recipients == 0:
                    st.warning(i18n.t("notifications.nobody"), icon=":material/group_off:")
        channels = st.multiselect(
            i18n.t("notifications.channels"),
            CHANNELS,
            default=list(CHANNELS),
            format_func=ui.fixed(channel_label, CHANNELS),
            key="nt:channels",
            placeholder=i18n.t("common.choose"),
        )
    typed = text_inputs("nt:text")
    st.caption(placeholders_help(("email", "plan", "app_url")) + " " + i18n.t("notifications.russian_help"))

    # An incomplete segment has said so above; what else is missing is said here.
    problem = i18n.t("notifications.need_channel") if not channels else texts_problem(typed)
    if problem:
        st.info(problem, icon=":material/edit_note:")
    count = i18n.number(recipients) if recipients is not None else "…"
    if ui.confirmed(
        "nt:send",
        i18n.t("notifications.send", count=count),
        icon=":material/send:",
        disabled=bool(problem) or segment is None,
    ):
        body = {"segment": segment, "channels": channels, "texts": texts_body(typed)}
        with st.spinner(i18n.t("notifications.sending")):
            sent = ui.call(lambda: client.post(f"{ADMIN}/broadcasts", body))
        if sent is not None:
            ui.changed(
                i18n.t("notifications.sent_ok", id=sent["id"], count=i18n.number(sent["recipients"])),
                clear="nt:text:",
                where="nt:compose",
            )


# ------------------------------------------------------------------------------------ broadcasts sent


def broadcasts_tab(broadcasts: list[dict[str, Any]] | None) -> None:
    if broadcasts is None:
        return
    if not broadcasts:
        st.info(i18n.t("notifications.no_broadcasts"), icon=":material/inbox:")
        return
    if len(broadcasts) >= RECENT_BROADCASTS:
        st.caption(i18n.t("notifications.recent_only", count=len(broadcasts)))
    rows = [
        {
            i18n.t("notifications.col_id"): b["id"],
            i18n.t("notifications.col_sent_at"): i18n.moment(b["created_at"]),
            i18n.t("notifications.col_by"): b["created_by_email"] or "—",
            i18n.t("notifications.col_segment"): segment_text(b["segment"]),
            i18n.t("notifications.col_channels"): ", ".join(channel_label(c) for c in b["channels"]),
            i18n.t("notifications.col_recipients"): b["recipients"],
            i18n.t("notifications.col_subject"): b["templates"].get("en", {}).get("subject", ""),
        }
        for b in broadcasts
    ]
    ui.table(rows, "broadcasts")
    with st.expander(i18n.t("notifications.read_texts"), icon=":material/article:"):
        by_id = {b["id"]: b for b in broadcasts}
        chosen = st.selectbox(
            i18n.t("notifications.broadcast"), list(by_id), key="nt:read",
            format_func=ui.fixed(broadcast_option(by_id), by_id),
        )  # fmt: skip
        for locale, parts in by_id[chosen]["templates"].items():
            language = i18n.t(f"notifications.lang_{locale}") if locale in ("en", "ru") else locale
            st.markdown(f"**{language}: {parts['subject']}**")
            st.text(parts["body"])


# ------------------------------------------------------------------------------------------- rules


def rule_form(client, rule: dict[str, Any]) -> None:
    code = rule["code"]
    key = f"nt:rule:{code}"
    state = i18n.t("notifications.on") if rule["enabled"] else i18n.t("notifications.off")
    with st.expander(f"{rule_label(code)} · {state}", icon=":material/rule:"):
        when = i18n.t(f"notifications.when_{code}") if code in RULES else ""
        st.caption(f"{when} {i18n.t('notifications.updated', at=i18n.moment(rule['updated_at']))}")
        with st.form(key):
            enabled = st.toggle(i18n.t("notifications.enabled"), value=rule["enabled"], key=f"{key}:enabled")
            channels = st.multiselect(
                i18n.t("notifications.channels"), CHANNELS,
                default=[c for c in rule["channels"] if c in CHANNELS],
                format_func=ui.fixed(channel_label, CHANNELS), key=f"{key}:channels",
                placeholder=i18n.t("common.choose"),
            )  # fmt: skip
            threshold = None
            if rule["threshold"] is not None or code == "balance_low":
                threshold = st.number_input(
                    i18n.t("notifications.threshold"), min_value=0.0, max_value=1e9,
                    value=float(rule["threshold"] or 0), step=1.0, format="%.2f", key=f"{key}:threshold",
                )  # fmt: skip
            typed = text_inputs(key, rule["templates"])
            st.caption(placeholders_help(rule["placeholders"]))
            saved = st.form_submit_button(i18n.t("common.save"), type="primary", key=f"{key}:save")
    if not saved:
        return
    problem = texts_problem(typed)
    if problem:
        st.error(problem, icon=":material/error:")
        return
    changes: dict[str, Any] = {}
    if enabled != rule["enabled"]:
        changes["enabled"] = enabled
    if sorted(channels) != sorted(rule["channels"]):
        changes["channels"] = channels
    if threshold is not None:
        new = Decimal(str(round(threshold, 6)))
        if rule["threshold"] is None or new != Decimal(str(rule["threshold"])):
            changes["threshold"] = str(new)
    texts = texts_body(typed)
    if texts != rule["templates"]:
        changes["texts"] = texts
    if not changes:
        st.info(i18n.t("notifications.nothing_changed"), icon=":material/info:")
        return
    with st.spinner(i18n.t("common.loading")):
        done = ui.call(lambda: client.put(f"{ADMIN}/rules/{code}", changes))
    if done is not None:
        ui.changed(i18n.t("notifications.rule_saved", rule=rule_label(code)), where="nt:rules")


def rules_tab(client) -> None:
    rules = ui.fetch(lambda: client.get(f"{ADMIN}/rules"))
    if rules is None:
        return
    if not rules:
        st.info(i18n.t("notifications.no_rules"), icon=":material/inbox:")
        return
    for rule in sorted(rules, key=lambda r: RULES.index(r["code"]) if r["code"] in RULES else 99):
        rule_form(client, rule)


# ------------------------------------------------------------------------------------ the delivery log


def log_tab(client, broadcasts: list[dict[str, Any]]) -> None:
    by_id = {b["id"]: b for b in broadcasts}
    top_left, top_right = st.columns(2)
    channel = top_left.selectbox(
        i18n.t("notifications.col_channel"), ("", *CHANNELS), key="nt:log:channel",
        format_func=ui.fixed(
            lambda c: channel_label(c) if c else i18n.t("notifications.any"), ("", *CHANNELS)
        ),
    )  # fmt: skip
    status = top_right.selectbox(
        i18n.t("notifications.status"),
        ("", *STATUSES),
        key="nt:log:status",
        format_func=ui.fixed(
            lambda s: status_label(s) if s else i18n.t("notifications.any"), ("", *STATUSES)
        ),
    )
    low_left, low_right = st.columns(2)
    rule = low_left.selectbox(
        i18n.t("notifications.rule"),
        ("", *RULES),
        key="nt:log:rule",
        format_func=ui.fixed(lambda r: rule_label(r) if r else i18n.t("notifications.any"), ("", *RULES)),
    )
    broadcast_id = low_right.selectbox(
        i18n.t("notifications.broadcast"), (0, *by_id), key="nt:log:broadcast",
        format_func=ui.fixed(
            lambda i: broadcast_option(by_id)(i) if i else i18n.t("notifications.any_broadcast"), (0, *by_id)
        ),
    )  # fmt: skip
    filters = {"channel": channel, "status": status, "rule": rule, "broadcast_id": broadcast_id or None}
    offset = ui.page_offset("nt:log:page", PAGE_SIZE, tuple(filters.values()))
    page = ui.fetch(lambda: client.get(f"{ADMIN}/deliveries", limit=PAGE_SIZE, offset=offset, **filters))
    if page is None:
        return
    if not page["items"]:
        st.info(i18n.t("notifications.no_deliveries"), icon=":material/inbox:")
        return
    st.caption(i18n.t("notifications.log_total", count=i18n.number(page["total"])))
    rows = [
        {
            i18n.t("notifications.col_time"): i18n.moment(d["created_at"]),
            i18n.t("notifications.col_email"): d["email"],
            i18n.t("notifications.col_channel"): channel_label(d["channel"]),
            i18n.t("notifications.col_source"): rule_label(d["rule"])
            if d["rule"]
            else i18n.t("notifications.source_broadcast", id=d["broadcast_id"]),
            i18n.t("notifications.col_locale"): d["locale"],
            i18n.t("notifications.col_delivered_subject"): d["subject"],
            i18n.t("notifications.col_status"): status_label(d["status"]),
            i18n.t("notifications.col_attempts"): d["attempts"],
            i18n.t("notifications.col_error"): d["error"] or "",
            i18n.t("notifications.col_read_at"): i18n.moment(d["read_at"]) if d["read_at"] else "",
        }
        for d in page["items"]
    ]
    ui.table(rows, "deliveries")
    ui.page_buttons("nt:log:page", size=PAGE_SIZE, shown=len(rows), total=page["total"])
    st.caption(i18n.t("notifications.full_export"))
    ui.list_downloads(f"{ADMIN}/deliveries/export", "deliveries_all", key="nt:log:export", **filters)


# ------------------------------------------------------------------------------------------- the page

ui.staff()
client = ui.api()
st.title(i18n.t("notifications.title"))
st.caption(i18n.t("notifications.intro"))
ui.notice()
tabs = ui.kept_tabs(
    "nt:tab",
    {
        "compose": i18n.t("notifications.tab_compose"),
        "broadcasts": i18n.t("notifications.tab_broadcasts"),
        "rules": i18n.t("notifications.tab_rules"),
        "log": i18n.t("notifications.tab_log"),
    },
)
with tabs["compose"]:
    ui.notice("nt:compose")
    compose(client)
with tabs["broadcasts"]:
    broadcasts = ui.fetch(lambda: client.get(f"{ADMIN}/broadcasts", limit=RECENT_BROADCASTS))
    broadcasts_tab(broadcasts)
with tabs["rules"]:
    ui.notice("nt:rules")
    rules_tab(client)
with tabs["log"]:
    log_tab(client, broadcasts or [])
