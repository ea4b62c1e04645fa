"""Users: find accounts (search, filters, sort, pages, the whole list as CSV or XLSX), open one (profile,
usage, staff history, chats), and act on it (block, plan, balance, impersonate). Every action asks again
before it runs, and the API checks the permission and writes the audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import i18n, ui
from dashboard.api_client import ApiClient

USERS = "/api/v1/admin/users"
ROLES = ("user", "admin", "moderator", "analyst", "viewer")
SORTS = ("created_at", "last_login_at", "email", "balance", "plan_code", "country", "role", "is_blocked")
PAGE_SIZES = (10, 25, 50, 100)
EARLIEST = date(2000, 1, 1)

T = i18n.texts(
    {
        "title": ("Users", "Пользователи"),
        "search": ("Search", "Поиск"),
        "search_hint": ("Part of an email, or a whole user id", "Часть эл. почты или весь id пользователя"),
        "filters": ("Filters", "Фильтры"),
        "any": ("Any", "Любой"),
        "plan": ("Plan", "Тариф"),
        "status": ("Status", "Статус"),
        "active": ("Active", "Активен"),
        "blocked": ("Blocked", "Заблокирован"),
        "role": ("Role", "Роль"),
        "role_user": ("End user", "Пользователь"),
        "role_admin": ("Admin", "Администратор"),
        "role_moderator": ("Moderator", "Модератор"),
        "role_analyst": ("Analyst", "Аналитик"),
        "role_viewer": ("Viewer", "Наблюдатель"),
        "country": ("Country (2 letters)", "Страна (2 буквы)"),
        "country_short": (
            "A country is two letters (DE, RU): the filter applies once both are typed.",
            "Страна — это две буквы (DE, RU): фильтр сработает, когда введены обе.",
        ),
        "registered": ("Registered (UTC days)", "Регистрация (дни UTC)"),
        "last_login": ("Last signed in (UTC days)", "Последний вход (дни UTC)"),
        "balance_min": ("Balance from", "Баланс от"),
        "balance_max": ("Balance up to", "Баланс до"),
        "sort": ("Sort by", "Сортировать по"),
        "order": ("Order", "Порядок"),
        "desc": ("Descending", "По убыванию"),
        "asc": ("Ascending", "По возрастанию"),
        "page_size": ("Per page", "На странице"),
        "col_email": ("Email", "Эл. почта"),
        "col_created_at": ("Registered", "Регистрация"),
        "col_last_login_at": ("Last sign-in", "Последний вход"),
        "col_balance": ("Balance", "Баланс"),
        "col_plan_code": ("Plan", "Тариф"),
        "col_country": ("Country", "Страна"),
        "col_role": ("Role", "Роль"),
        "col_is_blocked": ("Status", "Статус"),
        "found": ("Users found: **{count}**", "Найдено пользователей: **{count}**"),
        "none_match": (
            "No user matches this search and these filters. Clear some of them to see more.",
            "Ни один пользователь не подходит под поиск и фильтры. Уберите часть из них, чтобы увидеть "
            "больше.",
        ),
        "none_yet": (
            "No users yet: accounts appear here as soon as people register.",
            "Пользователей пока нет: учётные записи появятся здесь, как только люди зарегистрируются.",
        ),
        "open_user": ("Open a user", "Открыть пользователя"),
        "pick_user": ("Pick a user from this page", "Выберите пользователя на этой странице"),
        "loading_users": ("Finding users…", "Ищем пользователей…"),
        "loading_profile": ("Loading the profile…", "Загружаем профиль…"),
        "tab_profile": ("Profile", "Профиль"),
        "tab_history": ("Staff history", "История действий персонала"),
        "tab_chats": ("Chats", "Чаты"),
        "tab_actions": ("Actions", "Действия"),
        "identity": ("{role} · country {country} · id `{id}`", "{role} · страна {country} · id `{id}`"),
        "balance": ("Balance, credits", "Баланс, кредиты"),
        "registered_on": ("Registered", "Зарегистрирован"),
        "last_sign_in": ("Last sign-in", "Последний вход"),
        "last_active": ("Last active", "Последняя активность"),
        "chats": ("Chats", "Чаты"),
        "messages": ("Messages", "Сообщения"),
        "completions": ("Completions", "Запросы к LLM"),
        "input_tokens": ("Tokens in", "Токены на входе"),
        "output_tokens": ("Tokens out", "Токены на выходе"),
        "cost_usd": ("Cost, USD", "Затраты, USD"),
        "credits": ("Credits spent", "Потрачено кредитов"),
        "activity": ("Activity, the last 30 days", "Активность за последние 30 дней"),
        "day": ("Day", "День"),
        "events": ("Events", "События"),
        "no_activity": (
            "No activity in the last 30 days.",
            "За последние 30 дней активности не было.",
        ),
        "data": ("Data", "Данные"),
        "top_models": ("Favourite models", "Любимые модели"),
        "top_roles": ("Favourite assistant roles", "Любимые роли ассистента"),
        "model": ("Model", "Модель"),
        "assistant_role": ("Role", "Роль"),
        "calls": ("Completions", "Запросы"),
        "no_models": ("No completions yet.", "Запросов к моделям пока не было."),
        "no_roles": ("No assistant role used yet.", "Роли ассистента пока не использовались."),
        "when": ("When", "Когда"),
        "who": ("Who", "Кто"),
        "action": ("Action", "Действие"),
        "change": ("Change", "Изменение"),
        "reason": ("Reason", "Причина"),
        "no_history": (
            "Staff have not changed this account yet.",
            "Сотрудники ещё не меняли эту учётную запись.",
        ),
        "chat_title": ("Title", "Название"),
        "chat_messages": ("Messages", "Сообщения"),
        "chat_created": ("Started", "Начат"),
        "chat_updated": ("Last message", "Последнее сообщение"),
        "no_chats": ("This user has no chats.", "У этого пользователя нет чатов."),
        "latest_chats": ("The {count} most recent chats.", "Последние {count} чатов."),
        "pick_chat": ("Chat to read", "Чат для чтения"),
        "read_reason": (
            "Why you read it (optional, kept in the audit log)",
            "Зачем вы его читаете (необязательно, сохраняется в журнале аудита)",
        ),
        "read_audited": (
            "Reading a transcript is written to the audit log: who read whose chat, when, and why.",
            "Чтение переписки записывается в журнал аудита: кто, чей чат, когда и зачем.",
        ),
        "read": ("Read the transcript", "Прочитать переписку"),
        "transcript": ("Transcript: {title}", "Переписка: {title}"),
        "empty_chat": ("This chat has no messages.", "В этом чате нет сообщений."),
        "message_meta": ("{when} · {tokens} tokens{model}", "{when} · токенов: {tokens}{model}"),
        "block_title": ("Block or unblock", "Блокировка"),
        "block_state": ("The account is **{state}**.", "Учётная запись: **{state}**."),
        "reason_required": (
            "Reason (at least 3 characters, kept in the audit log)",
            "Причина (не меньше 3 символов, сохраняется в журнале аудита)",
        ),
        "block": ("Block", "Заблокировать"),
        "unblock": ("Unblock", "Разблокировать"),
        "did_block": (
            "{email} is blocked: their sessions and API keys stop working.",
            "{email} заблокирован: его сессии и API-ключи перестают работать.",
        ),
        "did_unblock": ("{email} is unblocked.", "{email} разблокирован."),
        "plan_title": ("Plan", "Тариф"),
        "plan_now": ("Now on **{plan}**.", "Сейчас: **{plan}**."),
        "new_plan": ("New plan", "Новый тариф"),
        "plan_reason": (
            "Reason (optional, kept in the audit log)",
            "Причина (необязательно, сохраняется в журнале аудита)",
        ),
        "change_plan": ("Change plan", "Сменить тариф"),
        "did_plan": ("{email} is now on {plan}.", "{email} теперь на тарифе {plan}."),
        "balance_title": ("Balance", "Баланс"),
        "balance_now": ("Now **{balance}** credits.", "Сейчас **{balance}** кредитов."),
        "amount": (
            "Credits to add (negative to take)",
            "Сколько кредитов добавить (отрицательное — списать)",
        ),
        "balance_after": ("Afterwards: {balance} credits.", "После изменения: {balance} кредитов."),
        "adjust": ("Adjust balance", "Изменить баланс"),
        "did_adjust": (
            "{email}'s balance is now {balance} credits.",
            "Баланс {email} теперь {balance} кредитов.",
        ),
        "impersonate_title": ("Impersonate", "Войти как пользователь"),
        "impersonate_help": (
            "A 15-minute, read-only token that acts as this user: for seeing what they see. "
            "Every request made with it is written to the audit log in your name.",
            "Токен на 15 минут только для чтения, действующий от имени пользователя: чтобы увидеть то, "
            "что видит он. Каждый запрос с ним записывается в журнал аудита от вашего имени.",
        ),
        "impersonate": ("Get an impersonation token", "Получить токен для входа"),
        "token_warning": (
            "Read-only token for {email}, valid for {minutes} minutes. Every request with it is audited in "
            "your name. It is shown only once: copy it now.",
            "Токен только для чтения для {email}, действует {minutes} мин. Каждый запрос с ним записывается "
            "в журнал аудита от вашего имени. Он показан один раз: скопируйте его сейчас.",
        ),
        "self": (
            "This is your own account: the API lets no one act on their own account here.",
            "Это ваша учётная запись: API не даёт менять здесь свою собственную учётную запись.",
        ),
    }
)
ACTIONS = i18n.texts(
    {
        "user.block": ("Blocked", "Заблокирован"),
        "user.unblock": ("Unblocked", "Разблокирован"),
        "user.plan_change": ("Plan changed", "Смена тарифа"),
        "user.balance_adjust": ("Balance adjusted", "Изменение баланса"),
        "user.impersonate": ("Impersonated", "Вход от имени пользователя"),
        "impersonation.request": ("Request while impersonating", "Запрос от имени пользователя"),
    }
)


def role_name(role: str | None) -> str:
    return T(f"role_{role}") if role in ROLES else str(role)


def action_name(action: str) -> str:
    return ACTIONS(action) if action in ACTIONS.table else action


def credits(value: Any) -> str:
    return i18n.number(Decimal(str(value)), 2) if value is not None else "—"


def changes(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in values.items()) if values else "—"


client = ui.api()
st.title(T("title"))
ui.notice()

plans = ui.fetch(lambda: client.get("/api/v1/admin/plans")) or []
plan_names = {p["code"]: f"{p['name']} ({p['code']})" for p in plans}


def plan_name(code: str | None) -> str:
    return plan_names.get(code, str(code))


# --- the list -----------------------------------------------------------------------------------------


def date_range(picked: Any, prefix: str) -> dict[str, str | None]:
    days = list(picked) if isinstance(picked, tuple | list) else []
    return {
        f"{prefix}_from": days[0].isoformat() if days else None,
        f"{prefix}_to": days[-1].isoformat() if days else None,
    }


def filters() -> dict[str, Any]:
    """What the staff member asked for, as the API's query parameters."""
    date_format = "DD.MM.YYYY" if i18n.current() == "ru" else "YYYY-MM-DD"
    today = datetime.now(UTC).date()
    q = st.text_input(T("search"), placeholder=T("search_hint"), key="users:q")
    with st.expander(T("filters"), icon=":material/filter_list:"):
        left, right = st.columns(2)
        plan = left.selectbox(
            T("plan"),
            list(plan_names),
            index=None,
            placeholder=T("any"),
            format_func=plan_name,
            key="users:plan",
        )
        status = right.selectbox(
            T("status"), ("active", "blocked"), index=None, placeholder=T("any"),
            format_func=ui.fixed(T, ("active", "blocked")), key="users:status",
        )  # fmt: skip
        role = left.selectbox(
            T("role"),
            ROLES,
            index=None,
            placeholder=T("any"),
            format_func=ui.fixed(role_name, ROLES),
            key="users:role",
        )
        country = right.text_input(T("country"), max_chars=2, key="users:country").strip().upper()
        registered = left.date_input(
            T("registered"), value=(), min_value=EARLIEST, max_value=today, format=date_format,
            key="users:registered",
        )  # fmt: skip
        last_login = right.date_input(
            T("last_login"), value=(), min_value=EARLIEST, max_value=today, format=date_format,
            key="users:last_login",
        )  # fmt: skip
        balance_min = left.number_input(T("balance_min"), min_value=0.0, value=None, key="users:balance_min")
        balance_max = right.number_input(T("balance_max"), min_value=0.0, value=None, key="users:balance_max")
        if len(country) == 1 or (country and not country.isalpha()):
            st.caption(T("country_short"))
    left, middle, right = st.columns(3)
    sort = left.selectbox(
        T("sort"), SORTS, format_func=ui.fixed(lambda c: T(f"col_{c}"), SORTS), key="users:sort"
    )
    order = middle.selectbox(
        T("order"), ("desc", "asc"), format_func=ui.fixed(T, ("desc", "asc")), key="users:order"
    )
    right.selectbox(T("page_size"), PAGE_SIZES, index=1, key="users:size")
    return {
        "q": q.strip() or None,
        "plan": plan,
        "status": status,
        "role": role,
        "country": country if len(country) == 2 and country.isalpha() else None,
        **date_range(registered, "registered"),
        **date_range(last_login, "last_login"),
        "balance_min": balance_min,
        "balance_max": balance_max,
        "sort": sort,
        "order": order,
    }


