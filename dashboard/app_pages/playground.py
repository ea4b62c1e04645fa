"""Playground: try a role, an earlier version of it or an unsaved system prompt on any enabled model, in a
short dialogue, and see the answer with its tokens, cost and latency (`POST /api/v1/admin/playground`,
docs/decisions/0058). The calls are staff tests: the operator's cost, left out of the user analytics. An
edited prompt can be saved as the role's next version (the roles API's PUT, with the rest of the role as it
is now) or as a new role."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import i18n, ui

PLAYGROUND = "/api/v1/admin/playground"
ROLES = "/api/v1/admin/roles"
MODELS = "/api/v1/admin/models"
ROLE_FIELDS = ("name", "system_prompt", "default_model", "default_params", "enabled", "tool")
MAX_TURNS = 20  # what the API accepts
DIALOGUE = "playground:dialogue"
RESULT = "playground:result"
UNSAVED = ""  # the source picker's value for an unsaved prompt


def ask(body: dict[str, Any]) -> dict[str, Any] | None:
    with st.spinner(i18n.t("playground.running")):
        return ui.call(lambda: api.post(PLAYGROUND, body))


def show_result(result: dict[str, Any]) -> None:
    ui.metrics(
        [
            (i18n.t("playground.input_tokens"), i18n.number(result["input_tokens"])),
            (i18n.t("playground.output_tokens"), i18n.number(result["output_tokens"])),
            (i18n.t("playground.cost"), f"${i18n.amount(result['cost_usd'], 8)}"),
            (i18n.t("playground.credits"), i18n.amount(result["credits"]) if result["credits"] else "—"),
            (i18n.t("playground.latency"), f"{i18n.number(result['latency_ms'])} ms"),
            (i18n.t("playground.provider"), result["provider"]),
        ]
    )
    if result["attempts"]:
        st.caption(i18n.t("playground.fallback", tries=len(result["attempts"])))
    if result.get("usage_estimated"):
        st.caption(i18n.t("playground.estimated"))


def save_version(role: dict[str, Any], prompt: str) -> None:
    """The role's next version: its content as it is now, with this prompt (a PUT replaces all of it)."""
    if ui.confirmed(
        "playground:save",
        i18n.t("playground.save", id=role["id"]),
        icon=":material/save:",
        disabled=not writer,
    ):
        fields = {name: role[name] for name in ROLE_FIELDS} | {"system_prompt": prompt}
        with st.spinner(i18n.t("playground.saving")):
            saved = ui.call(lambda: api.put(f"{ROLES}/{role['id']}", fields))
        if saved is not None:
            ui.changed(
                i18n.t("playground.saved", id=role["id"], version=saved["version"]),
                forget="playground:prompt",
            )


def save_new_role(prompt: str, model: str) -> None:
    with st.expander(i18n.t("playground.new_role"), icon=":material/add:"):
        new_id = st.text_input(i18n.t("roles.id"), key="playground:new:id", max_chars=64)
        name = st.text_input(i18n.t("roles.name"), key="playground:new:name", max_chars=100)
        if ui.confirmed("playground:create", i18n.t("roles.create"), disabled=not (new_id and name)):
            body = {"id": new_id, "name": name, "system_prompt": prompt, "default_model": model}
            with st.spinner(i18n.t("playground.saving")):
                created = ui.call(lambda: api.post(ROLES, body))
            if created is not None:
                ui.changed(i18n.t("roles.created_ok", id=created["id"]), clear="playground:new:")


st.title(i18n.t("playground.title"))
st.caption(i18n.t("playground.intro"))
ui.notice()
api = ui.api()
writer = ui.can("catalogue:write")
if not writer:
    st.info(i18n.t("playground.read_only"), icon=":material/info:")
    st.stop()

with st.spinner(i18n.t("playground.loading")):
    models = ui.call(lambda: api.get(MODELS))
    roles = ui.call(lambda: api.get(ROLES)) if models is not None else None
if models is None or roles is None:
    st.stop()
model_ids = [m["id"] for m in models if m["enabled"] and m["routes"]]
if not model_ids:
    st.info(i18n.t("playground.no_models"), icon=":material/info:")
    st.stop()
by_id = {r["id"]: r for r in roles}

left, right = st.columns(2)
sources = [UNSAVED, *by_id]
source = left.selectbox(
    i18n.t("playground.source"), sources, key="playground:source",
    format_func=ui.fixed(
        lambda r: i18n.t("playground.unsaved") if r == UNSAVED else f"{by_id[r]['name']} ({r})", sources
    ),
)  # fmt: skip
role = by_id.get(source)
version = None
original = ""
if role is not None:
    with st.spinner(i18n.t("roles.versions_loading")):
        versions = ui.call(lambda: api.get(f"{ROLES}/{role['id']}/versions")) or []
    numbers = [v["version"] for v in versions]
    if numbers:
        version = right.selectbox(
            i18n.t("roles.version"), numbers, index=len(numbers) - 1, key=f"playground:version:{role['id']}"
        )
        original = next(v for v in versions if v["version"] == version)["system_prompt"]
default_model = role["default_model"] if role and role["default_model"] in model_ids else model_ids[0]
model = left.selectbox(
    i18n.t("playground.model"), model_ids, index=model_ids.index(default_model), key="playground:model"
)
with right:
    temperature = st.number_input(
        i18n.t("playground.temperature"), 0.0, 2.0, None, 0.1, key="playground:temperature",
        placeholder=i18n.t("playground.default"),
    )  # fmt: skip
    max_tokens = st.number_input(
        i18n.t("playground.max_tokens"), 1, 1_000_000, None, 1, key="playground:max_tokens",
        placeholder=i18n.t("playground.default"),
    )  # fmt: skip
# The prompt box is the chosen version's (a new key per version, so that picking another refills it).
prompt = st.text_area(
    i18n.t("roles.prompt"), original, height=180, max_chars=20_000,
    key=f"playground:prompt:{source}:{version}",
)  # fmt: skip
edited = role is None or prompt != original
if role is not None and edited:
    st.caption(i18n.t("playground.edited"))

dialogue: list[dict[str, str]] = st.session_state.setdefault(DIALOGUE, [])
for turn in dialogue:
    with st.chat_message(turn["role"]):
        st.markdown(turn["content"])
if st.session_state.get(RESULT):
    show_result(st.session_state[RESULT])

said = st.chat_input(i18n.t("playground.say"), key="playground:say", max_chars=20_000)
if said:
    if not prompt.strip():
        st.error(i18n.t("playground.need_prompt"), icon=":material/error:")
    else:
        # The latest turns the API accepts, an odd number so that the dialogue still opens with the user.
        turns = [*dialogue, {"role": "user", "content": said}][-(MAX_TURNS - 1) :]
        body: dict[str, Any] = {"model": model, "messages": turns}
        if edited:
            body["system_prompt"] = prompt
        else:
            body |= {"role": role["id"], "version": version}
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = int(max_tokens)
        result = ask(body)
        if result is not None:
            st.session_state[DIALOGUE] = [*turns, {"role": "assistant", "content": result["answer"]}]
            st.session_state[RESULT] = result
            st.rerun()

if dialogue and st.button(i18n.t("playground.clear"), icon=":material/restart_alt:", key="playground:clear"):
    st.session_state[DIALOGUE], st.session_state[RESULT] = [], None
    st.rerun()

if prompt.strip() and edited:
    if role is not None:
        save_version(role, prompt)
    else:
        save_new_role(prompt, model)
