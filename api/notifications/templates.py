"""Notification texts: str.format templates per locale, each rule with the placeholders it may use."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from api.core.errors import AppError

COMMON = frozenset({"email", "plan", "app_url"})
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "welcome": COMMON,
    "quota_exhausted": COMMON | {"limit", "metric", "resets_at"},
    "balance_low": COMMON | {"balance", "threshold"},
    "broadcast": COMMON,
}

DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "welcome": {
        "channels": ["email", "in_app"],
        "threshold": None,
        "templates": {
            "en": {
                "subject": "Welcome to the assistant",
                "body": "Hello {email},\n\nyour account is ready on the {plan} plan. Start here: {app_url}\n",
            },
            "ru": {
                "subject": "Добро пожаловать",
                "body": "Здравствуйте, {email}!\n\nВаш аккаунт готов, тариф {plan}. Начать: {app_url}\n",
            },
        },
    },
    "quota_exhausted": {
        "channels": ["email", "in_app"],
        "threshold": None,
        "templates": {
            "en": {
                "subject": "You have used today's limit",
                "body": "Your {plan} plan allows {limit} ({metric}). It resets at {resets_at} UTC. "
                "Upgrade for more: {app_url}\n",
            },
            "ru": {
                "subject": "Дневной лимит исчерпан",
                "body": "Тариф {plan} позволяет {limit} ({metric}). Лимит обновится в {resets_at} UTC. "
                "Больше возможностей: {app_url}\n",
            },
        },
    },
    "balance_low": {
        "channels": ["email", "in_app"],
        "threshold": "10",
        "templates": {
            "en": {
                "subject": "Your balance is low",
                "body": "You have {balance} credits left (below {threshold}). Top up: {app_url}\n",
            },
            "ru": {
                "subject": "Баланс на исходе",
                "body": "Осталось {balance} кредитов (меньше {threshold}). Пополнить: {app_url}\n",
            },
        },
    },
}


class UnknownPlaceholder(AppError):
    status_code = 422
    code = "unknown_placeholder"


def check(kind: str, templates: Mapping[str, Mapping[str, str]]) -> None:
    """Refuse a template that names a placeholder the rule does not provide, or is not a valid template."""
    allowed = PLACEHOLDERS[kind]
    for locale, parts in templates.items():
        for part, text in parts.items():
            try:
                names = {
                    field.split(".")[0].split("[")[0]
                    for _, field, _, _ in string.Formatter().parse(text)
                    if field is not None
                }
            except ValueError as exc:
                raise UnknownPlaceholder(f"{locale} {part}: not a valid template ({exc})") from None
            if unknown := names - allowed:
                raise UnknownPlaceholder(
                    f"{locale} {part}: unknown placeholder(s) {sorted(unknown)}; "
                    f"this one may use {sorted(allowed)}"
                )


class _Values(dict):
    def __missing__(self, key: str) -> str:  # a placeholder without a value stays as written
        return "{" + key + "}"


def render(
    templates: Mapping[str, Mapping[str, str]], locale: str, values: Mapping[str, Any]
) -> tuple[str, str]:
    """(subject, body) in the locale, falling back to English when it has no text of its own."""
    chosen = templates.get(locale) or templates["en"]
    formatter = string.Formatter()
    data = _Values({k: "" if v is None else v for k, v in values.items()})
    return formatter.vformat(chosen["subject"], (), data), formatter.vformat(chosen["body"], (), data)
