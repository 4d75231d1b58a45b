"""Scrubbing personal data from production-log text before evalkit stores any of it.

Always scrubbed: email addresses, card-like numbers (13-19 digits that pass the Luhn check) and
phone numbers (9-15 digits in a phone-like run: ``+44 20 7946 0958``, ``(555) 123-4567``). Street
addresses (``221B Baker Street``) and extra patterns are scrubbed when the suite's ``mining.pii``
asks. Each match becomes a placeholder (``[EMAIL]``, ``[CARD]``, ``[PHONE]``, ``[ADDRESS]``,
``[REDACTED]``) so the shape of the text survives for clustering and as a test input.

Product codes and prices are left alone: a phone needs 9+ digits, and cards must pass Luhn, so
``WH-1000XM4``, ``128GB`` or ``$1,299.00`` stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\w])(?:\d[ \-]?){12,18}\d(?![\w])")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d \-.()]{7,20}\d(?![\w])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4}")
_DECIMAL = re.compile(r"\d\.\d{1,2}(?!\d)")
_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Za-z]?,?\s+(?:[A-Za-z][A-Za-z'.\-]*\s+){0,3}"
    r"(?:street|st|avenue|ave|road|rd|lane|ln|boulevard|blvd|drive|dr|court|ct|way|place|pl|terrace|"
    r"close|crescent|square|sq|highway|hwy|parkway|pkwy|strasse|straße|rue|calle|via)\b\.?"
    r"(?:,?\s+(?:apt|apartment|suite|unit|flat)\.?\s*#?\s*\w+)?",
    re.IGNORECASE,
)


PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|CARD|ADDRESS|REDACTED)\]")


def without_placeholders(value: Any) -> Any:
    """A scrubbed value with its placeholders removed (they say nothing about what a text is about)."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(" ", value)
    if isinstance(value, dict):
        return {k: without_placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_placeholders(v) for v in value]
    return value


def luhn_ok(digits: str) -> bool:
    """True when a digit string passes the Luhn checksum (as every payment card number does)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class PiiScrubber:
    """Replaces personal data in text (and, recursively, in JSON-like values) with placeholders."""

    def __init__(self, *, addresses: bool = False, patterns: Sequence[str] = ()) -> None:
        self.addresses = addresses
        self.patterns = [re.compile(p) for p in patterns]
        self.counts: dict[str, int] = {}

    def _count(self, kind: str, n: int = 1) -> None:
        if n:
            self.counts[kind] = self.counts.get(kind, 0) + n

    def _card(self, match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            self._count("card")
            return "[CARD]"
        return match.group(0)

    def _phone(self, match: re.Match[str]) -> str:
        text = match.group(0)
        digits = re.sub(r"\D", "", text)
        # dates ("2016-03-25 22") and decimals ("12.99 14.99 ...") are digit runs too, not phones
        if not 9 <= len(digits) <= 15 or _DATE.search(text) or _DECIMAL.search(text):
            return text
        self._count("phone")
        return "[PHONE]"

    def text(self, value: str) -> str:
        """``value`` with personal data replaced."""
        if self.addresses:
            value, n = _ADDRESS.subn("[ADDRESS]", value)
            self._count("address", n)
        value, n = _EMAIL.subn("[EMAIL]", value)
        self._count("email", n)
        value = _CARD.sub(self._card, value)
        value = _PHONE.sub(self._phone, value)
        for pattern in self.patterns:
            value, n = pattern.subn("[REDACTED]", value)
            self._count("pattern", n)
        return value

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string in it scrubbed (keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 9:
            return self.value(str(value))  # a phone or card number stored as a number
        return value
