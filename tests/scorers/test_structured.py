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


def test_an_answer_cut_off_at_max_tokens_holds_no_json_not_its_nested_object() -> None:
    # SmolLM2 on the flagship's emoji-01: max_tokens ran out inside key_attributes
    truncated = (
        '{"title": "LEGO 75257", "brand": "LEGO", "category": "Electronics", '
        '"price": {"amount": 1351.0, "currency": "EUR"}, "key_attributes": ["1351.0, 75257", "1,351.'
    )
    cut_after_a_list = '{"title": "x", "tags": ["a", "b"], "price": {"amount": 1, "currency": "EUR"'
    inside_a_string = '{"title": "text with [1, 2] and {\\"a\\": 1} in it, cut off'
    for text in (truncated, cut_after_a_list, inside_a_string, f"Here it is: {truncated}"):
        assert parse_output(text).extraction == "none", text
    assert run("strict_format", truncated).reason == "no JSON found in output"
    assert run("json_schema", truncated).reason == "no JSON found in output"
    result = run("json_fields", truncated, EXPECTED, suite_schema=None)
    assert [(f.field, f.slot) for f in result.fields] == [
        (name, "VN")
        for name in ("title", "brand", "category", "price.amount", "price.currency", "key_attributes")
    ]
    # a value standing on its own after a broken one is still found
    assert parse_output('Format {title, brand}: {"title": "x"}').value == {"title": "x"}


def test_an_answer_a_stray_quote_broke_holds_no_json_not_its_nested_object() -> None:
    # SmolLM2 on the flagship's lowercase-01 (tagged.yaml, unconstrained): a quote inside the title
    broken = (
        '{"title": "Cerave 454G 10.9" 128 Go Gris", "brand": "Cerave", "category": "Ceramics", '
        '"price": {"amount": 454.0, "currency": "EUR"}, "key_attributes": ["10.9", "Gris"]}'
    )
    for text in (broken, f"Here it is: {broken}", f"{broken} and more text"):
        assert parse_output(text).extraction == "none", text
    # a value after the broken one's closing bracket stands on its own, and one after a stray brace
    assert parse_output(f'{broken}\nfixed: {{"title": "x"}}').value == {"title": "x"}
    assert parse_output('I think {x is open, so: {"x": 2}').value == {"x": 2}
    assert parse_output('Steps {1} then {"x": 1}').value == {"x": 1}


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
    text_price = fields(as_string)
    assert not by_field(text_price)["price.amount"].passed
    # the same text of two types: the reason says which is which, not '59.99' != '59.99'
    assert "price.amount: '59.99' (text) != '59.99' (number)" in text_price.reason
    as_bool = dict(EXPECTED, price={"amount": True, "currency": "USD"})
    assert not by_field(fields(as_bool))["price.amount"].passed


