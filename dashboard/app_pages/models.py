"""Models: the catalogue with its provider routes, prices and their history, and each model's usage, and
the model aliases (names clients may pass as `model` for another model, docs/decisions/0062). Catalogue
writers also create, edit, hide, delete and reorder models, and set and delete aliases (the API refuses the
rest)."""

from __future__ import annotations

import json
import re
from typing import Any

import streamlit as st

from dashboard import i18n, ui

MODELS = "/api/v1/admin/models"
ALIASES = "/api/v1/admin/model-aliases"
ALIAS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")  # the API's pattern (api/catalogue/aliases.py)
SHOWN_ONLY = ("id", "price_history", "created_at")  # in the answer, not in an edit


def tier_label(tier: str) -> str:
    return i18n.t(f"models.{tier}") if tier in ("free", "paid") else tier


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
            st.error(i18n.t("models.bad_route", line=number), icon=":material/error:")
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
        new_id = st.text_input(
            i18n.t("models.id"), key=f"{prefix}id", max_chars=128, help=i18n.t("models.new_id_help")
        )
    name = st.text_input(
        i18n.t("models.display_name"), model.get("display_name", ""), key=f"{prefix}name", max_chars=200
    )
    left, right = st.columns(2)
    tier = left.selectbox(
        i18n.t("models.tier"), ("free", "paid"), index=("free", "paid").index(model.get("tier", "free")),
        format_func=ui.fixed(tier_label, ("free", "paid")), key=f"{prefix}tier",
    )  # fmt: skip
    with right:
        visible = st.toggle(i18n.t("models.visible"), model.get("visible", True), key=f"{prefix}visible")
        enabled = st.toggle(i18n.t("models.enabled"), model.get("enabled", True), key=f"{prefix}enabled")
    left, right = st.columns(2)
    price_in = left.number_input(
        i18n.t("models.input_price"), 0.0, 1_000_000.0, float(model.get("input_usd_per_million", 0)), 0.01,
        format="%.6f", key=f"{prefix}input",
    )  # fmt: skip
    price_out = right.number_input(
        i18n.t("models.output_price"), 0.0, 1_000_000.0, float(model.get("output_usd_per_million", 0)), 0.01,
        format="%.6f", key=f"{prefix}output",
    )  # fmt: skip
    context = left.number_input(
        i18n.t("models.context_length"),
        1,
        10_000_000,
        int(model.get("context_length", 8192)),
        1024,
        key=f"{prefix}context",
    )
    max_output = right.number_input(
        i18n.t("models.max_output_tokens"), 1, 1_000_000, int(model.get("max_output_tokens", 4096)), 256,
        key=f"{prefix}max_output",
    )  # fmt: skip
    routes = st.text_area(
        i18n.t("models.routes"), routes_text(model.get("routes", [])), key=f"{prefix}routes",
        help=i18n.t("models.routes_help"), placeholder="mock: mock-small", height=100,
    )  # fmt: skip
    params = st.text_input(
        i18n.t("models.params"), params_text(model.get("default_params", {})), key=f"{prefix}params",
        placeholder='{"temperature": 0.7}',
    )  # fmt: skip
    if not st.form_submit_button(
        i18n.t("models.create") if creating else i18n.t("models.save"), type="primary"
    ):
        return None
    if not name.strip() or (creating and not new_id.strip()):
        st.error(i18n.t("models.need_id_name"), icon=":material/error:")
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
            i18n.t("models.position"): position,
            i18n.t("models.id"): m["id"],
            i18n.t("models.display_name"): m["display_name"],
            i18n.t("models.tier"): tier_label(m["tier"]),
            i18n.t("models.visible"): i18n.yes_no(m["visible"]),
            i18n.t("models.enabled"): i18n.yes_no(m["enabled"]),
            i18n.t("models.input_price"): i18n.amount(m["input_usd_per_million"]),
            i18n.t("models.output_price"): i18n.amount(m["output_usd_per_million"]),
            i18n.t("models.context_length"): i18n.number(m["context_length"]),
            i18n.t("models.max_output_tokens"): i18n.number(m["max_output_tokens"]),
            i18n.t("models.routes"): "; ".join(
                f"{r['provider_id']}: {r['provider_model']}" for r in m["routes"]
            ),
            i18n.t("models.params"): params_text(m["default_params"]),
            i18n.t("models.created"): i18n.moment(m["created_at"]),
        }
        for position, m in enumerate(models, start=1)
    ]


