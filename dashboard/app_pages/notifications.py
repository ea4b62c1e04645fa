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

T = i18n.texts(
    {
        "title": ("Notifications", "Уведомления"),
        "intro": (
            "Write to a group of users, set up the automatic notifications, and see what reached whom.",
            "Напишите группе пользователей, настройте автоматические уведомления и посмотрите, что и кому "
            "дошло.",
        ),
        "tab_compose": ("New broadcast", "Новая рассылка"),
        "tab_broadcasts": ("Sent broadcasts", "Отправленные рассылки"),
        "tab_rules": ("Automatic rules", "Автоматические правила"),
        "tab_log": ("Delivery log", "Журнал доставки"),
        # the segment
        "segment": ("Recipients", "Получатели"),
        "kind_all": ("All users", "Все пользователи"),
        "kind_plan": ("Users on a plan", "Пользователи тарифа"),
        "kind_country": ("Users in a country", "Пользователи из страны"),
        "kind_inactive": ("Users inactive for some days", "Неактивные несколько дней"),
        "plan": ("Plan", "Тариф"),
        "country": ("Country (two-letter ISO code, e.g. DE)", "Страна (двухбуквенный код ISO, например DE)"),
        "inactive_days": ("No activity for at least (days)", "Без активности не меньше (дней)"),
        "segment_help": (
            "Only end users who are not blocked get broadcasts; staff never do.",
            "Рассылки получают только незаблокированные пользователи; сотрудники — никогда.",
        ),
        "need_plan": (
            "Choose a plan to count its users.",
            "Выберите тариф, чтобы посчитать его пользователей.",
        ),
        "need_country": (
            "Enter a two-letter country code to count its users.",
            "Введите двухбуквенный код страны, чтобы посчитать её пользователей.",
        ),
        "recipients_now": ("Recipients now", "Получателей сейчас"),
        "nobody": (
            "Nobody is in this segment now: the API will refuse to send.",
            "Сейчас в этом сегменте никого нет: API откажется отправлять.",
        ),
        "channels": ("Channels", "Каналы"),
        "ch_email": ("Email", "Эл. почта"),
        "ch_in_app": ("In-app", "В приложении"),
        # the texts
        "english": ("English (required)", "Английский (обязательно)"),
        "russian": ("Russian (optional)", "Русский (необязательно)"),
        "russian_help": (
            "Users whose language is Russian get the Russian text; without one, they get the English text.",
            "Пользователи с русским языком получат русский текст; если его нет — английский.",
        ),
        "subject": ("Subject", "Тема"),
        "body": ("Message", "Текст"),
        "placeholders": (
            "Placeholders, filled in for each recipient: {names}.",
            "Подстановки, заполняются для каждого получателя: {names}.",
        ),
        "ph_email": ("their email address", "его адрес эл. почты"),
        "ph_plan": ("their plan", "его тариф"),
        "ph_app_url": ("the link to the app", "ссылка на приложение"),
        "ph_limit": ("the plan's limit", "лимит тарифа"),
        "ph_metric": ("what ran out (requests or tokens)", "что закончилось (запросы или токены)"),
        "ph_resets_at": ("when the limit resets (UTC)", "когда лимит обновится (UTC)"),
        "ph_balance": ("the balance left", "оставшийся баланс"),
        "ph_threshold": ("the rule's threshold", "порог правила"),
        "need_channel": ("Choose at least one channel.", "Выберите хотя бы один канал."),
        "need_english": (
            "Write the English subject and message: every user can read them.",
            "Напишите тему и текст на английском: их получат все, у кого нет своего языка.",
        ),
        "need_both": (
            "Give the Russian text both a subject and a message, or leave both empty.",
            "Заполните у русского текста и тему, и текст — или оставьте оба поля пустыми.",
        ),
        "send": ("Send · recipients: {count}", "Отправить · получателей: {count}"),
        "sending": ("Sending…", "Отправка…"),
        "sent_ok": (
            "Broadcast #{id} sent; recipients: {count}.",
            "Рассылка №{id} отправлена; получателей: {count}.",
        ),
        # the broadcasts sent
        "no_broadcasts": (
            "No broadcast has been sent yet: write one in the “New broadcast” tab.",
            "Рассылок ещё не было: напишите первую во вкладке «Новая рассылка».",
        ),
        "recent_only": ("The {count} most recent broadcasts.", "Последние рассылки: {count}."),
        "col_id": ("#", "№"),
        "col_sent_at": ("Sent", "Отправлена"),
        "col_by": ("By", "Кто отправил"),
        "col_segment": ("Segment", "Сегмент"),
        "col_channels": ("Channels", "Каналы"),
        "col_recipients": ("Recipients", "Получателей"),
        "col_subject": ("Subject (English)", "Тема (англ.)"),
        "col_delivered_subject": ("Subject", "Тема"),
        "seg_all": ("all users", "все пользователи"),
        "seg_plan": ("plan {plan}", "тариф {plan}"),
        "seg_country": ("country {country}", "страна {country}"),
        "seg_inactive": ("inactive {days} d", "неактивны {days} дн."),
        "read_texts": ("Read a broadcast's texts", "Тексты рассылки"),
        "broadcast": ("Broadcast", "Рассылка"),
        "broadcast_option": ("#{id} · {subject}", "№{id} · {subject}"),
        "source_broadcast": ("broadcast #{id}", "рассылка №{id}"),
        "lang_en": ("English", "Английский"),
        "lang_ru": ("Russian", "Русский"),
        # the rules
        "rule_welcome": ("Welcome", "Приветствие"),
        "rule_quota_exhausted": ("Quota exhausted", "Лимит исчерпан"),
        "rule_balance_low": ("Balance low", "Низкий баланс"),
        "when_welcome": ("Sent when a user registers.", "Отправляется при регистрации пользователя."),
        "when_quota_exhausted": (
            "Sent the first time a user is refused in a quota window (once per limit and window).",
            "Отправляется при первом отказе по лимиту в окне (один раз на лимит и окно).",
        ),
        "when_balance_low": (
            "Sent when a paid call takes the balance from at least the threshold to below it.",
            "Отправляется, когда платный вызов опускает баланс с порога или выше — ниже порога.",
        ),
        "on": ("on", "вкл."),
        "off": ("off", "выкл."),
        "enabled": ("Send this notification", "Отправлять это уведомление"),
        "threshold": ("Threshold (credits)", "Порог (кредиты)"),
        "rule_saved": ("“{rule}” saved.", "«{rule}» сохранено."),
        "nothing_changed": ("Nothing changed.", "Изменений нет."),
        "no_rules": ("The API lists no automatic rules.", "API не вернул ни одного правила."),
        "updated": ("Last changed {at}", "Изменено {at}"),
        # the delivery log
        "any": ("Any", "Любой"),
        "any_broadcast": ("Any (or none)", "Любая (или без рассылки)"),
        "status": ("Status", "Статус"),
        "rule": ("Rule", "Правило"),
        "st_delivered": ("delivered", "доставлено"),
        "st_read": ("read", "прочитано"),
        "st_queued": ("queued", "в очереди"),
        "st_sent": ("sent", "отправлено"),
        "st_retrying": ("retrying", "повтор"),
        "st_failed": ("failed", "ошибка"),
        "log_total": ("{count} deliveries match.", "Доставок по фильтрам: {count}."),
        "no_deliveries": ("No delivery matches these filters.", "Нет доставок, подходящих под фильтры."),
        "col_time": ("Time", "Время"),
        "col_email": ("Recipient", "Получатель"),
        "col_channel": ("Channel", "Канал"),
        "col_source": ("Source", "Источник"),
        "col_locale": ("Language", "Язык"),
        "col_status": ("Status", "Статус"),
        "col_attempts": ("Attempts", "Попыток"),
        "col_error": ("Last error", "Последняя ошибка"),
        "col_read_at": ("Read", "Прочитано"),
        "full_export": (
            "The downloads under the table hold this page; these hold every matching delivery:",
            "Выгрузки под таблицей содержат эту страницу; эти — все доставки, подходящие под фильтры:",
        ),
    }
)
PLACEHOLDER_ORDER = ("email", "plan", "app_url", "limit", "metric", "resets_at", "balance", "threshold")


