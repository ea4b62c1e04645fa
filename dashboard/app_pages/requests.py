"""Requests: the request explorer. Every completion with filters (user, model, provider, role, plan, status,
time), a page at a time, downloadable whole; one call with its tokens, cost, credits, latency, every provider
attempt and the error; the messages it kept, for those who may read users' chats (each read audited). A
click on a user, model, role or call opens its page (`?user=`, `?model=`, `?role=`, `?call=`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import i18n, ui

CALLS = "/api/v1/admin/calls"
PAGE_SIZE = 50
STATUSES = ("ok", "disconnected", "error")


def status_name(status: str | None) -> str:
    return i18n.t(f"requests.status_{status}") if status in STATUSES else (status or "—")


def day_start(day: date) -> str:
    return datetime.combine(day, time.min, UTC).isoformat()


def filters() -> dict[str, Any]:
    """What the staff member asked for, as the API's query parameters."""
    with st.expander(i18n.t("requests.filters"), icon=":material/filter_list:", expanded=True):
        left, middle, right = st.columns(3)
        asked = {
            "email": left.text_input(i18n.t("requests.email"), key="requests:email").strip(),
            "model": middle.text_input(i18n.t("requests.model"), key="requests:model").strip(),
            "provider": right.text_input(i18n.t("requests.provider"), key="requests:provider").strip(),
            "role": left.text_input(i18n.t("requests.role"), key="requests:role").strip(),
            "plan": middle.text_input(i18n.t("requests.plan"), key="requests:plan").strip(),
            "status": right.selectbox(
                i18n.t("requests.status"),
                STATUSES,
                index=None,
                placeholder=i18n.t("requests.any"),
                format_func=ui.fixed(status_name, STATUSES),
                key="requests:status",
            ),
        }
        picked = st.date_input(
            i18n.t("requests.period"), value=(), max_value=datetime.now(UTC).date(), key="requests:period",
            format="DD.MM.YYYY" if i18n.current() == "ru" else "YYYY-MM-DD",
        )  # fmt: skip
    if isinstance(picked, tuple | list) and picked:
        asked["since"] = day_start(picked[0])
        asked["until"] = day_start(picked[-1] + timedelta(days=1))
    return {name: value for name, value in asked.items() if value}


def rows(items: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                i18n.t("requests.col_id"): c["id"],
                i18n.t("requests.col_time"): i18n.moment(c["occurred_at"]),
                i18n.t("requests.col_user"): c["email"] or c["user_id"] or "—",
                "user_id": c["user_id"],
                i18n.t("requests.col_model"): c["model_id"],
                i18n.t("requests.col_role"): c["role_id"],
                i18n.t("requests.col_provider"): c["provider"],
                i18n.t("requests.col_status"): status_name(c["status"]),
                i18n.t("requests.col_error"): c["error_code"],
                i18n.t("requests.col_input"): c["input_tokens"],
                i18n.t("requests.col_output"): c["output_tokens"],
                i18n.t("requests.col_cost"): None if c["cost_usd"] is None else float(c["cost_usd"]),
                i18n.t("requests.col_credits"): None if c["credits"] is None else float(c["credits"]),
                i18n.t("requests.col_latency"): c["latency_ms"],
                i18n.t("requests.col_failed_attempts"): c["failed_attempts"],
            }
            for c in items
        ]
    )


def links() -> dict[str, tuple[str, str]]:
    return {
        i18n.t("requests.col_id"): ("call", i18n.t("requests.col_id")),
        i18n.t("requests.col_user"): ("user", "user_id"),
        i18n.t("requests.col_model"): ("model", i18n.t("requests.col_model")),
        i18n.t("requests.col_role"): ("role", i18n.t("requests.col_role")),
    }


def cursor(params: dict[str, Any]) -> list[int | None]:
    """The keyset pages walked so far (each page's `before`), back to the first when the filters change."""
    if st.session_state.get("requests:filters") != params:
        st.session_state["requests:filters"] = params
        st.session_state["requests:pages"] = [None]
    return st.session_state["requests:pages"]


def _older(next_before: int) -> None:
    st.session_state["requests:pages"].append(next_before)


def _newer() -> None:
    if len(st.session_state["requests:pages"]) > 1:
        st.session_state["requests:pages"].pop()


def page_buttons(pages: list[int | None], next_before: int | None) -> None:
    left, middle, right = st.columns(3, vertical_alignment="center")
    left.button(
        i18n.t("requests.newer"), key="requests:newer", disabled=len(pages) <= 1, on_click=_newer,
        icon=":material/chevron_left:", width="stretch",
    )  # fmt: skip
    middle.caption(i18n.t("ui.page", page=len(pages)))
    right.button(
        i18n.t("requests.older"), key="requests:older", disabled=next_before is None, on_click=_older,
        args=(next_before,), icon=":material/chevron_right:", width="stretch",
    )  # fmt: skip