def export(api: ApiClient, params: dict[str, Any], fmt: str) -> bytes:
    """The whole filtered list, in the list's order, as a file made by the API."""
    return api.download(f"{USERS}/export", format=fmt, **params)


def account_rows(items: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                T("col_email"): u["email"],
                T("col_role"): role_name(u["role"]),
                T("col_plan_code"): plan_name(u["plan_code"]),
                T("col_country"): u["country"] or "—",
                T("col_is_blocked"): T("blocked" if u["is_blocked"] else "active"),
                T("col_balance"): credits(u["balance"]),
                T("col_created_at"): i18n.moment(u["created_at"]),
                T("col_last_login_at"): i18n.moment(u["last_login_at"]),
            }
            for u in items
        ]
    )


params = filters()
size = st.session_state.get("users:size", PAGE_SIZES[1])
offset = ui.page_offset("users:page", size, params)
found = ui.fetch(lambda: client.get(USERS, **params, limit=size, offset=offset), message=T("loading_users"))
if found is None:
    st.stop()
items = found["items"]
st.markdown(T("found", count=i18n.number(found["total"])))
if not found["total"]:
    asked = any(v is not None for k, v in params.items() if k not in ("sort", "order"))
    st.info(T("none_match" if asked else "none_yet"), icon=":material/person_search:")
    st.stop()