def channel_label(channel: str) -> str:
    return T(f"ch_{channel}")


def status_label(status: str) -> str:
    return T(f"st_{status}")


def rule_label(code: str) -> str:
    return T(f"rule_{code}") if code in RULES else code


def placeholders_help(names: list[str] | tuple[str, ...]) -> str:
    ordered = sorted(names, key=lambda n: PLACEHOLDER_ORDER.index(n) if n in PLACEHOLDER_ORDER else 99)
    described = [
        f"`{{{name}}}` {T(f'ph_{name}')}" if name in PLACEHOLDER_ORDER else f"`{{{name}}}`"
        for name in ordered
    ]
    return T("placeholders", names="; ".join(described))


def broadcast_option(by_id: dict[int, dict[str, Any]]) -> Callable[[int], str]:
    return lambda i: T("broadcast_option", id=i, subject=by_id[i]["templates"]["en"]["subject"])


def segment_text(segment: dict[str, Any]) -> str:
    kind = segment.get("kind", "all")
    if kind == "plan":
        return T("seg_plan", plan=segment.get("plan"))
    if kind == "country":
        return T("seg_country", country=segment.get("country"))
    if kind == "inactive":
        return T("seg_inactive", days=segment.get("inactive_days"))
    return T("seg_all")


def text_inputs(key: str, current: dict[str, dict[str, str]] | None = None) -> dict[str, dict[str, str]]:
    """Subject and message in English (left) and Russian (right): what was typed, per locale."""
    current = current or {}
    typed: dict[str, dict[str, str]] = {}
    for column, locale in zip(st.columns(2), ("en", "ru"), strict=True):
        with column:
            st.markdown(f"**{T('english' if locale == 'en' else 'russian')}**")
            was = current.get(locale) or {}
            subject = st.text_input(
                T("subject"), value=was.get("subject", ""), max_chars=300, key=f"{key}:{locale}:subject"
            )
            body = st.text_area(
                T("body"), value=was.get("body", ""), max_chars=20_000, height=160, key=f"{key}:{locale}:body"
            )
            typed[locale] = {
                "subject": subject,
                "body": body,
            }  # as typed: a rule's text may end with a newline
    return typed


