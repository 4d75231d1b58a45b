"""Structured scorers: json_valid, strict_format, json_schema, pydantic and the json_fields diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.cases import Case
from evalkit.outputs import parse_output
from evalkit.scorers.base import Score, ScoreContext, build_scorer

SCHEMA = {
    "type": "object",
    "required": ["title", "price"],
    "properties": {"title": {"type": "string"}, "price": {"type": ["number", "null"]}},
    "additionalProperties": False,
}


def run(
    name: str,
    output: str,
    expected: Any = None,
    suite_schema: dict[str, Any] | None = SCHEMA,
    base_dir: Path = Path("."),
    **args: Any,
) -> Score:
    parsed = parse_output(output)
    ctx = ScoreContext(
        case=Case(input={"q": 1}, expected=expected),
        output=output,
        parsed=parsed.value,
        extraction=parsed.extraction,
        output_schema=suite_schema,
    )
    result = build_scorer(name, args, base_dir=base_dir)(ctx)
    assert isinstance(result, Score)
    return result


@pytest.mark.parametrize(
    ("text", "extraction"),
    [
        ('{"a": 1}', "strict"),
        ("  [1, 2]\n", "strict"),
        ('```json\n{"a": 1}\n```', "fenced"),
        ('Here you go:\n```\n{"a": 1}\n```\nDone.', "fenced"),
        ('Sure! The answer is {"a": {"b": 2}} as requested.', "embedded"),
        ("no json here {oops", "none"),
        ("", "none"),
    ],
)
def test_parse_output_extractions(text: str, extraction: str) -> None:
    assert parse_output(text).extraction == extraction


def test_json_valid_and_strict_format_record_the_rescue() -> None:
    fenced = '```json\n{"title": "x", "price": 1}\n```'
    assert run("json_valid", fenced).passed
    strict = run("strict_format", fenced)
    assert not strict.passed and strict.details == {"extraction": "fenced"} and "fence" in strict.reason
    prose = run("strict_format", 'Result: {"title": "x", "price": 1}')
    assert not prose.passed and prose.details["extraction"] == "embedded"
    assert run("strict_format", '{"title": "x", "price": 1}').passed
    assert not run("json_valid", "nothing").passed


def test_json_schema_uses_suite_schema_and_names_the_violation() -> None:
    assert run("json_schema", '{"title": "x", "price": 2.5}').passed
    bad = run("json_schema", '{"title": 3, "price": "cheap", "extra": 1}')
    assert not bad.passed
    assert len(bad.details["errors"]) == 3
    assert "(+2 more)" in bad.reason
    assert any(e.startswith("price:") for e in bad.details["errors"])
    missing = run("json_schema", '{"title": "x"}')
    assert "'price' is a required property" in missing.reason


def test_json_schema_from_file_and_missing_schema(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps({"type": "array"}))
    from_file = run("json_schema", "[1]", suite_schema=None, base_dir=tmp_path, schema="s.json")
    assert from_file.passed
    assert not run("json_schema", '{"a": 1}', suite_schema=None, base_dir=tmp_path, schema="s.json").passed
    no_schema = run("json_schema", "[1]", suite_schema=None)
    assert no_schema.error is not None


def test_pydantic_scorer(tmp_path: Path) -> None:
    (tmp_path / "listing_model.py").write_text(
        "from pydantic import BaseModel\nclass Listing(BaseModel):\n    title: str\n    price: float\n"
    )
    ok = run("pydantic", '{"title": "x", "price": 3}', base_dir=tmp_path, model="listing_model:Listing")
    assert ok.passed
    bad = run("pydantic", '{"title": "x", "price": "free"}', base_dir=tmp_path, model="listing_model:Listing")
    assert not bad.passed and bad.reason.startswith("price:")


EXPECTED = {
    "title": "Sony WH-CH520 Wireless Headphones Blue",
    "brand": "Sony",
    "category": "Electronics",
    "price": {"amount": 59.99, "currency": "USD"},
    "key_attributes": ["Wireless", "Blue"],
}


def fields(output: dict[str, Any], expected: dict[str, Any] = EXPECTED, **args: Any) -> Score:
    return run("json_fields", json.dumps(output), expected, suite_schema=None, **args)


def by_field(score: Score) -> dict[str, Any]:
    return {f.field: f for f in score.fields}


def test_json_fields_identical_output_passes_every_field() -> None:
    result = fields(EXPECTED)
    assert result.passed and result.value == pytest.approx(1.0)
    assert sorted(by_field(result)) == [
        "brand",
        "category",
        "key_attributes",
        "price.amount",
        "price.currency",
        "title",
    ]
    assert all(f.status == "match" for f in result.fields)


def test_json_fields_missing_extra_mismatch_and_nested() -> None:
    out = {
        "title": "Sony WH-CH520 Wireless Headphones, Blue",
        "category": "Audio",
        "price": {"amount": 59.99, "currency": "EUR"},
        "key_attributes": ["Blue", "wireless"],
        "colour": "blue",
    }
    result = fields(out)
    f = by_field(result)
    assert f["brand"].status == "missing" and not f["brand"].passed
    assert f["colour"].status == "extra" and f["colour"].actual == "blue"
    assert f["category"].status == "mismatch"
    assert f["price.currency"].status == "mismatch"
    assert f["price.amount"].status == "match"
    assert f["title"].passed and f["title"].status == "partial"
    assert f["key_attributes"].passed  # lists of scalars compare as sets, case-insensitively
    assert not result.passed
    assert "brand missing" in result.reason and "colour unexpected" in result.reason


def test_json_fields_extra_ignored_and_min_score() -> None:
    out = dict(EXPECTED, colour="blue", brand="SONY ")
    assert fields(out, extra_fields="ignore").passed
    degraded = dict(EXPECTED, category="Audio")
    assert not fields(degraded).passed
    assert fields(degraded, min_score=0.8).passed


def test_json_fields_numeric_tolerances_and_types() -> None:
    rule = {"price.amount": {"match": "numeric", "tolerance": 0.01}}
    near = dict(EXPECTED, price={"amount": 59.995, "currency": "USD"})
    assert by_field(fields(near, fields=rule))["price.amount"].passed
    far = dict(EXPECTED, price={"amount": 60.5, "currency": "USD"})
    f = by_field(fields(far, fields=rule))["price.amount"]
    assert not f.passed and 0.9 < f.score < 1.0  # partial credit, still a failure
    rel = {"price.amount": {"match": "numeric", "rel_tolerance": 0.01}}
    assert by_field(fields(far, fields=rel))["price.amount"].passed
    as_string = dict(EXPECTED, price={"amount": "59.99", "currency": "USD"})
    assert not by_field(fields(as_string))["price.amount"].passed
    as_bool = dict(EXPECTED, price={"amount": True, "currency": "USD"})
    assert not by_field(fields(as_bool))["price.amount"].passed


def test_json_fields_null_values() -> None:
    expected = dict(EXPECTED, brand=None)
    assert by_field(fields(dict(EXPECTED, brand=None), expected))["brand"].passed
    hallucinated = by_field(fields(EXPECTED, expected))["brand"]
    assert not hallucinated.passed and hallucinated.status == "mismatch"
    lost = by_field(fields(dict(EXPECTED, brand=None)))["brand"]
    assert not lost.passed


def test_json_fields_rules_ignore_parent_rule_and_weights() -> None:
    out = dict(EXPECTED, title="Completely different", price={"amount": 1, "currency": "GBP"})
    result = fields(out, fields={"title": {"match": "ignore"}, "price": {"match": "ignore"}})
    assert "title" not in by_field(result) and "price.amount" not in by_field(result)
    assert result.passed
    weighted = fields(dict(EXPECTED, brand="Bose"), fields={"brand": {"weight": 5}})
    unweighted = fields(dict(EXPECTED, brand="Bose"))
    assert weighted.value < unweighted.value


def test_json_fields_list_of_objects_and_non_object_output() -> None:
    expected = {"variants": [{"size": "M", "stock": 3}, {"size": "L", "stock": 0}]}
    out = {"variants": [{"size": "M", "stock": 3}]}
    f = by_field(fields(out, expected))
    assert f["variants.0.size"].passed and f["variants.1"].status == "missing"
    not_object = run("json_fields", "[1, 2]", expected, suite_schema=None)
    assert not not_object.passed and "not a JSON object" in not_object.reason
    text_expected = run("json_fields", "{}", "plain text", suite_schema=None)
    assert text_expected.error is not None


def test_json_fields_list_f1() -> None:
    expected = {"tags": ["red", "cotton", "large"]}
    f = by_field(fields({"tags": ["red", "cotton", "small", "striped"]}, expected))["tags"]
    # 2 hits: precision 2/4, recall 2/3 -> F1 = 4/7
    assert f.score == pytest.approx(4 / 7)
    assert by_field(fields({"tags": []}, {"tags": []}))["tags"].passed
