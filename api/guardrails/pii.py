"""Personal data taken out of a prompt before it leaves for a provider (docs/decisions/0056).

Pure functions, no I/O, no model: four kinds of data that a regular expression finds and a checksum
confirms well enough, in Russian and English text alike. Each is replaced by a placeholder that reads the
same in any language (`[EMAIL]`, `[PHONE]`, `[CARD]`, `[IBAN]`), so the model still sees that something
was there and the answer stays sensible.

- **Emails**: a local part and a domain with a dot, Latin or Cyrillic (`ivan@почта.рф`).
- **Phone numbers**: international ones written with `+` and a country code (`+7 916 123-45-67`,
  `+44 20 7946 0958`, `+1 (415) 555-2671`: 10-15 digits), and the Russian domestic form that starts with
  8 and has a separator or brackets (`8 (916) 123-45-67`, `8-916-123-45-67`). A run of digits with no `+`
  and no such shape (an order number, a date, `89161234567` written plain) is left alone: too many
  numbers look like that.
- **Card numbers**: 13-19 digits, optionally in groups split by a space or a dash, that pass the Luhn
  check; a 16-digit number that fails it is left alone.
- **IBANs**: two letters, two check digits and 11-30 letters or digits (optionally in groups of four),
  that pass the ISO 7064 mod-97 check.

Every pattern is bounded (no unbounded repeat after a part that may match the same text again), so a
hostile prompt of megabytes costs linear time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

PLACEHOLDERS = {"email": "[EMAIL]", "phone": "[PHONE]", "card": "[CARD]", "iban": "[IBAN]"}

_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]{1,64}@(?:[^\W_][\w-]{0,62}\.){1,8}[^\W\d_]{2,24}(?![\w-])")
# Written as banks print them: in capitals, in groups of four or in one piece.
_IBAN = re.compile(r"(?<!\w)[A-Z]{2}\d{2}(?:(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?|[A-Z0-9]{11,30})(?!\w)")
_CARD = re.compile(r"(?<![\d\w])\d(?:[ -]?\d){12,18}(?![\d\w])")
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d(?:[ ().-]{0,2}\d){9,14}(?![\d\w])")
_PHONE_RU = re.compile(r"(?<![\w+])8[ -]?\(?\d{3}\)?[ -]?\d{3}[ -]?\d{2}[ -]?\d{2}(?![\d\w])")


def luhn_valid(digits: str) -> bool:
    """The Luhn check of a card number (digits only)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """The mod-97 check of an IBAN (ISO 13616: the first four characters moved to the end, letters as
    10-35, the number modulo 97 is 1)."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _card(found: str) -> bool:
    digits = _digits(found)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _phone_ru(found: str) -> bool:
    return not found.isdigit()  # written plain, it is as likely an order number


@dataclass(frozen=True, slots=True)
class _Kind:
    name: str
    pattern: re.Pattern[str]
    confirm: Callable[[str], bool] | None = None


# In this order: an IBAN and a card number hold runs of digits that the phone patterns would take apart.
KINDS = (
    _Kind("email", _EMAIL),
    _Kind("iban", _IBAN, iban_valid),
    _Kind("card", _CARD, _card),
    _Kind("phone", _PHONE_INTERNATIONAL),
    _Kind("phone", _PHONE_RU, _phone_ru),
)


@dataclass(frozen=True, slots=True)
class Redacted:
    text: str
    counts: dict[str, int]  # kind -> how many were replaced (never what)


def redact(text: str) -> Redacted:
    """`text` with every email, phone number, card number and IBAN replaced by its placeholder."""
    counts: Counter[str] = Counter()
    for kind in KINDS:

        def replace(match: re.Match[str], kind: _Kind = kind) -> str:
            found = match.group(0)
            if kind.confirm is not None and not kind.confirm(found):
                return found
            counts[kind.name] += 1
            return PLACEHOLDERS[kind.name]

        text = kind.pattern.sub(replace, text)
    return Redacted(text, dict(counts))