def texts_problem(typed: dict[str, dict[str, str]]) -> str | None:
    if not (typed["en"]["subject"].strip() and typed["en"]["body"].strip()):
        return T("need_english")
    if bool(typed["ru"]["subject"].strip()) != bool(typed["ru"]["body"].strip()):
        return T("need_both")
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
        T("segment"), KINDS, format_func=ui.fixed(lambda k: T(f"kind_{k}"), KINDS), key="nt:kind"
    )
    segment: dict[str, Any] = {"kind": kind}
    if kind == "plan":
        plans = plan_codes(client)
        if plans:
            segment["plan"] = st.selectbox(T("plan"), plans, key="nt:plan")
        else:
            segment["plan"] = st.text_input(T("plan"), max_chars=32, key="nt:plan_code").strip()
        if not segment["plan"]:
            st.info(T("need_plan"), icon=":material/info:")
            return None
    elif kind == "country":
        country = st.text_input(T("country"), max_chars=2, key="nt:country").strip().upper()
        if len(country) != 2 or not country.isalpha():
            st.info(T("need_country"), icon=":material/info:")
            return None
        segment["country"] = country
    elif kind == "inactive":
        segment["inactive_days"] = int(
            st.number_input(T("inactive_days"), min_value=1, max_value=3650, value=30, step=1, key="nt:days")
        )
    return segment


