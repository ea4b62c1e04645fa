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


def role_name(role: str | None) -> str:
    return i18n.t(f"users.role_{role}") if role in ROLES else str(role)


def action_name(action: str) -> str:
    return i18n.t(f"users.actions.{action}") if i18n.has(f"users.actions.{action}") else action


def credits(value: Any) -> str:
    return i18n.number(Decimal(str(value)), 2) if value is not None else "—"


def changes(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in values.items()) if values else "—"


client = ui.api()
st.title(i18n.t("users.title"))
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
    q = st.text_input(i18n.t("users.search"), placeholder=i18n.t("users.search_hint"), key="users:q")
    with st.expander(i18n.t("users.filters"), icon=":material/filter_list:"):
        left, right = st.columns(2)
        plan = left.selectbox(
            i18n.t("users.plan"),
            list(plan_names),
            index=None,
            placeholder=i18n.t("users.any"),
            format_func=plan_name,
            key="users:plan",
        )
        status = right.selectbox(
            i18n.t("users.status"), ("active", "blocked"), index=None, placeholder=i18n.t("users.any"),
            format_func=ui.fixed(lambda state: i18n.t(f"users.{state}"), ("active", "blocked")),
            key="users:status",
        )  # fmt: skip
        role = left.selectbox(
            i18n.t("users.role"),
            ROLES,
            index=None,
            placeholder=i18n.t("users.any"),
            format_func=ui.fixed(role_name, ROLES),
            key="users:role",
        )
        country = right.text_input(i18n.t("users.country"), max_chars=2, key="users:country").strip().upper()
        registered = left.date_input(
            i18n.t("users.registered"), value=(), min_value=EARLIEST, max_value=today, format=date_format,
            key="users:registered",
        )  # fmt: skip
        last_login = right.date_input(
            i18n.t("users.last_login"), value=(), min_value=EARLIEST, max_value=today, format=date_format,
            key="users:last_login",
        )  # fmt: skip
        balance_min = left.number_input(
            i18n.t("users.balance_min"), min_value=0.0, value=None, key="users:balance_min"
        )
        balance_max = right.number_input(
            i18n.t("users.balance_max"), min_value=0.0, value=None, key="users:balance_max"
        )
        if len(country) == 1 or (country and not country.isalpha()):
            st.caption(i18n.t("users.country_short"))
    left, middle, right = st.columns(3)
    sort = left.selectbox(
        i18n.t("users.sort"),
        SORTS,
        format_func=ui.fixed(lambda c: i18n.t(f"users.col_{c}"), SORTS),
        key="users:sort",
    )
    order = middle.selectbox(
        i18n.t("users.order"),
        ("desc", "asc"),
        format_func=ui.fixed(lambda order: i18n.t(f"users.{order}"), ("desc", "asc")),
        key="users:order",
    )
    right.selectbox(i18n.t("users.page_size"), PAGE_SIZES, index=1, key="users:size")
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
                i18n.t("users.col_email"): u["email"],
                i18n.t("users.col_role"): role_name(u["role"]),
                i18n.t("users.col_plan_code"): plan_name(u["plan_code"]),
                i18n.t("users.col_country"): u["country"] or "—",
                i18n.t("users.col_is_blocked"): i18n.t(
                    "users.blocked" if u["is_blocked"] else "users.active"
                ),
                i18n.t("users.col_balance"): credits(u["balance"]),
                i18n.t("users.col_created_at"): i18n.moment(u["created_at"]),
                i18n.t("users.col_last_login_at"): i18n.moment(u["last_login_at"]),
            }
            for u in items
        ]
    )


if (linked := ui.from_link("user")) is not None:  # a click-through (`?user=<id>`): find and open that user
    st.session_state["users:q"] = st.session_state["users:picked"] = linked
params = filters()
size = st.session_state.get("users:size", PAGE_SIZES[1])
offset = ui.page_offset("users:page", size, params)
found = ui.fetch(
    lambda: client.get(USERS, **params, limit=size, offset=offset), message=i18n.t("users.loading_users")
)
if found is None:
    st.stop()
items = found["items"]
st.markdown(i18n.t("users.found", count=i18n.number(found["total"])))
if not found["total"]:
    asked = any(v is not None for k, v in params.items() if k not in ("sort", "order"))
    st.info(i18n.t("users.none_match" if asked else "users.none_yet"), icon=":material/person_search:")
    st.stop()
