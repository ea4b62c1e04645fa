"""Plans & limits: the plans and their limits (requests a day, tokens a day and a month, chats, messages
per chat, the model tiers they may call). Those who may change settings create, edit and delete plans;
accounts on a plan get its new limits at once."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import i18n, ui

PLANS = "/api/v1/admin/plans"
TIERS = ("free", "paid")
LIMITS = ("daily_requests", "tokens_per_day", "tokens_per_month", "max_chats", "max_messages_per_chat")

T = i18n.texts(
    {
        "title": ("Plans & limits", "Тарифы и лимиты"),
        "intro": (
            "Each account is on one plan: its limits and the model tiers it may call. A changed limit "
            "applies at once to every account on the plan; an empty limit means no limit.",
            "Каждая учётная запись на одном тарифе: его лимиты и доступные уровни моделей. Изменённый лимит "
            "сразу действует для всех учётных записей тарифа; пустой лимит — без ограничения.",
        ),
        "loading": ("Loading plans…", "Загрузка тарифов…"),
        "empty": (
            "There are no plans yet: add the first one below.",
            "Тарифов пока нет: добавьте первый ниже.",
        ),
        "code": ("Code", "Код"),
        "name": ("Name", "Название"),
        "model_tiers": ("Model tiers", "Уровни моделей"),
        "free": ("free", "бесплатные"),
        "paid": ("paid", "платные"),
        "daily_requests": ("Requests a day", "Запросов в день"),
        "tokens_per_day": ("Tokens a day", "Токенов в день"),
        "tokens_per_month": ("Tokens a month", "Токенов в месяц"),
        "max_chats": ("Chats", "Чатов"),
        "max_messages_per_chat": ("Messages per chat", "Сообщений в чате"),
        "unlimited": ("no limit", "без ограничения"),
        "choose": ("Plan", "Тариф"),
        "edit": ("Edit the plan", "Изменить тариф"),
        "read_only": (
            "Your role may look at the plans but not change them.",
            "Ваша роль может просматривать тарифы, но не изменять их.",
        ),
        "save": ("Save changes", "Сохранить изменения"),
        "saving": ("Saving…", "Сохранение…"),
        "saved": ("Plan {code} saved.", "Тариф {code} сохранён."),
        "need_fields": (
            "Enter the name and pick at least one tier.",
            "Укажите название и хотя бы один уровень.",
        ),
        "delete": ("Delete plan", "Удалить тариф"),
        "deleted": ("Plan {code} deleted.", "Тариф {code} удалён."),
        "delete_help": (
            "Refused while an account is on the plan or it is the default plan for new accounts.",
            "Невозможно, пока на тарифе есть учётные записи или он назначается новым учётным записям.",
        ),
        "new": ("Add a plan", "Добавить тариф"),
        "new_code_help": (
            "Lower-case letters, digits, `_` and `-`; it cannot be changed later.",
            "Строчные латинские буквы, цифры, `_` и `-`; потом его не изменить.",
        ),
        "create": ("Add plan", "Добавить тариф"),
        "created_ok": ("Plan {code} added.", "Тариф {code} добавлен."),
        "need_code": ("Enter the code.", "Укажите код."),
    }
)


def limit_text(value: int | None) -> str:
    return T("unlimited") if value is None else i18n.number(value)


def plan_form(prefix: str, plan: dict[str, Any]) -> dict[str, Any] | None:
    """A plan's fields (inside a form), or None when not submitted or invalid."""
    name = st.text_input(T("name"), plan.get("name", ""), key=f"{prefix}name", max_chars=100)
    tiers = st.multiselect(
        T("model_tiers"), TIERS, [t for t in plan.get("model_tiers", "free").split(",") if t in TIERS],
        format_func=ui.fixed(T, TIERS), key=f"{prefix}tiers",
    )  # fmt: skip
    limits = {}
    columns = st.columns(2)
    for position, limit in enumerate(LIMITS):  # at most what the API takes (the INTEGER columns of plans)
        limits[limit] = columns[position % 2].number_input(
            T(limit), min_value=0, max_value=2**31 - 1, value=plan.get(limit), step=1, key=f"{prefix}{limit}",
            placeholder=T("unlimited"),
        )  # fmt: skip
    if not st.form_submit_button(T("create") if not plan else T("save"), type="primary"):
        return None
    if not name.strip() or not tiers:
        st.error(T("need_fields"), icon=":material/error:")
        return None
    return {
        "name": name.strip(),
        "model_tiers": ",".join(t for t in TIERS if t in tiers),
        **{limit: None if value is None else int(value) for limit, value in limits.items()},
    }


st.title(T("title"))
st.caption(T("intro"))
ui.notice()
api = ui.api()
writer = ui.can("settings:write")

with st.spinner(T("loading")):
    plans = ui.call(lambda: api.get(PLANS))
if plans is None:
    st.stop()

ui.table(
    [
        {
            T("code"): p["code"],
            T("name"): p["name"],
            T("model_tiers"): ", ".join(T(t) if t in TIERS else t for t in p["model_tiers"].split(",")),
            **{T(limit): limit_text(p[limit]) for limit in LIMITS},
        }
        for p in plans
    ],
    "plans",
    empty=T("empty"),
)

if plans and writer:
    by_code = {p["code"]: p for p in plans}
    chosen = by_code[
        st.selectbox(
            T("choose"),
            list(by_code),
            format_func=lambda c: f"{by_code[c]['name']} ({c})",
            key="plans:chosen",
        )
    ]
    code = chosen["code"]
    st.subheader(T("edit"))
    with st.form(f"edit-plan:{code}"):
        fields = plan_form(f"plans:edit:{code}:", chosen)
    if fields is not None:
        with st.spinner(T("saving")):
            saved = ui.call(lambda: api.put(f"{PLANS}/{code}", fields))
        if saved is not None:
            ui.changed(T("saved", code=code))
    st.caption(T("delete_help"))
    if ui.confirmed(f"plans:delete:{code}", T("delete"), icon=":material/delete:"):
        with st.spinner(T("saving")):
            deleted = ui.call(lambda: api.delete(f"{PLANS}/{code}") or True)  # 204: no body
        if deleted:
            st.session_state.pop("plans:chosen", None)
            ui.changed(T("deleted", code=code), forget=f"plans:edit:{code}:")
elif plans:
    st.caption(T("read_only"))

if writer:
    with st.expander(T("new"), icon=":material/add:", expanded=not plans):
        with st.form("new-plan"):
            new_code = st.text_input(T("code"), key="plans:new:code", max_chars=32, help=T("new_code_help"))
            body = plan_form("plans:new:", {})
        if body is not None:
            if not new_code.strip():
                st.error(T("need_code"), icon=":material/error:")
            else:
                with st.spinner(T("saving")):
                    created = ui.call(lambda: api.post(PLANS, {"code": new_code.strip(), **body}))
                if created is not None:
                    ui.changed(T("created_ok", code=created["code"]), forget="plans:new:")
