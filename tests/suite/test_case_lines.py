"""A case line reads the same whichever JSON reader takes it: pydantic's own (the quick path) or
``json`` with evalkit's checks (lines with ``\\u`` escapes, long lines, and whatever pydantic refuses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.cases import Case, parse_case_line
from evalkit.errors import ConfigError

LINES = [
    '{"id": "a", "input": {"q": "x"}, "expected": {"title": "T", "n": 3}}',
    '{"input": {"q": "no id: hashed"}, "tags": ["critical"], "source": "mined", "verified": false}',
    '{"input": {"a": 1, "a": 2}, "expected": "last key wins"}',
    '{"input": {"f": 1.0, "big": 123456789012345678901234567890, "neg": -0.0}}',
    '{"input": {"q": "caf\u00e9 \u2013 ok"}, "expected": ["a", {"b": null}]}',
    '{"input": {"q": "x"}}\r\n',
    '{"input": {"q": "x"}, "scorers": [{"name": "exact"}]}',
]

BAD = [
    ('{"input": {"q": 1,}}', "invalid JSON at column"),
    ("[1, 2]", "a case must be a JSON object, got list"),
    ('{"input": {"q": "x"}, "colour": "red"}', "colour: unknown field"),
    ('{"id": "has space", "input": {}}', "id: String should match pattern"),
    ('{"input": {"q": "\\ud800"}}', "lone surrogate"),
    ('{"input": {"q": ' + "9" * 4400 + "}}", "cannot read this JSON"),
]


@pytest.mark.parametrize("text", LINES)
def test_a_valid_line_reads_as_json_then_validation_would(text: str) -> None:
    expected = Case.model_validate(json.loads(text))
    assert parse_case_line(text, path=Path("cases.jsonl"), line=7) == expected


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_line_is_one_error_naming_its_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_case_line(text, path=Path("cases.jsonl"), line=7)
    assert caught.value.line == 7 and "http" not in str(caught.value)
