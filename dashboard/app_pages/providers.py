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

T = i18n.texts(
    {
        "title": ("Providers & keys", "Провайдеры и ключи"),
        "intro": (
            "The gateway tries a model's providers in priority order (lowest number first) and falls back to "
            "the next one when a provider fails or is disabled. Keys are stored encrypted and shown only "
            "masked.",
            "Шлюз перебирает провайдеров модели по приоритету (сначала наименьший номер) и переходит к "
            "следующему, если провайдер сбоит или выключен. Ключи хранятся зашифрованными и показываются "
            "только в маскированном виде.",
        ),
        "loading": ("Loading providers…", "Загрузка провайдеров…"),
        "empty": (
            "No providers yet: add one below (the offline `mock` kind needs no key).",
            "Провайдеров пока нет: добавьте первого ниже (офлайн-вариант `mock` не требует ключа).",
        ),
        "id": ("ID", "ID"),
        "name": ("Name", "Название"),
        "kind": ("Kind", "Тип"),
        "openai_compatible": ("OpenAI-compatible API", "API, совместимый с OpenAI"),
        "mock": ("Offline mock", "Офлайн-заглушка"),
        "base_url": ("Base URL", "Базовый URL"),
        "base_url_help": (
            "Up to the version, e.g. `https://openrouter.ai/api/v1`; empty for the mock.",
            "До версии включительно, например `https://openrouter.ai/api/v1`; пусто для заглушки.",
        ),
        "priority": ("Priority (lower is tried first)", "Приоритет (меньше — раньше)"),
        "timeout": ("Timeout, seconds", "Тайм-аут, секунд"),
        "retries": ("Retries", "Повторы"),
        "enabled": ("Enabled", "Включён"),
        "key": ("API key", "API-ключ"),
        "no_key": ("no key", "без ключа"),
        "headers": ("Extra headers", "Доп. заголовки"),
        "created": ("Added", "Добавлен"),
        "choose": ("Provider", "Провайдер"),
        "tab_settings": ("Settings", "Настройки"),
        "tab_key": ("Key", "Ключ"),
        "tab_test": ("Test", "Проверка"),
        "header_value": ("Value of the `{name}` header", "Значение заголовка `{name}`"),
        "headers_reenter": (
            "This provider sends extra headers whose values the API keeps secret: type them again to save "
            "its settings (they are sent as typed and never shown).",
            "Этот провайдер отправляет дополнительные заголовки, значения которых API держит в секрете: "
            "введите их снова, чтобы сохранить настройки (они отправляются как введены и не показываются).",
        ),
        "headers_missing": (
            "Type the value of every extra header to save.",
            "Чтобы сохранить, введите значение каждого дополнительного заголовка.",
        ),
        "headers_block_toggle": (
            "This provider has extra headers: to enable or disable it, use the settings form above (their "
            "values must be typed again).",
            "У этого провайдера есть дополнительные заголовки: чтобы включить или выключить его, "
            "воспользуйтесь формой настроек выше (их значения нужно ввести снова).",
        ),
        "save": ("Save settings", "Сохранить настройки"),
        "saving": ("Saving…", "Сохранение…"),
        "saved": ("Provider {id} saved.", "Провайдер {id} сохранён."),
        "need_name": ("Enter the name.", "Укажите название."),
        "need_url": (
            "An OpenAI-compatible provider needs its base URL (http:// or https://).",
            "Провайдеру, совместимому с OpenAI, нужен базовый URL (http:// или https://).",
        ),
        "disable": ("Disable provider", "Выключить провайдера"),
        "enable": ("Enable provider", "Включить провайдера"),
        "disabled_ok": (
            "Provider {id} is disabled: its models fall back to the next provider.",
            "Провайдер {id} выключен: его модели переходят к следующему провайдеру.",
        ),
        "enabled_ok": ("Provider {id} is enabled.", "Провайдер {id} включён."),
        "current_key": ("Current key: {masked}", "Текущий ключ: {masked}"),
        "new_key": ("New API key", "Новый API-ключ"),
        "new_key_help": (
            "Stored encrypted; the next call uses it. It is never shown again, only masked.",
            "Хранится зашифрованным; следующий вызов использует его. Больше не показывается, только в "
            "маскированном виде.",
        ),
        "rotate": ("Rotate the key", "Заменить ключ"),
        "need_key": ("Type the new key.", "Введите новый ключ."),
        "rotated": ("The key of {id} is replaced: now {masked}.", "Ключ {id} заменён: теперь {masked}."),
        "test_model": ("Model to call (optional)", "Модель для вызова (необязательно)"),
        "test_model_help": (
            "Default: a model routed to this provider. The test is one call with one output token.",
            "По умолчанию — модель, направленная к этому провайдеру. Проверка — один вызов с одним токеном "
            "ответа.",
        ),
        "test": ("Test provider", "Проверить провайдера"),
        "testing": ("Calling the provider…", "Вызов провайдера…"),
        "healthy": (
            "Healthy: {model} answered in {latency} ms.",
            "Работает: {model} ответила за {latency} мс.",
        ),
        "unhealthy": (
            "Unhealthy: {error} after {latency} ms (model {model}).",
            "Не работает: {error} через {latency} мс (модель {model}).",
        ),
        "health": ("Health", "Состояние"),
        "ok": ("healthy", "работает"),
        "failing": ("failing", "сбой"),
        "latency": ("Latency, ms", "Задержка, мс"),
        "new": ("Add a provider", "Добавить провайдера"),
        "new_id_help": (
            "Lower-case letters, digits, `_` and `-`; models name it in their routes; it cannot be changed "
            "later.",
            "Строчные латинские буквы, цифры, `_` и `-`; модели указывают его в маршрутах; потом его не "
            "изменить.",
        ),
        "create": ("Add provider", "Добавить провайдера"),
        "created_ok": ("Provider {id} added.", "Провайдер {id} добавлен."),
        "need_id": ("Enter the ID and the name.", "Укажите ID и название."),
    }
)


