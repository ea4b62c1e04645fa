"""Settings: the credit rate and its currency, whether registration is open, and the plan new accounts
get. Each change applies at once and is audited."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import streamlit as st

from dashboard import i18n, ui

SETTINGS = "/api/v1/admin/settings"
PLANS = "/api/v1/admin/plans"


def plan_label(code: str, plans: dict[str, Any]) -> str:
    return f"{plans[code]['name']} ({code})" if code in plans else code


def six(value: float | str) -> Decimal:
    return Decimal(f"{Decimal(str(value)):.6f}")


st.title(i18n.t("settings.title"))
st.caption(i18n.t("settings.intro"))
ui.notice()
api = ui.api()

with st.spinner(i18n.t("settings.loading")):
    current = ui.call(lambda: api.get(SETTINGS))
    plan_list = ui.call(lambda: api.get(PLANS)) if current is not None else None
if current is None:
    st.stop()
plans = {p["code"]: p for p in plan_list or []}
rate = current["credit_rate"]

ui.metrics(
    [
        (i18n.t("settings.credit_costs"), f"{i18n.amount(rate['price_per_credit'])} {rate['currency']}"),
        (i18n.t("settings.credit_covers"), f"{i18n.amount(rate['usd_per_credit'])} USD"),
        (
            i18n.t("settings.registration"),
            i18n.t("settings.open") if current["registration_open"] else i18n.t("settings.closed"),
        ),
        (i18n.t("settings.default_plan"), plan_label(current["default_plan"], plans)),
    ],
    per_row=2,
)

with st.form("settings:form"):
    st.subheader(i18n.t("settings.credit_rate"))
    st.caption(i18n.t("settings.rate_help"))
    currency = st.text_input(
        i18n.t("settings.currency"), rate["currency"], max_chars=3, key="settings:currency"
    )
    left, right = st.columns(2)
    price = left.number_input(
        i18n.t("settings.price_per_credit"), 0.000001, 1_000_000.0, float(rate["price_per_credit"]), 0.01,
        format="%.6f", key="settings:price",
    )  # fmt: skip
    covers = right.number_input(
        i18n.t("settings.usd_per_credit"), 0.000001, 1_000_000.0, float(rate["usd_per_credit"]), 0.01,
        format="%.6f", key="settings:covers",
    )  # fmt: skip
    st.subheader(i18n.t("settings.new_accounts"))
    registration = st.toggle(
        i18n.t("settings.registration_open"), current["registration_open"], key="settings:registration",
        help=i18n.t("settings.registration_help"),
    )  # fmt: skip
    choices = list(plans) or [current["default_plan"]]
    if current["default_plan"] not in choices:
        choices.append(current["default_plan"])
    default_plan = st.selectbox(
        i18n.t("settings.default_plan"), choices, index=choices.index(current["default_plan"]),
        key="settings:plan", format_func=lambda code: plan_label(code, plans), disabled=not plans,
    )  # fmt: skip
    if not plans:
        st.caption(i18n.t("settings.no_plans"))
    submitted = st.form_submit_button(i18n.t("settings.save"), type="primary")

if submitted:
    currency = currency.strip().upper()
    changes: dict[str, Any] = {}
    labels = []
    new_rate = {"currency": currency, "price_per_credit": str(six(price)), "usd_per_credit": str(six(covers))}
    if (currency, six(price), six(covers)) != (
        rate["currency"],
        six(rate["price_per_credit"]),
        six(rate["usd_per_credit"]),
    ):
        changes["credit_rate"] = new_rate
        labels.append(i18n.t("settings.credit_rate"))
    if registration != current["registration_open"]:
        changes["registration_open"] = registration
        labels.append(i18n.t("settings.registration"))
    if default_plan != current["default_plan"]:
        changes["default_plan"] = default_plan
        labels.append(i18n.t("settings.default_plan"))
    if not re.fullmatch(r"[A-Z]{3}", currency):
        st.error(i18n.t("settings.bad_currency"), icon=":material/error:")
    elif six(price) <= 0 or six(covers) <= 0:
        st.error(i18n.t("settings.bad_rate"), icon=":material/error:")
    elif not changes:
        st.info(i18n.t("settings.nothing"), icon=":material/info:")
    else:
        with st.spinner(i18n.t("settings.saving")):
            saved = ui.call(lambda: api.patch(SETTINGS, changes))
        if saved is not None:
            ui.changed(i18n.t("settings.saved", changed=", ".join(labels).lower()), forget="settings:")