st.dataframe(account_rows(items), hide_index=True, width="stretch")
ui.page_buttons("users:page", size=size, shown=len(items), total=found["total"])
ui.list_downloads(
    f"{USERS}/export", "users", key="users:export", make=lambda fmt: export(client, params, fmt)
)

emails = {u["id"]: u["email"] for u in items}
picked = st.selectbox(
    T("open_user"), list(emails), index=None, placeholder=T("pick_user"), format_func=emails.get,
    key="users:picked",
)  # fmt: skip
if picked is None:
    st.stop()

# --- one user -----------------------------------------------------------------------------------------

profile = ui.fetch(lambda: client.get(f"{USERS}/{picked}"), message=T("loading_profile"))
if profile is None:
    st.stop()
account, stats = profile["account"], profile["stats"]
uid, email = account["id"], account["email"]
st.subheader(email)
st.markdown(T("identity", role=role_name(account["role"]), country=account["country"] or "—", id=uid))

may_write, may_impersonate = ui.can("users:write"), ui.can("users:impersonate")
tabs = ["tab_profile", "tab_history"]
tabs += ["tab_chats"] if ui.can("conversations:read") else []
tabs += ["tab_actions"] if may_write or may_impersonate else []
shown = dict(zip(tabs, st.tabs([T(t) for t in tabs]), strict=True))


