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


def limit_text(value: int | None) -> str:
    return i18n.t("plans.unlimited") if value is None else i18n.number(value)


def plan_form(prefix: str, plan: dict[str, Any]) -> dict[str, Any] | None:
    """A plan's fields (inside a form), or None when not submitted or invalid."""
    name = st.text_input(i18n.t("plans.name"), plan.get("name", ""), key=f"{prefix}name", max_chars=100)
    tiers = st.multiselect(
        i18n.t("plans.model_tiers"), TIERS,
        [t for t in plan.get("model_tiers", "free").split(",") if t in TIERS],
        format_func=ui.fixed(lambda tier: i18n.t(f"plans.{tier}"), TIERS), key=f"{prefix}tiers",
        placeholder=i18n.t("common.choose"),
    )  # fmt: skip
    limits = {}
    columns = st.columns(2)
    for position, limit in enumerate(LIMITS):  # at most what the API takes (the INTEGER columns of plans)
        limits[limit] = columns[position % 2].number_input(
            i18n.t(f"plans.{limit}"), min_value=0, max_value=2**31 - 1, value=plan.get(limit), step=1,
            key=f"{prefix}{limit}", placeholder=i18n.t("plans.unlimited"),
        )  # fmt: skip
    if not st.form_submit_button(
        i18n.t("plans.create") if not plan else i18n.t("plans.save"), type="primary"
    ):
        return None
    if not name.strip() or not tiers:
        st.error(i18n.t("plans.need_fields"), icon=":material/error:")
        return None
    return {
        "name": name.strip(),
        "model_tiers": ",".join(t for t in TIERS if t in tiers),
        **{limit: None if value is None else int(value) for limit, value in limits.items()},
    }


st.title(i18n.t("plans.title"))
st.caption(i18n.t("plans.intro"))
ui.notice()
api = ui.api()
writer = ui.can("settings:write")

with st.spinner(i18n.t("plans.loading")):
    plans = ui.call(lambda: api.get(PLANS))
if plans is None:
    st.stop()

ui.table(
    [
        {
            i18n.t("plans.code"): p["code"],
            i18n.t("plans.name"): p["name"],
            i18n.t("plans.model_tiers"): ", ".join(
                i18n.t(f"plans.{t}") if t in TIERS else t for t in p["model_tiers"].split(",")
            ),
            **{i18n.t(f"plans.{limit}"): limit_text(p[limit]) for limit in LIMITS},
        }
        for p in plans
    ],
    "plans",
    empty=i18n.t("plans.empty"),
)

if plans and writer:
    by_code = {p["code"]: p for p in plans}
    chosen = by_code[
        st.selectbox(
            i18n.t("plans.choose"),
            list(by_code),
            format_func=lambda c: f"{by_code[c]['name']} ({c})",
            key="plans:chosen",
        )
    ]
    code = chosen["code"]
    st.subheader(i18n.t("plans.edit"))
    with st.form(f"edit-plan:{code}"):
        fields = plan_form(f"plans:edit:{code}:", chosen)
    if fields is not None:
        with st.spinner(i18n.t("plans.saving")):
            saved = ui.call(lambda: api.put(f"{PLANS}/{code}", fields))
        if saved is not None:
            ui.changed(i18n.t("plans.saved", code=code))
    st.caption(i18n.t("plans.delete_help"))
    if ui.confirmed(f"plans:delete:{code}", i18n.t("plans.delete"), icon=":material/delete:"):
        with st.spinner(i18n.t("plans.saving")):
            deleted = ui.call(lambda: api.delete(f"{PLANS}/{code}") or True)  # 204: no body
        if deleted:
            st.session_state.pop("plans:chosen", None)
            ui.changed(i18n.t("plans.deleted", code=code), forget=f"plans:edit:{code}:")
elif plans:
    st.caption(i18n.t("plans.read_only"))

if writer:
    with st.expander(i18n.t("plans.new"), icon=":material/add:", expanded=not plans):
        with st.form("new-plan"):
            new_code = st.text_input(
                i18n.t("plans.code"), key="plans:new:code", max_chars=32, help=i18n.t("plans.new_code_help")
            )
            body = plan_form("plans:new:", {})
        if body is not None:
            if not new_code.strip():
                st.error(i18n.t("plans.need_code"), icon=":material/error:")
            else:
                with st.spinner(i18n.t("plans.saving")):
                    created = ui.call(lambda: api.post(PLANS, {"code": new_code.strip(), **body}))
                if created is not None:
                    ui.changed(i18n.t("plans.created_ok", code=created["code"]), clear="plans:new:")
