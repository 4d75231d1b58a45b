"""Word-level differences between two texts (expected against output, run A against run B)."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
MAX_TOKENS = 4000  # beyond this a diff is not readable anyway; the texts are shown whole instead


@dataclass(frozen=True)
class Piece:
    """A run of text that both sides share (``same``), only the left has (``del``) or only the right (``ins``)."""

    kind: Literal["same", "del", "ins"]
    text: str


def as_text(value: Any) -> str:
    """A value as the text a diff compares: strings as they are, anything else as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def word_diff(left: str, right: str) -> list[Piece] | None:
    """The pieces that turn ``left`` into ``right``, word by word; None when the texts are too long."""
    a, b = _TOKEN.findall(left), _TOKEN.findall(right)
    if len(a) > MAX_TOKENS or len(b) > MAX_TOKENS:
        return None
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(Piece("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(Piece("del", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(Piece("ins", "".join(b[j1:j2])))
    return pieces