def activity_chart() -> None:
    st.markdown(f"**{T('activity')}**")
    per_day = {row["day"]: row["events"] for row in stats["activity_30_days"]}
    if not per_day:
        st.info(T("no_activity"), icon=":material/bar_chart:")
        return
    today = datetime.now(UTC).date()
    days = sorted({today - timedelta(days=n) for n in range(31)} | {date.fromisoformat(d) for d in per_day})
    frame = pd.DataFrame({T("day"): days, T("events"): [per_day.get(d.isoformat(), 0) for d in days]})
    st.bar_chart(frame, x=T("day"), y=T("events"), height=240)
    with st.expander(T("data")):
        shown_frame = frame.assign(**{T("day"): [i18n.day(d) for d in days]})
        ui.table(shown_frame, f"activity_{email}", empty=T("no_activity"))


with shown["tab_profile"]:
    ui.metrics(
        [
            (T("status"), T("blocked" if account["is_blocked"] else "active")),
            (T("plan"), plan_name(account["plan_code"])),
            (T("balance"), credits(account["balance"])),
            (T("registered_on"), i18n.day(datetime.fromisoformat(account["created_at"]))),
            (T("last_sign_in"), i18n.moment(account["last_login_at"])),
            (T("last_active"), i18n.moment(stats["last_active_at"])),
            (T("chats"), i18n.number(stats["chats"])),
            (T("messages"), i18n.number(stats["messages"])),
            (T("completions"), i18n.number(stats["completions"])),
            (T("input_tokens"), i18n.number(stats["input_tokens"])),
            (T("output_tokens"), i18n.number(stats["output_tokens"])),
            (T("cost_usd"), i18n.number(Decimal(str(stats["cost_usd"])), 4)),
            (T("credits"), credits(stats["credits"])),
        ]
    )
    activity_chart()
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{T('top_models')}**")
        ui.table(
            [{T("model"): m["id"], T("calls"): i18n.number(m["calls"])} for m in stats["top_models"]],
            "favourite_models", empty=T("no_models"),
        )  # fmt: skip
    with right:
        st.markdown(f"**{T('top_roles')}**")
        ui.table(
            [{T("assistant_role"): r["id"], T("calls"): i18n.number(r["calls"])} for r in stats["top_roles"]],
            "favourite_roles", empty=T("no_roles"),
        )  # fmt: skip

