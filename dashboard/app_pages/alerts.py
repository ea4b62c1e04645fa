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

T = i18n.texts(
    {
        "title": ("Alerts", "Оповещения"),
        "intro": (
            "Rules watch the LLM calls over a trailing window and notify by email or webhook when a figure "
            "goes above its threshold, and again when it is back under.",
            "Правила следят за вызовами LLM за скользящее окно и уведомляют по эл. почте или через вебхук, "
            "когда показатель превышает порог, и снова — когда он вернулся в норму.",
        ),
        "read_only": (
            "You can look at the rules and their history; changing them needs the alerts:write permission.",
            "Вы можете смотреть правила и историю; для изменений нужно право alerts:write.",
        ),
        "evaluate": ("Evaluate now", "Проверить сейчас"),
        "evaluating": ("Evaluating the rules…", "Проверяем правила…"),
        "evaluated": ("Rules evaluated: {count}; {events}.", "Проверено правил: {count}; {events}."),
        "no_events": ("nothing fired or resolved", "ничего не сработало и не вернулось в норму"),
        "event": ("{rule} {kind} (notification {status})", "{rule}: {kind} (уведомление: {status})"),
        "tab_rules": ("Rules", "Правила"),
        "tab_history": ("History", "История"),
        # the rules
        "no_rules": (
            "No alert rule yet. Create one below to be told when errors, latency or spend go up.",
            "Правил пока нет. Создайте правило ниже, чтобы узнавать о росте ошибок, задержек или расходов.",
        ),
        "no_rules_read_only": ("No alert rule has been set up yet.", "Правила оповещений ещё не настроены."),
        "firing_now": ("{name}: firing", "{name}: срабатывает"),
        "all_ok": ("Every enabled rule is ok.", "Все включённые правила в норме."),
        "state_ok": ("ok", "норма"),
        "state_firing": ("firing", "срабатывает"),
        "state_paused": ("paused", "на паузе"),
        "m_error_rate": ("Error rate", "Доля ошибок"),
        "m_p95_latency_ms": ("p95 latency", "Задержка p95"),
        "m_spend_usd": ("Spend (USD)", "Расходы (USD)"),
        "m_provider_failures": ("Provider failures", "Сбои провайдера"),
        "ch_email": ("Email", "Эл. почта"),
        "ch_webhook": ("Webhook", "Вебхук"),
        "k_fired": ("fired", "сработало"),
        "k_repeated": ("repeated", "повтор"),
        "k_resolved": ("resolved", "в норме"),
        "d_pending": ("pending", "ожидает"),
        "d_queued": ("queued", "в очереди"),
        "d_sent": ("sent", "отправлено"),
        "d_failed": ("failed", "ошибка"),
        "d_skipped": ("skipped", "пропущено"),
        "every_provider": ("Every provider", "Все провайдеры"),
        "never": ("never", "никогда"),
        "ms": ("{value} ms", "{value} мс"),
        "usd": ("{value} USD", "{value} USD"),
        "col_name": ("Rule", "Правило"),
        "col_state": ("State", "Состояние"),
        "col_metric": ("Figure", "Показатель"),
        "col_provider": ("Provider", "Провайдер"),
        "col_window": ("Window", "Окно"),
        "col_threshold": ("Threshold", "Порог"),
        "col_last_value": ("Last figure", "Последнее значение"),
        "col_last_evaluated": ("Last checked", "Проверено"),
        "col_channel": ("Channel", "Канал"),
        "col_target": ("Sent to", "Куда"),
        "col_repeat": ("Repeat every", "Повтор каждые"),
        "col_resolved": ("Notify when resolved", "Сообщать о норме"),
        # the fields of a rule
        "new_rule": ("New rule", "Новое правило"),
        "change_rule": ("Change a rule", "Изменить правило"),
        "rule_to_change": ("Rule", "Правило"),
        "name": ("Name", "Название"),
        "metric": ("Figure to watch", "Показатель"),
        "metric_help": (
            "Error rate: failed calls / all calls. p95 latency: of the successful calls. Spend: the calls' "
            "cost in USD (a 1440-minute window is spend per day). Provider failures: failed calls.",
            "Доля ошибок: неудачные вызовы / все вызовы. Задержка p95: по успешным вызовам. Расходы: "
            "стоимость вызовов в USD (окно 1440 минут — расходы за день). Сбои провайдера: неудачные вызовы.",
        ),
        "provider": ("Only this provider's calls", "Только вызовы провайдера"),
        "window": ("Window (minutes)", "Окно (минуты)"),
        "window_help": ("60 is an hour, 1440 a day.", "60 — час, 1440 — сутки."),
        "threshold_error_rate": ("Fires above (% of calls)", "Срабатывает выше (% вызовов)"),
        "threshold_p95_latency_ms": ("Fires above (ms)", "Срабатывает выше (мс)"),
        "threshold_spend_usd": ("Fires above (USD)", "Срабатывает выше (USD)"),
        "threshold_provider_failures": ("Fires above (failed calls)", "Срабатывает выше (неудачных вызовов)"),
        "channel": ("Notify by", "Способ уведомления"),
        "target_email": ("Email address", "Адрес эл. почты"),
        "target_webhook": ("Webhook URL (http or https)", "URL вебхука (http или https)"),
        "target_unchanged": (
            "Leave empty to keep {target} (shown masked: it may carry a token)",
            "Оставьте пустым, чтобы сохранить {target} (адрес скрыт: в нём может быть токен)",
        ),
        "repeat": (
            "While firing, repeat every (minutes; 0 = once)",
            "Пока срабатывает, повторять каждые (мин; 0 — один раз)",
        ),
        "notify_resolved": ("Notify when resolved", "Сообщать о норме"),
        "notify_resolved_help": (
            "Send one more notification when the figure is back under the threshold.",
            "Отправить ещё одно уведомление, когда показатель вернётся ниже порога.",
        ),
        "enabled": ("Enabled", "Включено"),
        "need_name": ("Give the rule a name.", "Дайте правилу название."),
        "need_target": ("Enter where to send the notification.", "Укажите, куда отправлять уведомление."),
        "create": ("Create the rule", "Создать правило"),
        "created": ("Rule “{name}” created.", "Правило «{name}» создано."),
        "save": ("Save changes", "Сохранить изменения"),
        "saved": ("Rule “{name}” saved.", "Правило «{name}» сохранено."),
        "nothing_changed": ("Nothing changed.", "Изменений нет."),
        "pause": ("Pause", "Приостановить"),
        "resume": ("Resume", "Возобновить"),
        "paused": ("Rule “{name}” paused.", "Правило «{name}» приостановлено."),
        "resumed": ("Rule “{name}” resumed.", "Правило «{name}» возобновлено."),
        "delete": ("Delete “{name}”", "Удалить «{name}»"),
        "deleted": (
            "Rule “{name}” deleted; its history stays.",
            "Правило «{name}» удалено; его история сохранена.",
        ),
        # the history
        "any_rule": ("Any rule", "Любое правило"),
        "any_kind": ("Any", "Любое"),
        "kind": ("What happened", "Событие"),
        "history_total": ("{count} events match.", "Событий по фильтрам: {count}."),
        "no_history": (
            "Nothing fired or resolved in this period.",
            "За этот период ничего не срабатывало и не возвращалось в норму.",
        ),
        "col_time": ("Time", "Время"),
        "col_kind": ("Event", "Событие"),
        "col_value": ("Figure", "Значение"),
        "col_delivery": ("Notification", "Уведомление"),
        "col_error": ("Error", "Ошибка"),
        "col_delivered_at": ("Delivered", "Доставлено"),
        "full_export": (
            "The downloads under the table hold this page; these hold every matching event:",
            "Выгрузки под таблицей содержат эту страницу; эти — все подходящие события:",
        ),
    }
)


