"""Case verdicts and the run gate, including which exit code each outcome maps to."""

from __future__ import annotations

import pytest

from evalkit.gate.suite import case_verdict, decide
from evalkit.results import ScoreRow, VerdictCounts
from evalkit.suite.spec import GateSpec


def row(score: float, passed: bool, weight: float = 1.0, error: str | None = None) -> ScoreRow:
    return ScoreRow(scorer=f"s{score}{weight}", score=score, passed=passed, weight=weight, error=error)


def test_weighted_verdict_uses_weights_and_threshold() -> None:
    gate = GateSpec(case_pass="weighted", case_threshold=0.8)
    assert case_verdict([row(1.0, True, 3), row(0.0, False, 1)], gate) == ("fail", 0.75)
    assert case_verdict([row(1.0, True, 4), row(0.0, False, 1)], gate) == ("pass", 0.8)


def test_all_must_pass_verdict() -> None:
    gate = GateSpec(case_pass="all")
    assert case_verdict([row(0.99, True), row(0.9, False)], gate)[0] == "fail"
    assert case_verdict([row(0.5, True), row(0.6, True)], gate)[0] == "pass"


def test_scorer_errors_are_left_out_and_all_errors_is_an_error() -> None:
    gate = GateSpec(case_pass="all")
    assert case_verdict([row(0.0, False, error="judge down"), row(1.0, True)], gate) == ("pass", 1.0)
    assert case_verdict([row(0.0, False, error="judge down")], gate) == ("error", None)


def summary(passed: int, failed: int, errors: int) -> VerdictCounts:
    scored = passed + failed
    return VerdictCounts(
        results=passed + failed + errors,
        passed=passed,
        failed=failed,
        errors=errors,
        pass_rate=passed / scored if scored else None,
    )


@pytest.mark.parametrize(
    ("counts", "code"),
    [
        ((9, 1, 0), 0),  # 90% >= 80%
        ((7, 3, 0), 1),  # 70% < 80%
        ((8, 1, 1), 0),  # one error in ten is within max_error_rate 10%
        ((8, 0, 2), 3),  # 20% errors: the verdict cannot be trusted
        ((0, 0, 0), 3),
    ],
)
def test_gate_exit_codes(counts: tuple[int, int, int], code: int) -> None:
    decision = decide(summary(*counts), GateSpec(min_pass_rate=0.8, max_error_rate=0.1))
    assert decision.exit_code == code
    assert decision.passed == (code == 0)
    assert decision.reasons


def test_default_gate_fails_a_listing_with_one_wrong_field() -> None:
    """A price $1 off scores 0.99+ on json_fields; under the default gate the case still fails."""
    import json
    from pathlib import Path

    from evalkit.cases import Case
    from evalkit.cli.console import score_text
    from evalkit.scorers.base import Score, ScoreContext, build_scorer

    expected = {f"attr{i}": f"value {i}" for i in range(60)} | {"price": 120.0}
    output = dict(expected, price=119.0)
    scorer = build_scorer(
        "json_fields", {"fields": {"price": {"match": "numeric", "tolerance": 0.01}}}, base_dir=Path(".")
    )
    ctx = ScoreContext(
        case=Case(input={"q": 1}, expected=expected),
        output=json.dumps(output),
        parsed=output,
        extraction="strict",
    )
    score = scorer(ctx)
    assert isinstance(score, Score) and not score.passed and score.value > 0.995
    rows = [ScoreRow(scorer="fields", score=score.value, passed=score.passed, weight=4), row(1.0, True)]
    verdict, case_score = case_verdict(rows, GateSpec())
    assert verdict == "fail" and case_score is not None and f"{case_score:.2f}" == "1.00"
    assert score_text(case_score, passed=False) == "0.99"  # what the summary and `show` print
    assert score_text(case_score, passed=True) == "1.00" and score_text(0.5, passed=False) == "0.50"


@pytest.mark.parametrize(
    ("floor", "reason"),
    [
        (0.855, "pass rate 85.7% >= min_pass_rate 85.5%"),
        (0.858, "pass rate 85.7% < min_pass_rate 85.8%"),
        (0.8572, "pass rate 85.71% < min_pass_rate 85.72%"),
        (0.75, "pass rate 85.7% >= min_pass_rate 75%"),
    ],
)
def test_gate_reasons_never_read_against_the_verdict(floor: float, reason: str) -> None:
    """6 of 7 passed: the figures are printed as far as it takes to see which side of the floor
    the rate is on (a whole-percent floor read "85.7% >= 86%" and "85.7% < 86%")."""
    decision = decide(summary(6, 1, 0), GateSpec(min_pass_rate=floor))
    assert decision.reasons == [reason] and decision.passed == (floor <= 6 / 7)


def test_error_rate_reason_shows_both_sides() -> None:
    decision = decide(summary(4, 0, 1), GateSpec(max_error_rate=0.195))
    assert decision.reasons[0].startswith("1 of 5 cases ended in errors (20.0% > max_error_rate 19.5%)")
