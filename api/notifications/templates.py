"""Notification texts: templates per locale, each rule with the placeholders it may use.

The only markup is a placeholder, `{name}`, and `{{` / `}}` for a brace. Not str.format, whose fields
reach attributes and items (`{email.__class__.__mro__}`) and whose format specs pad without limit
(`{email:>999999999}`, a gigabyte per recipient). A template is checked where staff write it (`check`:
422 `bad_template`, `unknown_placeholder`, or `template_too_long` when it could render longer than
MAX_BODY); rendering never raises, leaves anything else as written, and cuts at the limits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from api.core.errors import AppError

# The longest value of each placeholder: emails are stored in 320 characters, plan codes in 32.
VALUE_LENGTHS = {
    "email": 320,
    "plan": 32,
    "app_url": 2048,
    "limit": 32,
    "metric": 32,
    "resets_at": 32,
    "balance": 32,
    "threshold": 32,
}
COMMON = frozenset({"email", "plan", "app_url"})
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "welcome": COMMON,
    "quota_exhausted": COMMON | {"limit", "metric", "resets_at"},
    "balance_low": COMMON | {"balance", "threshold"},
    "broadcast": COMMON,
}
# A rendered subject is cut to its columns' size; a body template is refused if it could render longer.
MAX_SUBJECT = 300
MAX_BODY = 50_000
_MARKUP = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"[a-z_]+")

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


class BadTemplate(AppError):
    status_code = 422
    code = "bad_template"


class TemplateTooLong(AppError):
    status_code = 422
    code = "template_too_long"


TEMPLATE_ERRORS = (UnknownPlaceholder, BadTemplate, TemplateTooLong)


def check(kind: str, templates: Mapping[str, Mapping[str, str]]) -> None:
    """Refuse a text with markup other than the rule's `{name}` placeholders, or whose body could render
    longer than MAX_BODY characters with every placeholder at its longest."""
    allowed = PLACEHOLDERS[kind]
    for locale, parts in templates.items():
        for part, text in parts.items():
            length = 0
            for match in _MARKUP.finditer(text):
                token, name = match.group(0), match.group(1)
                if token in ("{{", "}}"):
                    continue
                if name is None or not _NAME.fullmatch(name):
                    raise BadTemplate(
                        f"{locale} {part}: {token[:40]!r} is not a placeholder: write one as {{name}} "
                        "(no attributes, indexes or formats), and a brace as {{ or }}"
                    )
                if name not in allowed:
                    raise UnknownPlaceholder(
                        f"{locale} {part}: unknown placeholder {{{name}}}; this one may use {sorted(allowed)}"
                    )
                length += VALUE_LENGTHS[name] - len(token)
            if part == "body" and len(text) + length > MAX_BODY:
                raise TemplateTooLong(
                    f"{locale} body: could be {len(text) + length} characters long once filled in (each "
                    f"{{email}} up to {VALUE_LENGTHS['email']}); at most {MAX_BODY}"
                )


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `{name}` of `values` replaced and `{{`, `}}` made braces; the rest as written."""

    def one(match: re.Match[str]) -> str:
        token, name = match.group(0), match.group(1)
        if token in ("{{", "}}"):
            return token[0]
        return values[name] if name in values else token

    return _MARKUP.sub(one, text)


def render(
    templates: Mapping[str, Mapping[str, str]], locale: str, values: Mapping[str, Any]
) -> tuple[str, str]:
    """(subject, body) in the locale, falling back to English when it has no text of its own. A
    placeholder without a value stays as written (a broadcast fills {email} and {plan} in SQL)."""
    chosen = templates.get(locale) or templates["en"]
    data = {name: "" if value is None else str(value) for name, value in values.items()}
    return fill(chosen["subject"], data)[:MAX_SUBJECT], fill(chosen["body"], data)[:MAX_BODY]
