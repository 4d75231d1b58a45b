"""The gate's judge checks: a suite's llm_judge scorers against their latest calibrations."""

from __future__ import annotations

from evalkit.gate.judges import JudgeRequirement, check_requirements, judge_requirements
from evalkit.gate.suite import GateDecision, apply_judge_checks
from evalkit.judges.graded import rubric_hash


def test_requirements_and_gate_checks() -> None:
    scorers = [
        {"name": "exact"},
        {
            "name": "llm_judge",
            "id": "q",
            "args": {"rubric": "R", "model": ["m1", "m2"], "min_kappa": 0.6, "calibration": "fail"},
        },
        {"name": "llm_judge", "args": {"rubric": "S", "model": "m3"}},
    ]
    reqs = judge_requirements(scorers)
    assert [(r.scorer, r.judge_model, r.rubric_hash) for r in reqs] == [
        ("q", "m1", rubric_hash("R")),
        ("q", "m2", rubric_hash("R")),
        ("llm_judge", "m3", rubric_hash("S")),
    ]
    checks = check_requirements(
        reqs,
        {
            ("m1", rubric_hash("R")): {"kappa": 0.7, "calibration_id": "c1"},
            ("m2", rubric_hash("R")): {"kappa": 0.4},
        },
    )
    assert [c.status for c in checks] == ["ok", "below", "uncalibrated"]
    passed = GateDecision(passed=True, exit_code=0, reasons=["pass rate 100%"])
    decided = apply_judge_checks(passed, checks)
    assert decided.passed is False and decided.exit_code == 1
    assert any("kappa 0.40, below min_kappa 0.60" in r for r in decided.reasons)
    assert any("'m3'" in w and "no calibration" in w for w in decided.warnings)
    # the same shortfall with the default `calibration: warn` only warns
    warn = [
        c.model_copy(update={"requirement": c.requirement.model_copy(update={"on_failure": "warn"})})
        for c in checks
    ]
    decided = apply_judge_checks(passed, warn)
    assert decided.passed is True and len(decided.warnings) == 2
    assert apply_judge_checks(passed, checks[:1]) == passed


def test_a_requirement_only_warns_by_default() -> None:
    assert JudgeRequirement(scorer="s", judge_model="m", rubric_hash="h", min_kappa=None).on_failure == "warn"


def test_calibration_fail_fails_an_uncalibrated_judge_without_a_min_kappa() -> None:
    # `calibration: fail` asks for a calibrated judge; no min_kappa only means no floor on its kappa
    passed = GateDecision(passed=True, exit_code=0, reasons=["pass rate 100% >= 80%"])
    strict = JudgeRequirement(scorer="s", judge_model="m", rubric_hash="h", min_kappa=None, on_failure="fail")
    (check,) = check_requirements([strict], {})
    decided = apply_judge_checks(passed, [check])
    assert check.status == "uncalibrated"
    assert not decided.passed and decided.exit_code == 1
    assert decided.judge_failures == [check.message] and "no calibration" in check.message
    # the default still only warns
    (lenient,) = check_requirements([strict.model_copy(update={"on_failure": "warn"})], {})
    assert apply_judge_checks(passed, [lenient]).passed


def test_a_kappa_says_what_it_rests_on_and_too_many_unanswered_items_miss_min_kappa() -> None:
    req = JudgeRequirement(scorer="s", judge_model="m", rubric_hash="h", min_kappa=0.6, on_failure="fail")
    answered = {"kappa": 0.71, "n_items": 200, "n_judged": 200, "dataset": "d"}
    (check,) = check_requirements([req], {("m", "h"): answered})
    assert check.status == "ok" and check.message.endswith("kappa 0.71 on all 200 labelled items")
    # 5% unanswered is allowed, and said
    few = {**answered, "n_judged": 190}
    (check,) = check_requirements([req], {("m", "h"): few})
    assert check.status == "ok"
    assert check.message.endswith("kappa 0.71 on 190 of 200 labelled items; 10 unanswered")
    # 10% unanswered: a kappa of 0.71 on the rest does not reach min_kappa
    many = {**answered, "n_judged": 180}
    (check,) = check_requirements([req], {("m", "h"): many})
    assert check.status == "below"
    assert "kappa 0.71 on 180 of 200 labelled items; 20 unanswered (10%, more than the 5%" in check.message
    passed = GateDecision(passed=True, exit_code=0, reasons=["pass rate 100%"])
    decided = apply_judge_checks(passed, [check])
    assert not decided.passed and decided.judge_failures == [check.message]
    # the set with too many unanswered items is the weakest, whatever the kappa of the others
    (check,) = check_requirements([req], {("m", "h"): [{**answered, "kappa": 0.65, "dataset": "e"}, many]})
    assert check.status == "below" and check.n_judged == 180
