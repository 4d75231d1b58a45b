"""Scrubbing personal data from production-log text before evalkit stores any of it.

Always scrubbed: email addresses, card-like numbers (13-19 digits that pass the Luhn check) and
phone numbers (9-15 digits in a phone-like run: ``+44 20 7946 0958``, ``(555) 123-4567``). Street
addresses (``221B Baker Street``, ``Musterstraße 12``, ``12 rue de Rivoli``, ``via Roma 10``) and extra patterns
are scrubbed when the suite's ``mining.pii`` asks. Each match becomes a placeholder (``[EMAIL]``,
``[CARD]``, ``[PHONE]``, ``[ADDRESS]``, ``[REDACTED]``) so the shape of the text survives for
clustering and as a test input.

Product codes, prices and dates are left alone: a phone needs 9+ digits, cards must pass Luhn, and
dates and decimals are never part of either, so ``WH-1000XM4``, ``128GB``, ``$1,299.00`` or
``2024-03-05`` stay as they are, also right after a phone or card number (``555 123 4567 12.99``
becomes ``[PHONE] 12.99``). A phone written as one (``+``, ``00``, ``(`` or ``0`` first) keeps its
place when another number follows it (``+44 20 7946 0958 12345`` becomes ``[PHONE] 12345``). A
count after a number is not part of it: a phone never ends in a one-digit group, nor in a two-digit
one after four or more digits, so ``order 12345678 3 units`` stays and ``555 123 4567 3 units``
becomes ``[PHONE] 3 units``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# Digit groups joined by single spaces or hyphens, as card numbers are written ("+" starts a phone).
_DIGIT_RUN = re.compile(r"(?<![\w+])\d+(?:[ \-]\d+)*(?![\w])")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d \-.()]{7,20}\d(?![\w])")
# Numbers that are not personal data: dates and decimals (prices, weights). Phones and cards are
# looked for only between them, so a price or date right after a phone never joins it.
# ("06.12.34.56.79" is a phone, not decimals: a decimal has no more dotted digits on either side.)
_NOT_PII = re.compile(
    r"(?<!\d)(?:\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4})(?!\d)"
    r"|(?<![\d.])\d+\.\d{1,2}(?!\.?\d)"
)
_CARD_GROUP = 4  # card numbers are printed in groups of 4-6 digits (or as one run)
# How a phone number starts when it is written as one; a longer run of digits starting otherwise
# ("4111 1111 1111 1112", an order reference) is not cut into a phone and a rest.
_PHONE_START = re.compile(r"\+|00|\(|0")
# The last digit group of a run and the one before it (see _without_counts).
_LAST_GROUP = re.compile(r"(?P<before>\d+)\)?(?P<gap>\s+)(?P<last>\d{1,2})$")

# Street addresses. Parts written in lower case in the pattern match any case ((?i:...)). A
# street's name must start with a capital. Lower-case "via" is also the English word ("ships via
# DHL 2 days", "pairs via Bluetooth 5.0"), so it starts an address only when what follows reads as
# one: a name that is not an acronym (it has a lower-case letter), then a house number that ends
# the phrase (end of text, punctuation, a postcode or an Italian word of an address: "via Roma 10,
# Milano", "via Roma 10 a Milano", "via dei Mille 12 int. 3"; not "via FedEx 2 Day").
_NAME = (
    r"(?:(?:de|del|della|delle|dei|degli|di|da|do|dos|das|du|des|la|le|les|el|los|las)\s+|[dlDL]['\u2019]\s*)*"
    r"[A-ZÀ-ÖØ-Þ][\w'\u2019\-]*"
    r"(?:\s+(?:(?:de|del|della|di|da|du|des|la|le|el)\s+)?[A-ZÀ-ÖØ-Þ][\w'\u2019\-]*){0,2}"
)
_HOUSE_NUMBER = r"\d{1,5}[A-Za-z]?\b(?![.,]\d)"
_ADDRESS_END = r"(?=\s*(?:$|[,;:.!?)/])|\s+(?:\d{5}\b|(?:a|in|int|interno|scala|piano|presso)\b))"
_ADDRESS = re.compile(
    # "12 rue de Rivoli", "3 Calle Mayor": number, street type, then the street's name
    rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:(?i:rue|avenue|boulevard|place|quai|impasse)|Via|Calle|Rua)\s+{_NAME}"
    # "221B Baker Street", "42 Wallaby Way, apt 3": number, name, street type
    r"|(?i:\b\d{1,5}[A-Za-z]?,?\s+(?:[A-Za-z][A-Za-z'.\-]*\s+){0,3}"
    r"(?:street|st|avenue|ave|road|rd|lane|ln|boulevard|blvd|drive|dr|court|ct|way|place|pl|terrace|"
    r"close|crescent|square|sq|highway|hwy|parkway|pkwy|strasse|straße)\b\.?"
    r"(?:,?\s+(?:apt|apartment|suite|unit|flat)\.?\s*#?\s*\w+)?)"
    # "Via Roma 10", "Calle de Alcalá 42": street type, name, then the number
    rf"|\b(?:Via|(?i:viale|piazza|corso|calle|avenida|plaza|paseo|carrer|rua|rue))\s+{_NAME},?\s+{_HOUSE_NUMBER}"
    # "via Roma 10", "via dei Mille 12 a Milano": lower-case "via" (see above)
    rf"|\bvia\s+(?=[^\d,]*[a-zß-öø-ÿ]){_NAME},?\s+{_HOUSE_NUMBER}{_ADDRESS_END}"
    # "Musterstraße 12", "Berliner Straße 5", "Bahnhofstr. 3", "Kalverstraat 1": one compound word
    r"|(?:\b[A-ZÄÖÜ][a-zäöüß]+er\s+)?\b[\w\-]*?"
    rf"(?i:str\.\s*|(?:straße|strasse|gasse|weg|allee|platz|straat|laan|gracht)\s+){_HOUSE_NUMBER}"
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


def _is_card(digit_groups: str) -> bool:
    digits = re.sub(r"\D", "", digit_groups)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _longest_card(run: str, groups: list[re.Match[str]], first: int) -> int | None:
    """The last of the groups ``groups[first:]`` that make the longest card number, or None."""
    found, digits = None, 0
    for last in range(first, len(groups)):
        size = len(groups[last].group(0))
        digits += size
        if size < _CARD_GROUP or digits > 19:
            break
        if _is_card(run[groups[first].start() : groups[last].end()]):
            found = last
    return found


def _without_counts(run: str) -> tuple[str, str]:
    """``run`` split into a possible phone and the counts after it (``"12345678 3"``: the 3 of "3 units").

    A phone never ends in a group of one digit, nor in a group of two after a group of four or more
    (French and Swiss numbers end in pairs, but after pairs or triples: ``06 12 34 56 78``, ``044 668
    18 00``). Such a group after a space is a quantity or a count, and is not part of the phone.
    """
    rest = ""
    while (last := _LAST_GROUP.search(run)) is not None:
        short, before = last.group("last"), last.group("before")
        if len(short) == 2 and len(before) < 4:
            break
        run, rest = run[: last.start("gap")], run[last.start("gap") :] + rest
    return run, rest


class PiiScrubber:
    """Replaces personal data in text (and, recursively, in JSON-like values) with placeholders."""

    def __init__(self, *, addresses: bool = False, patterns: Sequence[str] = ()) -> None:
        self.addresses = addresses
        self.patterns = [re.compile(p) for p in patterns]
        self.counts: dict[str, int] = {}

    def _count(self, kind: str, n: int = 1) -> None:
        if n:
            self.counts[kind] = self.counts.get(kind, 0) + n

    def _card_spans(self, run: str) -> str:
        """``run`` (digit groups) with the card numbers in it replaced.

        The whole run is a card when it is one; otherwise the longest card among its groups of
        4+ digits is, so a CVV or an expiry month after the number does not hide it. Short groups
        are not tried: a list of sizes ("36 37 38 ...") passes Luhn by chance too often.
        """
        if _is_card(run):
            self._count("card")
            return "[CARD]"
        groups = list(re.finditer(r"\d+", run))
        out: list[str] = []
        done = i = 0
        while i < len(groups):
            end = _longest_card(run, groups, i)
            if end is None:
                i += 1
                continue
            out += [run[done : groups[i].start()], "[CARD]"]
            self._count("card")
            done, i = groups[end].end(), end + 1
        return "".join(out) + run[done:]

    def _phone(self, match: re.Match[str]) -> str:
        # a count is followed by what it counts ("3 units"): a last group that ends the text, or
        # comes before another number, stays part of the phone ("+49 30 123456 78")
        if not re.match(r"\s+[^\W\d_]", match.string[match.end() :]):
            return self._phone_text(match.group(0))
        text, rest = _without_counts(match.group(0))
        return self._phone_text(text) + rest

    def _phone_text(self, text: str) -> str:
        digits = len(re.sub(r"\D", "", text))
        if 9 <= digits <= 15:
            self._count("phone")
            return "[PHONE]"
        if digits > 15 and _PHONE_START.match(text):
            # a phone written as one (``+``, ``00``, ``(`` or a trunk ``0`` first) and another number
            # after it: the longest run of its leading groups that a phone can be is the phone
            for gap in reversed(list(re.finditer(r"[ \-.]+", text))):
                if 9 <= len(re.sub(r"\D", "", text[: gap.start()])) <= 15:
                    self._count("phone")
                    return "[PHONE]" + text[gap.start() :]
        return text

    def _numbers(self, value: str) -> str:
        """``value`` (holding no date or decimal) with its card and phone numbers replaced."""
        value = _DIGIT_RUN.sub(lambda m: self._card_spans(m.group(0)), value)
        return _PHONE.sub(self._phone, value)

    def text(self, value: str) -> str:
        """``value`` with personal data replaced."""
        if self.addresses:
            value, n = _ADDRESS.subn("[ADDRESS]", value)
            self._count("address", n)
        value, n = _EMAIL.subn("[EMAIL]", value)
        self._count("email", n)
        pieces: list[str] = []
        done = 0
        for kept in _NOT_PII.finditer(value):
            pieces += [self._numbers(value[done : kept.start()]), kept.group(0)]
            done = kept.end()
        value = "".join(pieces) + self._numbers(value[done:])
        for pattern in self.patterns:
            value, n = pattern.subn("[REDACTED]", value)
            self._count("pattern", n)
        return value

    def finds(self, value: str) -> bool:
        """True when ``value`` holds personal data. A check, not a scrub: nothing is counted."""
        counts = dict(self.counts)
        found = self.text(value) != value
        self.counts = counts
        return found

    def take_counts(self) -> dict[str, int]:
        """What was replaced since the last call (kind -> matches), and start counting afresh."""
        counts, self.counts = self.counts, {}
        return counts

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
