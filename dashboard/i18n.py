"""English and Russian for every label of the panel, switchable at runtime; numbers and dates per locale.

Each page keeps its own texts beside its code, as `T = i18n.texts({"key": ("English", "Русский")})`, so a
label cannot exist in one language only; `tests/dashboard` checks that no page shows a bare key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal

import streamlit as st

LANGUAGES = {"en": "English", "ru": "Русский"}
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def current() -> str:
    return st.session_state.get("locale", "en")


def texts(table: Mapping[str, tuple[str, str]]) -> Callable[..., str]:
    """`t(key, **values)`: the label in the current language, `str.format`ted with `values`."""

    def t(key: str, **values: object) -> str:
        english, russian = table[key]
        text = russian if current() == "ru" else english
        return text.format(**values) if values else text

    t.table = table  # for the tests
    return t


# Labels every page uses.
t = texts(
    {
        "download_csv": ("Download CSV", "Скачать CSV"),
        "download_xlsx": ("Download XLSX", "Скачать XLSX"),
        "confirm": ("Confirm", "Подтвердить"),
        "cancel": ("Cancel", "Отмена"),
        "are_you_sure": ("Are you sure? {action}", "Вы уверены? {action}"),
        "reason": ("Reason", "Причина"),
        "save": ("Save", "Сохранить"),
        "done": ("Done.", "Готово."),
        "no_data": ("Nothing here yet.", "Здесь пока ничего нет."),
        "not_published": (
            "No analytics yet: the pipeline has not published the warehouse. Run `aiadmin pipeline run`.",
            "Аналитики пока нет: конвейер ещё не опубликовал хранилище. Запустите `aiadmin pipeline run`.",
        ),
        "loading": ("Loading…", "Загрузка…"),
        "period": ("Period (UTC days)", "Период (дни UTC)"),
        "grain": ("Group by", "Группировать по"),
        "day": ("day", "день"),
        "week": ("week", "неделя"),
        "month": ("month", "месяц"),
        "language": ("Language", "Язык"),
        "sign_out": ("Sign out", "Выйти"),
        "data": ("Data", "Данные"),
        "search": ("Search", "Поиск"),
        "page": ("Page", "Страница"),
        "total": ("{count} in all", "Всего: {count}"),
    }
)


def number(value: float | int | Decimal | None, decimals: int = 0) -> str:
    """1,234.5 in English, 1 234,5 in Russian (a narrow no-break space between thousands)."""
    if value is None:
        return "—"
    text = f"{float(value):,.{decimals}f}"
    if current() == "ru":
        return text.replace(",", "\u202f").replace(".", ",")
    return text


def percent(value: float | None, decimals: int = 1) -> str:
    return "—" if value is None else f"{number(100 * value, decimals)} %"


def day(value: date | datetime | None) -> str:
    """22 Nov 2026 in English, 22.11.2026 in Russian."""
    if value is None:
        return "—"
    if current() == "ru":
        return f"{value:%d.%m.%Y}"
    return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"


def moment(value: datetime | str | None) -> str:
    """A day and a UTC time, in the locale's form."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return f"{day(value)} {value:%H:%M} UTC"
