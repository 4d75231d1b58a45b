"""Keeping API keys out of suite files: a key is named by its environment variable, never written.

A suite file is committed, stored with every run (``runs.config_json``), exported and shown in
reports, so a key written in it would leak everywhere. ``target.api_key_env: NAME`` names the
variable instead; the key is read from the environment only when a request is sent, and only ever
travels in the ``Authorization`` header.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# mapping keys that hold a credential (``max_tokens`` and the like are not credentials)
_SECRET_KEY = re.compile(
    r"(?:^|[_-])(?:api[_-]?key|apikey|secret|secret[_-]?key|password|passwd|authorization|"
    r"access[_-]?token|auth[_-]?token|bearer[_-]?token|token)$",
    re.IGNORECASE,
)
ALLOWED = {"api_key_env"}  # names a variable; checked to be a name, not a key


def literal_secrets(data: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Locations of values under a credential-like key (``params.api_key``, ``Authorization``...)."""
    if isinstance(data, dict):
        for key, value in data.items():
            here = (*loc, key)
            credential = isinstance(key, str) and key not in ALLOWED and _SECRET_KEY.search(key)
            if (credential and value not in (None, "")) or (
                isinstance(value, str) and _url_credential(value)
            ):
                yield here
                continue
            yield from literal_secrets(value, here)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from literal_secrets(item, (*loc, i))


def _url_credential(value: str) -> bool:
    """A URL carrying a password (``https://user:pw@host``) or a key in its query (``?api_key=...``)."""
    if "://" not in value:
        return False
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return False
    names = [name for name, _ in parse_qsl(parts.query)]
    return bool(password) or any(name.lower() in {"key", "sig"} or _SECRET_KEY.search(name) for name in names)


def refusal(loc: tuple[str | int, ...]) -> str:
    """The one-line refusal of a literal credential at ``loc`` (never repeating its value)."""
    dotted = ".".join(str(part) for part in loc)
    return (
        f"{dotted}: a literal API key or credential does not belong in a suite file (it would be stored "
        "with every run): put it in an environment variable and name that with `target.api_key_env: NAME`"
    )