def usage_and_prices(model: dict[str, Any]) -> None:
    with st.spinner(i18n.t("models.usage_loading")):
        ui.catalogue_usage("models", model["id"], cost=True)
    st.subheader(i18n.t("models.price_history"))
    history = [
        {
            i18n.t("models.effective_from"): i18n.moment(p["effective_from"]),
            i18n.t("models.input_price"): i18n.amount(p["input_usd_per_million"]),
            i18n.t("models.output_price"): i18n.amount(p["output_usd_per_million"]),
        }
        for p in reversed(model["price_history"])
    ]
    ui.table(history, f"price_history_{model['id'].replace('/', '_')}", empty=i18n.t("models.no_prices"))


def edit(model: dict[str, Any]) -> None:
    model_id = model["id"]
    ui.notice("models:edit")
    with st.form(f"edit-model:{model_id}"):
        fields = model_form(f"models:edit:{model_id}:", model)
    if fields is not None:
        with st.spinner(i18n.t("models.saving")):
            saved = ui.call(lambda: api.put(f"{MODELS}/{model_id}", fields))
        if saved is not None:
            ui.changed(i18n.t("models.saved", id=model_id), where="models:edit")
    visible = model["visible"]
    if ui.confirmed(
        f"models:visibility:{model_id}",
        i18n.t("models.hide") if visible else i18n.t("models.show"),
        icon=":material/visibility:",
    ):
        with st.spinner(i18n.t("models.saving")):
            saved = ui.call(
                lambda: api.put(f"{MODELS}/{model_id}", {**model_fields(model), "visible": not visible})
            )
        if saved is not None:
            ui.changed(
                i18n.t("models.hidden" if visible else "models.shown", id=model_id),
                forget=f"models:edit:{model_id}:",
                where="models:edit",
            )
    if ui.confirmed(f"models:delete:{model_id}", i18n.t("models.delete"), icon=":material/delete:"):
        with st.spinner(i18n.t("models.saving")):
            deleted = ui.call(lambda: api.delete(f"{MODELS}/{model_id}") or True)  # 204: no body
        if deleted:
            st.session_state.pop("models:chosen", None)
            ui.changed(i18n.t("models.deleted", id=model_id))


def alias_rows(aliases: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            i18n.t("aliases.alias"): a["alias"],
            i18n.t("aliases.model"): a["model_id"],
            i18n.t("models.display_name"): by_id.get(a["model_id"], {}).get("display_name", ""),
            i18n.t("aliases.updated"): i18n.moment(a["updated_at"]),
        }
        for a in aliases
    ]


