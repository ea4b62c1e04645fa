"""Moderation: the calls the guardrails refused (a role's or a plan's content rule matched; docs/decisions/
0056), newest first. A moderator dismisses a flag (nothing to act on) or blocks its user (those who may
block users: the users' own block, which ends their sessions and API keys and closes every open flag of
theirs). Every review is audited. A flag names the rule, never the text; a flagged chat's transcript is on
the Users page (conversations:read, each read audited)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import i18n, ui

FLAGS = "/api/v1/admin/moderation/flags"
STATUSES = ("open", "dismissed", "blocked", "all")


def status_name(status: str) -> str:
    return i18n.t(f"moderation.status_{status}") if status in STATUSES else status


def flag_label(flag: dict[str, Any]) -> str:
    return i18n.t("moderation.flag_label", id=flag["id"], email=flag["email"] or "—", rule=flag["rule"])


st.title(i18n.t("moderation.title"))
st.caption(i18n.t("moderation.intro"))
ui.notice()
api = ui.api()

status = st.selectbox(
    i18n.t("moderation.status"),
    STATUSES,
    format_func=ui.fixed(status_name, STATUSES),
    key="moderation:status",
)
with st.spinner(i18n.t("moderation.loading")):
    flags = ui.call(lambda: api.get(FLAGS, status=status, limit=200))
if flags is None:
    st.stop()

ui.table(
    [
        {
            i18n.t("moderation.id"): f["id"],
            i18n.t("moderation.when"): i18n.moment(f["created_at"]),
            i18n.t("moderation.user"): f["email"] or "—",
            i18n.t("moderation.policy"): f["policy"],
            i18n.t("moderation.rule"): f["rule"],
            i18n.t("moderation.model"): f["model_id"] or "—",
            i18n.t("moderation.chat"): f["chat_id"] or "—",
            i18n.t("moderation.status"): status_name(f["status"]),
            i18n.t("moderation.note"): f["review_note"] or "",
        }
        for f in flags
    ],
    "moderation_flags",
    empty=i18n.t("moderation.empty"),
)

open_flags = {f["id"]: f for f in flags if f["status"] == "open"}
if open_flags:
    st.subheader(i18n.t("moderation.review"))
    chosen = open_flags[
        st.selectbox(
            i18n.t("moderation.choose"),
            list(open_flags),
            format_func=lambda i: flag_label(open_flags[i]),
            key="moderation:chosen",
        )
    ]
    flag_id = chosen["id"]
    note = st.text_input(i18n.t("moderation.reason"), key="moderation:reason", max_chars=500).strip()
    dismiss_col, block_col = st.columns(2)
    with dismiss_col:
        if ui.confirmed(
            f"moderation:dismiss:{flag_id}", i18n.t("moderation.dismiss"), icon=":material/done:"
        ):
            with st.spinner(i18n.t("moderation.saving")):
                done = ui.call(lambda: api.post(f"{FLAGS}/{flag_id}/dismiss", {"note": note or None}))
            if done is not None:
                ui.changed(i18n.t("moderation.dismissed", id=flag_id), clear="moderation:reason")
    with block_col:
        if not ui.can("users:write"):
            st.caption(i18n.t("moderation.block_needs_permission"))
        elif ui.confirmed(
            f"moderation:block:{flag_id}", i18n.t("moderation.block"), icon=":material/block:",
            disabled=len(note) < 3,
        ):  # fmt: skip
            with st.spinner(i18n.t("moderation.saving")):
                done = ui.call(lambda: api.post(f"{FLAGS}/{flag_id}/block", {"reason": note}))
            if done is not None:
                ui.changed(
                    i18n.t(
                        "moderation.blocked", email=chosen["email"] or "—", closed=len(done["flags_closed"])
                    ),
                    clear="moderation:reason",
                )
    st.caption(i18n.t("moderation.reason_help"))
