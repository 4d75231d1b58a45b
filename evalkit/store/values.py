"""How Python values are stored: JSON as text, timestamps as naive UTC."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)  # one encoder: json.dumps builds one per call


def to_json(value: Any) -> str:
    return _ENCODER.encode(value)


def utcnow() -> datetime:
    """Naive UTC timestamp (TIMESTAMP columns hold UTC)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def like_literal(text: str) -> str:
    """``text`` inside a ``LIKE ... ESCAPE '\\'`` pattern, taken literally: ``_`` and ``%`` in a
    run id or a search are characters, not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
