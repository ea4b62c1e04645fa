"""Audit & logs: what staff did (the audit log, with each change's before and after), who signed in and
what happened to accounts' security (the security log), and what went wrong (the error log). Each tab only
for the roles that may read it; each filterable, a page at a time, and downloadable whole as CSV or XLSX."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import i18n, ui

PAGE_SIZE = 50
EARLIEST = date(2000, 1, 1)
AUDIT_ACTIONS = (
    "user.block", "user.unblock", "user.plan_change", "user.balance_adjust", "user.impersonate",
    "impersonation.request", "conversation.read", "plan.create", "plan.update", "plan.delete",
    "settings.change", "model.create", "model.edit", "model.reorder", "model.delete", "role.create",
    "role.edit", "role.rollback", "role.delete", "provider.add", "provider.edit", "provider.rotate_key",
    "provider.test", "alert_rule.create", "alert_rule.update", "alert_rule.delete", "alert.evaluate",
    "notification.broadcast", "notification_rule.update",
)  # fmt: skip
TARGET_TYPES = ("account", "chat", "plan", "settings", "model", "role", "provider", "alert_rule",
                "notification_rule", "broadcast")  # fmt: skip
SECURITY_KINDS = (
    "user.login_succeeded", "user.login_failed", "user.registered", "user.email_confirmed", "user.logged_out",
    "user.logged_out_everywhere", "user.role_changed", "security.lockout", "security.refresh_reused",
    "security.password_changed", "security.password_reset_requested", "security.password_reset",
    "security.two_factor_enabled", "security.two_factor_disabled", "security.two_factor_reset",
    "security.recovery_code_used", "security.recovery_codes_regenerated", "security.api_key_created",
    "security.api_key_revoked",
)  # fmt: skip


def label(code: str | None) -> str:
    """A known action or event by its name in the current language, with its code; others by code."""
    if code is None:
        return "—"
    return f"{i18n.t(f'audit.labels.{code}')} ({code})" if i18n.has(f"audit.labels.{code}") else code


def as_json(values: dict[str, Any] | None) -> str:
    return json.dumps(values, ensure_ascii=False, default=str) if values else "—"


def day_start(day: date) -> str:
    return datetime.combine(day, time.min, UTC).isoformat()


def date_format() -> str:
    return "DD.MM.YYYY" if i18n.current() == "ru" else "YYYY-MM-DD"


def listing(key: str, path: str, params: dict[str, Any], rows, *, name: str, empty: str) -> None:
    """One log: the page asked for, its table (or what to do when empty), paging, and the whole filtered
    log as CSV or XLSX from the API's export."""
    client = ui.api()
    offset = ui.page_offset(key, PAGE_SIZE, params)
    found = ui.fetch(
        lambda: client.get(path, **params, limit=PAGE_SIZE, offset=offset), message=i18n.t("audit.loading")
    )
    if found is None:
        return
    if not found and offset == 0:
        st.info(empty, icon=":material/inbox:")
        return
    st.caption(i18n.t("audit.shown", count=i18n.number(len(found))))
    st.dataframe(pd.DataFrame([rows(item) for item in found]), hide_index=True, width="stretch")
    ui.page_buttons(key, size=PAGE_SIZE, shown=len(found))
    ui.list_downloads(f"{path}/export", name, key=f"{key}:export", **params)


def actor_id(text: str) -> str | bool | None:
    """The staff member's id for what was typed (an id, or an email looked up): None for anyone, False when
    the email matches no one."""
    text = text.strip()
    if not text:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    if not ui.can("users:read"):
        st.caption(i18n.t("audit.actor_by_id"))
        return False
    found = ui.fetch(lambda: ui.api().get("/api/v1/admin/users", q=text.lower(), limit=50)) or {"items": []}
    match = [u["id"] for u in found["items"] if u["email"] == text.lower()]
    if not match:
        st.warning(i18n.t("audit.no_actor", email=text), icon=":material/person_off:")
        return False
    return match[0]


