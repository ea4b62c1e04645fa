"""Response cache: which models and roles answer an exact repeat from the answers they kept (a TTL each; a
role may share its answers across users), what a hit takes from the caller, and clearing what is kept (all,
a model's or a role's, after a confirmation). Every change is audited (docs/decisions/0057). The hit ratio
and the provider cost saved are on the Overview."""

from __future__ import annotations

from urllib.parse import quote

import streamlit as st

from dashboard import i18n, ui

CACHE = "/api/v1/admin/cache"
HITS_TAKE = ("quota", "full", "none")
SCOPES = ("model", "role")
CLEAR = ("all", "model", "role")

st.title(i18n.t("cache.title"))
st.caption(i18n.t("cache.intro"))
ui.notice()
api = ui.api()

with st.spinner(i18n.t("cache.loading")):
    current = ui.call(lambda: api.get(CACHE))
if current is None:
    st.stop()
entries = current["entries"]
ui.metrics(
    [
        (i18n.t("cache.entries"), i18n.number(sum(entries.values()))),
        (i18n.t("cache.hits_take"), i18n.t(f"cache.hits_{current['hits_take']}")),
    ]
)

st.subheader(i18n.t("cache.rules"))
ui.table(
    [
        {
            i18n.t("cache.scope"): i18n.t(f"cache.scope_{r['scope']}"),
            i18n.t("cache.target"): r["target"],
            i18n.t("cache.ttl"): i18n.number(r["ttl_seconds"]),
            i18n.t("cache.shared"): i18n.t("cache.yes") if r["shared"] else i18n.t("cache.no"),
            i18n.t("cache.kept"): i18n.number(entries.get(r["target"], 0)) if r["scope"] == "model" else "—",
            i18n.t("cache.updated"): i18n.moment(r["updated_at"]),
        }
        for r in current["rules"]
    ],
    "response_cache_rules",
    empty=i18n.t("cache.empty"),
)

if not ui.can("catalogue:write"):
    st.caption(i18n.t("cache.read_only"))
    st.stop()

with st.form("cache:rule"):
    st.subheader(i18n.t("cache.set_rule"))
    left, middle, right = st.columns(3)
    scope = left.selectbox(
        i18n.t("cache.scope"), SCOPES, format_func=ui.fixed(lambda s: i18n.t(f"cache.scope_{s}"), SCOPES),
        key="cache:scope",
    )  # fmt: skip
    target = middle.text_input(i18n.t("cache.target"), key="cache:target", max_chars=128).strip()
    ttl = right.number_input(i18n.t("cache.ttl"), 1, 30 * 86400, 3600, 60, key="cache:ttl")
    shared = st.toggle(i18n.t("cache.shared"), False, key="cache:shared", help=i18n.t("cache.shared_help"))
    turn_on, turn_off = st.columns(2)
    save = turn_on.form_submit_button(i18n.t("cache.save_rule"), type="primary")
    remove = turn_off.form_submit_button(i18n.t("cache.remove_rule"))
if (save or remove) and not target:
    st.error(i18n.t("cache.no_target"), icon=":material/error:")
elif save:
    with st.spinner(i18n.t("cache.saving")):
        done = ui.call(
            lambda: api.put(f"{CACHE}/rules/{scope}/{quote(target)}", {"ttl_seconds": ttl, "shared": shared})
        )
    if done is not None:
        ui.changed(i18n.t("cache.rule_saved", target=target, ttl=ttl), clear="cache:target")
elif remove:
    with st.spinner(i18n.t("cache.saving")):
        done = ui.call(lambda: api.delete(f"{CACHE}/rules/{scope}/{quote(target)}") or True)  # 204: no body
    if done:
        ui.changed(i18n.t("cache.rule_removed", target=target), clear="cache:target")

st.subheader(i18n.t("cache.clear"))
st.caption(i18n.t("cache.clear_help"))
which = st.selectbox(
    i18n.t("cache.clear_what"), CLEAR,
    format_func=ui.fixed(lambda s: i18n.t(f"cache.clear_{s}"), CLEAR), key="cache:clear_scope",
)  # fmt: skip
named = "" if which == "all" else st.text_input(i18n.t("cache.target"), key="cache:clear_target").strip()
query = f"?{which}={quote(named)}" if which != "all" else ""
if ui.confirmed(
    f"cache:clear:{which}:{named}", i18n.t("cache.clear_button"), icon=":material/delete_sweep:",
    disabled=which != "all" and not named,
):  # fmt: skip
    with st.spinner(i18n.t("cache.saving")):
        cleared = ui.call(lambda: api.delete(f"{CACHE}{query}"))
    if cleared is not None:
        ui.changed(i18n.t("cache.cleared", removed=cleared["removed"]), clear="cache:clear_target")

if ui.can("settings:write"):
    with st.form("cache:settings"):
        st.subheader(i18n.t("cache.hits_take"))
        hits_take = st.radio(
            i18n.t("cache.hits_take"), HITS_TAKE, index=HITS_TAKE.index(current["hits_take"]),
            format_func=ui.fixed(lambda v: i18n.t(f"cache.hits_{v}"), HITS_TAKE), key="cache:hits_take",
            label_visibility="collapsed",
        )  # fmt: skip
        submitted = st.form_submit_button(i18n.t("cache.save_setting"))
    if submitted:
        with st.spinner(i18n.t("cache.saving")):
            done = ui.call(lambda: api.put(f"{CACHE}/settings", {"hits_take": hits_take}))
        if done is not None:
            ui.changed(
                i18n.t("cache.setting_saved", value=i18n.t(f"cache.hits_{hits_take}")), forget="cache:hits"
            )