def test_a_numeric_rule_reads_numbers_written_as_text() -> None:
    """A CSV case's expected cells are text (`expected: {price.amount: Amount}`): under a rule that
    says numeric, "59.99" is the number 59.99 on either side, within the tolerance; text that is no
    plain number (a thousands separator, a currency sign) still does not match."""
    rule = {"price.amount": {"match": "numeric", "tolerance": 0.01}}
    from_csv = dict(EXPECTED, price={"amount": "59.99 ", "currency": "USD"})
    assert by_field(fields(EXPECTED, from_csv, fields=rule))["price.amount"].passed
    near = dict(EXPECTED, price={"amount": 59.995, "currency": "USD"})
    assert by_field(fields(near, from_csv, fields=rule))["price.amount"].passed
    far = by_field(fields(dict(EXPECTED, price={"amount": 61, "currency": "USD"}), from_csv, fields=rule))
    assert not far["price.amount"].passed and far["price.amount"].expected == "59.99 "
    as_text = dict(EXPECTED, price={"amount": "5.999e1", "currency": "USD"})
    assert by_field(fields(as_text, fields=rule))["price.amount"].passed
    for written in ("$59.99", "59,99", "1,059.99", "059.99", "nan", "inf"):
        other = dict(EXPECTED, price={"amount": written, "currency": "USD"})
        assert not by_field(fields(other, fields=rule))["price.amount"].passed, written


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
    # the missing item's leaves each count as not stated
    assert f["variants.0.size"].passed
    assert [(f["variants.1.size"].status, f["variants.1.stock"].slot)] == [("missing", "VN")]
    not_object = run("json_fields", "[1, 2]", expected, suite_schema=None)
    assert not not_object.passed and "not a JSON object" in not_object.reason
    assert [(f.field, f.slot) for f in not_object.fields] == [
        ("variants.0.size", "VN"),
        ("variants.0.stock", "VN"),
        ("variants.1.size", "VN"),
        ("variants.1.stock", "VN"),
    ]
    prose = run("json_fields", "no idea", {"a": "x", "b": "n/a"}, suite_schema=None, absent=["n/a"])
    assert prose.value == 0.0 and [f.slot for f in prose.fields] == ["VN", "NN"]  # slots still counted
    text_expected = run("json_fields", "{}", "plain text", suite_schema=None)
    assert text_expected.error is not None


def test_json_fields_counts_extra_list_items() -> None:
    expected = {"lines": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]}
    out = {"lines": [*expected["lines"], {"sku": "FAKE", "qty": 99}, "also fake"]}
    result = run("json_fields", json.dumps(out), expected, suite_schema=None)
    assert not result.passed  # extra_fields: penalize
    extra = [(f.field, f.slot) for f in result.fields if f.status == "extra"]
    assert extra == [("lines.2.sku", "NV"), ("lines.2.qty", "NV"), ("lines.3", "NV")]
    ignored = run("json_fields", json.dumps(out), expected, suite_schema=None, extra_fields="ignore")
    assert ignored.passed and len(ignored.fields) == 4


def test_json_fields_nested_object_the_output_lacks_or_states_otherwise() -> None:
    expected = {"price": {"amount": 30, "currency": "GBP"}, "note": None}
    slots = {}
    for name, out in [("missing", {}), ("null", {"price": None}), ("text", {"price": "30 GBP"})]:
        result = run("json_fields", json.dumps(out), expected, suite_schema=None, absent=[None])
        slots[name] = [(f.field, f.slot) for f in result.fields]
    leaves = ["price.amount", "price.currency", "note"]
    assert slots["missing"] == slots["null"] == list(zip(leaves, ["VN", "VN", "NN"], strict=True))
    assert slots["text"] == list(zip(leaves, ["VW", "VW", "NN"], strict=True))


def test_json_fields_list_f1() -> None:
    expected = {"tags": ["red", "cotton", "large"]}
    f = by_field(fields({"tags": ["red", "cotton", "small", "striped"]}, expected))["tags"]
    # 2 hits: precision 2/4, recall 2/3 -> F1 = 4/7
    assert f.score == pytest.approx(4 / 7)
    assert by_field(fields({"tags": []}, {"tags": []}))["tags"].passed


def test_json_fields_any_of_alternatives_is_not_a_list_valued_field() -> None:
    expected = {"capacity": {"$any": ["1.2 Terabytes", "1200 Gigabytes"]}, "colours": ["red", "blue"]}
    rule = {"capacity": {"match": "exact"}}
    either = fields({"capacity": "1200 Gigabytes", "colours": ["blue", "red"]}, expected, fields=rule)
    f = by_field(either)
    assert either.passed and f["capacity"].status == "match" and f["capacity"].slot == "VC"
    assert f["capacity"].expected == expected["capacity"]  # the whole set of alternatives is kept
    wrong = by_field(fields({"capacity": "1.2 TB", "colours": ["red", "blue"]}, expected, fields=rule))
    assert not wrong["capacity"].passed and wrong["capacity"].slot == "VW"
    # a list still means every item (as a set), not "one of"
    one_colour = by_field(fields({"capacity": "1.2 Terabytes", "colours": ["red"]}, expected))
    assert not one_colour["colours"].passed
    # list-valued alternatives
    listed = {"sizes": {"$any": [["S", "M"], ["small", "medium"]]}}
    assert fields({"sizes": ["medium", "small"]}, listed).passed


