"""Providers & keys: the LLM providers the gateway calls, with their keys masked as the API returns them.
Add, edit (priority, timeouts, retries, base URL, enabled), rotate a key (typed once, never shown back),
disable, and test one: its health and latency."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import streamlit as st

from dashboard import i18n, ui

PROVIDERS = "/api/v1/admin/providers"
KINDS = ("openai_compatible", "mock")


def kind_label(kind: str) -> str:
    return i18n.t(f"providers.{kind}") if kind in KINDS else kind


def settings_fields(prefix: str, provider: dict[str, Any]) -> dict[str, Any]:
    """The widgets of a provider's settings (inside a form): their values as the API takes them."""
    name = st.text_input(
        i18n.t("providers.name"), provider.get("display_name", ""), key=f"{prefix}name", max_chars=100
    )
    left, right = st.columns(2)
    kind = left.selectbox(
        i18n.t("providers.kind"), KINDS, index=KINDS.index(provider.get("kind", "openai_compatible")),
        key=f"{prefix}kind", format_func=ui.fixed(kind_label, KINDS),
    )  # fmt: skip
    with right:
        enabled = st.toggle(
            i18n.t("providers.enabled"), provider.get("enabled", True), key=f"{prefix}enabled"
        )
    base_url = st.text_input(
        i18n.t("providers.base_url"), provider.get("base_url") or "", key=f"{prefix}base_url", max_chars=500,
        help=i18n.t("providers.base_url_help"), placeholder="https://openrouter.ai/api/v1",
    )  # fmt: skip
    columns = st.columns(3)
    priority = columns[0].number_input(
        i18n.t("providers.priority"),
        0,
        10_000,
        int(provider.get("priority", 100)),
        1,
        key=f"{prefix}priority",
    )
    timeout = columns[1].number_input(
        i18n.t("providers.timeout"), 0.1, 600.0, float(provider.get("timeout_seconds", 60.0)), 1.0,
        format="%.1f", key=f"{prefix}timeout",
    )  # fmt: skip
    retries = columns[2].number_input(
        i18n.t("providers.retries"), 0, 5, int(provider.get("max_retries", 1)), 1, key=f"{prefix}retries"
    )
    return {
        "display_name": name.strip(),
        "kind": kind,
        "base_url": base_url.strip() or None,
        "priority": int(priority),
        "timeout_seconds": float(timeout),
        "max_retries": int(retries),
        "enabled": enabled,
    }


def valid(fields: dict[str, Any]) -> bool:
    if not fields["display_name"]:
        st.error(i18n.t("providers.need_name"), icon=":material/error:")
        return False
    url = fields["base_url"]
    if (fields["kind"] == "openai_compatible" and not url) or (
        url and not url.startswith(("http://", "https://"))
    ):
        st.error(i18n.t("providers.need_url"), icon=":material/error:")
        return False
    return True


def kept_fields(provider: dict[str, Any]) -> dict[str, Any]:
    """A provider's settings as listed (for a change of one of them); extra headers are not included."""
    names = ("display_name", "kind", "base_url", "priority", "timeout_seconds", "max_retries", "enabled")
    return {name: provider[name] for name in names}


def settings_tab(provider: dict[str, Any]) -> None:
    provider_id = provider["id"]
    headers = list(provider["extra_headers"])
    with st.form(f"edit-provider:{provider_id}"):
        fields = settings_fields(f"providers:edit:{provider_id}:", provider)
        values = {}
        if headers:
            st.caption(i18n.t("providers.headers_reenter"))
            for name in headers:
                values[name] = st.text_input(
                    i18n.t("providers.header_value", name=name),
                    type="password",
                    key=f"providers:edit:{provider_id}:header:{name}",
                )
        submitted = st.form_submit_button(i18n.t("providers.save"), type="primary")
    if submitted and valid(fields):
        if any(not value for value in values.values()):
            st.error(i18n.t("providers.headers_missing"), icon=":material/error:")
        else:
            with st.spinner(i18n.t("providers.saving")):
                saved = ui.call(
                    lambda: api.put(f"{PROVIDERS}/{provider_id}", {**fields, "extra_headers": values})
                )
            if saved is not None:
                ui.changed(
                    i18n.t("providers.saved", id=provider_id), forget=f"providers:edit:{provider_id}:header:",
                    where="providers:settings",
                )  # fmt: skip
    enabled = provider["enabled"]
    if headers:  # an edit without the header values would erase them (the API never gives them back)
        st.caption(i18n.t("providers.headers_block_toggle"))
    elif ui.confirmed(
        f"providers:toggle:{provider_id}",
        i18n.t("providers.disable") if enabled else i18n.t("providers.enable"),
        icon=":material/block:" if enabled else ":material/check_circle:",
    ):  # fmt: skip
        with st.spinner(i18n.t("providers.saving")):
            saved = ui.call(
                lambda: api.put(
                    f"{PROVIDERS}/{provider_id}", {**kept_fields(provider), "enabled": not enabled}
                )
            )
        if saved is not None:
            ui.changed(
                i18n.t("providers.disabled_ok" if enabled else "providers.enabled_ok", id=provider_id),
                forget=f"providers:edit:{provider_id}:",
                where="providers:settings",
            )


