"""Word-level diffs (expected vs output, one version's output vs another's), rendered as escaped HTML."""

from __future__ import annotations

import json
import re
from difflib import SequenceMatcher
from typing import Any, Literal

from markupsafe import Markup, escape

DiffOp = Literal["equal", "delete", "insert"]
# words, runs of whitespace, and single punctuation marks: JSON diffs then align on values, not quotes
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)
MAX_TOKENS = 3000  # beyond this the rest of each text is compared as one block (keeps 10k-case reports fast)


def tokens(text: str) -> list[str]:
    """Split text into the units a word diff aligns: words, whitespace runs, punctuation."""
    found = _TOKEN.findall(text)
    if len(found) > MAX_TOKENS:
        found = [*found[: MAX_TOKENS - 1], "".join(found[MAX_TOKENS - 1 :])]
    return found


def word_diff(old: str, new: str) -> list[tuple[DiffOp, str]]:
    """Segments turning ``old`` into ``new``: (op, text), adjacent segments of one op merged."""
    a, b = tokens(old), tokens(new)
    segments: list[tuple[DiffOp, str]] = []

    def add(op: DiffOp, text: str) -> None:
        if not text:
            return
        if segments and segments[-1][0] == op:
            segments[-1] = (op, segments[-1][1] + text)
        else:
            segments.append((op, text))

    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            add("equal", "".join(a[i1:i2]))
        else:
            add("delete", "".join(a[i1:i2]))
            add("insert", "".join(b[j1:j2]))
    return segments


def diff_html(old: str, new: str) -> Markup:
    """The word diff as HTML: removed text in ``<del>``, added text in ``<ins>``; every piece escaped."""
    parts = []
    for op, text in word_diff(old, new):
        if op == "equal":
            parts.append(str(escape(text)))
        elif op == "delete":
            parts.append(f"<del>{escape(text)}</del>")
        else:
            parts.append(f"<ins>{escape(text)}</ins>")
    return Markup("".join(parts))


def display_json(value: Any, order_like: Any = None) -> str:
    """Compact JSON for diffing; dict keys follow ``order_like``'s order first, so key order is no diff."""
    return json.dumps(_ordered(value, order_like), ensure_ascii=False)


def output_text(raw: str | None, expected: Any) -> str:
    """An output as diffed against the expected value: re-serialised like it when both are JSON."""
    if raw is None:
        return ""
    if isinstance(expected, (dict, list)):
        try:
            return display_json(json.loads(raw), expected)
        except ValueError:
            return raw
    return raw


def _ordered(value: Any, like: Any) -> Any:
    if isinstance(value, dict):
        keys = [k for k in like if k in value] if isinstance(like, dict) else []
        keys += [k for k in value if k not in keys]
        return {k: _ordered(value[k], like.get(k) if isinstance(like, dict) else None) for k in keys}
    if isinstance(value, list):
        return [_ordered(v, None) for v in value]
    return value