def test_json_fields_malformed_any_is_a_scorer_error() -> None:
    bad = fields({"a": 1}, {"a": {"$any": [], "b": 1}})
    assert bad.error is not None and "$any" in bad.error


@pytest.mark.parametrize("stated_absent", [None, "n/a", "", "missing key"])
def test_json_fields_absent_values_are_equal_and_counted_nn(stated_absent: Any) -> None:
    absent = [None, "n/a", ""]
    out = {"brand": "Sony"} if stated_absent == "missing key" else {"brand": "Sony", "colour": stated_absent}
    result = fields(out, {"brand": "Sony", "colour": "n/a"}, absent=absent)
    f = by_field(result)
    assert result.passed and f["colour"].status == "match" and f["colour"].slot == "NN"
    assert f["brand"].slot == "VC"


def test_json_fields_absent_slots_nv_vn_and_rule_override() -> None:
    absent = [None, "n/a"]
    expected = {"brand": "Sony", "colour": "n/a", "model": "WH-CH520"}
    out = {"brand": None, "colour": "Blue", "model": "WH-CH520", "size": "n/a"}
    f = by_field(fields(out, expected, absent=absent))
    assert f["brand"].slot == "VN" and f["brand"].status == "missing" and not f["brand"].passed
    assert f["colour"].slot == "NV" and not f["colour"].passed
    assert "size" not in f  # an extra key saying "not stated" states nothing extra
    halluc = by_field(fields({**out, "size": "XL"}, expected, absent=absent))["size"]
    assert halluc.status == "extra" and halluc.slot == "NV"
    # a field's own rule replaces the scorer-wide list: here "n/a" is an ordinary value
    own = by_field(fields(out, expected, absent=absent, fields={"colour": {"absent": [None]}}))
    assert own["colour"].slot == "VW"
    # without any absent list, null is a value and a missing key is missing (the old behaviour)
    plain = by_field(fields({"brand": "Sony"}, {"brand": "Sony", "colour": None}))
    assert plain["colour"].status == "missing" and plain["colour"].slot == "VN"


def test_json_fields_exact_is_case_sensitive_unless_the_rule_says_so() -> None:
    expected = {"brand": "Hewlett-Packard", "sku": "AB12"}
    exact = {"brand": {"match": "exact"}, "sku": {"match": "exact"}}
    result = fields({"brand": "hewlett-packard", "sku": "AB12 "}, expected, fields=exact)
    f = by_field(result)
    assert not f["brand"].passed and not f["sku"].passed  # neither case nor whitespace is ignored
    relaxed = {name: {"match": "exact", "case_sensitive": False} for name in expected}
    loose = fields({"brand": "hewlett-packard", "sku": "AB12 "}, expected, fields=relaxed)
    assert loose.passed and all(f.normalized for f in loose.fields)
    assert "matched only ignoring case/whitespace: brand, sku" in loose.reason
    assert "ignoring case" not in fields(expected, expected, fields=relaxed).reason


def test_a_scorer_builds_after_its_module_left_sys_modules(tmp_path: Path) -> None:
    """pytest's pytester unloads modules imported during a test; the registry keeps their factories,
    whose string annotations (dict[str, FieldRule]) must still resolve."""
    import sys

    from evalkit.scorers.base import build_scorer, scorers

    assert scorers.get("json_fields") is not None  # loaded, then the module goes away
    module = sys.modules.pop("evalkit.scorers.fields")
    try:
        fn = build_scorer("json_fields", {"fields": {"title": {"match": "exact"}}}, base_dir=tmp_path)
    finally:
        sys.modules["evalkit.scorers.fields"] = module
    assert callable(fn)