def key_tab(provider: dict[str, Any]) -> None:
    provider_id = provider["id"]
    st.write(i18n.t("providers.current_key", masked=provider["api_key"] or i18n.t("providers.no_key")))
    with st.form(f"providers:rotate:{provider_id}", clear_on_submit=True):
        key = st.text_input(
            i18n.t("providers.new_key"),
            type="password",
            key=f"providers:rotate:{provider_id}:key",
            help=i18n.t("providers.new_key_help"),
        )
        submitted = st.form_submit_button(i18n.t("providers.rotate"), type="primary", icon=":material/key:")
    if submitted:
        if not key.strip():
            st.error(i18n.t("providers.need_key"), icon=":material/error:")
            return
        with st.spinner(i18n.t("providers.saving")):
            rotated = ui.call(
                lambda: api.post(f"{PROVIDERS}/{provider_id}/rotate-key", {"api_key": key.strip()})
            )
        if rotated is not None:
            ui.changed(
                i18n.t("providers.rotated", id=provider_id, masked=rotated["api_key"]), where="providers:key"
            )


def test_tab(provider: dict[str, Any]) -> None:
    provider_id = provider["id"]
    model = st.text_input(
        i18n.t("providers.test_model"),
        key=f"providers:test:{provider_id}:model",
        max_chars=200,
        help=i18n.t("providers.test_model_help"),
    )
    if st.button(
        i18n.t("providers.test"), key=f"providers:test:{provider_id}", icon=":material/network_check:"
    ):
        with st.spinner(i18n.t("providers.testing")):
            path = f"{PROVIDERS}/{provider_id}/test"
            if model.strip():
                path += "?" + urlencode({"model": model.strip()})
            result = ui.call(lambda: api.post(path))
        if result is not None:
            st.session_state[f"providers:test:{provider_id}:result"] = result
    result = st.session_state.get(f"providers:test:{provider_id}:result")
    if result is None:
        return
    latency = i18n.number(result["latency_ms"], 1)
    if result["ok"]:
        st.success(
            i18n.t("providers.healthy", model=result["model"], latency=latency),
            icon=":material/check_circle:",
        )
    else:
        st.error(
            i18n.t("providers.unhealthy", error=result["error"], latency=latency, model=result["model"]),
            icon=":material/error:",
        )
    ui.metrics(
        [
            (
                i18n.t("providers.health"),
                i18n.t("providers.ok") if result["ok"] else i18n.t("providers.failing"),
            ),
            (i18n.t("providers.latency"), latency),
        ],
        per_row=2,
    )


st.title(i18n.t("providers.title"))
st.caption(i18n.t("providers.intro"))
ui.notice()
api = ui.api()
writer = ui.can("providers:write")

with st.spinner(i18n.t("providers.loading")):
    providers = ui.call(lambda: api.get(PROVIDERS))
if providers is None:
    st.stop()

ui.table(
    [
        {
            i18n.t("providers.id"): p["id"],
            i18n.t("providers.name"): p["display_name"],
            i18n.t("providers.kind"): kind_label(p["kind"]),
            i18n.t("providers.base_url"): p["base_url"] or "—",
            i18n.t("providers.priority"): p["priority"],
            i18n.t("providers.timeout"): i18n.number(p["timeout_seconds"], 1),
            i18n.t("providers.retries"): p["max_retries"],
            i18n.t("providers.enabled"): i18n.yes_no(p["enabled"]),
            i18n.t("providers.key"): p["api_key"] or i18n.t("providers.no_key"),
            i18n.t("providers.headers"): ", ".join(
                f"{name}: {value}" for name, value in p["extra_headers"].items()
            ),
            i18n.t("providers.created"): i18n.moment(p["created_at"]),
        }
        for p in providers
    ],
    "providers",
    empty=i18n.t("providers.empty"),
)

if providers and writer:
    by_id = {p["id"]: p for p in providers}
    chosen = by_id[
        st.selectbox(
            i18n.t("providers.choose"),
            list(by_id),
            format_func=lambda i: f"{by_id[i]['display_name']} ({i})",
            key="providers:chosen",
        )
    ]
    tabs = ui.kept_tabs(
        "providers:tab",
        {
            "settings": i18n.t("providers.tab_settings"),
            "key": i18n.t("providers.tab_key"),
            "test": i18n.t("providers.tab_test"),
        },
    )
    with tabs["settings"]:
        ui.notice("providers:settings")
        settings_tab(chosen)
    with tabs["key"]:
        ui.notice("providers:key")
        key_tab(chosen)
    with tabs["test"]:
        test_tab(chosen)

if writer:
    with st.expander(i18n.t("providers.new"), icon=":material/add:", expanded=not providers):
        with st.form("new-provider"):
            new_id = st.text_input(
                i18n.t("providers.id"),
                key="providers:new:id",
                max_chars=64,
                help=i18n.t("providers.new_id_help"),
            )
            fields = settings_fields("providers:new:", {})
            new_key = st.text_input(
                i18n.t("providers.key"),
                type="password",
                key="providers:new:key",
                help=i18n.t("providers.new_key_help"),
            )
            submitted = st.form_submit_button(i18n.t("providers.create"), type="primary")
        if submitted:
            if not new_id.strip():
                st.error(i18n.t("providers.need_id"), icon=":material/error:")
            elif valid(fields):
                body = {"id": new_id.strip(), **fields} | (
                    {"api_key": new_key.strip()} if new_key.strip() else {}
                )
                with st.spinner(i18n.t("providers.saving")):
                    created = ui.call(lambda: api.post(PROVIDERS, body))
                if created is not None:
                    ui.changed(i18n.t("providers.created_ok", id=created["id"]), clear="providers:new:")