def aliases_section(models: list[dict[str, Any]]) -> None:
    """The aliases: the list, and for catalogue writers a form that sets one (creates it or points it at
    another model) and a confirmed delete."""
    st.subheader(i18n.t("aliases.title"))
    st.caption(i18n.t("aliases.intro"))
    ui.notice("aliases")
    aliases = ui.call(lambda: api.get(ALIASES))
    if aliases is None:
        return
    by_id = {m["id"]: m for m in models}
    ui.table(alias_rows(aliases, by_id), "model_aliases", empty=i18n.t("aliases.empty"))
    enabled = [m["id"] for m in models if m["enabled"]]
    if not writer or not enabled:
        return
    with st.form("set-alias"):
        left, right = st.columns(2)
        name = left.text_input(
            i18n.t("aliases.alias"), key="aliases:name", max_chars=128, help=i18n.t("aliases.name_help")
        )
        target = right.selectbox(
            i18n.t("aliases.model"), enabled, key="aliases:model",
            format_func=lambda i: f"{by_id[i]['display_name']} ({i})",
        )  # fmt: skip
        submitted = st.form_submit_button(i18n.t("aliases.set"), type="primary")
    if submitted:
        name = name.strip()
        if not ALIAS_NAME.fullmatch(name):
            st.error(i18n.t("aliases.bad_name"), icon=":material/error:")
        else:
            with st.spinner(i18n.t("models.saving")):
                saved = ui.call(lambda: api.put(f"{ALIASES}/{name}", {"model_id": target}))
            if saved is not None:
                ui.changed(
                    i18n.t("aliases.saved", alias=name, model=target), clear="aliases:name", where="aliases"
                )
    if aliases:
        chosen = st.selectbox(i18n.t("aliases.choose"), [a["alias"] for a in aliases], key="aliases:chosen")
        if ui.confirmed("aliases:delete", i18n.t("aliases.delete"), icon=":material/delete:"):
            with st.spinner(i18n.t("models.saving")):
                deleted = ui.call(lambda: api.delete(f"{ALIASES}/{chosen}") or True)  # 204: no body
            if deleted:
                ui.changed(i18n.t("aliases.deleted", alias=chosen), where="aliases")


st.title(i18n.t("models.title"))
st.caption(i18n.t("models.intro"))
ui.notice()
api = ui.api()
writer = ui.can("catalogue:write")

with st.spinner(i18n.t("models.loading")):
    models = ui.call(lambda: api.get(MODELS))
if models is None:
    st.stop()
ui.table(catalogue_rows(models), "models", empty=i18n.t("models.empty"))

if models:
    by_id = {m["id"]: m for m in models}
    ui.chosen_from_link("model", "models:chosen", by_id)  # a click-through (`?model=<id>`)
    chosen = by_id[
        st.selectbox(
            i18n.t("models.choose"),
            list(by_id),
            format_func=lambda i: f"{by_id[i]['display_name']} ({i})",
            key="models:chosen",
        )
    ]
    if writer:
        tabs = ui.kept_tabs(
            "models:tab", {"usage": i18n.t("models.tab_usage"), "edit": i18n.t("models.tab_edit")}
        )
        with tabs["usage"]:
            usage_and_prices(chosen)
        with tabs["edit"]:
            edit(chosen)
    else:
        usage_and_prices(chosen)
        st.caption(i18n.t("models.read_only"))

if writer:
    with st.expander(i18n.t("models.new"), icon=":material/add:", expanded=not models):
        with st.form("new-model"):
            body = model_form("models:new:", None)
        if body is not None:
            with st.spinner(i18n.t("models.saving")):
                created = ui.call(lambda: api.post(MODELS, body))
            if created is not None:
                ui.changed(i18n.t("models.created_ok", id=created["id"]), clear="models:new:")
    if len(models) > 1:
        with st.expander(i18n.t("models.order"), icon=":material/swap_vert:"):
            st.caption(i18n.t("models.order_help"))
            first = st.multiselect(
                i18n.t("models.order_pick"), [m["id"] for m in models], key="models:order",
                format_func=lambda i: f"{by_id[i]['display_name']} ({i})",
                placeholder=i18n.t("common.choose"),
            )  # fmt: skip
            if ui.confirmed(
                "models:order:save", i18n.t("models.order_save"), icon=":material/save:", disabled=not first
            ):
                with st.spinner(i18n.t("models.saving")):
                    order = ui.call(lambda: api.post(f"{MODELS}/order", {"ids": first}))
                if order is not None:
                    ui.changed(i18n.t("models.order_saved"), clear="models:order")

aliases_section(models)
