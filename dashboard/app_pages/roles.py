"""Roles & prompts: the assistant roles (personas) with their system prompts, every version with its
author and time, the diff of two versions, and usage. Catalogue writers edit (each save is a new version),
roll back to a version (itself a new version), create and delete roles."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from dashboard import i18n, ui

ROLES = "/api/v1/admin/roles"
MODELS = "/api/v1/admin/models"

FIELD_LABELS = {
    "name": "name",
    "default_model": "default_model",
    "default_params": "params",
    "enabled": "enabled",
    "tool": "tool",
}
TOOLS = [None, "editor", "prompts"]


def tool_label(tool: str | None) -> str:
    return i18n.t(f"roles.tool_{tool or 'none'}")


def role_form(prefix: str, role: dict[str, Any] | None, model_ids: list[str]) -> dict[str, Any] | None:
    """A role's content (inside a form), or None when not submitted or invalid."""
    role = role or {}
    creating = not role
    new_id = ""
    if creating:
        new_id = st.text_input(
            i18n.t("roles.id"), key=f"{prefix}id", max_chars=64, help=i18n.t("roles.new_id_help")
        )
    name = st.text_input(i18n.t("roles.name"), role.get("name", ""), key=f"{prefix}name", max_chars=100)
    prompt = st.text_area(
        i18n.t("roles.prompt"),
        role.get("system_prompt", ""),
        key=f"{prefix}prompt",
        height=260,
        max_chars=20_000,
    )
    current = role.get("default_model")
    choices = [None, *model_ids, *([current] if current and current not in model_ids else [])]
    left, right = st.columns(2)
    model = left.selectbox(
        i18n.t("roles.default_model"), choices, index=choices.index(current), key=f"{prefix}model",
        format_func=ui.fixed(lambda m: i18n.t("roles.no_model") if m is None else m, choices),
    )  # fmt: skip
    with right:
        params = st.text_input(
            i18n.t("roles.params"), json.dumps(role["default_params"]) if role.get("default_params") else "",
            key=f"{prefix}params", placeholder='{"temperature": 0.7}',
        )  # fmt: skip
        enabled = st.toggle(i18n.t("roles.enabled"), role.get("enabled", True), key=f"{prefix}enabled")
    tool = st.selectbox(
        i18n.t("roles.tool"), TOOLS, index=TOOLS.index(role.get("tool")), key=f"{prefix}tool",
        format_func=ui.fixed(tool_label, TOOLS),
    )  # fmt: skip
    if not st.form_submit_button(
        i18n.t("roles.create") if creating else i18n.t("roles.save"), type="primary"
    ):
        return None
    if not name.strip() or not prompt.strip() or (creating and not new_id.strip()):
        st.error(i18n.t("roles.need_fields"), icon=":material/error:")
        return None
    parsed = ui.number_params(params)
    if parsed is None:
        return None
    fields = {
        "name": name.strip(),
        "system_prompt": prompt,
        "default_model": model,
        "default_params": parsed,
        "enabled": enabled,
        "tool": tool,
    }
    return {"id": new_id.strip(), **fields} if creating else fields


def editor(role: dict[str, Any], model_ids: list[str]) -> None:
    role_id = role["id"]
    ui.notice("roles:editor")
    st.caption(i18n.t("roles.current", version=role["version"]))
    if not writer:
        st.code(role["system_prompt"], language=None, wrap_lines=True)
        st.caption(i18n.t("roles.read_only"))
        return
    # The version is in the keys: after a save or a rollback the form shows what is now in force.
    with st.form(f"edit-role:{role_id}"):
        fields = role_form(f"roles:edit:{role_id}:{role['version']}:", role, model_ids)
    if fields is not None:
        with st.spinner(i18n.t("roles.saving")):
            saved = ui.call(lambda: api.put(f"{ROLES}/{role_id}", fields))
        if saved is not None:
            ui.changed(i18n.t("roles.saved", id=role_id, version=saved["version"]), where="roles:editor")
    if ui.confirmed(f"roles:delete:{role_id}", i18n.t("roles.delete"), icon=":material/delete:"):
        with st.spinner(i18n.t("roles.saving")):
            deleted = ui.call(lambda: api.delete(f"{ROLES}/{role_id}") or True)  # 204: no body
        if deleted:
            st.session_state.pop("roles:chosen", None)
            ui.changed(i18n.t("roles.deleted", id=role_id))


