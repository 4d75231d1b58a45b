"""Tagged reasoning: the answer taken out of its tags, the reasoning kept, the format checked."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from evalkit.cases import Case
from evalkit.scorers.base import Score, ScoreContext, ScoreFn, ScorerArgumentError, build_scorer, scorer
from evalkit.scorers.tagged import extract_tagged

WELL_FORMED = '<thinking>The title is Widget and it costs 9.99.</thinking>\n<answer>{"title": "Widget", "price": 9.99}</answer>'
INNER = {"name": "json_fields"}


def run(output: str, expected: Any = None, **args: Any) -> Score | Any:
    ctx = ScoreContext(
        case=Case(input={"q": 1}, expected=expected or {"title": "Widget", "price": 9.99}),
        output=output,
        parsed=None,
        extraction="none",
    )
    return build_scorer("tagged", args, base_dir=Path("."))(ctx)


def test_well_formed_output_splits_answer_and_reasoning() -> None:
    found = extract_tagged(WELL_FORMED)
    assert found.well_formed
    assert found.answer == '{"title": "Widget", "price": 9.99}'
    assert found.reasoning == "The title is Widget and it costs 9.99."


def test_json_inside_the_answer_is_scored_by_the_inner_scorer() -> None:
    score = run(WELL_FORMED, inner=INNER)
    assert isinstance(score, Score)
    assert score.passed and score.value == 1.0, score.reason
    assert {f.field for f in score.fields} == {"title", "price"}
    assert score.details["reasoning"] == "The title is Widget and it costs 9.99."
    wrong = run(WELL_FORMED.replace("9.99}", "5}"), inner=INNER)
    assert isinstance(wrong, Score) and not wrong.passed
    assert "price" in wrong.reason


def test_reasoning_is_never_scored() -> None:
    # the reasoning mentions the right title, the answer a wrong one: only the answer counts
    output = '<thinking>{"title": "Widget", "price": 9.99}</thinking><answer>{"title": "Gizmo", "price": 9.99}</answer>'
    score = run(output, inner=INNER)
    assert isinstance(score, Score) and not score.passed
    assert {f.field: f.passed for f in score.fields}["title"] is False


def test_missing_answer_tag_fails_format_and_keeps_every_slot() -> None:
    output = '<thinking>hmm</thinking>{"title": "Widget", "price": 9.99}'
    found = extract_tagged(output)
    assert found.answer is None
    assert found.problems[0] == "no <answer> block"
    score = run(output, inner=INNER)
    assert isinstance(score, Score) and not score.passed and score.value == 0.0
    assert "no <answer> block" in score.reason
    assert {f.slot for f in score.fields} == {"VN"}


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ("<thinking>a <answer>b</answer></thinking>", "<answer> is nested inside <thinking>"),
        ("<thinking>a</answer><answer>b</answer>", "</answer> closes <thinking>"),
        ("<thinking>a</thinking><answer>b", "<answer> is never closed"),
        ("</thinking><answer>b</answer>", "</thinking> closes a tag that is not open"),
    ],
)
def test_nested_and_malformed_tags_fail_format(output: str, problem: str) -> None:
    found = extract_tagged(output)
    assert problem in found.problems
    score = run(output)
    assert isinstance(score, Score) and not score.passed
    assert problem in score.reason


def test_text_outside_the_tags_fails_format() -> None:
    output = "Sure! " + WELL_FORMED + "\nLet me know if you need more."
    found = extract_tagged(output)
    assert found.answer == '{"title": "Widget", "price": 9.99}'
    assert found.problems == ["text outside the tags: 'Sure! Let me know if you need more.'"]
    score = run(output, inner=INNER)
    assert isinstance(score, Score) and not score.passed and score.value == 0.0
    assert score.reason.startswith("text outside the tags")
    assert "answer: 2/2 fields ok" in score.reason  # the answer itself was right
    assert score.details["format_problems"] == found.problems
    # whitespace between the blocks is not text
    assert extract_tagged("\n  " + WELL_FORMED + "\n\n").well_formed


def test_declared_tag_names_and_the_last_answer() -> None:
    output = "<reasoning>first guess 1</reasoning><final>1</final><final>2</final>"
    found = extract_tagged(output, answer_tag="final", reasoning_tag="reasoning")
    assert found.well_formed and found.answer == "2" and found.reasoning == "first guess 1"
    # undeclared tags are answer text, not format
    assert extract_tagged("<answer><b>bold</b></answer>").answer == "<b>bold</b>"
    score = run(output, expected="2", answer_tag="final", reasoning_tag="reasoning", inner={"name": "exact"})
    assert isinstance(score, Score) and score.passed, score.reason
    with pytest.raises(ScorerArgumentError):
        build_scorer("tagged", {"answer_tag": "not a tag"}, base_dir=Path("."))
    with pytest.raises(ScorerArgumentError):
        build_scorer("tagged", {"inner": {"name": "no_such_scorer"}}, base_dir=Path("."))


@scorer("test_tagged_async_echo")
def async_echo() -> ScoreFn:
    """An async scorer (as the judge is) that echoes the output it saw."""

    async def score(ctx: ScoreContext) -> Score:
        return Score(value=1.0, passed=True, reason=f"saw {ctx.output}")

    return score


def test_an_async_inner_scorer_is_awaited() -> None:
    pending = run("<answer>42</answer>", inner={"name": "test_tagged_async_echo"})
    result = asyncio.run(pending)
    assert isinstance(result, Score) and result.reason == "saw 42"
    assert result.details["reasoning"] is None


def test_untagged_answer_scores_a_bare_output_by_the_same_rule() -> None:
    bare = '{"title": "Widget", "price": 9.99}'
    strict = run(bare, inner=INNER)
    assert isinstance(strict, Score) and not strict.passed and "no <answer> block" in strict.reason
    lenient = run(bare, inner=INNER, untagged="answer")
    assert isinstance(lenient, Score) and lenient.passed, lenient.reason
    assert lenient.details["untagged"] is True and lenient.details["format_problems"] == []
    tagged_output = run(WELL_FORMED, inner=INNER, untagged="answer")
    assert isinstance(tagged_output, Score) and tagged_output.passed
    assert tagged_output.details["untagged"] is False
    assert tagged_output.details["reasoning"] == "The title is Widget and it costs 9.99."
    # one tag anywhere brings the format check back
    half = run("<thinking>hmm</thinking>" + bare, inner=INNER, untagged="answer")
    assert isinstance(half, Score) and not half.passed and "no <answer> block" in half.reason
    assert half.details["untagged"] is False
    format_only = run("just text", untagged="answer")
    assert isinstance(format_only, Score) and format_only.passed
    assert format_only.reason == "no tags: the whole output is the answer"
    with pytest.raises(ScorerArgumentError):
        build_scorer("tagged", {"untagged": "sometimes"}, base_dir=Path("."))
