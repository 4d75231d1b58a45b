"""Paths into nested JSON rows, for ``evalkit calibrate --precomputed FILE --fields KEY=PATH,...``.

A path is a field name followed by steps: ``.name`` (a key), ``.0`` or ``[0]`` (a list index, or
the key ``"0"`` of an object) and ``["any key"]`` (a key with dots, spaces, ``=`` or commas in it,
in double quotes; ``\\"`` for a quote). So a verdict stored as ``row["results"][0]["swap = False"]
["winner"]`` is ``results[0]["swap = False"].winner``. A plain name (``g1_winner``) is just that key.

In a ``--fields`` mapping, ``KEY=PATH`` pairs are separated by commas outside quotes and brackets,
and a pair splits at its first ``=``, so paths may hold both inside ``["..."]``.
"""

from __future__ import annotations

import re
from typing import Any

from evalkit.errors import UsageError

Step = str | int
_NAME = re.compile(r"[^.\[\]\"]+")
_MISSING = object()


def parse_path(text: str) -> tuple[Step, ...]:
    """The steps of a path (see the module docstring); a usage error names what is wrong."""
    steps: list[Step] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        char = text[pos]
        if char == "." and steps:
            pos += 1
            match = _NAME.match(text, pos)
            if not match:
                raise UsageError(f"--fields: path {text!r}: expected a name after '.' at column {pos + 1}")
            steps.append(_step(match.group()))
            pos = match.end()
        elif char == "[":
            end = text.find("]", pos)
            if text.startswith('["', pos):
                key, pos = _quoted(text, pos + 2)
                steps.append(key)
            elif end > pos + 1 and text[pos + 1 : end].strip().isdigit():
                steps.append(int(text[pos + 1 : end]))
                pos = end + 1
            else:
                raise UsageError(f'--fields: path {text!r}: expected [N] or ["key"] at column {pos + 1}')
        elif not steps:
            match = _NAME.match(text, pos)
            if not match:
                raise UsageError(f"--fields: path {text!r} must start with a field name")
            steps.append(match.group().strip())
            pos = match.end()
        else:
            raise UsageError(f"--fields: path {text!r}: unexpected {char!r} at column {pos + 1}")
    if not steps:
        raise UsageError("--fields: empty path")
    return tuple(steps)


def _step(name: str) -> Step:
    return int(name) if name.isdigit() else name


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """The key of ``["..."]`` starting after the opening quote; the position after the ``]``."""
    out = []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
        elif char == '"':
            if not text.startswith('"]', pos):
                break
            return "".join(out), pos + 2
        else:
            out.append(char)
            pos += 1
    raise UsageError(f'--fields: path {text!r}: unclosed ["..."]')


def lookup(row: Any, path: tuple[Step, ...]) -> Any:
    """The value at ``path`` in ``row``, or :data:`MISSING` when some step finds nothing."""
    value = row
    for step in path:
        if isinstance(value, dict):
            key = str(step)
            if key not in value:
                return MISSING
            value = value[key]
        elif isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
            value = value[step]
        else:
            return MISSING
    return value


def split_pairs(text: str) -> list[str]:
    """``KEY=PATH`` pairs of a mapping: split at commas outside ``["..."]`` and ``[...]``."""
    pairs: list[str] = []
    current: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "[":
            depth += 1
        elif not quoted and char == "]":
            depth = max(0, depth - 1)
        elif char == "," and not quoted and depth == 0:
            pairs.append("".join(current))
            current = []
            continue
        current.append(char)
    pairs.append("".join(current))
    return [p for p in pairs if p.strip()]


MISSING: Any = _MISSING