def audit_tab() -> None:
    today = datetime.now(UTC).date()
    left, right = st.columns(2)
    actor = left.text_input(i18n.t("audit.actor"), key="audit:actor")
    action = right.selectbox(
        i18n.t("audit.action"), AUDIT_ACTIONS, index=None, placeholder=i18n.t("audit.any"),
        format_func=ui.fixed(label, AUDIT_ACTIONS), accept_new_options=True, key="audit:action",
    )  # fmt: skip
    target_type = left.selectbox(
        i18n.t("audit.target_type"), TARGET_TYPES, index=None, placeholder=i18n.t("audit.any"),
        accept_new_options=True, key="audit:target_type",
    )  # fmt: skip
    target_id = right.text_input(i18n.t("audit.target_id"), key="audit:target_id").strip()
    days = st.date_input(
        i18n.t("audit.period"),
        value=(),
        min_value=EARLIEST,
        max_value=today,
        format=date_format(),
        key="audit:period",
    )
    days = list(days) if isinstance(days, tuple | list) else []
    who = actor_id(actor)
    if who is False:
        return
    params = {
        "actor_id": who,
        "action": action,
        "target_type": target_type,
        "target_id": target_id or None,
        "since": day_start(days[0]) if days else None,
        "until": day_start(days[-1] + timedelta(days=1)) if days else None,
    }
    listing(
        "audit:page", "/api/v1/admin/audit", params, lambda e: {
            i18n.t("audit.when"): i18n.moment(e["occurred_at"]),
            i18n.t("audit.who"): e["actor_email"] or e["actor_id"] or "—",
            i18n.t("audit.action"): label(e["action"]),
            i18n.t("audit.target"): f"{e['target_type']}: {e['target_id']}",
            i18n.t("audit.before"): as_json(e["before"]),
            i18n.t("audit.after"): as_json(e["after"]),
            i18n.t("audit.reason"): e["reason"] or "—",
            i18n.t("audit.ip"): e["ip"] or "—",
            i18n.t("audit.request_id"): e["request_id"] or "—",
        }, name="audit", empty=i18n.t("audit.no_audit"),
    )  # fmt: skip


def security_tab() -> None:
    left, right = st.columns(2)
    email = left.text_input(i18n.t("audit.email"), key="security:email").strip().lower()
    kind = right.selectbox(
        i18n.t("audit.kind"), SECURITY_KINDS, index=None, placeholder=i18n.t("audit.any"),
        format_func=ui.fixed(label, SECURITY_KINDS), accept_new_options=True, key="security:kind",
    )  # fmt: skip
    params = {"email": email or None, "kind": kind}
    listing(
        "security:page", "/api/v1/admin/security-events", params, lambda e: {
            i18n.t("audit.when"): i18n.moment(e["occurred_at"]),
            i18n.t("audit.email"): e["email"] or "—",
            i18n.t("audit.kind"): label(e["kind"]),
            i18n.t("audit.outcome"): (
                i18n.t(f"audit.{e['outcome']}") if e["outcome"] in ("success", "failure") else e["outcome"]
            ),
            i18n.t("audit.ip"): e["ip"] or "—",
            i18n.t("audit.user_agent"): e["user_agent"] or "—",
            i18n.t("audit.details"): as_json(e["details"]),
        }, name="security-events", empty=i18n.t("audit.no_security"),
    )  # fmt: skip


def errors_tab() -> None:
    today = datetime.now(UTC).date()
    left, middle, right = st.columns(3)
    kind = left.selectbox(
        i18n.t("audit.error_kind"), ("unhandled", "provider"), index=None, placeholder=i18n.t("audit.any"),
        format_func=ui.fixed(lambda kind: i18n.t(f"audit.{kind}"), ("unhandled", "provider")),
        key="errors:kind",
    )  # fmt: skip
    request_id = middle.text_input(i18n.t("audit.request_id"), key="errors:request_id").strip()
    since = right.date_input(
        i18n.t("audit.since"),
        value=None,
        min_value=EARLIEST,
        max_value=today,
        format=date_format(),
        key="errors:since",
    )
    params = {"kind": kind, "request_id": request_id or None, "since": day_start(since) if since else None}
    listing(
        "errors:page", "/api/v1/admin/errors", params, lambda e: {
            i18n.t("audit.when"): i18n.moment(e["occurred_at"]),
            i18n.t("audit.error_kind"): (
                i18n.t(f"audit.{e['kind']}") if e["kind"] in ("unhandled", "provider") else e["kind"]
            ),
            i18n.t("audit.request"): " ".join(p for p in (e["method"], e["path"]) if p) or "—",
            i18n.t("audit.status"): str(e["status"]) if e["status"] is not None else "—",
            i18n.t("audit.error_type"): e["error_type"],
            i18n.t("audit.message"): e["message"],
            i18n.t("audit.request_id"): e["request_id"] or "—",
            i18n.t("audit.account"): e["account_id"] or "—",
            i18n.t("audit.details"): as_json(e["details"]),
        }, name="errors", empty=i18n.t("audit.no_errors"),
    )  # fmt: skip


TABS = (
    ("tab_audit", "audit:read", audit_tab),
    ("tab_security", "security:read", security_tab),
    ("tab_errors", "health:read", errors_tab),
)

ui.staff()
st.title(i18n.t("audit.title"))
allowed = [(name, show) for name, permission, show in TABS if ui.can(permission)]
for tab, (_name, show) in zip(
    st.tabs([i18n.t(f"audit.{name}") for name, _ in allowed]), allowed, strict=True
):
    with tab:
        show()
