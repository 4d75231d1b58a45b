"""Text scorers: exact, contains, regex, fuzzy (checked against rapidfuzz itself)."""

from __future__ import annotations

from typing import Any

import pytest
from rapidfuzz import fuzz

from evalkit.cases import Case
from evalkit.outputs import parse_output
from evalkit.scorers.base import Score, ScoreContext, ScorerArgumentError, build_scorer


def ctx(output: str, expected: Any, **case: Any) -> ScoreContext:
    parsed = parse_output(output)
    return ScoreContext(
        case=Case(input={"q": "x"}, expected=expected, **case),
        output=output,
        parsed=parsed.value,
        extraction=parsed.extraction,
    )


def score(name: str, output: str, expected: Any, **args: Any) -> Score:
    fn = build_scorer(name, args, base_dir=__import__("pathlib").Path("."))
    result = fn(ctx(output, expected))
    assert isinstance(result, Score)
    return result


PAIRS = [
    ("Samsung Galaxy A15 128GB Black", "samsung galaxy a15 black 128gb"),
    ("Nike Air Zoom Pegasus 40", "NIKE AIR ZOOM PEGASUS 40 MENS"),
    ("Le Creuset Casserole", "Le Creuset Signature Cast Iron Casserole 24cm"),
    ("", "something"),
    ("identical", "identical"),
    ("Café crème", "Cafe creme"),
]


@pytest.mark.parametrize(
    ("method", "reference"),
    [
        ("ratio", fuzz.ratio),
        ("partial", fuzz.partial_ratio),
        ("token_set", fuzz.token_set_ratio),
        ("token_sort", fuzz.token_sort_ratio),
    ],
)
@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_fuzzy_agrees_with_rapidfuzz(method: str, reference: Any, a: str, b: str) -> None:
    result = score("fuzzy", a, b, method=method, case_sensitive=True, threshold=0.5)
    assert result.value == pytest.approx(reference(a, b) / 100.0)
    assert result.passed == (result.value >= 0.5)


def test_fuzzy_normalisation_options() -> None:
    html = "<b>Samsung</b>   Galaxy&nbsp;A15"
    plain = score("fuzzy", html, "samsung galaxy a15", threshold=0.99)
    stripped = score("fuzzy", html, "samsung galaxy a15", threshold=0.99, strip_html=True)
    assert not plain.passed
    assert stripped.passed and stripped.value == pytest.approx(1.0)
    assert score("fuzzy", "ABC", "abc", case_sensitive=True).value < 1.0
    assert score("fuzzy", "ABC", "abc").value == pytest.approx(1.0)


def test_fuzzy_on_a_field_and_missing_field() -> None:
    out = '{"title": "Sony WH-CH520 Headphones", "brand": "Sony"}'
    expected = {"title": "Sony WH-CH520 Wireless Headphones", "brand": "Sony"}
    ok = score("fuzzy", out, expected, field="title", method="token_set", threshold=0.8)
    assert ok.passed and "title" in ok.reason
    missing = score("fuzzy", '{"brand": "Sony"}', expected, field="title")
    assert not missing.passed and missing.error is None and "missing" in missing.reason
    no_expected_field = score("fuzzy", out, {"brand": "Sony"}, field="title")
    assert no_expected_field.error is not None


def test_fuzzy_rejects_threshold_outside_unit_interval() -> None:
    with pytest.raises(ScorerArgumentError, match="threshold"):
        build_scorer("fuzzy", {"threshold": 85}, base_dir=__import__("pathlib").Path("."))


def test_exact_text_and_json() -> None:
    assert score("exact", " yes ", "yes").passed
    assert not score("exact", "Yes", "yes").passed
    assert score("exact", "Yes", "yes", case_sensitive=False).passed
    assert score("exact", '{"a": 1, "b": [1, 2]}', {"b": [1, 2], "a": 1}).passed
    assert not score("exact", '{"a": 2}', {"a": 1}).passed
    assert not score("exact", "not json", {"a": 1}).passed


def test_exact_without_expected_is_an_error_not_a_fail() -> None:
    result = score("exact", "anything", None)
    assert result.error == "case has no expected output"


def test_contains_modes() -> None:
    text = "Sony headphones, wireless, black"
    assert score("contains", text, None, value=["sony", "BLACK"]).passed
    partial = score("contains", text, None, value=["sony", "white"])
    assert not partial.passed and partial.value == pytest.approx(0.5) and "white" in partial.reason
    assert score("contains", text, None, value=["white", "black"], mode="any").passed
    forbidden = score("contains", text, None, value=["FREE iPhone", "wireless"], mode="none")
    assert not forbidden.passed and "wireless" in forbidden.reason
    assert score("contains", text, None, value="free iphone", mode="none").passed
    assert not score("contains", text, None, value="sony", case_sensitive=True).passed


def test_regex_search_fullmatch_negate_and_bad_pattern() -> None:
    assert score("regex", "price 19.99 USD", None, pattern=r"\d+\.\d{2}").passed
    assert not score("regex", "price 19.99 USD", None, pattern=r"\d+\.\d{2}", fullmatch=True).passed
    assert score(
        "regex", '{"currency": "USD"}', None, pattern="^[A-Z]{3}$", field="currency", fullmatch=True
    ).passed
    assert not score("regex", "<script>", None, pattern="<script", negate=True).passed
    with pytest.raises(ScorerArgumentError, match="invalid pattern"):
        build_scorer("regex", {"pattern": "("}, base_dir=__import__("pathlib").Path("."))


def test_unknown_scorer_and_unknown_argument() -> None:
    path = __import__("pathlib").Path(".")
    with pytest.raises(ScorerArgumentError, match="unknown scorer 'fuzzzy'"):
        build_scorer("fuzzzy", {}, base_dir=path)
    with pytest.raises(ScorerArgumentError, match="no argument 'treshold'"):
        build_scorer("fuzzy", {"treshold": 0.5}, base_dir=path)
