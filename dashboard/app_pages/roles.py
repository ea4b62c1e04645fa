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

T = i18n.texts(
    {
        "title": ("Roles & prompts", "Роли и промпты"),
        "intro": (
            "Assistant roles give a chat its system prompt, default model and parameters. Every save is a "
            "new version, in use from the next answer; earlier versions are kept and can be restored.",
            "Роли ассистента задают чату системный промпт, модель и параметры по умолчанию. Каждое "
            "сохранение — новая версия, действующая со следующего ответа; прежние версии сохраняются, и к "
            "ним можно вернуться.",
        ),
        "loading": ("Loading roles…", "Загрузка ролей…"),
        "empty": (
            "There are no roles yet: add the first one below.",
            "Ролей пока нет: добавьте первую ниже.",
        ),
        "id": ("ID", "ID"),
        "name": ("Name", "Название"),
        "prompt": ("System prompt", "Системный промпт"),
        "default_model": ("Default model", "Модель по умолчанию"),
        "no_model": ("— none: the client chooses —", "— нет: выбирает клиент —"),
        "params": ("Default parameters (JSON)", "Параметры по умолчанию (JSON)"),
        "enabled": ("Enabled", "Включена"),
        "version": ("Version", "Версия"),
        "author": ("Author", "Автор"),
        "when": ("Saved", "Сохранена"),
        "choose": ("Role", "Роль"),
        "tab_editor": ("Editor", "Редактор"),
        "tab_history": ("History and diff", "История и сравнение"),
        "tab_usage": ("Usage", "Использование"),
        "read_only": (
            "Your role may read the prompts but not change them.",
            "Ваша роль может читать промпты, но не изменять их.",
        ),
        "current": ("Version {version} is in use.", "Действует версия {version}."),
        "save": ("Save as a new version", "Сохранить как новую версию"),
        "saving": ("Saving…", "Сохранение…"),
        "saved": ("Role {id} saved as version {version}.", "Роль {id} сохранена как версия {version}."),
        "need_fields": ("Enter the name and the system prompt.", "Укажите название и системный промпт."),
        "delete": ("Delete role", "Удалить роль"),
        "deleted": (
            "Role {id} deleted (its versions are kept for the record).",
            "Роль {id} удалена (её версии сохранены).",
        ),
        "versions_loading": ("Loading versions…", "Загрузка версий…"),
        "diff_from": ("Compare version", "Сравнить версию"),
        "diff_to": ("with version", "с версией"),
        "diff_loading": ("Comparing…", "Сравнение…"),
        "only_one": (
            "There is only one version so far: nothing to compare.",
            "Пока есть только одна версия: сравнивать не с чем.",
        ),
        "same_prompt": (
            "The system prompt is the same in both.",
            "Системный промпт в обеих версиях одинаков.",
        ),
        "field": ("Field", "Поле"),
        "before": ("Before", "Было"),
        "after": ("After", "Стало"),
        "rollback_to": ("Restore version", "Вернуть версию"),
        "rollback": ("Roll back to version {version}", "Откатить к версии {version}"),
        "rolled_back": (
            "Role {id}: version {target} restored as version {version}.",
            "Роль {id}: версия {target} восстановлена как версия {version}.",
        ),
        "usage_loading": ("Loading usage…", "Загрузка использования…"),
        "new": ("Add a role", "Добавить роль"),
        "new_id_help": (
            "What clients send in `X-Assistant-Role`: lower-case letters, digits, `_` and `-`; it cannot be "
            "changed later.",
            "То, что клиенты передают в `X-Assistant-Role`: строчные латинские буквы, цифры, `_` и `-`; "
            "потом его не изменить.",
        ),
        "create": ("Add role", "Добавить роль"),
        "created_ok": ("Role {id} added.", "Роль {id} добавлена."),
    }
)
FIELD_LABELS = {
    "name": "name",
    "default_model": "default_model",
    "default_params": "params",
    "enabled": "enabled",
}


def role_form(prefix: str, role: dict[str, Any] | None, model_ids: list[str]) -> dict[str, Any] | None:
    """A role's content (inside a form), or None when not submitted or invalid."""
    role = role or {}
    creating = not role
    new_id = ""
    if creating:
        new_id = st.text_input(T("id"), key=f"{prefix}id", max_chars=64, help=T("new_id_help"))
    name = st.text_input(T("name"), role.get("name", ""), key=f"{prefix}name", max_chars=100)
    prompt = st.text_area(
        T("prompt"), role.get("system_prompt", ""), key=f"{prefix}prompt", height=260, max_chars=20_000
    )
    current = role.get("default_model")
    choices = [None, *model_ids, *([current] if current and current not in model_ids else [])]
    left, right = st.columns(2)
    model = left.selectbox(
        T("default_model"), choices, index=choices.index(current), key=f"{prefix}model",
        format_func=ui.fixed(lambda m: T("no_model") if m is None else m, choices),
    )  # fmt: skip
    with right:
        params = st.text_input(
            T("params"), json.dumps(role["default_params"]) if role.get("default_params") else "",
            key=f"{prefix}params", placeholder='{"temperature": 0.7}',
        )  # fmt: skip
        enabled = st.toggle(T("enabled"), role.get("enabled", True), key=f"{prefix}enabled")
    if not st.form_submit_button(T("create") if creating else T("save"), type="primary"):
        return None
    if not name.strip() or not prompt.strip() or (creating and not new_id.strip()):
        st.error(T("need_fields"), icon=":material/error:")
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
    }
    return {"id": new_id.strip(), **fields} if creating else fields