def attempts_table(call: dict[str, Any]) -> None:
    st.markdown(f"**{i18n.t('requests.attempts')}**")
    ui.table(
        [
            {
                i18n.t("requests.col_attempt"): n,
                i18n.t("requests.col_provider"): a["provider"],
                i18n.t("requests.col_result"): a["error"] or i18n.t("requests.answered"),
            }
            for n, a in enumerate(call["attempts"], start=1)
        ],
        f"call-{call['id']}-attempts",
        empty=i18n.t("requests.no_attempts"),
    )


def messages(call: dict[str, Any]) -> None:
    """The messages the call kept, read on request with a reason (the read is audited)."""
    st.markdown(f"**{i18n.t('requests.messages')}**")
    if not ui.can("conversations:read"):
        st.caption(i18n.t("requests.messages_not_allowed"))
        return
    if call["outcome"] == "failed" or not call["chat_id"]:
        st.caption(i18n.t("requests.messages_not_kept"))
        return
    reason = st.text_input(i18n.t("requests.reason"), key=f"requests:reason:{call['id']}")
    if st.button(
        i18n.t("requests.read_messages"), key=f"requests:read:{call['id']}", icon=":material/forum:"
    ):
        read = ui.call(lambda: api.get(f"{CALLS}/{call['id']}/messages", reason=reason.strip() or None))
        if read is not None:
            st.session_state["requests:messages"] = (call["id"], read)
    kept = st.session_state.get("requests:messages")
    if kept and kept[0] == call["id"]:
        if not kept[1]["messages"]:
            st.info(i18n.t("requests.messages_gone"), icon=":material/inbox:")
        for message in kept[1]["messages"]:
            with st.chat_message("user" if message["role"] == "user" else "assistant"):
                st.markdown(message["content"])
                st.caption(i18n.t("requests.message_tokens", tokens=i18n.number(message["tokens"])))


def one_call(call_id: str) -> None:
    call = ui.fetch(lambda: api.get(f"{CALLS}/{call_id}"), message=i18n.t("requests.loading_call"))
    if call is None:
        return
    st.subheader(i18n.t("requests.call_title", id=call["id"], outcome=i18n.t(f"requests.{call['outcome']}")))
    amount = lambda v: "—" if v is None else i18n.amount(v)  # noqa: E731
    count = lambda v: "—" if v is None else i18n.number(v)  # noqa: E731
    ui.metrics(
        [
            (i18n.t("requests.col_input"), count(call["input_tokens"])),
            (i18n.t("requests.col_output"), count(call["output_tokens"])),
            (i18n.t("requests.col_latency"), count(call["latency_ms"])),
            (i18n.t("requests.col_cost"), amount(call["cost_usd"])),
            (i18n.t("requests.col_credits"), amount(call["credits"])),
            (i18n.t("requests.col_status"), status_name(call["status"])),
        ]
    )
    if call["error_code"]:
        st.error(i18n.t("requests.error", code=call["error_code"]), icon=":material/error:")
    facts = {
        i18n.t("requests.col_time"): i18n.moment(call["occurred_at"]),
        i18n.t("requests.col_user"): call["email"] or call["user_id"],
        i18n.t("requests.col_model"): call["model_id"],
        i18n.t("requests.col_role"): call["role_id"],
        i18n.t("requests.plan"): call["plan"],
        i18n.t("requests.col_provider"): call["provider"],
        i18n.t("requests.client"): call["client"],
        i18n.t("requests.country"): call["country"],
        i18n.t("requests.reference"): f"chatcmpl-{call['reference']}" if call["reference"] else None,
        i18n.t("requests.request_id"): call["request_id"],
        i18n.t("requests.stream"): i18n.t("common.yes" if call["stream"] else "common.no"),
    }
    st.dataframe(
        pd.DataFrame({i18n.t("requests.field"): list(facts), i18n.t("requests.value"): [
            "—" if v is None else str(v) for v in facts.values()]}),
        hide_index=True, width="stretch",
    )  # fmt: skip
    attempts_table(call)
    messages(call)


st.title(i18n.t("requests.title"))
st.caption(i18n.t("requests.intro"))
api = ui.api()

params = filters()
pages = cursor(params)
found = ui.fetch(
    lambda: api.get(CALLS, **params, limit=PAGE_SIZE, **({"before": pages[-1]} if pages[-1] else {})),
    message=i18n.t("requests.loading"),
)
if found is not None:
    if not found["items"] and len(pages) == 1:
        st.info(i18n.t("requests.none_match" if params else "requests.none_yet"), icon=":material/inbox:")
    else:
        ui.linked_table(rows(found["items"]), "requests:table", links(), name="requests")
        page_buttons(pages, found["next_before"])
    ui.list_downloads(f"{CALLS}/export", "requests", key="requests:export", **params)

st.divider()
ui.chosen_from_link("call", "requests:call")
chosen = st.text_input(
    i18n.t("requests.open_call"), key="requests:call", placeholder=i18n.t("requests.call_hint")
)
if chosen.strip().isdigit():
    one_call(chosen.strip())
