"""Models: the catalogue with its provider routes, prices and their history, and each model's usage.
Catalogue writers also create, edit, hide, delete and reorder models (the API refuses the rest)."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from dashboard import i18n, ui

MODELS = "/api/v1/admin/models"
SHOWN_ONLY = ("id", "price_history", "created_at")  # in the answer, not in an edit

T = i18n.texts(
    {
        "title": ("Models", "Модели"),
        "intro": (
            "The model catalogue end users choose from. A price change starts a new price from now on; "
            "a model that roles, chats or calls refer to cannot be deleted: hide it instead.",
            "Каталог моделей, из которого выбирают пользователи. Новая цена действует с момента изменения; "
            "модель, на которую ссылаются роли, чаты или вызовы, удалить нельзя — скройте её.",
        ),
        "loading": ("Loading the catalogue…", "Загрузка каталога…"),
        "empty": (
            "The catalogue is empty: add the first model below.",
            "Каталог пуст: добавьте первую модель ниже.",
        ),
        "position": ("#", "№"),
        "id": ("ID", "ID"),
        "display_name": ("Display name", "Отображаемое имя"),
        "tier": ("Tier", "Уровень"),
        "free": ("free", "бесплатная"),
        "paid": ("paid", "платная"),
        "visible": ("Visible", "Видима"),
        "enabled": ("Enabled", "Включена"),
        "input_price": ("Input, USD per 1M tokens", "Вход, USD за 1 млн токенов"),
        "output_price": ("Output, USD per 1M tokens", "Выход, USD за 1 млн токенов"),
        "context_length": ("Context length, tokens", "Длина контекста, токенов"),
        "max_output_tokens": ("Max output tokens", "Макс. токенов ответа"),
        "routes": ("Provider routes", "Маршруты к провайдерам"),
        "params": ("Default parameters (JSON)", "Параметры по умолчанию (JSON)"),
        "created": ("Added", "Добавлена"),
        "choose": ("Model", "Модель"),
        "tab_usage": ("Usage and prices", "Использование и цены"),
        "tab_edit": ("Edit", "Изменить"),
        "usage_loading": ("Loading usage…", "Загрузка использования…"),
        "price_history": ("Price history", "История цен"),
        "effective_from": ("In force from", "Действует с"),
        "no_prices": ("No price set: calls cost nothing.", "Цена не задана: вызовы бесплатны."),
        "read_only": (
            "Your role may look at the catalogue but not change it.",
            "Ваша роль может просматривать каталог, но не изменять его.",
        ),
        "routes_help": (
            "One route per line, `provider: model at that provider`, e.g. `mock: mock-small`; the "
            "provider with the lowest priority number is tried first.",
            "По одному маршруту в строке, `провайдер: модель у провайдера`, например `mock: mock-small`; "
            "сначала пробуется провайдер с наименьшим номером приоритета.",
        ),
        "bad_route": (
            "Route line {line}: write `provider: model`.",
            "Маршрут в строке {line}: напишите `провайдер: модель`.",
        ),
        "save": ("Save changes", "Сохранить изменения"),
        "saving": ("Saving…", "Сохранение…"),
        "saved": ("Model {id} saved.", "Модель {id} сохранена."),
        "hide": ("Hide from users", "Скрыть от пользователей"),
        "show": ("Show to users", "Показать пользователям"),
        "hidden": ("Model {id} is hidden.", "Модель {id} скрыта."),
        "shown": ("Model {id} is shown.", "Модель {id} показана."),
        "delete": ("Delete model", "Удалить модель"),
        "deleted": ("Model {id} deleted.", "Модель {id} удалена."),
        "new": ("Add a model", "Добавить модель"),
        "new_id_help": (
            "What clients send as `model`: letters, digits and `._:/-`; it cannot be changed later.",
            "То, что клиенты передают в `model`: буквы, цифры и `._:/-`; потом его не изменить.",
        ),
        "create": ("Add model", "Добавить модель"),
        "created_ok": ("Model {id} added.", "Модель {id} добавлена."),
        "need_id_name": ("Enter the ID and the display name.", "Укажите ID и отображаемое имя."),
        "order": ("Display order", "Порядок показа"),
        "order_help": (
            "Pick models in the order they should come first; the others keep their order after them.",
            "Выберите модели в том порядке, в каком они должны идти первыми; остальные сохранят свой "
            "порядок после них.",
        ),
        "order_pick": ("Put first, in this order", "Поставить первыми, в этом порядке"),
        "order_save": ("Save the order", "Сохранить порядок"),
        "order_saved": ("The order is saved.", "Порядок сохранён."),
    }
)


def tier_label(tier: str) -> str:
    return T(tier) if tier in ("free", "paid") else tier


def routes_text(routes: list[dict[str, str]]) -> str:
    return "\n".join(f"{r['provider_id']}: {r['provider_model']}" for r in routes)


def parse_routes(text: str) -> list[dict[str, str]] | None:
    """`provider: model` per line (a provider ID has no colon, a provider's model name may)."""
    routes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        provider, colon, model = line.partition(":")
        if not colon or not provider.strip() or not model.strip():
            st.error(T("bad_route", line=number), icon=":material/error:")
            return None
        routes.append({"provider_id": provider.strip(), "provider_model": model.strip()})
    return routes


def params_text(params: dict[str, Any]) -> str:
    return json.dumps(params) if params else ""


def model_fields(model: dict[str, Any]) -> dict[str, Any]:
    """What an edit sends: every field of the model as the API gave it (an edit replaces them all)."""
    return {key: value for key, value in model.items() if key not in SHOWN_ONLY}


def model_form(prefix: str, model: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fields of a model (inside a form), or None when the form was not submitted or is invalid."""
    model = model or {}
    creating = not model
    new_id = ""
    if creating:
        new_id = st.text_input(T("id"), key=f"{prefix}id", max_chars=128, help=T("new_id_help"))
    name = st.text_input(T("display_name"), model.get("display_name", ""), key=f"{prefix}name", max_chars=200)
    left, right = st.columns(2)
    tier = left.selectbox(
        T("tier"), ("free", "paid"), index=("free", "paid").index(model.get("tier", "free")),
        format_func=ui.fixed(tier_label, ("free", "paid")), key=f"{prefix}tier",
    )  # fmt: skip
    with right:
        visible = st.toggle(T("visible"), model.get("visible", True), key=f"{prefix}visible")
        enabled = st.toggle(T("enabled"), model.get("enabled", True), key=f"{prefix}enabled")
    left, right = st.columns(2)
    price_in = left.number_input(
        T("input_price"), 0.0, 1_000_000.0, float(model.get("input_usd_per_million", 0)), 0.01,
        format="%.6f", key=f"{prefix}input",
    )  # fmt: skip
    price_out = right.number_input(
        T("output_price"), 0.0, 1_000_000.0, float(model.get("output_usd_per_million", 0)), 0.01,
        format="%.6f", key=f"{prefix}output",
    )  # fmt: skip
    context = left.number_input(
        T("context_length"),
        1,
        10_000_000,
        int(model.get("context_length", 8192)),
        1024,
        key=f"{prefix}context",
    )
    max_output = right.number_input(
        T("max_output_tokens"), 1, 1_000_000, int(model.get("max_output_tokens", 4096)), 256,
        key=f"{prefix}max_output",
    )  # fmt: skip
    routes = st.text_area(
        T("routes"), routes_text(model.get("routes", [])), key=f"{prefix}routes", help=T("routes_help"),
        placeholder="mock: mock-small", height=100,
    )  # fmt: skip
    params = st.text_input(
        T("params"), params_text(model.get("default_params", {})), key=f"{prefix}params",
        placeholder='{"temperature": 0.7}',
    )  # fmt: skip
    if not st.form_submit_button(T("create") if creating else T("save"), type="primary"):
        return None
    if not name.strip() or (creating and not new_id.strip()):
        st.error(T("need_id_name"), icon=":material/error:")
        return None
    parsed_routes = parse_routes(routes)
    parsed_params = ui.number_params(params)
    if parsed_routes is None or parsed_params is None:
        return None
    fields = {
        "display_name": name.strip(),
        "tier": tier,
        "visible": visible,
        "enabled": enabled,
        "input_usd_per_million": f"{price_in:.6f}",
        "output_usd_per_million": f"{price_out:.6f}",
        "context_length": int(context),
        "max_output_tokens": int(max_output),
        "routes": parsed_routes,
        "default_params": parsed_params,
        "sort_order": model.get("sort_order", 100),
    }
    return {"id": new_id.strip(), **fields} if creating else fields


def catalogue_rows(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            T("position"): position,
            T("id"): m["id"],
            T("display_name"): m["display_name"],
            T("tier"): tier_label(m["tier"]),
            T("visible"): i18n.yes_no(m["visible"]),
            T("enabled"): i18n.yes_no(m["enabled"]),
            T("input_price"): i18n.amount(m["input_usd_per_million"]),
            T("output_price"): i18n.amount(m["output_usd_per_million"]),
            T("context_length"): i18n.number(m["context_length"]),
            T("max_output_tokens"): i18n.number(m["max_output_tokens"]),
            T("routes"): "; ".join(f"{r['provider_id']}: {r['provider_model']}" for r in m["routes"]),
            T("params"): params_text(m["default_params"]),
            T("created"): i18n.moment(m["created_at"]),
        }
        for position, m in enumerate(models, start=1)
    ]


def usage_and_prices(model: dict[str, Any]) -> None:
    with st.spinner(T("usage_loading")):
        usage = ui.call(lambda: api.get(f"{MODELS}/{model['id']}/usage"))
    if usage is not None:
        ui.usage_metrics(usage)
    st.subheader(T("price_history"))
    history = [
        {
            T("effective_from"): i18n.moment(p["effective_from"]),
            T("input_price"): i18n.amount(p["input_usd_per_million"]),
            T("output_price"): i18n.amount(p["output_usd_per_million"]),
        }
        for p in reversed(model["price_history"])
    ]
    ui.table(history, f"price_history_{model['id'].replace('/', '_')}", empty=T("no_prices"))


def edit(model: dict[str, Any]) -> None:
    model_id = model["id"]
    with st.form(f"edit-model:{model_id}"):
        fields = model_form(f"models:edit:{model_id}:", model)
    if fields is not None:
        with st.spinner(T("saving")):
            saved = ui.call(lambda: api.put(f"{MODELS}/{model_id}", fields))
        if saved is not None:
            ui.changed(T("saved", id=model_id))
    visible = model["visible"]
    if ui.confirmed(
        f"models:visibility:{model_id}", T("hide") if visible else T("show"), icon=":material/visibility:"
    ):
        with st.spinner(T("saving")):
            saved = ui.call(
                lambda: api.put(f"{MODELS}/{model_id}", {**model_fields(model), "visible": not visible})
            )
        if saved is not None:
            ui.changed(T("hidden" if visible else "shown", id=model_id), forget=f"models:edit:{model_id}:")
    if ui.confirmed(f"models:delete:{model_id}", T("delete"), icon=":material/delete:"):
        with st.spinner(T("saving")):
            deleted = ui.call(lambda: api.delete(f"{MODELS}/{model_id}") or True)  # 204: no body
        if deleted:
            st.session_state.pop("models:chosen", None)
            ui.changed(T("deleted", id=model_id))


st.title(T("title"))
st.caption(T("intro"))
ui.notice()
api = ui.api()
writer = ui.can("catalogue:write")

with st.spinner(T("loading")):
    models = ui.call(lambda: api.get(MODELS))
if models is None:
    st.stop()
ui.table(catalogue_rows(models), "models", empty=T("empty"))

if models:
    by_id = {m["id"]: m for m in models}
    chosen = by_id[
        st.selectbox(
            T("choose"),
            list(by_id),
            format_func=lambda i: f"{by_id[i]['display_name']} ({i})",
            key="models:chosen",
        )
    ]
    if writer:
        usage_tab, edit_tab = st.tabs([T("tab_usage"), T("tab_edit")])
        with usage_tab:
            usage_and_prices(chosen)
        with edit_tab:
            edit(chosen)
    else:
        usage_and_prices(chosen)
        st.caption(T("read_only"))

if writer:
    with st.expander(T("new"), icon=":material/add:", expanded=not models):
        with st.form("new-model"):
            body = model_form("models:new:", None)
        if body is not None:
            with st.spinner(T("saving")):
                created = ui.call(lambda: api.post(MODELS, body))
            if created is not None:
                ui.changed(T("created_ok", id=created["id"]), forget="models:new:")
    if len(models) > 1:
        with st.expander(T("order"), icon=":material/swap_vert:"):
            st.caption(T("order_help"))
            first = st.multiselect(
                T("order_pick"), [m["id"] for m in models], key="models:order",
                format_func=lambda i: f"{by_id[i]['display_name']} ({i})",
            )  # fmt: skip
            if ui.confirmed("models:order:save", T("order_save"), icon=":material/save:", disabled=not first):
                with st.spinner(T("saving")):
                    order = ui.call(lambda: api.post(f"{MODELS}/order", {"ids": first}))
                if order is not None:
                    ui.changed(T("order_saved"), forget="models:order")