def kind_label(kind: str) -> str:
    return T(kind) if kind in KINDS else kind


def settings_fields(prefix: str, provider: dict[str, Any]) -> dict[str, Any]:
    """The widgets of a provider's settings (inside a form): their values as the API takes them."""
    name = st.text_input(T("name"), provider.get("display_name", ""), key=f"{prefix}name", max_chars=100)
    left, right = st.columns(2)
    kind = left.selectbox(
        T("kind"), KINDS, index=KINDS.index(provider.get("kind", "openai_compatible")), key=f"{prefix}kind",
        format_func=ui.fixed(kind_label, KINDS),
    )  # fmt: skip
    with right:
        enabled = st.toggle(T("enabled"), provider.get("enabled", True), key=f"{prefix}enabled")
    base_url = st.text_input(
        T("base_url"), provider.get("base_url") or "", key=f"{prefix}base_url", max_chars=500,
        help=T("base_url_help"), placeholder="https://openrouter.ai/api/v1",
    )  # fmt: skip
    columns = st.columns(3)
    priority = columns[0].number_input(
        T("priority"), 0, 10_000, int(provider.get("priority", 100)), 1, key=f"{prefix}priority"
    )
    timeout = columns[1].number_input(
        T("timeout"), 0.1, 600.0, float(provider.get("timeout_seconds", 60.0)), 1.0, format="%.1f",
        key=f"{prefix}timeout",
    )  # fmt: skip
    retries = columns[2].number_input(
        T("retries"), 0, 5, int(provider.get("max_retries", 1)), 1, key=f"{prefix}retries"
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
        st.error(T("need_name"), icon=":material/error:")
        return False
    url = fields["base_url"]
    if (fields["kind"] == "openai_compatible" and not url) or (
        url and not url.startswith(("http://", "https://"))
    ):
        st.error(T("need_url"), icon=":material/error:")
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
            st.caption(T("headers_reenter"))
            for name in headers:
                values[name] = st.text_input(
                    T("header_value", name=name),
                    type="password",
                    key=f"providers:edit:{provider_id}:header:{name}",
                )
        submitted = st.form_submit_button(T("save"), type="primary")
    if submitted and valid(fields):
        if any(not value for value in values.values()):
            st.error(T("headers_missing"), icon=":material/error:")
        else:
            with st.spinner(T("saving")):
                saved = ui.call(
                    lambda: api.put(f"{PROVIDERS}/{provider_id}", {**fields, "extra_headers": values})
                )
            if saved is not None:
                ui.changed(T("saved", id=provider_id), forget=f"providers:edit:{provider_id}:header:")
    enabled = provider["enabled"]
    if headers:  # an edit without the header values would erase them (the API never gives them back)
        st.caption(T("headers_block_toggle"))
    elif ui.confirmed(
        f"providers:toggle:{provider_id}", T("disable") if enabled else T("enable"),
        icon=":material/block:" if enabled else ":material/check_circle:",
    ):  # fmt: skip
        with st.spinner(T("saving")):
            saved = ui.call(
                lambda: api.put(
                    f"{PROVIDERS}/{provider_id}", {**kept_fields(provider), "enabled": not enabled}
                )
            )
        if saved is not None:
            ui.changed(
                T("disabled_ok" if enabled else "enabled_ok", id=provider_id),
                forget=f"providers:edit:{provider_id}:",
            )


def key_tab(provider: dict[str, Any]) -> None:
    provider_id = provider["id"]
    st.write(T("current_key", masked=provider["api_key"] or T("no_key")))
    with st.form(f"providers:rotate:{provider_id}", clear_on_submit=True):
        key = st.text_input(
            T("new_key"), type="password", key=f"providers:rotate:{provider_id}:key", help=T("new_key_help")
        )
        submitted = st.form_submit_button(T("rotate"), type="primary", icon=":material/key:")
    if submitted:
        if not key.strip():
            st.error(T("need_key"), icon=":material/error:")
            return
        with st.spinner(T("saving")):
            rotated = ui.call(
                lambda: api.post(f"{PROVIDERS}/{provider_id}/rotate-key", {"api_key": key.strip()})
            )
        if rotated is not None:
            ui.changed(T("rotated", id=provider_id, masked=rotated["api_key"]))


def test_tab(provider: dict[str, Any]) -> None:
    provider_id = provider["id"]
    model = st.text_input(
        T("test_model"), key=f"providers:test:{provider_id}:model", max_chars=200, help=T("test_model_help")
    )
    if st.button(T("test"), key=f"providers:test:{provider_id}", icon=":material/network_check:"):
        with st.spinner(T("testing")):
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
        st.success(T("healthy", model=result["model"], latency=latency), icon=":material/check_circle:")
    else:
        st.error(
            T("unhealthy", error=result["error"], latency=latency, model=result["model"]),
            icon=":material/error:",
        )
    ui.metrics([(T("health"), T("ok") if result["ok"] else T("failing")), (T("latency"), latency)], per_row=2)


st.title(T("title"))
st.caption(T("intro"))
ui.notice()
api = ui.api()
writer = ui.can("providers:write")

with st.spinner(T("loading")):
    providers = ui.call(lambda: api.get(PROVIDERS))
if providers is None:
    st.stop()

ui.table(
    [
        {
            T("id"): p["id"],
            T("name"): p["display_name"],
            T("kind"): kind_label(p["kind"]),
            T("base_url"): p["base_url"] or "—",
            T("priority"): p["priority"],
            T("timeout"): i18n.number(p["timeout_seconds"], 1),
            T("retries"): p["max_retries"],
            T("enabled"): i18n.yes_no(p["enabled"]),
            T("key"): p["api_key"] or T("no_key"),
            T("headers"): ", ".join(f"{name}: {value}" for name, value in p["extra_headers"].items()),
            T("created"): i18n.moment(p["created_at"]),
        }
        for p in providers
    ],
    "providers",
    empty=T("empty"),
)

if providers and writer:
    by_id = {p["id"]: p for p in providers}
    chosen = by_id[
        st.selectbox(
            T("choose"),
            list(by_id),
            format_func=lambda i: f"{by_id[i]['display_name']} ({i})",
            key="providers:chosen",
        )
    ]
    settings, key, test = st.tabs([T("tab_settings"), T("tab_key"), T("tab_test")])
    with settings:
        settings_tab(chosen)
    with key:
        key_tab(chosen)
    with test:
        test_tab(chosen)

if writer:
    with st.expander(T("new"), icon=":material/add:", expanded=not providers):
        with st.form("new-provider"):
            new_id = st.text_input(T("id"), key="providers:new:id", max_chars=64, help=T("new_id_help"))
            fields = settings_fields("providers:new:", {})
            new_key = st.text_input(
                T("key"), type="password", key="providers:new:key", help=T("new_key_help")
            )
            submitted = st.form_submit_button(T("create"), type="primary")
        if submitted:
            if not new_id.strip():
                st.error(T("need_id"), icon=":material/error:")
            elif valid(fields):
                body = {"id": new_id.strip(), **fields} | (
                    {"api_key": new_key.strip()} if new_key.strip() else {}
                )
                with st.spinner(T("saving")):
                    created = ui.call(lambda: api.post(PROVIDERS, body))
                if created is not None:
                    ui.changed(T("created_ok", id=created["id"]), forget="providers:new:")
