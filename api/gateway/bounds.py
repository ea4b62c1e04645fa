"""How many tokens a call can cost at most, and at least: bounds that hold for every tokenizer.

The gateway has no provider's tokenizer (none may be downloaded at run time, and each model has its own),
so it never trusts a count of its own where money depends on it
([0029](../../docs/decisions/0029-usage-bounds.md)):

- **at most** (`prompt_ceiling`, `text_ceiling`): a byte-level BPE token (GPT, Llama 3, Qwen, Mistral's
  Tekken) covers at least one UTF-8 byte, and a SentencePiece model without a piece for a character falls
  back to its bytes, one token each; a message adds its role and the template's markers. So the UTF-8 bytes
  of the text, plus a fixed allowance per message, is more than any provider can bill for it. No model
  reads more than its context length, so the prompt's ceiling is also capped by that.
- **at least** (`prompt_floor`): every run of characters between white space is at least one token in
  every tokenizer in use (their pieces never span a space between two words). A prompt whose floor
  already exceeds the context length cannot be served.

The reservation, the token quotas and a call the provider did not report usage for are reckoned with the
ceilings; the context check with the floor, so that a prompt that fits is never refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from api.providers.base import ChatMessage

# Tokens a chat template adds around a message (role, start and end markers) and before the answer: more
# than any template in use adds (OpenAI's: 3-4 a message and 3 before the answer; Llama 3's: 5 and 4).
MESSAGE_ALLOWANCE = 8
ANSWER_ALLOWANCE = 8

_CHUNK = re.compile(r"\S+")


def text_ceiling(text: str) -> int:
    """The most tokens any tokenizer makes of `text`: its UTF-8 bytes."""
    return len(text.encode("utf-8", "surrogatepass"))


def prompt_ceiling(messages: Iterable[ChatMessage]) -> int:
    """The most tokens any provider can bill for these messages (before the context-length cap)."""
    return ANSWER_ALLOWANCE + sum(
        text_ceiling(m.content) + text_ceiling(m.role) + MESSAGE_ALLOWANCE for m in messages
    )


def prompt_floor(messages: Iterable[ChatMessage]) -> int:
    """The fewest tokens any tokenizer makes of these messages: one per run of non-space characters."""
    return sum(text_floor(m.content) for m in messages)


@dataclass(frozen=True, slots=True)
class UsageBound:
    """The most a call can use: its prompt (capped by the context length) and its answer's limit."""

    input_tokens: int
    output_tokens: int

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def output_of(self, text: str) -> int:
        """The most tokens the provider can bill for `text` it wrote (never more than the answer's limit)."""
        return min(text_ceiling(text), self.output_tokens)

    def billed(self, answer: str) -> tuple[int, int]:
        """The most a provider can have billed for a call that wrote `answer`: tokens in and out."""
        return self.input_tokens, self.output_of(answer)


def usage_bound(messages: list[ChatMessage], context_length: int, max_output_tokens: int) -> UsageBound:
    return UsageBound(
        input_tokens=min(prompt_ceiling(messages), context_length),
        output_tokens=min(max_output_tokens, context_length),
    )


def text_floor(text: str) -> int:
    """The fewest tokens any tokenizer makes of `text`."""
    return len(_CHUNK.findall(text))
