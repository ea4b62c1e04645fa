"""English and Russian for every text of the portal: one catalogue per language, `portal/locales/<lang>.toml`,
under dotted keys (`sign_in.title`); `[errors]` words each stable code the API refuses with."""

from __future__ import annotations

import tomllib
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = {"en": "English", "ru": "Русский"}
LOCALES = Path(__file__).resolve().parent / "locales"


@cache
def catalogue(language: str) -> dict[str, str]:
    with (LOCALES / f"{language}.toml").open("rb") as file:
        return dict(_flat(tomllib.load(file)))


def _flat(table: dict[str, Any], prefix: str = ""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def translator(language: str):
    texts = catalogue(language)

    def t(key: str, **values: Any) -> str:
        return texts[key].format(**values)

    return t


def error(language: str, code: str, message: str, extra: dict[str, Any]) -> str:
    """The refusal `code` worded in `language`; a code the catalogue does not know keeps the API's words."""
    texts = catalogue(language)
    text = texts.get(f"errors.{code}")
    if text is None:
        return texts["errors.other"].format(message=message)
    params = extra.get("params") if isinstance(extra.get("params"), dict) else {}
    values = _Missing(
        {
            **{k: number(v) for k, v in params.items()},
            "message": message,
            "retry_after": extra.get("retry_after", "?"),
        }
    )
    return text.format_map(values)


class _Missing(dict):
    """A refusal's values; one the API did not send shows as "?" rather than failing the page."""

    def __missing__(self, key: str) -> str:
        return "?"


def negotiate(accept_language: str) -> str:
    """Russian if the browser puts it before English, else English."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith(("ru", "en")):
            return tag[:2]
    return "en"


def number(value: Any) -> str:
    """A decimal as the API sends it ("40.000000") as people write it ("40"; "12.5"; "-0.25")."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