def editor(role: dict[str, Any], model_ids: list[str]) -> None:
    role_id = role["id"]
    st.caption(T("current", version=role["version"]))
    if not writer:
        st.code(role["system_prompt"], language=None, wrap_lines=True)
        st.caption(T("read_only"))
        return
    # The version is in the keys: after a save or a rollback the form shows what is now in force.
    with st.form(f"edit-role:{role_id}"):
        fields = role_form(f"roles:edit:{role_id}:{role['version']}:", role, model_ids)
    if fields is not None:
        with st.spinner(T("saving")):
            saved = ui.call(lambda: api.put(f"{ROLES}/{role_id}", fields))
        if saved is not None:
            ui.changed(T("saved", id=role_id, version=saved["version"]))
    if ui.confirmed(f"roles:delete:{role_id}", T("delete"), icon=":material/delete:"):
        with st.spinner(T("saving")):
            deleted = ui.call(lambda: api.delete(f"{ROLES}/{role_id}") or True)  # 204: no body
        if deleted:
            st.session_state.pop("roles:chosen", None)
            ui.changed(T("deleted", id=role_id))


def history(role: dict[str, Any]) -> None:
    role_id = role["id"]
    with st.spinner(T("versions_loading")):
        versions = ui.call(lambda: api.get(f"{ROLES}/{role_id}/versions"))
    if not versions:
        return
    rows = [
        {
            T("version"): v["version"],
            T("author"): v["author_email"] or "—",
            T("when"): i18n.moment(v["created_at"]),
            T("name"): v["name"],
            T("default_model"): v["default_model"] or "—",
            T("params"): json.dumps(v["default_params"]) if v["default_params"] else "",
            T("enabled"): i18n.yes_no(v["enabled"]),
            T("prompt"): v["system_prompt"],
        }
        for v in reversed(versions)
    ]
    ui.table(rows, f"role_{role_id}_versions")
    numbers = [v["version"] for v in versions]
    if len(numbers) < 2:
        st.info(T("only_one"), icon=":material/info:")
        return
    left, right = st.columns(2)
    old = left.selectbox(T("diff_from"), numbers, index=len(numbers) - 2, key=f"roles:diff:{role_id}:from")
    new = right.selectbox(T("diff_to"), numbers, index=len(numbers) - 1, key=f"roles:diff:{role_id}:to")
    with st.spinner(T("diff_loading")):
        diff = ui.call(lambda: api.get(f"{ROLES}/{role_id}/diff", **{"from": old, "to": new}))
    if diff is not None:
        if diff["changed"]:
            ui.table(
                [
                    {
                        T("field"): T(FIELD_LABELS[name]) if name in FIELD_LABELS else name,
                        T("before"): json.dumps(change["from"], ensure_ascii=False),
                        T("after"): json.dumps(change["to"], ensure_ascii=False),
                    }
                    for name, change in diff["changed"].items()
                ],
                f"role_{role_id}_diff_{old}_{new}",
            )
        if diff["system_prompt_diff"]:
            st.code(diff["system_prompt_diff"], language="diff")
        else:
            st.info(T("same_prompt"), icon=":material/info:")
    if writer:
        earlier = [n for n in reversed(numbers) if n != role["version"]]
        target = st.selectbox(T("rollback_to"), earlier, key=f"roles:rollback:{role_id}:version")
        if ui.confirmed(
            f"roles:rollback:{role_id}:{role['version']}",
            T("rollback", version=target),
            icon=":material/history:",
        ):
            with st.spinner(T("saving")):
                rolled = ui.call(lambda: api.post(f"{ROLES}/{role_id}/rollback", {"version": target}))
            if rolled is not None:
                ui.changed(T("rolled_back", id=role_id, target=target, version=rolled["version"]))


def usage(role_id: str) -> None:
    with st.spinner(T("usage_loading")):
        figures = ui.call(lambda: api.get(f"{ROLES}/{role_id}/usage"))
    if figures is not None:
        ui.usage_metrics(figures)


st.title(T("title"))
st.caption(T("intro"))
ui.notice()
api = ui.api()
writer = ui.can("catalogue:write")

with st.spinner(T("loading")):
    roles = ui.call(lambda: api.get(ROLES))
    models = ui.call(lambda: api.get(MODELS)) if roles is not None else None
if roles is None or models is None:
    st.stop()
model_ids = [m["id"] for m in models]

ui.table(
    [
        {
            T("id"): r["id"],
            T("name"): r["name"],
            T("version"): r["version"],
            T("default_model"): r["default_model"] or "—",
            T("params"): json.dumps(r["default_params"]) if r["default_params"] else "",
            T("enabled"): i18n.yes_no(r["enabled"]),
            T("prompt"): r["system_prompt"],
        }
        for r in roles
    ],
    "roles",
    empty=T("empty"),
)

if roles:
    by_id = {r["id"]: r for r in roles}
    chosen = by_id[
        st.selectbox(
            T("choose"), list(by_id), format_func=lambda i: f"{by_id[i]['name']} ({i})", key="roles:chosen"
        )
    ]
    editor_tab, history_tab, usage_tab = st.tabs([T("tab_editor"), T("tab_history"), T("tab_usage")])
    with editor_tab:
        editor(chosen, model_ids)
    with history_tab:
        history(chosen)
    with usage_tab:
        usage(chosen["id"])

if writer:
    with st.expander(T("new"), icon=":material/add:", expanded=not roles):
        with st.form("new-role"):
            body = role_form("roles:new:", None, model_ids)
        if body is not None:
            with st.spinner(T("saving")):
                created = ui.call(lambda: api.post(ROLES, body))
            if created is not None:
                ui.changed(T("created_ok", id=created["id"]), forget="roles:new:")
