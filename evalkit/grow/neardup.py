"""Near-duplicate detection for case inputs, with rapidfuzz.

Two inputs are near-duplicates when the rapidfuzz ``token_sort_ratio`` (0-100) of their normalised
texts reaches a threshold. Normalising (lower case, HTML tags and entities dropped, punctuation and
whitespace collapsed) makes "SONY  headphones!!" and "<b>Sony</b> headphones" the same text, so a
generator or a log cannot slip a copy past the check by changing only the noise.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from typing import Any

from rapidfuzz import fuzz, process

_TAG = re.compile(r"<[^>]{0,200}>")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def input_text(value: Any) -> str:
    """The comparable text of a case input: its values in key order, normalised."""
    if isinstance(value, dict):
        parts = [input_text(value[k]) for k in sorted(value)]
        return " ".join(p for p in parts if p)
    if isinstance(value, list):
        return " ".join(input_text(v) for v in value)
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = html.unescape(_TAG.sub(" ", text))
    return _NON_WORD.sub(" ", text.lower()).strip()


def similarity(a: str, b: str) -> float:
    """rapidfuzz token_sort_ratio of two normalised texts (0-100)."""
    return float(fuzz.token_sort_ratio(a, b))


class NearDuplicateIndex:
    """Texts seen so far; answers "is this a near-duplicate of one of them, and of which?".

    Texts are kept with their tokens already sorted, so each lookup is a plain ``ratio`` scan
    (the same number as ``token_sort_ratio``, without re-sorting every stored text each time).
    """

    def __init__(self, threshold: float, texts: Iterable[tuple[str, str]] = ()) -> None:
        self.threshold = threshold
        self._keys: list[str] = []
        self._sorted: list[str] = []
        for key, text in texts:
            self.add(key, text)

    def __len__(self) -> int:
        return len(self._sorted)

    def match(self, text: str) -> tuple[str, float] | None:
        """The key of the most similar text at or above the threshold, and its similarity."""
        if not self._sorted:
            return None
        found = process.extractOne(
            _sorted_tokens(text), self._sorted, scorer=fuzz.ratio, processor=None, score_cutoff=self.threshold
        )
        if found is None:
            return None
        _, score, index = found
        return self._keys[index], float(score)

    def add(self, key: str, text: str) -> None:
        self._keys.append(key)
        self._sorted.append(_sorted_tokens(text))


def _sorted_tokens(text: str) -> str:
    return " ".join(sorted(text.split()))
