"""English and Russian for every label of the panel, switchable at runtime; numbers and dates per locale.

The texts live in one catalogue per language, `dashboard/locales/<language>.toml`, under keys namespaced by
the page that shows them (`users.block`); code looks one up with `t("users.block", email=...)`.
`tests/dashboard/test_i18n.py` holds the catalogues to the same keys and placeholders, and to the keys the
code uses.

Two tables name what comes from elsewhere (decision 0039): `[columns]` labels the snake_case columns of the
warehouse's tables (`column("cost_usd")`, for table headers and chart axes), `[errors]` words each stable
error code the API refuses with (`error("quota_exceeded", message)`), in the staff member's language.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import streamlit as st

LANGUAGES = {"en": "English", "ru": "Русский"}
LOCALES = Path(__file__).resolve().parent / "locales"
_VEGA_RU = {  # d3's ru-RU number and time locales
    "number": {"decimal": ",", "thousands": "\u202f", "grouping": [3], "currency": ["", "\u00a0$"]},
    "time": {
        "dateTime": "%A, %e %B %Y г. %X", "date": "%d.%m.%Y", "time": "%H:%M:%S", "periods": ["AM", "PM"],
        "days": ["воскресенье", "понедельник", "вторник", "среда", "четверг", "пятница", "суббота"],
        "shortDays": ["вс", "пн", "вт", "ср", "чт", "пт", "сб"],
        "months": ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
                   "октября", "ноября", "декабря"],
        "shortMonths": ["янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"],
    },
}  # fmt: skip
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def current() -> str:
    return st.session_state.get("locale", "en")


@cache
def catalogue(language: str) -> dict[str, str]:
    """A language's texts by their dotted key: `[users]` `block = "Block"` is `users.block`."""
    with (LOCALES / f"{language}.toml").open("rb") as file:
        return dict(_flat(tomllib.load(file)))


def _flat(table: dict[str, Any], prefix: str = ""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        elif isinstance(value, str):
            yield f"{prefix}{key}", value
        else:
            raise TypeError(f"{prefix}{key} is not a text: {value!r}")


def t(key: str, **values: object) -> str:
    """The text of `key` in the current language, `str.format`ted with `values`."""
    text = catalogue(current())[key]
    return text.format(**values) if values else text


def has(key: str) -> bool:
    """Whether the catalogues have a text for `key` (for codes that may come without one)."""
    return key in catalogue(current())


class Shown(str):
    """A number or a time as the panel writes it, that keeps the value it shows (`.value`): a page shows the
    text; a table's downloads (dashboard/ui.py `table`) write the value, so that a spreadsheet gets
    numeric and date cells it can sum and sort."""

    value: Any

    def __new__(cls, text: str, value: Any) -> Shown:
        shown = super().__new__(cls, text)
        shown.value = value
        return shown


NOTHING = Shown("—", None)


def column(name: str) -> str:
    """The label of a data column (`[columns]`): `cost_usd` is "Cost, USD" in English, "Стоимость, USD" in
    Russian. A name without a label is shown as it is (tests/dashboard hold every shown column to a label)."""
    return catalogue(current()).get(f"columns.{name}", name)


def error(code: str, message: str, params: dict[str, Any] | None = None) -> str:
    """An API refusal in the staff member's language, by its stable code. With the specifics the API gave
    (`params`: "role", "permission"), the `[error_details]` wording of the code with them filled in (a role
    by its name in the language); else, in English, the API's own message (it names the specifics too), and
    in another language the `[errors]` catalogue's words, or the API's message for a code the catalogues do
    not know (a provider's own)."""
    words = catalogue(current())
    if params and (template := words.get(f"error_details.{code}")):
        named = {k: words.get(f"users.role_{v}", v) if k == "role" else v for k, v in params.items()}
        try:
            return template.format(**named)
        except (KeyError, IndexError, ValueError):  # the API gave other specifics than the wording takes
            pass
    if current() == "en" and message:
        return message
    return words.get(f"errors.{code}", message)


def chart_locale() -> dict[str, Any]:
    """The number and time formats of a Vega-Lite chart (its `config.locale`) in the current language: the
    axes of a Russian chart read 1 234,5 and "нояб."; English keeps Vega's own."""
    return _VEGA_RU if current() == "ru" else {}


def number(value: float | int | Decimal | None, decimals: int = 0) -> str:
    """1,234.5 in English, 1 234,5 in Russian (a narrow no-break space between thousands)."""
    if value is None:
        return NOTHING
    text = f"{float(value):,.{decimals}f}"
    if current() == "ru":
        text = text.replace(",", "\u202f").replace(".", ",")
    return Shown(text, value)


def percent(value: float | None, decimals: int = 1) -> str:
    if value is None:
        return NOTHING
    shown = number(100 * value, decimals)
    return Shown(f"{shown} %", shown.value)


def day(value: date | datetime | None) -> str:
    """22 Nov 2026 in English, 22.11.2026 in Russian."""
    if value is None:
        return NOTHING
    if current() == "ru":
        return Shown(f"{value:%d.%m.%Y}", value)
    return Shown(f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}", value)


def moment(value: datetime | str | None) -> str:
    """A day and a UTC time, in the locale's form."""
    if value is None or value == "":
        return NOTHING
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return Shown(f"{day(value)} {value:%H:%M} UTC", value)


def duration(seconds: float | None) -> str:
    """An age or a span, roughly: 45 s, 12 min, 3 h 5 min, 2 d 4 h (the Russian units in Russian)."""
    if seconds is None:
        return "—"
    s, m, h, d = t("common.seconds"), t("common.minutes"), t("common.hours"), t("common.days")
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} {s}"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} {m}"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} {h} {minutes} {m}" if minutes else f"{hours} {h}"
    days, hours = divmod(hours, 24)
    return f"{days} {d} {hours} {h}" if hours else f"{days} {d}"


def amount(value: float | int | Decimal | str | None, max_decimals: int = 6) -> str:
    """A price or a rate with the decimals it needs (at least 2, at most `max_decimals`): 0.15, 0.000125."""
    if value is None or value == "":
        return "—"
    exponent = Decimal(str(value)).normalize().as_tuple().exponent
    decimals = min(max_decimals, max(2, -exponent if isinstance(exponent, int) else 2))
    return number(Decimal(str(value)), decimals)


def yes_no(value: bool | None) -> str:
    if value is None:
        return "—"
    return t("common.yes") if value else t("common.no")
