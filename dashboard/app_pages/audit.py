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

T = i18n.texts(
    {
        "title": ("Audit & logs", "Аудит и журналы"),
        "tab_audit": ("Audit log", "Журнал аудита"),
        "tab_security": ("Sign-ins & security", "Входы и безопасность"),
        "tab_errors": ("Errors", "Ошибки"),
        "any": ("Any", "Любое"),
        "actor": ("Who (staff email or id)", "Кто (эл. почта или id сотрудника)"),
        "action": ("Action", "Действие"),
        "target_type": ("Target type", "Тип объекта"),
        "target_id": ("Target id", "Id объекта"),
        "period": ("Period (UTC days)", "Период (дни UTC)"),
        "no_actor": (
            "No staff member has the email {email}: showing nothing until it matches one.",
            "Нет сотрудника с эл. почтой {email}: пока она ни с кем не совпадает, список пуст.",
        ),
        "actor_by_id": (
            "Only a staff member's id can be used here (email lookup needs the users:read permission).",
            "Здесь можно указать только id сотрудника (поиск по почте требует права users:read).",
        ),
        "when": ("When", "Когда"),
        "who": ("Who", "Кто"),
        "target": ("Target", "Объект"),
        "before": ("Before", "До"),
        "after": ("After", "После"),
        "reason": ("Reason", "Причина"),
        "ip": ("IP", "IP"),
        "request_id": ("Request id", "Id запроса"),
        "no_audit": (
            "No audit entries match. Staff actions (blocks, plan and balance changes, catalogue edits…) "
            "appear here as they happen.",
            "Подходящих записей аудита нет. Действия сотрудников (блокировки, смены тарифов и балансов, "
            "правки каталога…) появляются здесь сразу.",
        ),
        "email": ("Email", "Эл. почта"),
        "kind": ("Event", "Событие"),
        "outcome": ("Outcome", "Результат"),
        "success": ("success", "успех"),
        "failure": ("failure", "отказ"),
        "user_agent": ("Client", "Клиент"),
        "details": ("Details", "Подробности"),
        "no_security": (
            "No security events match. Sign-ins, failed sign-ins, password and 2FA changes appear here.",
            "Подходящих событий безопасности нет. Здесь появляются входы, неудачные входы, смены пароля "
            "и 2FA.",
        ),
        "error_kind": ("Kind", "Вид"),
        "unhandled": ("Unhandled exception", "Необработанное исключение"),
        "provider": ("Provider failure", "Сбой провайдера"),
        "since": ("Since (UTC day)", "С (день UTC)"),
        "request": ("Request", "Запрос"),
        "status": ("Status", "Статус"),
        "error_type": ("Error", "Ошибка"),
        "message": ("Message", "Сообщение"),
        "account": ("Account id", "Id учётной записи"),
        "no_errors": (
            "No errors match: nothing has gone wrong, or the filters are too narrow.",
            "Подходящих ошибок нет: ничего не сломалось, или фильтры слишком узкие.",
        ),
        "loading": ("Reading the log…", "Читаем журнал…"),
        "shown": ("Entries on this page: {count}", "Записей на этой странице: {count}"),
    }
)
LABELS = i18n.texts(
    {
        "user.block": ("Block a user", "Блокировка пользователя"),
        "user.unblock": ("Unblock a user", "Разблокировка пользователя"),
        "user.plan_change": ("Change a user's plan", "Смена тарифа пользователя"),
        "user.balance_adjust": ("Adjust a balance", "Изменение баланса"),
        "user.impersonate": ("Impersonate a user", "Вход от имени пользователя"),
        "impersonation.request": ("Request while impersonating", "Запрос от имени пользователя"),
        "conversation.read": ("Read a user's chat", "Чтение чата пользователя"),
        "user.login_succeeded": ("Signed in", "Вход"),
        "user.login_failed": ("Failed sign-in", "Неудачный вход"),
        "user.registered": ("Registered", "Регистрация"),
        "user.email_confirmed": ("Email confirmed", "Почта подтверждена"),
        "user.logged_out": ("Signed out", "Выход"),
        "user.logged_out_everywhere": ("Signed out everywhere", "Выход на всех устройствах"),
        "security.lockout": ("Locked out", "Блокировка входа"),
        "security.password_changed": ("Password changed", "Пароль изменён"),
        "security.password_reset": ("Password reset", "Пароль сброшен"),
        "security.two_factor_enabled": ("2FA turned on", "2FA включена"),
        "security.two_factor_disabled": ("2FA turned off", "2FA выключена"),
    }
)