def compose(client) -> None:
    left, right = st.columns(2)
    with left:
        segment = segment_picker(client)
        st.caption(T("segment_help"))
    recipients = None
    with right:
        if segment is not None:
            audience = ui.fetch(lambda: client.get(f"{ADMIN}/audience", **segment))
            if audience is not None:
                recipients = audience["recipients"]
                st.metric(T("recipients_now"), i18n.number(recipients))
                if recipients == 0:
                    st.warning(T("nobody"), icon=":material/group_off:")
        channels = st.multiselect(
            T("channels"),
            CHANNELS,
            default=list(CHANNELS),
            format_func=ui.fixed(channel_label, CHANNELS),
            key="nt:channels",
        )
    typed = text_inputs("nt:text")
    st.caption(placeholders_help(("email", "plan", "app_url")) + " " + T("russian_help"))

    # An incomplete segment has said so above; what else is missing is said here.
    problem = T("need_channel") if not channels else texts_problem(typed)
    if problem:
        st.info(problem, icon=":material/edit_note:")
    count = i18n.number(recipients) if recipients is not None else "…"
    if ui.confirmed(
        "nt:send", T("send", count=count), icon=":material/send:", disabled=bool(problem) or segment is None
    ):
        body = {"segment": segment, "channels": channels, "texts": texts_body(typed)}
        with st.spinner(T("sending")):
            sent = ui.call(lambda: client.post(f"{ADMIN}/broadcasts", body))
        if sent is not None:
            ui.changed(T("sent_ok", id=sent["id"], count=i18n.number(sent["recipients"])), forget="nt:text:")


# ------------------------------------------------------------------------------------ broadcasts sent


def broadcasts_tab(broadcasts: list[dict[str, Any]] | None) -> None:
    if broadcasts is None:
        return
    if not broadcasts:
        st.info(T("no_broadcasts"), icon=":material/inbox:")
        return
    if len(broadcasts) >= RECENT_BROADCASTS:
        st.caption(T("recent_only", count=len(broadcasts)))
    rows = [
        {
            T("col_id"): b["id"],
            T("col_sent_at"): i18n.moment(b["created_at"]),
            T("col_by"): b["created_by_email"] or "—",
            T("col_segment"): segment_text(b["segment"]),
            T("col_channels"): ", ".join(channel_label(c) for c in b["channels"]),
            T("col_recipients"): b["recipients"],
            T("col_subject"): b["templates"].get("en", {}).get("subject", ""),
        }
        for b in broadcasts
    ]
    ui.table(rows, "broadcasts")
    with st.expander(T("read_texts"), icon=":material/article:"):
        by_id = {b["id"]: b for b in broadcasts}
        chosen = st.selectbox(
            T("broadcast"), list(by_id), key="nt:read",
            format_func=ui.fixed(broadcast_option(by_id), by_id),
        )  # fmt: skip
        for locale, parts in by_id[chosen]["templates"].items():
            st.markdown(
                f"**{T('lang_' + locale) if locale in ('en', 'ru') else locale}: {parts['subject']}**"
            )
            st.text(parts["body"])


# ------------------------------------------------------------------------------------------- rules


def rule_form(client, rule: dict[str, Any]) -> None:
    code = rule["code"]
    key = f"nt:rule:{code}"
    state = T("on") if rule["enabled"] else T("off")
    with st.expander(f"{rule_label(code)} · {state}", icon=":material/rule:"):
        st.caption(
            f"{T('when_' + code) if code in RULES else ''} {T('updated', at=i18n.moment(rule['updated_at']))}"
        )
        with st.form(key):
            enabled = st.toggle(T("enabled"), value=rule["enabled"], key=f"{key}:enabled")
            channels = st.multiselect(
                T("channels"), CHANNELS, default=[c for c in rule["channels"] if c in CHANNELS],
                format_func=ui.fixed(channel_label, CHANNELS), key=f"{key}:channels",
            )  # fmt: skip
            threshold = None
            if rule["threshold"] is not None or code == "balance_low":
                threshold = st.number_input(
                    T("threshold"), min_value=0.0, max_value=1e9, value=float(rule["threshold"] or 0),
                    step=1.0, format="%.2f", key=f"{key}:threshold",
                )  # fmt: skip
            typed = text_inputs(key, rule["templates"])
            st.caption(placeholders_help(rule["placeholders"]))
            saved = st.form_submit_button(i18n.t("save"), type="primary", key=f"{key}:save")
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
        st.info(T("nothing_changed"), icon=":material/info:")
        return
    with st.spinner(i18n.t("loading")):
        done = ui.call(lambda: client.put(f"{ADMIN}/rules/{code}", changes))
    if done is not None:
        ui.changed(T("rule_saved", rule=rule_label(code)))