def metric_label(metric: str) -> str:
    return T(f"m_{metric}")


def figure(metric: str, value: float | None) -> str:
    """A figure in the metric's unit and the locale's form."""
    if value is None:
        return "—"
    if metric == "error_rate":
        return i18n.percent(value, 1)
    if metric == "p95_latency_ms":
        return T("ms", value=i18n.number(value, 0))
    if metric == "spend_usd":
        return T("usd", value=i18n.number(value, 2))
    return i18n.number(value)


def state_label(rule: dict[str, Any]) -> str:
    return T("state_paused") if not rule["enabled"] else T(f"state_{rule['state']}")


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
                st.badge(T("firing_now", name=rule["name"]), icon=":material/error:", color="red")
    else:
        st.badge(T("all_ok"), icon=":material/check_circle:", color="green")
    rows = [
        {
            T("col_name"): r["name"],
            T("col_state"): state_label(r),
            T("col_metric"): metric_label(r["metric"]),
            T("col_provider"): r["provider"] or T("every_provider"),
            T("col_window"): i18n.duration(r["window_minutes"] * 60),
            T("col_threshold"): figure(r["metric"], r["threshold"]),
            T("col_last_value"): figure(r["metric"], r["last_value"]),
            T("col_last_evaluated"): i18n.moment(r["last_evaluated_at"]),
            T("col_channel"): T(f"ch_{r['channel']}"),
            T("col_target"): r["target"],
            T("col_repeat"): i18n.duration(r["repeat_minutes"] * 60) if r["repeat_minutes"] else T("never"),
            T("col_resolved"): i18n.yes_no(r["notify_resolved"]),
        }
        for r in rules
    ]
    ui.table(rows, "alert_rules")