def label(code: str | None) -> str:
    """A known action or event by its name in the current language, with its code; others by code."""
    if code is None:
        return "—"
    return f"{LABELS(code)} ({code})" if code in LABELS.table else code


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
    found = ui.fetch(lambda: client.get(path, **params, limit=PAGE_SIZE, offset=offset), message=T("loading"))
    if found is None:
        return
    if not found and offset == 0:
        st.info(empty, icon=":material/inbox:")
        return
    st.caption(T("shown", count=i18n.number(len(found))))
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
        st.caption(T("actor_by_id"))
        return False
    found = ui.fetch(lambda: ui.api().get("/api/v1/admin/users", q=text.lower(), limit=50)) or {"items": []}
    match = [u["id"] for u in found["items"] if u["email"] == text.lower()]
    if not match:
        st.warning(T("no_actor", email=text), icon=":material/person_off:")
        return False
    return match[0]


def audit_tab() -> None:
    today = datetime.now(UTC).date()
    left, right = st.columns(2)
    actor = left.text_input(T("actor"), key="audit:actor")
    action = right.selectbox(
        T("action"), AUDIT_ACTIONS, index=None, placeholder=T("any"),
        format_func=ui.fixed(label, AUDIT_ACTIONS), accept_new_options=True, key="audit:action",
    )  # fmt: skip
    target_type = left.selectbox(
        T("target_type"), TARGET_TYPES, index=None, placeholder=T("any"), accept_new_options=True,
        key="audit:target_type",
    )  # fmt: skip
    target_id = right.text_input(T("target_id"), key="audit:target_id").strip()
    days = st.date_input(
        T("period"), value=(), min_value=EARLIEST, max_value=today, format=date_format(), key="audit:period"
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
            T("when"): i18n.moment(e["occurred_at"]),
            T("who"): e["actor_email"] or e["actor_id"] or "—",
            T("action"): label(e["action"]),
            T("target"): f"{e['target_type']}: {e['target_id']}",
            T("before"): as_json(e["before"]),
            T("after"): as_json(e["after"]),
            T("reason"): e["reason"] or "—",
            T("ip"): e["ip"] or "—",
            T("request_id"): e["request_id"] or "—",
        }, name="audit", empty=T("no_audit"),
    )  # fmt: skip


def security_tab() -> None:
    left, right = st.columns(2)
    email = left.text_input(T("email"), key="security:email").strip().lower()
    kind = right.selectbox(
        T("kind"), SECURITY_KINDS, index=None, placeholder=T("any"),
        format_func=ui.fixed(label, SECURITY_KINDS), accept_new_options=True, key="security:kind",
    )  # fmt: skip
    params = {"email": email or None, "kind": kind}
    listing(
        "security:page", "/api/v1/admin/security-events", params, lambda e: {
            T("when"): i18n.moment(e["occurred_at"]),
            T("email"): e["email"] or "—",
            T("kind"): label(e["kind"]),
            T("outcome"): T(e["outcome"]) if e["outcome"] in ("success", "failure") else e["outcome"],
            T("ip"): e["ip"] or "—",
            T("user_agent"): e["user_agent"] or "—",
            T("details"): as_json(e["details"]),
        }, name="security-events", empty=T("no_security"),
    )  # fmt: skip


def errors_tab() -> None:
    today = datetime.now(UTC).date()
    left, middle, right = st.columns(3)
    kind = left.selectbox(
        T("error_kind"), ("unhandled", "provider"), index=None, placeholder=T("any"),
        format_func=ui.fixed(T, ("unhandled", "provider")),
        key="errors:kind",
    )  # fmt: skip
    request_id = middle.text_input(T("request_id"), key="errors:request_id").strip()
    since = right.date_input(
        T("since"), value=None, min_value=EARLIEST, max_value=today, format=date_format(), key="errors:since"
    )
    params = {"kind": kind, "request_id": request_id or None, "since": day_start(since) if since else None}
    listing(
        "errors:page", "/api/v1/admin/errors", params, lambda e: {
            T("when"): i18n.moment(e["occurred_at"]),
            T("error_kind"): T(e["kind"]) if e["kind"] in ("unhandled", "provider") else e["kind"],
            T("request"): " ".join(p for p in (e["method"], e["path"]) if p) or "—",
            T("status"): str(e["status"]) if e["status"] is not None else "—",
            T("error_type"): e["error_type"],
            T("message"): e["message"],
            T("request_id"): e["request_id"] or "—",
            T("account"): e["account_id"] or "—",
            T("details"): as_json(e["details"]),
        }, name="errors", empty=T("no_errors"),
    )  # fmt: skip


TABS = (
    ("tab_audit", "audit:read", audit_tab),
    ("tab_security", "security:read", security_tab),
    ("tab_errors", "health:read", errors_tab),
)

ui.staff()
st.title(T("title"))
allowed = [(name, show) for name, permission, show in TABS if ui.can(permission)]
for tab, (_name, show) in zip(st.tabs([T(name) for name, _ in allowed]), allowed, strict=True):
    with tab:
        show()
