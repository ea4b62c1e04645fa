"""The account mails' texts, English and Russian: the confirmation link, the reset link, and the note to the
owner of an address someone tried to sign up with again.

System texts, constants here (staff edit only the notification rules' texts, api/notifications/templates.py).
They are filled by that module's `fill`: a `{name}` takes its value in one pass, so a value that holds
braces stays as it is. A mail is written in the recipient's locale at the time it is sent, English when
the account has another.
"""

from __future__ import annotations

from datetime import timedelta

from api.notifications.templates import fill

CONFIRM_EMAIL = "confirm_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 (a purpose name)
ACCOUNT_EXISTS = "account_exists"

TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        CONFIRM_EMAIL: (
            "Confirm your email",
            "Welcome! Confirm your email address by opening this link (if you did not sign up, ignore this "
            "email):\n\n{link}\n\nThe link works once and expires in {lifetime}.",
        ),
        RESET_PASSWORD: (
            "Reset your password",
            "Someone asked to reset the password of this account. To choose a new one, open this link (if it "
            "was not you, ignore this email: your password stays as it is):\n\n{link}\n\n"
            "The link works once and expires in {lifetime}.",
        ),
        ACCOUNT_EXISTS: (
            "Someone tried to sign up with your email",
            "Someone, perhaps you, tried to create an account with this email address, which already has "
            "one: no new account was made.\n\nIf it was you, sign in (forgot your password? the sign-in "
            "page asks for a reset link): {link}\n\nIf it was not you, ignore this email: your account is "
            "unchanged.",
        ),
    },
    "ru": {
        CONFIRM_EMAIL: (
            "Подтвердите адрес почты",
            "Добро пожаловать! Подтвердите адрес электронной почты: откройте эту ссылку (если вы не "
            "регистрировались, не обращайте внимания на это письмо):\n\n{link}\n\n"
            "Ссылка одноразовая и действует {lifetime}.",
        ),
        RESET_PASSWORD: (
            "Сброс пароля",
            "Кто-то запросил сброс пароля этого аккаунта. Чтобы задать новый пароль, откройте эту ссылку "
            "(если это были не вы, не обращайте внимания на письмо: пароль останется прежним):\n\n{link}\n\n"
            "Ссылка одноразовая и действует {lifetime}.",
        ),
        ACCOUNT_EXISTS: (
            "Кто-то пытался зарегистрироваться с вашим адресом",
            "Кто-то, возможно вы, пытался создать аккаунт с этим адресом электронной почты, но аккаунт с ним "
            "уже есть: новый не создан.\n\nЕсли это были вы, войдите (забыли пароль? на странице входа можно "
            "запросить ссылку для сброса): {link}\n\nЕсли это были не вы, не обращайте внимания на письмо: "
            "с вашим аккаунтом ничего не случилось.",
        ),
    },
}


def text(kind: str, locale: str, *, link: str, lifetime: timedelta | None = None) -> tuple[str, str]:
    """(subject, body) of the `kind` mail in `locale` (English for any other), `link` and the link's
    `lifetime` filled in."""
    language = locale if locale in TEXTS else "en"
    subject, body = TEXTS[language][kind]
    values = {"link": link}
    if lifetime is not None:
        values["lifetime"] = _humanise(lifetime, language)
    return subject, fill(body, values)


def _humanise(lifetime: timedelta, language: str) -> str:
    """'48 hours', '30 minutes'; in Russian with the noun's form for the number ('48 часов', '21 минуту')."""
    minutes = int(lifetime.total_seconds() // 60)
    in_hours = minutes % 60 == 0 and minutes >= 120
    count = minutes // 60 if in_hours else minutes
    if language == "ru":
        forms = ("час", "часа", "часов") if in_hours else ("минуту", "минуты", "минут")
        return f"{count} {_russian_form(count, *forms)}"
    return f"{count} {'hour' if in_hours else 'minute'}{'' if count == 1 else 's'}"


def _russian_form(count: int, one: str, few: str, many: str) -> str:
    if count % 10 == 1 and count % 100 != 11:
        return one
    if count % 10 in (2, 3, 4) and count % 100 not in (12, 13, 14):
        return few
    return many
