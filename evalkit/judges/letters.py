"""Reading a judge's one-letter answer, ``A`` or ``B``, from the log-probabilities of its answer token.

The pairwise judge (:mod:`evalkit.judges.pairwise`) asks for a single letter and takes its verdict,
with a margin, from the top log-probabilities the provider returns for that token.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


class LetterLogprobs(BaseModel):
    """Log-probabilities of the answers ``A`` and ``B`` at the answer token."""

    first: float  # log P(A): the first slot
    second: float  # log P(B): the second slot
    bounded: bool = False  # one letter was not among the top log-probabilities: its value is an upper bound

    @property
    def margin(self) -> float:
        """log P(first slot) - log P(second slot)."""
        return self.first - self.second


def _entries(logprobs: Any) -> list[Any]:
    """The per-token entries of an OpenAI-shaped ``logprobs`` (a dict or a litellm object)."""
    content = logprobs.get("content") if isinstance(logprobs, dict) else getattr(logprobs, "content", None)
    return list(content or [])


def _field(entry: Any, name: str) -> Any:
    return entry.get(name) if isinstance(entry, dict) else getattr(entry, name, None)


def _letter(token: Any) -> str | None:
    text = str(token or "").strip().strip("\"'*(:.[]").strip().upper()
    return text if text in ("A", "B") else None


def read_letter_logprobs(logprobs: Any) -> LetterLogprobs | None:
    """The A/B log-probabilities at the first answer token that offers either letter, or None.

    Variants of a letter (``A``, `` A``, ``"A``) are summed in probability. When only one letter is
    among the top alternatives, the other's log-probability is at most the smallest one listed and
    at most the log of the probability left over by the list; that bound is used as its value.
    """
    for entry in _entries(logprobs):
        top = _field(entry, "top_logprobs") or []
        found: dict[str, list[float]] = {"A": [], "B": []}
        listed: list[float] = []
        for alt in top:
            value = _field(alt, "logprob")
            if value is None:
                continue
            listed.append(float(value))
            letter = _letter(_field(alt, "token"))
            if letter is not None:
                found[letter].append(float(value))
        if not found["A"] and not found["B"]:
            continue
        # a letter missing from the top list is at most as likely as the least likely one listed,
        # and at most as likely as all the probability the list leaves over
        floor = min(listed)
        leftover = 1.0 - sum(math.exp(v) for v in listed)
        if leftover > 0:
            floor = min(floor, math.log(leftover))
        first = _logsumexp(found["A"]) if found["A"] else floor
        second = _logsumexp(found["B"]) if found["B"] else floor
        return LetterLogprobs(first=first, second=second, bounded=not (found["A"] and found["B"]))
    return None


def _logsumexp(values: Sequence[float]) -> float:
    peak = max(values)
    return peak + math.log(sum(math.exp(v - peak) for v in values))
