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

T = i18n.texts(
    {
        "title": ("Settings", "Настройки"),
        "intro": (
            "Global settings of the service. A change applies at once (other API processes within the "
            "catalogue cache time) and is written to the audit log.",
            "Общие настройки сервиса. Изменение действует сразу (в других процессах API — в пределах времени "
            "кэша каталога) и записывается в журнал аудита.",
        ),
        "loading": ("Loading settings…", "Загрузка настроек…"),
        "credit_costs": ("A credit costs", "Кредит стоит"),
        "credit_covers": ("A credit covers", "Кредит покрывает"),
        "registration": ("Registration", "Регистрация"),
        "new_accounts": ("New accounts", "Новые учётные записи"),
        "open": ("open", "открыта"),
        "closed": ("closed", "закрыта"),
        "default_plan": ("Plan of new accounts", "Тариф новых учётных записей"),
        "credit_rate": ("Credit rate", "Курс кредитов"),
        "currency": ("Currency (ISO code)", "Валюта (код ISO)"),
        "price_per_credit": ("Price of one credit, in the currency", "Цена одного кредита, в валюте"),
        "usd_per_credit": ("Usage one credit covers, USD", "Расход, покрываемый одним кредитом, USD"),
        "rate_help": (
            "A top-up of X in the currency gives X ÷ price credits; a call costing C USD takes C ÷ USD per "
            "credit credits.",
            "Пополнение на X в валюте даёт X ÷ цена кредитов; вызов стоимостью C USD списывает C ÷ (USD за "
            "кредит) кредитов.",
        ),
        "registration_open": ("Registration is open", "Регистрация открыта"),
        "registration_help": (
            "Closed: new sign-ups are refused (`registration_closed`); existing accounts are not affected.",
            "Закрыта: новые регистрации отклоняются (`registration_closed`); существующих учётных записей "
            "это не касается.",
        ),
        "save": ("Save settings", "Сохранить настройки"),
        "saving": ("Saving…", "Сохранение…"),
        "saved": ("Settings saved: {changed}.", "Настройки сохранены: {changed}."),
        "nothing": ("Nothing changed.", "Ничего не изменилось."),
        "bad_currency": (
            "The currency is a three-letter ISO code, e.g. USD, EUR, RUB.",
            "Валюта — трёхбуквенный код ISO, например USD, EUR, RUB.",
        ),
        "bad_rate": (
            "Both amounts of the rate must be above zero.",
            "Обе величины курса должны быть больше нуля.",
        ),
        "no_plans": (
            "The list of plans could not be loaded: the default plan cannot be changed now.",
            "Не удалось загрузить тарифы: тариф по умолчанию сейчас изменить нельзя.",
        ),
    }
)


def plan_label(code: str, plans: dict[str, Any]) -> str:
    return f"{plans[code]['name']} ({code})" if code in plans else code


def six(value: float | str) -> Decimal:
    return Decimal(f"{Decimal(str(value)):.6f}")


st.title(T("title"))
st.caption(T("intro"))
ui.notice()
api = ui.api()

with st.spinner(T("loading")):
    current = ui.call(lambda: api.get(SETTINGS))
    plan_list = ui.call(lambda: api.get(PLANS)) if current is not None else None
if current is None:
    st.stop()
plans = {p["code"]: p for p in plan_list or []}
rate = current["credit_rate"]

ui.metrics(
    [
        (T("credit_costs"), f"{i18n.amount(rate['price_per_credit'])} {rate['currency']}"),
        (T("credit_covers"), f"{i18n.amount(rate['usd_per_credit'])} USD"),
        (T("registration"), T("open") if current["registration_open"] else T("closed")),
        (T("default_plan"), plan_label(current["default_plan"], plans)),
    ],
    per_row=2,
)

with st.form("settings:form"):
    st.subheader(T("credit_rate"))
    st.caption(T("rate_help"))
    currency = st.text_input(T("currency"), rate["currency"], max_chars=3, key="settings:currency")
    left, right = st.columns(2)
    price = left.number_input(
        T("price_per_credit"), 0.000001, 1_000_000.0, float(rate["price_per_credit"]), 0.01, format="%.6f",
        key="settings:price",
    )  # fmt: skip
    covers = right.number_input(
        T("usd_per_credit"), 0.000001, 1_000_000.0, float(rate["usd_per_credit"]), 0.01, format="%.6f",
        key="settings:covers",
    )  # fmt: skip
    st.subheader(T("new_accounts"))
    registration = st.toggle(
        T("registration_open"), current["registration_open"], key="settings:registration",
        help=T("registration_help"),
    )  # fmt: skip
    choices = list(plans) or [current["default_plan"]]
    if current["default_plan"] not in choices:
        choices.append(current["default_plan"])
    default_plan = st.selectbox(
        T("default_plan"), choices, index=choices.index(current["default_plan"]), key="settings:plan",
        format_func=lambda code: plan_label(code, plans), disabled=not plans,
    )  # fmt: skip
    if not plans:
        st.caption(T("no_plans"))
    submitted = st.form_submit_button(T("save"), type="primary")

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
        labels.append(T("credit_rate"))
    if registration != current["registration_open"]:
        changes["registration_open"] = registration
        labels.append(T("registration"))
    if default_plan != current["default_plan"]:
        changes["default_plan"] = default_plan
        labels.append(T("default_plan"))
    if not re.fullmatch(r"[A-Z]{3}", currency):
        st.error(T("bad_currency"), icon=":material/error:")
    elif six(price) <= 0 or six(covers) <= 0:
        st.error(T("bad_rate"), icon=":material/error:")
    elif not changes:
        st.info(T("nothing"), icon=":material/info:")
    else:
        with st.spinner(T("saving")):
            saved = ui.call(lambda: api.patch(SETTINGS, changes))
        if saved is not None:
            ui.changed(T("saved", changed=", ".join(labels).lower()), forget="settings:")
