"""The pairwise gate criterion (gate.pairwise) as pure functions: the verdict, and how it folds into the regression gate."""

from __future__ import annotations

from evalkit.analysis.compare import compare_outcomes
from evalkit.errors import ExitCode
from evalkit.gate.pairwise import PairwiseGateDecision, fold_into_regression, pairwise_gate
from evalkit.gate.regression import decide_regression
from evalkit.judges.pairwise_stats import win_rate
from evalkit.suite.spec import GateSpec, PairwiseGateSpec
from tests.gate.test_regression import baseline, outcomes

CALIBRATED = {"kappa": 0.8, "report": {"stats": {"position_agreement": 0.95}}}


def gate(winners: list[str], **spec: object) -> PairwiseGateDecision:
    stats = win_rate(winners, consistent=[True] * len(winners), first_slot_answers=[1] * len(winners))
    return pairwise_gate(
        stats,
        PairwiseGateSpec.model_validate({"judge": "j", **spec}),
        judge_model="j",
        prompt_hash="h",
        calibration=CALIBRATED,
    )


def test_min_win_rate_fails_only_when_significantly_below() -> None:
    assert not gate(["a"] * 10, min_win_rate=0.5).passed
    assert gate(["a", "b", "a", "b"], min_win_rate=0.5).passed
    nothing = gate(["tie", "tie"], min_win_rate=0.5)
    assert nothing.passed and "no decisive case" in nothing.reasons[0]


def test_a_weak_judge_warns_or_fails_as_asked() -> None:
    weak = {"min_kappa": 0.9}
    assert gate(["b"], **weak).passed and "below min_kappa 0.90" in gate(["b"], **weak).warnings[0]
    failed = gate(["b"], calibration="fail", **weak)
    assert not failed.passed and "below min_kappa 0.90" in failed.reasons[0]


def test_a_calibration_with_too_many_unanswered_items_misses_min_kappa() -> None:
    stats = win_rate(["b"], consistent=[True], first_slot_answers=[1])
    spec = PairwiseGateSpec.model_validate({"judge": "j", "min_kappa": 0.6, "calibration": "fail"})

    def decide(n_judged: int) -> PairwiseGateDecision:
        calibration = {**CALIBRATED, "n_items": 100, "n_judged": n_judged}
        return pairwise_gate(stats, spec, judge_model="j", prompt_hash="h", calibration=calibration)

    assert decide(95).passed
    failed = decide(80)
    assert not failed.passed
    assert "kappa 0.80 on 80 of 100 labelled items; 20 unanswered (20%" in failed.reasons[0]
    assert "so below min_kappa 0.60" in failed.reasons[0]


def test_a_failed_criterion_fails_a_judged_regression_decision_only() -> None:
    same = baseline(20, 10)
    passed = decide_regression(compare_outcomes(outcomes("a", same), outcomes("b", same)), GateSpec())
    failing = PairwiseGateDecision(passed=False, reasons=["worse"])
    folded = fold_into_regression(passed, failing)
    assert folded.exit_code == ExitCode.GATE_FAILED and folded.reasons[-1] == "pairwise: worse"
    assert fold_into_regression(passed, PairwiseGateDecision(passed=True)) == passed
    unjudged = passed.model_copy(update={"passed": False, "exit_code": ExitCode.INFRASTRUCTURE})
    assert fold_into_regression(unjudged, failing) == unjudged
    # a run that failed on its new cases, or removed critical cases, alone fails on more now
    for only in ("failed_on_new_cases_only", "failed_on_removed_critical_only"):
        one_cause = passed.model_copy(update={"passed": False, "exit_code": ExitCode.GATE_FAILED, only: True})
        assert getattr(fold_into_regression(one_cause, failing), only) is False


def test_a_figure_short_of_a_pairwise_minimum_never_reads_as_the_minimum() -> None:
    calibration = {"kappa": 0.3996, "report": {"stats": {"position_agreement": 0.7996}}}
    stats = win_rate(["b"] * 4, consistent=[True] * 4, first_slot_answers=[1] * 4)
    spec = PairwiseGateSpec.model_validate({"judge": "j", "min_kappa": 0.4, "min_position_agreement": 0.8})
    warnings = pairwise_gate(stats, spec, judge_model="j", prompt_hash="h", calibration=calibration).warnings
    assert any("at kappa 0.3996, below min_kappa 0.40" in w for w in warnings), warnings
    assert any("position agreement 79.96%, below min_position_agreement 80%" in w for w in warnings), warnings
    # 39 of 49 cases in agreement is 79.6%, not "80% ... below 80%"
    stats = win_rate(["b"] * 49, consistent=[True] * 39 + [False] * 10, first_slot_answers=[1] * 49)
    warnings = pairwise_gate(stats, spec, judge_model="j", prompt_hash="h", calibration=CALIBRATED).warnings
    assert any("on 79.6% of these cases, below min_position_agreement 80%" in w for w in warnings), warnings