with shown["tab_history"]:
    history = ui.fetch(lambda: client.get(f"{USERS}/{uid}/history")) or []
    ui.table(
        [
            {
                T("when"): i18n.moment(h["occurred_at"]),
                T("who"): h["actor_email"] or "—",
                T("action"): action_name(h["action"]),
                T("change"): f"{changes(h['before'])} → {changes(h['after'])}",
                T("reason"): h["reason"] or "—",
            }
            for h in history
        ],
        "staff_history",
        empty=T("no_history"),
    )


def transcript(chat: dict[str, Any]) -> None:
    st.markdown(f"**{T('transcript', title=chat['title'])}**")
    if not chat["messages"]:
        st.info(T("empty_chat"), icon=":material/chat:")
    for message in chat["messages"]:
        with st.chat_message(message["role"]):
            st.text(message["content"])  # as written: never rendered as markdown or HTML
            model = f" · {message['model_id']}" if message["model_id"] else ""
            when, tokens = i18n.moment(message["created_at"]), i18n.number(message["tokens"])
            st.caption(T("message_meta", when=when, tokens=tokens, model=model))


if "tab_chats" in shown:
    with shown["tab_chats"]:
        chats = ui.fetch(lambda: client.get(f"{USERS}/{uid}/chats", limit=50)) or []
        if not chats:
            st.info(T("no_chats"), icon=":material/forum:")
        else:
            if len(chats) == 50:
                st.caption(T("latest_chats", count=50))
            ui.table(
                [
                    {
                        T("chat_title"): c["title"],
                        T("chat_messages"): i18n.number(c["message_count"]),
                        T("chat_created"): i18n.moment(c["created_at"]),
                        T("chat_updated"): i18n.moment(c["updated_at"]),
                    }
                    for c in chats
                ],
                "user_chats",
            )
            titles = {c["id"]: f"{c['title']} · {i18n.moment(c['updated_at'])}" for c in chats}
            chat_id = st.selectbox(
                T("pick_chat"), list(titles), index=None, format_func=titles.get, key=f"users:{uid}:chat"
            )
            why = st.text_input(T("read_reason"), max_chars=500, key=f"users:{uid}:read_reason")
            st.caption(T("read_audited"))
            if st.button(T("read"), key="users:read", icon=":material/visibility:", disabled=chat_id is None):
                read = ui.fetch(
                    lambda: client.get(f"{USERS}/{uid}/chats/{chat_id}", reason=why.strip() or None)
                )
                if read is not None:
                    st.session_state["users:transcript"] = read
            kept = st.session_state.get("users:transcript")
            if kept is not None and kept["id"] == chat_id:
                transcript(kept)


