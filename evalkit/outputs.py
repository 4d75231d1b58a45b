"""Finding the JSON in a model's output, and recording how hard that was.

Models asked for JSON often wrap it in a code fence or a sentence. evalkit still scores what they
meant (``fenced`` / ``embedded`` extraction), and the ``strict_format`` scorer fails such outputs so
the wrapping is visible instead of silently rescued.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

Extraction = Literal["strict", "fenced", "embedded", "none"]

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL)
_DECODER = json.JSONDecoder()
_MAX_EMBEDDED_ATTEMPTS = 64  # bounds the scan on long prose full of braces


@dataclass(frozen=True)
class ParsedOutput:
    """The JSON value found in an output (None when there is none) and how it was found."""

    value: Any
    extraction: Extraction

    @property
    def found(self) -> bool:
        return self.extraction != "none"


def parse_output(text: str) -> ParsedOutput:
    """Parse ``text`` as JSON: whole text first, then a fenced block, then the first embedded value.

    An embedded value is an object or list found in the text on its own, never a piece of a longer
    one that does not parse (a truncated answer holds no JSON: ``none``).
    """
    stripped = text.strip()
    if not stripped:
        return ParsedOutput(None, "none")
    try:
        return ParsedOutput(json.loads(stripped), "strict")
    except ValueError:
        pass
    for match in _FENCE.finditer(text):
        try:
            return ParsedOutput(json.loads(match.group(1)), "fenced")
        except ValueError:
            continue
    attempts = 0
    read_until = 0  # how far an earlier value that failed to parse was read
    for start, char in enumerate(text):
        if char not in "{[" or start < read_until:
            continue
        attempts += 1
        if attempts > _MAX_EMBEDDED_ATTEMPTS:
            break
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError as error:
            # A bracket in the part already read opens a piece of that value (the price object of
            # an answer cut off at max_tokens), not an answer of its own; an unterminated string
            # runs to the end of the text. So does a bracket before the one that closes this value
            # (a stray quote broke it: the price object inside is still not the answer).
            unterminated = error.msg.startswith("Unterminated string")
            read_until = max(len(text) if unterminated else error.pos, _closing(text, start))
            continue
        if isinstance(value, dict | list):
            return ParsedOutput(value, "embedded")
    return ParsedOutput(None, "none")


def _closing(text: str, start: int) -> int:
    """Past the bracket that closes the one at ``start``, counting brackets alone (a value that does
    not parse may hold any quote); ``start`` when none does (an answer cut off, or a stray brace)."""
    depth = 0
    for at in range(start, len(text)):
        char = text[at]
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return at + 1
    return start


MISSING = object()  # what get_path returns for a path that is not there (None is a value)


def get_path(value: Any, path: str) -> Any:
    """Follow a dotted path (``price.amount``, ``attributes.0``) into JSON; MISSING when absent."""
    for part in path.split("."):
        if isinstance(value, dict):
            if part not in value:
                return MISSING
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value