def history(role: dict[str, Any]) -> None:
    role_id = role["id"]
    with st.spinner(i18n.t("roles.versions_loading")):
        versions = ui.call(lambda: api.get(f"{ROLES}/{role_id}/versions"))
    if not versions:
        return
    rows = [
        {
            i18n.t("roles.version"): v["version"],
            i18n.t("roles.author"): v["author_email"] or "—",
            i18n.t("roles.when"): i18n.moment(v["created_at"]),
            i18n.t("roles.name"): v["name"],
            i18n.t("roles.default_model"): v["default_model"] or "—",
            i18n.t("roles.params"): json.dumps(v["default_params"]) if v["default_params"] else "",
            i18n.t("roles.enabled"): i18n.yes_no(v["enabled"]),
            i18n.t("roles.prompt"): v["system_prompt"],
        }
        for v in reversed(versions)
    ]
    ui.table(rows, f"role_{role_id}_versions")
    numbers = [v["version"] for v in versions]
    if len(numbers) < 2:
        st.info(i18n.t("roles.only_one"), icon=":material/info:")
        return
    left, right = st.columns(2)
    old = left.selectbox(
        i18n.t("roles.diff_from"), numbers, index=len(numbers) - 2, key=f"roles:diff:{role_id}:from"
    )
    new = right.selectbox(
        i18n.t("roles.diff_to"), numbers, index=len(numbers) - 1, key=f"roles:diff:{role_id}:to"
    )
    with st.spinner(i18n.t("roles.diff_loading")):
        diff = ui.call(lambda: api.get(f"{ROLES}/{role_id}/diff", **{"from": old, "to": new}))
    if diff is not None:
        if diff["changed"]:
            ui.table(
                [
                    {
                        i18n.t("roles.field"): i18n.t(f"roles.{FIELD_LABELS[name]}")
                        if name in FIELD_LABELS
                        else name,
                        i18n.t("roles.before"): json.dumps(change["from"], ensure_ascii=False),
                        i18n.t("roles.after"): json.dumps(change["to"], ensure_ascii=False),
                    }
                    for name, change in diff["changed"].items()
                ],
                f"role_{role_id}_diff_{old}_{new}",
            )
        if diff["system_prompt_diff"]:
            st.code(diff["system_prompt_diff"], language="diff")
        else:
            st.info(i18n.t("roles.same_prompt"), icon=":material/info:")
    if writer:
        earlier = [n for n in reversed(numbers) if n != role["version"]]
        target = st.selectbox(i18n.t("roles.rollback_to"), earlier, key=f"roles:rollback:{role_id}:version")
        if ui.confirmed(
            f"roles:rollback:{role_id}:{role['version']}",
            i18n.t("roles.rollback", version=target),
            icon=":material/history:",
        ):
            with st.spinner(i18n.t("roles.saving")):
                rolled = ui.call(lambda: api.post(f"{ROLES}/{role_id}/rollback", {"version": target}))
            if rolled is not None:
                ui.changed(
                    i18n.t("roles.rolled_back", id=role_id, target=target, version=rolled["version"]),
                    where="roles:history",
                )


def usage(role_id: str) -> None:
    with st.spinner(i18n.t("roles.usage_loading")):  # a role's cost is its models' (Models, Reports)
        ui.catalogue_usage("roles", role_id, cost=False)


st.title(i18n.t("roles.title"))
st.caption(i18n.t("roles.intro"))
ui.notice()
api = ui.api()
writer = ui.can("catalogue:write")

with st.spinner(i18n.t("roles.loading")):
    roles = ui.call(lambda: api.get(ROLES))
    models = ui.call(lambda: api.get(MODELS)) if roles is not None else None
if roles is None or models is None:
    st.stop()
model_ids = [m["id"] for m in models]

ui.table(
    [
        {
            i18n.t("roles.id"): r["id"],
            i18n.t("roles.name"): r["name"],
            i18n.t("roles.version"): r["version"],
            i18n.t("roles.default_model"): r["default_model"] or "—",
            i18n.t("roles.params"): json.dumps(r["default_params"]) if r["default_params"] else "",
            i18n.t("roles.enabled"): i18n.yes_no(r["enabled"]),
            i18n.t("roles.tool"): tool_label(r.get("tool")),
            i18n.t("roles.prompt"): r["system_prompt"],
        }
        for r in roles
    ],
    "roles",
    empty=i18n.t("roles.empty"),
)

if roles:
    by_id = {r["id"]: r for r in roles}
    ui.chosen_from_link("role", "roles:chosen", by_id)  # a click-through (`?role=<id>`)
    chosen = by_id[
        st.selectbox(
            i18n.t("roles.choose"),
            list(by_id),
            format_func=lambda i: f"{by_id[i]['name']} ({i})",
            key="roles:chosen",
        )
    ]
    tabs = ui.kept_tabs(
        "roles:tab",
        {
            "editor": i18n.t("roles.tab_editor"),
            "history": i18n.t("roles.tab_history"),
            "usage": i18n.t("roles.tab_usage"),
        },
    )
    with tabs["editor"]:
        editor(chosen, model_ids)
    with tabs["history"]:
        ui.notice("roles:history")
        history(chosen)
    with tabs["usage"]:
        usage(chosen["id"])

if writer:
    with st.expander(i18n.t("roles.new"), icon=":material/add:", expanded=not roles):
        with st.form("new-role"):
            body = role_form("roles:new:", None, model_ids)
        if body is not None:
            with st.spinner(i18n.t("roles.saving")):
                created = ui.call(lambda: api.post(ROLES, body))
            if created is not None:
                ui.changed(i18n.t("roles.created_ok", id=created["id"]), clear="roles:new:")