def rule_fields(key: str, providers: list[str], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fields of a rule as typed (the target "" when left empty), laid out two side by side."""
    was = current or {}
    values: dict[str, Any] = {}
    left, right = st.columns(2)
    values["name"] = left.text_input(T("name"), value=was.get("name", ""), max_chars=100, key=f"{key}:name")
    metric = right.selectbox(
        T("metric"), METRICS, index=METRICS.index(was.get("metric", "error_rate")), help=T("metric_help"),
        format_func=ui.fixed(metric_label, METRICS), key=f"{key}:metric",
    )  # fmt: skip
    values["metric"] = metric
    provider = was.get("provider") or ""
    options = providers if provider in providers else [*providers, provider]
    values["provider"] = left.selectbox(
        T("provider"), options, index=options.index(provider), key=f"{key}:provider", accept_new_options=True,
        format_func=ui.fixed(lambda p: p or T("every_provider"), options),
    ) or None  # fmt: skip
    window = right.number_input(
        T("window"), min_value=1, max_value=WEEK_MINUTES, value=int(was.get("window_minutes", 5)), step=1,
        help=T("window_help"), key=f"{key}:window",
    )  # fmt: skip
    values["window_minutes"] = int(window)
    # One threshold widget per figure: 5 (%) of an error rate is not 5 ms.
    same_metric = was.get("metric") == metric
    if metric == "error_rate":
        shown = float(was["threshold"]) * 100 if same_metric else 5.0
        percent = left.number_input(
            T("threshold_error_rate"), min_value=0.0, max_value=100.0, value=shown, step=1.0, format="%.2f",
            key=f"{key}:threshold:{metric}",
        )  # fmt: skip
        values["threshold"] = round(percent / 100, 6)
    else:
        default = {"p95_latency_ms": 2000.0, "spend_usd": 10.0, "provider_failures": 5.0}[metric]
        values["threshold"] = left.number_input(
            T(f"threshold_{metric}"), min_value=0.0, max_value=1e12,
            value=float(was["threshold"]) if same_metric else default,
            step=1.0 if metric != "spend_usd" else 0.5, format="%.2f" if metric == "spend_usd" else "%.0f",
            key=f"{key}:threshold:{metric}",
        )  # fmt: skip
    channel = right.selectbox(
        T("channel"), CHANNELS, index=CHANNELS.index(was.get("channel", "email")),
        format_func=ui.fixed(lambda c: T(f"ch_{c}"), CHANNELS), key=f"{key}:channel",
    )  # fmt: skip
    values["channel"] = channel
    if current and channel == "webhook" and current["channel"] == "webhook":
        # The API shows a webhook masked and keeps it unless a new one is sent.
        values["target"] = st.text_input(
            T("target_webhook"), placeholder=current["target"], max_chars=500, key=f"{key}:target:{channel}",
            help=T("target_unchanged", target=current["target"]),
        ).strip()  # fmt: skip
    else:
        keep = current["target"] if current and current["channel"] == channel else ""
        values["target"] = st.text_input(
            T(f"target_{channel}"), value=keep, max_chars=500, key=f"{key}:target:{channel}"
        ).strip()
    left, right = st.columns(2)
    repeat = left.number_input(
        T("repeat"), min_value=0, max_value=WEEK_MINUTES, value=int(was.get("repeat_minutes") or 0), step=5,
        key=f"{key}:repeat",
    )  # fmt: skip
    values["repeat_minutes"] = int(repeat) or None
    values["notify_resolved"] = right.toggle(
        T("notify_resolved"),
        value=was.get("notify_resolved", True),
        help=T("notify_resolved_help"),
        key=f"{key}:resolved",
    )
    return values


def create_rule(client, providers: list[str]) -> None:
    with st.expander(T("new_rule"), icon=":material/add_alert:", expanded=False):
        values = rule_fields("al:new", providers)
        values["enabled"] = st.toggle(T("enabled"), value=True, key="al:new:enabled")
        if st.button(T("create"), type="primary", key="al:create", icon=":material/add:"):
            if not values["name"].strip():
                st.error(T("need_name"), icon=":material/error:")
                return
            if not values["target"]:
                st.error(T("need_target"), icon=":material/error:")
                return
            with st.spinner(i18n.t("loading")):
                created = ui.call(lambda: client.post(f"{ALERTS}/rules", values))
            if created is not None:
                ui.changed(T("created", name=created["name"]), forget="al:new:")


def change_rule(client, rules: list[dict[str, Any]], providers: list[str]) -> None:
    with st.expander(T("change_rule"), icon=":material/edit:", expanded=False):
        by_id = {r["id"]: r for r in rules}
        rule_id = st.selectbox(
            T("rule_to_change"), list(by_id), key="al:edit",
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
        if save.button(T("save"), type="primary", key=f"{key}:save", icon=":material/save:"):
            if not changes:
                st.info(T("nothing_changed"), icon=":material/info:")
            elif "channel" in changes and "target" not in changes:  # an address of the other kind
                st.error(T("need_target"), icon=":material/error:")
            elif not values["name"].strip():
                st.error(T("need_name"), icon=":material/error:")
            else:
                with st.spinner(i18n.t("loading")):
                    saved = ui.call(lambda: client.patch(f"{ALERTS}/rules/{rule_id}", changes))
                if saved is not None:
                    ui.changed(T("saved", name=saved["name"]))
        pausing = rule["enabled"]
        if toggle.button(
            T("pause") if pausing else T("resume"), key=f"{key}:toggle",
            icon=":material/pause:" if pausing else ":material/play_arrow:",
        ):  # fmt: skip
            with st.spinner(i18n.t("loading")):
                done = ui.call(lambda: client.patch(f"{ALERTS}/rules/{rule_id}", {"enabled": not pausing}))
            if done is not None:
                ui.changed(T("paused" if pausing else "resumed", name=rule["name"]))
        if ui.confirmed(f"{key}:delete", T("delete", name=rule["name"]), icon=":material/delete:"):
            with st.spinner(i18n.t("loading")):
                gone = ui.call(lambda: client.delete(f"{ALERTS}/rules/{rule_id}") or True)
            if gone:
                ui.changed(T("deleted", name=rule["name"]), forget=f"{key}:")


def evaluate(client) -> None:
    if not st.button(T("evaluate"), key="al:evaluate", icon=":material/play_circle:"):
        return
    with st.spinner(T("evaluating")):
        result = ui.call(lambda: client.post(f"{ALERTS}/evaluate"))
    if result is None:
        return
    events = "; ".join(
        T("event", rule=e["rule_name"], kind=T(f"k_{e['kind']}"), status=T(f"d_{e['delivery_status']}"))
        for e in result["events"]
    )
    ui.changed(T("evaluated", count=i18n.number(result["evaluated"]), events=events or T("no_events")))


# ------------------------------------------------------------------------------------------- history


def history_tab(client, rules: list[dict[str, Any]]) -> None:
    names = {r["id"]: r["name"] for r in rules}
    left, right = st.columns(2)
    rule_id = left.selectbox(
        T("col_name"),
        (0, *names),
        format_func=ui.fixed(lambda i: names[i] if i else T("any_rule"), (0, *names)),
        key="al:h:rule",
    )
    kind = right.selectbox(
        T("kind"),
        ("", *KINDS),
        format_func=ui.fixed(lambda k: T(f"k_{k}") if k else T("any_kind"), ("", *KINDS)),
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
        st.info(T("no_history"), icon=":material/inbox:")
        return
    st.caption(T("history_total", count=i18n.number(page["total"])))
    rows = [
        {
            T("col_time"): i18n.moment(e["occurred_at"]),
            T("col_name"): e["rule_name"],
            T("col_kind"): T(f"k_{e['kind']}"),
            T("col_metric"): metric_label(e["metric"]),
            T("col_value"): figure(e["metric"], e["value"]),
            T("col_threshold"): figure(e["metric"], e["threshold"]),
            T("col_window"): i18n.duration(e["window_minutes"] * 60),
            T("col_channel"): T(f"ch_{e['channel']}"),
            T("col_target"): e["target"],
            T("col_delivery"): T(f"d_{e['delivery_status']}"),
            T("col_error"): e["delivery_error"] or "",
            T("col_delivered_at"): i18n.moment(e["delivered_at"]) if e["delivered_at"] else "",
        }
        for e in page["items"]
    ]
    ui.table(rows, "alert_history")
    ui.page_buttons("al:h:page", size=PAGE_SIZE, shown=len(rows), total=page["total"])
    st.caption(T("full_export"))
    ui.list_downloads(f"{ALERTS}/history/export", "alert_history_all", key="al:h:export", **filters)


# ------------------------------------------------------------------------------------------- the page

ui.staff()
client = ui.api()
writer = ui.can("alerts:write")
st.title(T("title"))
st.caption(T("intro"))
ui.notice()
if writer:
    evaluate(client)
else:
    st.caption(T("read_only"))
rules = ui.fetch(lambda: client.get(f"{ALERTS}/rules"))
rules_tab, history = st.tabs([T("tab_rules"), T("tab_history")])
with rules_tab:
    if rules is not None:
        if rules:
            rules_table(rules)
        else:
            st.info(T("no_rules") if writer else T("no_rules_read_only"), icon=":material/inbox:")
        if writer:
            providers = provider_options(client)
            create_rule(client, providers)
            if rules:
                change_rule(client, rules, providers)
with history:
    history_tab(client, rules or [])
