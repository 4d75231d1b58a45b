"""What an expected field value may say beyond a plain value: acceptable alternatives and "not stated".

*Alternatives.* ``{"$any": ["1.2 Terabytes", "1200 Gigabytes"]}`` as an expected value means "any one of
these is right". It is an object with the single key ``$any`` so that it cannot be read as a
list-valued field (``["red", "blue"]`` still means "both, as a set"). An alternative may itself be a
list (a list-valued answer) or an absent value.

*Absent values.* A rule's ``absent`` list names the values that mean "the input does not state
this" (e.g. ``[null, "n/a", ""]``). When it is set, those values and a missing key are equal to each
other for matching, and count as *absent* for the slot counts below. Tokens compare exactly
(``"N/A"`` is not ``"n/a"`` unless listed), and by type (``0`` and ``false`` are not ``null``).

*Slot classes* (Baumann, Brinkmann and Bizer, WDC-PAVE, ADBIS 2024), one per compared field:
``NN`` target absent, prediction absent; ``NV`` target absent, prediction has a value; ``VN`` target
has a value, prediction absent; ``VC`` the prediction is (one of) the target value(s); ``VW`` the
prediction is a wrong value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

ANY_KEY = "$any"

Slot = Literal["NN", "NV", "VN", "VC", "VW"]
SLOTS: tuple[Slot, ...] = ("NN", "NV", "VN", "VC", "VW")


def is_alternatives(value: Any) -> bool:
    """True for an expected value written as ``{"$any": [...]}``."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(ANY_KEY), list)


def alternatives(value: Any) -> list[Any]:
    """The acceptable values an expected value stands for: its ``$any`` list, or the value itself."""
    return list(value[ANY_KEY]) if is_alternatives(value) else [value]


def is_absent(value: Any, tokens: Sequence[Any]) -> bool:
    """True when ``value`` is one of the ``tokens`` meaning "not stated" (same type, equal value)."""
    return any(type(value) is type(token) and value == token for token in tokens)


def check_alternatives(value: Any, where: str = "expected") -> None:
    """Raise ``ValueError`` for a malformed ``$any`` (an object mixing ``$any`` with other keys, or an empty list)."""
    if isinstance(value, dict):
        if ANY_KEY in value:
            if len(value) != 1 or not isinstance(value[ANY_KEY], list) or not value[ANY_KEY]:
                raise ValueError(
                    f"{where}: `$any` must be the only key of its object and hold a non-empty list "
                    'of acceptable values, e.g. {"$any": ["1.2 Terabytes", "1200 Gigabytes"]}'
                )
            return
        for key, item in value.items():
            check_alternatives(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_alternatives(item, f"{where}.{i}")