st.dataframe(account_rows(items), hide_index=True, width="stretch")
ui.page_buttons("users:page", size=size, shown=len(items), total=found["total"])
ui.list_downloads(
    f"{USERS}/export", "users", key="users:export", make=lambda fmt: export(client, params, fmt)
)


# --- bulk actions: many accounts of this page, one reason, all or nothing (docs/decisions/0044) ---------

BULK_ACTIONS = ("block", "unblock", "change_plan")


def bulk_actions(accounts: list[dict[str, Any]]) -> None:
    """Pick accounts of the page, an action and one reason; the API changes all of them or none."""
    labels = {u["id"]: u["email"] for u in accounts}
    chosen = st.multiselect(
        i18n.t("users.bulk_pick"), list(labels), format_func=labels.get, key="users:bulk:ids",
        placeholder=i18n.t("users.bulk_pick_hint"),
    )  # fmt: skip
    left, right = st.columns(2)
    action = left.selectbox(
        i18n.t("users.bulk_action"), BULK_ACTIONS, key="users:bulk:action",
        format_func=ui.fixed(lambda a: i18n.t(f"users.bulk_{a}"), BULK_ACTIONS),
    )  # fmt: skip
    plan = None
    if action == "change_plan":
        plan = right.selectbox(
            i18n.t("users.new_plan"), list(plan_names), index=None, format_func=plan_name,
            key="users:bulk:plan",
        )  # fmt: skip
    reason = st.text_input(i18n.t("users.reason_required"), max_chars=500, key="users:bulk:reason").strip()
    count = i18n.number(len(chosen))
    if action == "change_plan":
        label = i18n.t("users.bulk_do_change_plan", count=count, plan=plan_name(plan))
    else:
        label = i18n.t(f"users.bulk_do_{action}", count=count)
    ready = bool(chosen) and len(reason) >= 3 and (action != "change_plan" or plan is not None)
    if ui.confirmed(f"users:bulk:{action}", label, icon=":material/checklist:", disabled=not ready):
        body = {"action": action, "user_ids": chosen, "reason": reason, "plan": plan}
        if ui.fetch(lambda: client.post(f"{USERS}/bulk", body)) is not None:
            ui.changed(i18n.t("users.bulk_done", action=label), forget="users:bulk:")


if ui.can("users:write"):
    with st.expander(i18n.t("users.bulk_title"), icon=":material/checklist:"):
        bulk_actions(items)

emails = {u["id"]: u["email"] for u in items}
picked = st.selectbox(
    i18n.t("users.open_user"), list(emails), index=None, placeholder=i18n.t("users.pick_user"),
    format_func=emails.get, key="users:picked",
)  # fmt: skip
if picked is None:
    st.stop()

# --- one user -----------------------------------------------------------------------------------------

profile = ui.fetch(lambda: client.get(f"{USERS}/{picked}"), message=i18n.t("users.loading_profile"))
if profile is None:
    st.stop()
account, stats = profile["account"], profile["stats"]
uid, email = account["id"], account["email"]
st.subheader(email)
st.markdown(
    i18n.t("users.identity", role=role_name(account["role"]), country=account["country"] or "—", id=uid)
)

may_write, may_impersonate = ui.can("users:write"), ui.can("users:impersonate")
tabs = ["tab_profile", "tab_history"]
tabs += ["tab_chats"] if ui.can("conversations:read") else []
tabs += ["tab_actions"] if may_write or may_impersonate else []
shown = ui.kept_tabs("users:tab", {tab: i18n.t(f"users.{tab}") for tab in tabs})


def activity_chart() -> None:
    st.markdown(f"**{i18n.t('users.activity')}**")
    per_day = {row["day"]: row["events"] for row in stats["activity_30_days"]}
    if not per_day:
        st.info(i18n.t("users.no_activity"), icon=":material/bar_chart:")
        return
    today = datetime.now(UTC).date()
    days = sorted({today - timedelta(days=n) for n in range(31)} | {date.fromisoformat(d) for d in per_day})
    frame = pd.DataFrame(
        {i18n.t("users.day"): days, i18n.t("users.events"): [per_day.get(d.isoformat(), 0) for d in days]}
    )
    st.bar_chart(frame, x=i18n.t("users.day"), y=i18n.t("users.events"), height=240)
    with st.expander(i18n.t("users.data")):  # rows, so that the days download as dates (ui.table)
        rows = [{i18n.t("users.day"): i18n.day(d), i18n.t("users.events"): per_day.get(d.isoformat(), 0)}
                for d in days]  # fmt: skip
        ui.table(rows, f"activity_{email}", empty=i18n.t("users.no_activity"))