def act(call, done: str) -> None:
    """Run a confirmed change; on success the page shows the new state with `done` on top."""
    if ui.fetch(call) is not None:
        ui.changed(done, forget=f"users:{uid}:")


def block_or_unblock() -> None:
    st.markdown(f"**{T('block_title')}**")
    blocked = account["is_blocked"]
    st.markdown(T("block_state", state=T("blocked" if blocked else "active")))
    verb = "unblock" if blocked else "block"
    reason = st.text_input(T("reason_required"), max_chars=500, key=f"users:{uid}:block_reason").strip()
    icon = ":material/lock_open:" if blocked else ":material/block:"
    if ui.confirmed(f"users:{uid}:{verb}", T(verb), icon=icon, disabled=len(reason) < 3):
        act(lambda: client.post(f"{USERS}/{uid}/{verb}", {"reason": reason}), T(f"did_{verb}", email=email))


def change_plan() -> None:
    st.markdown(f"**{T('plan_title')}**")
    st.markdown(T("plan_now", plan=plan_name(account["plan_code"])))
    others = [code for code in plan_names if code != account["plan_code"]]
    new = st.selectbox(T("new_plan"), others, index=None, format_func=plan_name, key=f"users:{uid}:plan")
    reason = st.text_input(T("plan_reason"), max_chars=500, key=f"users:{uid}:plan_reason").strip()
    if ui.confirmed(
        f"users:{uid}:change_plan", T("change_plan"), icon=":material/sell:", disabled=new is None
    ):
        body = {"plan": new, "reason": reason or None}
        act(lambda: client.post(f"{USERS}/{uid}/plan", body), T("did_plan", email=email, plan=plan_name(new)))


def adjust_balance() -> None:
    st.markdown(f"**{T('balance_title')}**")
    now = Decimal(str(account["balance"]))
    st.markdown(T("balance_now", balance=credits(now)))
    amount = st.number_input(T("amount"), value=0.0, step=1.0, format="%.2f", key=f"users:{uid}:amount")
    change = Decimal(str(round(amount, 6)))
    if change:
        st.caption(T("balance_after", balance=credits(now + change)))
    reason = st.text_input(T("reason_required"), max_chars=500, key=f"users:{uid}:balance_reason").strip()
    if ui.confirmed(
        f"users:{uid}:balance", T("adjust"), icon=":material/account_balance_wallet:",
        disabled=not change or len(reason) < 3,
    ):  # fmt: skip
        result = ui.fetch(
            lambda: client.post(f"{USERS}/{uid}/balance", {"amount": str(change), "reason": reason})
        )
        if result is not None:
            ui.changed(
                T("did_adjust", email=email, balance=credits(result["balance"])), forget=f"users:{uid}:"
            )


def impersonate() -> None:
    st.markdown(f"**{T('impersonate_title')}**")
    st.caption(T("impersonate_help"))
    reason = st.text_input(T("reason_required"), max_chars=500, key=f"users:{uid}:impersonate_reason").strip()
    if ui.confirmed(
        f"users:{uid}:impersonate",
        T("impersonate"),
        icon=":material/switch_account:",
        disabled=len(reason) < 3,
    ):
        token = ui.fetch(lambda: client.post(f"{USERS}/{uid}/impersonate", {"reason": reason}))
        if token is not None:  # shown this once: it is kept nowhere, the next rerun forgets it
            st.warning(
                T("token_warning", email=email, minutes=i18n.number(token["expires_in"] // 60)),
                icon=":material/warning:",
            )
            st.code(token["access_token"], language=None, wrap_lines=True)


if "tab_actions" in shown:
    with shown["tab_actions"]:
        if account["email"] == ui.staff().email:
            st.info(T("self"), icon=":material/info:")
        if may_write:
            for section in (block_or_unblock, change_plan, adjust_balance):
                with st.container(border=True):
                    section()
        if may_impersonate:
            with st.container(border=True):
                impersonate()