def rules_tab(client) -> None:
    rules = ui.fetch(lambda: client.get(f"{ADMIN}/rules"))
    if rules is None:
        return
    if not rules:
        st.info(T("no_rules"), icon=":material/inbox:")
        return
    for rule in sorted(rules, key=lambda r: RULES.index(r["code"]) if r["code"] in RULES else 99):
        rule_form(client, rule)


# ------------------------------------------------------------------------------------ the delivery log


def log_tab(client, broadcasts: list[dict[str, Any]]) -> None:
    by_id = {b["id"]: b for b in broadcasts}
    top_left, top_right = st.columns(2)
    channel = top_left.selectbox(
        T("col_channel"), ("", *CHANNELS), key="nt:log:channel",
        format_func=ui.fixed(lambda c: channel_label(c) if c else T("any"), ("", *CHANNELS)),
    )  # fmt: skip
    status = top_right.selectbox(
        T("status"),
        ("", *STATUSES),
        key="nt:log:status",
        format_func=ui.fixed(lambda s: status_label(s) if s else T("any"), ("", *STATUSES)),
    )
    low_left, low_right = st.columns(2)
    rule = low_left.selectbox(
        T("rule"),
        ("", *RULES),
        key="nt:log:rule",
        format_func=ui.fixed(lambda r: rule_label(r) if r else T("any"), ("", *RULES)),
    )
    broadcast_id = low_right.selectbox(
        T("broadcast"), (0, *by_id), key="nt:log:broadcast",
        format_func=ui.fixed(lambda i: broadcast_option(by_id)(i) if i else T("any_broadcast"), (0, *by_id)),
    )  # fmt: skip
    filters = {"channel": channel, "status": status, "rule": rule, "broadcast_id": broadcast_id or None}
    offset = ui.page_offset("nt:log:page", PAGE_SIZE, tuple(filters.values()))
    page = ui.fetch(lambda: client.get(f"{ADMIN}/deliveries", limit=PAGE_SIZE, offset=offset, **filters))
    if page is None:
        return
    if not page["items"]:
        st.info(T("no_deliveries"), icon=":material/inbox:")
        return
    st.caption(T("log_total", count=i18n.number(page["total"])))
    rows = [
        {
            T("col_time"): i18n.moment(d["created_at"]),
            T("col_email"): d["email"],
            T("col_channel"): channel_label(d["channel"]),
            T("col_source"): rule_label(d["rule"])
            if d["rule"]
            else T("source_broadcast", id=d["broadcast_id"]),
            T("col_locale"): d["locale"],
            T("col_delivered_subject"): d["subject"],
            T("col_status"): status_label(d["status"]),
            T("col_attempts"): d["attempts"],
            T("col_error"): d["error"] or "",
            T("col_read_at"): i18n.moment(d["read_at"]) if d["read_at"] else "",
        }
        for d in page["items"]
    ]
    ui.table(rows, "deliveries")
    ui.page_buttons("nt:log:page", size=PAGE_SIZE, shown=len(rows), total=page["total"])
    st.caption(T("full_export"))
    ui.list_downloads(f"{ADMIN}/deliveries/export", "deliveries_all", key="nt:log:export", **filters)


# ------------------------------------------------------------------------------------------- the page

ui.staff()
client = ui.api()
st.title(T("title"))
st.caption(T("intro"))
ui.notice()
compose_tab, sent_tab, rules_tab_, log_tab_ = st.tabs(
    [T("tab_compose"), T("tab_broadcasts"), T("tab_rules"), T("tab_log")]
)
with compose_tab:
    compose(client)
with sent_tab:
    broadcasts = ui.fetch(lambda: client.get(f"{ADMIN}/broadcasts", limit=RECENT_BROADCASTS))
    broadcasts_tab(broadcasts)
with rules_tab_:
    rules_tab(client)
with log_tab_:
    log_tab(client, broadcasts or [])