with shown["tab_profile"]:
    ui.metrics(
        [
            (i18n.t("users.status"), i18n.t("users.blocked" if account["is_blocked"] else "users.active")),
            (i18n.t("users.plan"), plan_name(account["plan_code"])),
            (i18n.t("users.balance"), credits(account["balance"])),
            (i18n.t("users.registered_on"), i18n.day(datetime.fromisoformat(account["created_at"]))),
            (i18n.t("users.last_sign_in"), i18n.moment(account["last_login_at"])),
            (i18n.t("users.last_active"), i18n.moment(stats["last_active_at"])),
            (i18n.t("users.chats"), i18n.number(stats["chats"])),
            (i18n.t("users.messages"), i18n.number(stats["messages"])),
            (i18n.t("users.completions"), i18n.number(stats["completions"])),
            (i18n.t("users.input_tokens"), i18n.number(stats["input_tokens"])),
            (i18n.t("users.output_tokens"), i18n.number(stats["output_tokens"])),
            (i18n.t("users.cost_usd"), i18n.number(Decimal(str(stats["cost_usd"])), 4)),
            (i18n.t("users.credits"), credits(stats["credits"])),
        ]
    )
    activity_chart()
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{i18n.t('users.top_models')}**")
        ui.table(
            [{i18n.t("users.model"): m["id"], i18n.t("users.calls"): i18n.number(m["calls"])}
             for m in stats["top_models"]],
            "favourite_models", empty=i18n.t("users.no_models"),
        )  # fmt: skip
    with right:
        st.markdown(f"**{i18n.t('users.top_roles')}**")
        ui.table(
            [{i18n.t("users.assistant_role"): r["id"], i18n.t("users.calls"): i18n.number(r["calls"])}
             for r in stats["top_roles"]],
            "favourite_roles", empty=i18n.t("users.no_roles"),
        )  # fmt: skip

with shown["tab_history"]:
    history = ui.fetch(lambda: client.get(f"{USERS}/{uid}/history")) or []
    ui.table(
        [
            {
                i18n.t("users.when"): i18n.moment(h["occurred_at"]),
                i18n.t("users.who"): h["actor_email"] or "—",
                i18n.t("users.action"): action_name(h["action"]),
                i18n.t("users.change"): f"{changes(h['before'])} → {changes(h['after'])}",
                i18n.t("users.reason"): h["reason"] or "—",
            }
            for h in history
        ],
        "staff_history",
        empty=i18n.t("users.no_history"),
    )


def transcript(chat: dict[str, Any]) -> None:
    st.markdown(f"**{i18n.t('users.transcript', title=chat['title'])}**")
    if not chat["messages"]:
        st.info(i18n.t("users.empty_chat"), icon=":material/chat:")
    for message in chat["messages"]:
        with st.chat_message(message["role"]):
            st.text(message["content"])  # as written: never rendered as markdown or HTML
            model = f" · {message['model_id']}" if message["model_id"] else ""
            when, tokens = i18n.moment(message["created_at"]), i18n.number(message["tokens"])
            st.caption(i18n.t("users.message_meta", when=when, tokens=tokens, model=model))


if "tab_chats" in shown:
    with shown["tab_chats"]:
        chats = ui.fetch(lambda: client.get(f"{USERS}/{uid}/chats", limit=50)) or []
        if not chats:
            st.info(i18n.t("users.no_chats"), icon=":material/forum:")
        else:
            if len(chats) == 50:
                st.caption(i18n.t("users.latest_chats", count=50))
            ui.table(
                [
                    {
                        i18n.t("users.chat_title"): c["title"],
                        i18n.t("users.chat_messages"): i18n.number(c["message_count"]),
                        i18n.t("users.chat_created"): i18n.moment(c["created_at"]),
                        i18n.t("users.chat_updated"): i18n.moment(c["updated_at"]),
                    }
                    for c in chats
                ],
                "user_chats",
            )
            titles = {c["id"]: f"{c['title']} · {i18n.moment(c['updated_at'])}" for c in chats}
            chat_id = st.selectbox(
                i18n.t("users.pick_chat"),
                list(titles),
                index=None,
                format_func=titles.get,
                key=f"users:{uid}:chat",
                placeholder=i18n.t("common.choose"),
            )
            why = st.text_input(i18n.t("users.read_reason"), max_chars=500, key=f"users:{uid}:read_reason")
            st.caption(i18n.t("users.read_audited"))
            if st.button(
                i18n.t("users.read"), key="users:read", icon=":material/visibility:", disabled=chat_id is None
            ):
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
        ui.changed(done, clear=f"users:{uid}:", where="users:actions")


