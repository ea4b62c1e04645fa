"""The password policy: 8 to 128 characters, no composition rules, not one of the most common passwords.

The list is the 30,000 most common passwords that zxcvbn bundles (from leaked password corpora).
"""

from __future__ import annotations

from functools import lru_cache

from api.core.errors import AppError

MIN_LENGTH = 8
MAX_LENGTH = 128


class PasswordTooCommon(AppError):
    status_code = 422
    code = "password_too_common"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_new_password(password: str, *, email: str | None = None) -> None:
    """Raise PasswordTooCommon for a password everyone tries first (or the account's own email)."""
    lowered = password.lower()
    if lowered in common_passwords() or (email and lowered in {email.lower(), email.split("@")[0].lower()}):
        raise PasswordTooCommon("this password is too common: choose another one")
