"""api/guardrails/pii.py: what is redacted and what is left alone, in Russian and English."""

from __future__ import annotations

import pytest

from api.guardrails.pii import iban_valid, luhn_valid, redact
from api.guardrails.rules import Guardrails, Policy, Rule, first_hit

REDACTED = [
    ("write to ada.lovelace@example.com today", "write to [EMAIL] today", {"email": 1}),
    ("пишите на иван.петров@почта.рф, спасибо", "пишите на [EMAIL], спасибо", {"email": 1}),
    ("Звоните: 8 (916) 123-45-67", "Звоните: [PHONE]", {"phone": 1}),
    ("или 8-916-123-45-67.", "или [PHONE].", {"phone": 1}),
    ("тел. +7 916 123-45-67", "тел. [PHONE]", {"phone": 1}),
    ("London +44 20 7946 0958", "London [PHONE]", {"phone": 1}),
    ("US: +1 (415) 555-2671!", "US: [PHONE]!", {"phone": 1}),
    ("card 4111 1111 1111 1111 exp 12/27", "card [CARD] exp 12/27", {"card": 1}),
    ("карта 5500-0000-0000-0004", "карта [CARD]", {"card": 1}),
    ("amex 378282246310005", "amex [CARD]", {"card": 1}),
    ("IBAN DE89 3704 0044 0532 0130 00, thanks", "IBAN [IBAN], thanks", {"iban": 1}),
    ("счёт GB82WEST12345698765432", "счёт [IBAN]", {"iban": 1}),
    (
        "a@b.io, +44 20 7946 0958 and 4111-1111-1111-1111",
        "[EMAIL], [PHONE] and [CARD]",
        {"email": 1, "phone": 1, "card": 1},
    ),
]

LEFT_ALONE = [
    "order 12345678 shipped",
    "заказ № 1234567890123 от 04.12.2026",
    "date 2026-12-04, time 12:30",
    "not a card: 4111 1111 1111 1112",  # 16 digits, fails Luhn
    "89161234567",  # plain digits: as likely an order number as a phone
    "итого 1 234 567,89 руб.",  # noqa: RUF001 (Russian text)
    "GB82 WEST 1234 5698 7654 33",  # IBAN-shaped, wrong check digits
    "version 3.11.7 and 2+2=4",
    "user@localhost has no domain dot",
]


@pytest.mark.parametrize(("text", "expected", "counts"), REDACTED)
def test_personal_data_is_replaced_by_its_placeholder(text, expected, counts):
    done = redact(text)
    assert (done.text, done.counts) == (expected, counts)


@pytest.mark.parametrize("text", LEFT_ALONE)
def test_numbers_dates_and_near_misses_are_left_alone(text):
    assert redact(text).text == text and redact(text).counts == {}


def test_the_checksums():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid("DE88 3704 0044 0532 0130 00")


def test_a_megabyte_of_near_misses_is_scanned_without_backtracking_blowups():
    text = ("a" * 70 + "@") * 5_000 + "1 " * 200_000 + "+7" * 50_000
    assert redact(text).counts == {}


def test_a_term_matches_whole_words_in_any_case_and_the_role_comes_first():
    role = Policy("role", "paraphrase", rules=(Rule.of("bomb", "term", "Бомба"),))
    plan = Policy("plan", "free", rules=(Rule.of("bomb-en", "term", "bomb"),))
    guardrails = Guardrails({("role", "paraphrase"): role, ("plan", "free"): plan})
    policies = guardrails.applying("paraphrase", "free")
    assert first_hit(policies, ["это БОМБА!"]).rule == "bomb"
    assert first_hit(policies, ["a bomb"]).rule == "bomb-en"
    assert first_hit(policies, ["bombastic бомбардир"]) is None
    assert guardrails.applying(None, "pro") == []