def block_or_unblock() -> None:
    st.markdown(f"**{i18n.t('users.block_title')}**")
    blocked = account["is_blocked"]
    st.markdown(i18n.t("users.block_state", state=i18n.t("users.blocked" if blocked else "users.active")))
    verb = "unblock" if blocked else "block"
    reason = st.text_input(
        i18n.t("users.reason_required"), max_chars=500, key=f"users:{uid}:block_reason"
    ).strip()
    icon = ":material/lock_open:" if blocked else ":material/block:"
    if ui.confirmed(f"users:{uid}:{verb}", i18n.t(f"users.{verb}"), icon=icon, disabled=len(reason) < 3):
        act(
            lambda: client.post(f"{USERS}/{uid}/{verb}", {"reason": reason}),
            i18n.t(f"users.did_{verb}", email=email),
        )


def change_plan() -> None:
    st.markdown(f"**{i18n.t('users.plan_title')}**")
    st.markdown(i18n.t("users.plan_now", plan=plan_name(account["plan_code"])))
    others = [code for code in plan_names if code != account["plan_code"]]
    new = st.selectbox(
        i18n.t("users.new_plan"),
        others,
        index=None,
        format_func=plan_name,
        key=f"users:{uid}:plan",
        placeholder=i18n.t("common.choose"),
    )
    reason = st.text_input(i18n.t("users.plan_reason"), max_chars=500, key=f"users:{uid}:plan_reason").strip()
    if ui.confirmed(
        f"users:{uid}:change_plan", i18n.t("users.change_plan"), icon=":material/sell:", disabled=new is None
    ):
        body = {"plan": new, "reason": reason or None}
        act(
            lambda: client.post(f"{USERS}/{uid}/plan", body),
            i18n.t("users.did_plan", email=email, plan=plan_name(new)),
        )


def adjust_balance() -> None:
    st.markdown(f"**{i18n.t('users.balance_title')}**")
    now = Decimal(str(account["balance"]))
    st.markdown(i18n.t("users.balance_now", balance=credits(now)))
    amount = st.number_input(
        i18n.t("users.amount"), value=0.0, step=1.0, format="%.2f", key=f"users:{uid}:amount"
    )
    change = Decimal(str(round(amount, 6)))
    if change:
        st.caption(i18n.t("users.balance_after", balance=credits(now + change)))
    reason = st.text_input(
        i18n.t("users.reason_required"), max_chars=500, key=f"users:{uid}:balance_reason"
    ).strip()
    if ui.confirmed(
        f"users:{uid}:balance", i18n.t("users.adjust"), icon=":material/account_balance_wallet:",
        disabled=not change or len(reason) < 3,
    ):  # fmt: skip
        result = ui.fetch(
            lambda: client.post(f"{USERS}/{uid}/balance", {"amount": str(change), "reason": reason})
        )
        if result is not None:
            ui.changed(
                i18n.t("users.did_adjust", email=email, balance=credits(result["balance"])),
                clear=f"users:{uid}:", where="users:actions",
            )  # fmt: skip


def impersonate() -> None:
    st.markdown(f"**{i18n.t('users.impersonate_title')}**")
    st.caption(i18n.t("users.impersonate_help"))
    reason = st.text_input(
        i18n.t("users.reason_required"), max_chars=500, key=f"users:{uid}:impersonate_reason"
    ).strip()
    if ui.confirmed(
        f"users:{uid}:impersonate",
        i18n.t("users.impersonate"),
        icon=":material/switch_account:",
        disabled=len(reason) < 3,
    ):
        token = ui.fetch(lambda: client.post(f"{USERS}/{uid}/impersonate", {"reason": reason}))
        if token is not None:  # shown this once: it is kept nowhere, the next rerun forgets it
            st.warning(
                i18n.t("users.token_warning", email=email, minutes=i18n.number(token["expires_in"] // 60)),
                icon=":material/warning:",
            )
            st.code(token["access_token"], language=None, wrap_lines=True)


if "tab_actions" in shown:
    with shown["tab_actions"]:
        ui.notice("users:actions")
        if account["email"] == ui.staff().email:
            st.info(i18n.t("users.self"), icon=":material/info:")
        if may_write:
            for section in (block_or_unblock, change_plan, adjust_balance):
                with st.container(border=True):
                    section()
        if may_impersonate:
            with st.container(border=True):
                impersonate()
