"""Guardrail policies as the gateway applies them: pure, no I/O (docs/decisions/0056).

A role or a plan may have a policy: `redact_pii` (api/guardrails/pii.py) and blocked-content rules, each a
`term` (a word or phrase, matched whole, in any case) or a `pattern` (a regular expression, in any case).
A call is under its role's policy and its plan's together: redacted when either says so, refused when a
rule of either matches a message the client sent (the role's own system prompt is staff's and is not
checked).

**ReDoS.** Python's `re` cannot be stopped once it runs, so a pattern is judged when saved, by its parsed
form (`re._parser`), and refused unless its worst case is linear in the text:

- no unbounded repeat (`*`, `+`, `{n,}`): write `{0,20}` instead;
- no repeat inside a repeat, and no alternation inside a repeat (`(a+)+`, `(a|aa){1,9}`): the classic
  exponential cases;
- no backreference (`\\1`, `(?P=name)`), which `re` solves by backtracking;
- the repeats' bounds multiplied together at most `REPEAT_BUDGET` (sequential bounded repeats over the
  same characters backtrack through every split between them);
- at most `MAX_PATTERN` characters.

So a pattern tries at most `REPEAT_BUDGET` paths at each position of a text the request guard already
bounds (`AIADMIN_MAX_BODY_BYTES`).
"""

from __future__ import annotations

import re
import re._constants as sre  # the parsed form's opcodes (the standard library's own)
import re._parser as sre_parse
from collections.abc import Iterable
from dataclasses import dataclass, field

SCOPES = ("role", "plan")
KINDS = ("term", "pattern")
MAX_RULES = 50  # a policy's rules
MAX_TERM = 100  # characters of a term
MAX_PATTERN = 200  # characters of a pattern
REPEAT_BUDGET = 1_000
RULE_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"

_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT}


class UnsafePattern(ValueError):
    """A pattern refused when saved: the message says why, for the staff member who wrote it."""


def _walk(parsed, inside_repeat: bool, budget: list[int]) -> None:
    for op, arg in parsed:
        if op in _REPEATS:
            _low, high, body = arg
            if high == sre.MAXREPEAT:
                raise UnsafePattern("unbounded repeat (*, + or {n,}): give it an upper bound, e.g. {0,20}")
            if inside_repeat and high > 1:
                raise UnsafePattern("a repeat inside a repeat can take exponential time")
            budget[0] *= high + 1
            if budget[0] > REPEAT_BUDGET:
                raise UnsafePattern(f"the repeats' bounds multiply to more than {REPEAT_BUDGET}")
            _walk(body, inside_repeat or high > 1, budget)
        elif op == sre.BRANCH:
            if inside_repeat:
                raise UnsafePattern("alternation inside a repeat can take exponential time")
            for branch in arg[1]:
                _walk(branch, inside_repeat, budget)
        elif op == sre.SUBPATTERN:
            _walk(arg[3], inside_repeat, budget)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            _walk(arg[1], inside_repeat, budget)
        elif op == sre.ATOMIC_GROUP:
            _walk(arg, inside_repeat, budget)
        elif op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
            raise UnsafePattern("backreferences are not allowed")


def check_pattern(pattern: str) -> re.Pattern[str]:
    """The pattern compiled (in any case), or UnsafePattern saying why it is refused."""
    if not pattern or len(pattern) > MAX_PATTERN:
        raise UnsafePattern(f"a pattern has 1-{MAX_PATTERN} characters")
    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE)
    except re.error as exc:
        raise UnsafePattern(f"not a regular expression: {exc}") from None
    _walk(parsed, False, [1])
    return re.compile(pattern, re.IGNORECASE)


def term_pattern(term: str) -> re.Pattern[str]:
    """A term matched whole (not inside a longer word), in any case, its words split by any spaces."""
    words = term.split()
    if not words or len(term) > MAX_TERM:
        raise UnsafePattern(f"a term has 1-{MAX_TERM} characters and a word")
    return re.compile(r"(?<!\w)" + r"\s{1,5}".join(map(re.escape, words)) + r"(?!\w)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    kind: str  # term | pattern
    value: str
    compiled: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def of(cls, id: str, kind: str, value: str) -> Rule:
        compiled = term_pattern(value) if kind == "term" else check_pattern(value)
        return cls(id, kind, value, compiled)


@dataclass(frozen=True, slots=True)
class Policy:
    """One role's or plan's guardrails (`scope`: role or plan; `target`: its id or code)."""

    scope: str
    target: str
    redact_pii: bool = False
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class Hit:
    """The rule that refused a call, and the policy it belongs to."""

    scope: str
    target: str
    rule: str


@dataclass(frozen=True, slots=True)
class Guardrails:
    """Every policy, as the catalogue snapshot carries them: by (scope, target)."""

    policies: dict[tuple[str, str], Policy] = field(default_factory=dict)

    def applying(self, role: str | None, plan: str | None) -> list[Policy]:
        found = [self.policies.get(("role", role)) if role else None, self.policies.get(("plan", plan or ""))]
        return [p for p in found if p is not None]


def first_hit(policies: Iterable[Policy], texts: list[str]) -> Hit | None:
    """The first rule (the role's before the plan's, each in its order) that matches one of `texts`."""
    for policy in policies:
        for rule in policy.rules:
            if any(rule.compiled.search(text) for text in texts):
                return Hit(policy.scope, policy.target, rule.id)
    return None
