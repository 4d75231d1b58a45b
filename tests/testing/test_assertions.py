"""`evalkit.testing.assert_case`: hand-written eval tests score exactly as runs do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import UsageError
from evalkit.testing import CaseFailure, assert_case, assert_case_async
from evalkit.testing.openai_server import Faults, LoopbackOpenAI
from tests.conftest import loopback_suite

ANSWERS = {"France": "Paris", "Peru": "Cusco"}
CASES = [
    {"id": "france", "input": {"question": "capital of France?"}, "expected": {"answer": "Paris"}},
    {"id": "peru", "input": {"question": "capital of Peru?"}, "expected": {"answer": "Lima"}},
]
SCORERS = "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n"
FIELDS = [{"name": "json_fields", "args": {"fields": {"answer": {"match": "exact"}}}}]


def capitals(body: dict[str, Any]) -> str:
    question = body["messages"][-1]["content"]
    return json.dumps({"answer": next((a for c, a in ANSWERS.items() if c in question), "?")})


def test_scores_an_output_without_a_model() -> None:
    result = assert_case(output={"answer": "Paris"}, expected={"answer": "Paris"}, scorers=FIELDS)
    assert result.verdict == "pass" and result.score == 1.0 and result.scores[0].scorer == "json_fields"
    with pytest.raises(AssertionError) as failed:
        assert_case(output='{"answer": "Lyon"}', expected={"answer": "Paris"}, scorers=FIELDS)
    assert isinstance(failed.value, CaseFailure) and failed.value.result.verdict == "fail"
    assert str(failed.value).splitlines() == [
        f"case {failed.value.result.case.id} failed, score 0.00",
        "  json_fields: 0/1 fields ok; answer: 'Lyon' != 'Paris'",
        '  output:   {"answer": "Lyon"}',
        '  expected: {"answer": "Paris"}',
    ]


def test_every_scorer_must_pass_without_a_suite() -> None:
    scorers = [*FIELDS, {"name": "contains", "args": {"value": ["Paris"]}}, "json_valid"]
    assert_case(output='{"answer": "Paris"}', expected={"answer": "Paris"}, scorers=scorers)
    with pytest.raises(CaseFailure, match=r"strict_format: .*fence"):
        assert_case(
            output='```json\n{"answer": "Paris"}\n```',
            expected={"answer": "Paris"},
            scorers=[*scorers, "strict_format"],
        )


def test_calls_the_suite_target_through_the_run_path(make_suite: Callable[..., Path]) -> None:
    with LoopbackOpenAI(responder=capitals) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS), CASES)
        passed = assert_case(suite, case="france")
        assert passed.output.text == '{"answer": "Paris"}' and passed.output.prompt_tokens > 0
        with pytest.raises(CaseFailure, match=r"answer: 'Cusco' != 'Lima'"):
            assert_case(suite.parent, input={"question": "capital of Peru?"}, expected={"answer": "Lima"})
        # a case of the suite with a corrected expectation
        assert assert_case(suite, case="peru", expected={"answer": "Cusco"}).verdict == "pass"
        assert server.stats.requests == 3
        body = server.stats.bodies[0]
        assert body["messages"][0] == {"role": "system", "content": "Answer in JSON."}


def test_suite_scorers_can_be_replaced(make_suite: Callable[..., Path]) -> None:
    suite = make_suite(loopback_suite("http://127.0.0.1:9/v1", scorers=SCORERS), CASES)
    result = assert_case(
        suite,
        case="peru",
        output='{"answer": "Cusco"}',
        scorers=[{"name": "contains", "args": {"value": ["Cusco"]}}],
    )
    assert [s.scorer for s in result.scores] == ["contains"]


def test_provider_errors_fail_as_errors(make_suite: Callable[..., Path]) -> None:
    with LoopbackOpenAI(responder=capitals, faults=Faults(error_500=1.0)) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS), CASES)
        with pytest.raises(CaseFailure) as failed:
            assert_case(suite, case="france")
    assert str(failed.value).startswith(
        "case france errored (an infrastructure error, not a quality failure)"
    )
    assert "500" in str(failed.value)


def test_async_variant_inside_an_event_loop() -> None:
    async def main() -> None:
        result = await assert_case_async(
            output={"answer": "Paris"}, expected={"answer": "Paris"}, scorers=FIELDS
        )
        assert result.verdict == "pass"
        with pytest.raises(UsageError, match="assert_case_async"):
            assert_case(output={"answer": "Paris"}, expected={"answer": "Paris"}, scorers=FIELDS)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output": "x"}, "needs a suite, or `scorers`"),
        ({"output": "x", "scorers": ["no_such_scorer"]}, "unknown scorer 'no_such_scorer'"),
        (
            {"output": "x", "scorers": [{"name": "json_fields", "args": {"nope": 1}}]},
            "has no argument 'nope'",
        ),
        ({"output": "x", "scorers": [{"weight": 1}]}, r"scorers\[0\]: name: Field required"),
        ({"output": "x", "scorers": ["exact", "exact"]}, "duplicate scorer id"),
        ({"scorers": ["exact"], "input": {"q": 1}}, "needs a suite to call a model"),
        ({"case": "x", "scorers": ["exact"], "output": "x"}, "name a suite"),
    ],
)
def test_mistakes_are_usage_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        assert_case(**kwargs)


def test_unknown_case_and_missing_variables(make_suite: Callable[..., Path]) -> None:
    suite = make_suite(loopback_suite("http://127.0.0.1:9/v1", scorers=SCORERS), CASES)
    with pytest.raises(UsageError, match="has no case 'nope'"):
        assert_case(suite, case="nope")
    with pytest.raises(UsageError, match="lacks input variable 'question'"):
        assert_case(suite, input={"other": 1})
