"""Test cases: the pydantic model of one case and streaming loaders for case files (JSONL).

A case file holds one JSON object per line::

    {"id": "html-entities-01", "input": {"listing": "..."}, "expected": {...}, "tags": ["html"]}

A case may carry its own checks, run after the suite's:
``"scorers": [{"name": "contains", "id": "no_competitor", "args": {"value": "Acme", "mode": "none"}}]``.

``id`` is optional: without it the id is a hash of the input, so it stays stable while the case does.
Cases are read lazily, one line at a time, so memory does not grow with the size of a suite.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evalkit.errors import ConfigError
from evalkit.suite.spec import ScorerSpec
from evalkit.suite.textfile import parse_json, utf8_lines


class CaseSource(str, Enum):
    """Where a case came from."""

    GOLDEN = "golden"  # written and checked by people
    GENERATED = "generated"  # written by an LLM (see ``evalkit generate``)
    MINED = "mined"  # taken from production failures (see ``evalkit mine``)


class Case(BaseModel):
    """One test case: input variables for the prompt and, usually, the expected output."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        default="",
        description="Stable identifier. Defaults to a hash of `input`, so it is stable while the case is.",
        pattern=r"^[A-Za-z0-9_.:\-]*$",
        max_length=200,
    )
    input: dict[str, Any] = Field(description="Variables the prompt template renders.")
    expected: str | dict[str, Any] | list[Any] | None = Field(
        default=None,
        description="Expected output: text, or JSON when the target has an output schema. In JSON, "
        '`{"$any": [a, b]}` as a field\'s value means any one of a, b is acceptable (a list means all of its items).',
    )
    tags: list[str] = Field(
        default_factory=lambda: [], description="Free labels; `critical` cases gate on their own."
    )
    source: CaseSource = Field(default=CaseSource.GOLDEN, description="golden, generated or mined.")
    verified: bool = Field(
        default=True,
        description="False when `expected` was written by a model and not yet checked by a person.",
    )
    provenance: dict[str, Any] = Field(
        default_factory=dict, description="Where the case came from: file, generator, log id, ..."
    )
    scorers: list[ScorerSpec] = Field(
        default_factory=lambda: [],
        description="Checks of this case only, in addition to the suite's scorers (same names and "
        "arguments); reported under their `id` (default: name), which must differ from the suite's.",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id") and isinstance(data.get("input"), dict):
            data = {**data, "id": content_id(data["input"])}
        return data


def content_id(value: Any) -> str:
    """A short, stable hash of a JSON-serialisable value (used for case ids and dedup keys)."""
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "h" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


def iter_case_file(path: Path) -> Iterator[tuple[int, Case]]:
    """Yield ``(line, case)`` for one JSONL file, raising :class:`ConfigError` with file and line on bad input."""
    for lineno, line in utf8_lines(path, what="case file"):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        yield lineno, parse_case_line(line, path=path, line=lineno)


def parse_case_line(text: str, *, path: Path, line: int) -> Case:
    """Parse one JSONL line into a :class:`Case`.

    pydantic reads the line's JSON itself first: ~3.5 against ~7-10 µs a case, paid when a run
    checks its cases before the first call and again as it reads them. Whatever it refuses (bad
    JSON, a lone surrogate, an integer too long to convert, a wrong field) is read again the long
    way below, so every error is the one-line message naming the line (tests/suite/test_case_lines)."""
    try:
        return Case.model_validate_json(text)
    except ValidationError:
        pass
    raw = parse_json(text, path, line=line)
    if not isinstance(raw, dict):
        raise ConfigError(f"a case must be a JSON object, got {type(raw).__name__}", path=path, line=line)
    if "\\u" in text:  # only a \u escape can smuggle a lone surrogate past UTF-8 decoding
        try:
            json.dumps(raw, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ConfigError(
                f"lone surrogate {exc.object[exc.start]!r} (a \\ud800-\\udfff escape without its pair): "
                "write the character itself or a complete surrogate pair",
                path=path,
                line=line,
            ) from None
    try:
        case = Case.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc), path=path, line=line) from None
    return case


def describe_validation_error(exc: ValidationError) -> str:
    """The first pydantic error as ``field.path: message`` (one line, no URLs)."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in err["loc"])
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc}: {msg}{more}" if loc else f"{msg}{more}"
