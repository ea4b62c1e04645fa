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
        "completions": ("Completions", "Ответы"),
        "failed_calls": ("Failed calls", "Неудачные вызовы"),
        "users": ("Users", "Пользователи"),
        "input_tokens": ("Input tokens", "Входные токены"),
        "output_tokens": ("Output tokens", "Выходные токены"),
        "cost_usd": ("Cost, USD", "Стоимость, USD"),
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


def duration(seconds: float | None) -> str:
    """An age or a span, roughly: 45 s, 12 min, 3 h 5 min, 2 d 4 h (the Russian units in Russian)."""
    if seconds is None:
        return "—"
    s, m, h, d = ("с", "мин", "ч", "д") if current() == "ru" else ("s", "min", "h", "d")
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
    return ("yes", "да")[current() == "ru"] if value else ("no", "нет")[current() == "ru"]
