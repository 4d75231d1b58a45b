"""The regression gate's rules on hand-built comparisons (the CLI path is in tests/cli/test_baseline.py)."""

from __future__ import annotations

from pathlib import Path

from evalkit.analysis.compare import compare_outcomes
from evalkit.analysis.outcomes import CaseOutcome, RunOutcomes
from evalkit.errors import ExitCode
from evalkit.gate.regression import check_against_baseline, decide_regression, unverified_critical
from evalkit.results import GateDecision, exit_code_with_baseline
from evalkit.store import open_store
from evalkit.suite.spec import GateSpec
from tests.runs import Outcome, run_record, store_run


def outcomes(
    run_id: str, passed: dict[str, bool | None], critical: frozenset[str] = frozenset()
) -> RunOutcomes:
    return RunOutcomes(
        run=run_record(run_id),
        cases={
            cid: CaseOutcome(
                case_id=cid,
                passed=ok,
                score=None if ok is None else float(ok),
                tags=("critical",) if cid in critical else (),
            )
            for cid, ok in passed.items()
        },
    )


def baseline(n: int = 40, failing: int = 10) -> dict[str, bool | None]:
    return {f"c{i:02d}": i < n - failing for i in range(n)}


def test_degraded_candidate_fails_with_exit_1() -> None:
    base = baseline()
    cand = {cid: ok and int(cid[1:]) >= 12 for cid, ok in base.items()}  # 12 pass->fail, none back
    decision = decide_regression(compare_outcomes(outcomes("a", base), outcomes("b", cand)), GateSpec())
    assert not decision.passed and decision.exit_code == ExitCode.GATE_FAILED
    assert (decision.pass_to_fail, decision.fail_to_pass, decision.paired) == (12, 0, 40)
    assert decision.p_value is not None and decision.p_value < 0.001
    assert decision.diff is not None and abs(decision.diff + 12 / 40) < 1e-9
    assert "significant regression" in decision.reasons[0] and "McNemar exact p" in decision.reasons[0]


def test_noise_only_change_passes() -> None:
    base = baseline()
    cand = dict(base)
    for cid in ("c05", "c06"):
        cand[cid] = False
    for cid in ("c31", "c32"):
        cand[cid] = True
    decision = decide_regression(compare_outcomes(outcomes("a", base), outcomes("b", cand)), GateSpec())
    assert decision.passed and decision.exit_code == ExitCode.OK
    assert (decision.pass_to_fail, decision.fail_to_pass) == (2, 2)
    assert "no significant regression" in decision.reasons[0]


def test_a_small_drop_that_is_not_significant_passes() -> None:
    base = baseline()
    # 4 pass->fail and 2 fail->pass (six changed cases could show a drop): p = 0.69
    cand = {**base, "c01": False, "c02": False, "c03": False, "c04": False, "c31": True, "c32": True}
    decision = decide_regression(compare_outcomes(outcomes("a", base), outcomes("b", cand)), GateSpec())
    assert decision.passed and decision.p_value is not None and decision.p_value > 0.05
    assert "p >= alpha" in decision.reasons[0]


def test_critical_case_flipping_to_fail_fails_even_without_significance() -> None:
    base = baseline()
    cand = {**base, "c03": False, "c31": True}  # one down (critical), one up: the pass rate is unchanged
    decision = decide_regression(
        compare_outcomes(outcomes("a", base, frozenset({"c03"})), outcomes("b", cand, frozenset({"c03"}))),
        GateSpec(),
    )
    assert not decision.passed and decision.exit_code == ExitCode.GATE_FAILED
    assert decision.critical_flips == ["c03"]
    assert "tagged 'critical' flipped to fail: c03" in decision.reasons[0]
    # the tag is the suite's to choose
    other = decide_regression(
        compare_outcomes(outcomes("a", base, frozenset({"c03"})), outcomes("b", cand, frozenset({"c03"}))),
        GateSpec(critical_tag="blocker"),
    )
    assert other.passed


def test_significant_but_below_min_effect_passes_and_alpha_is_configurable() -> None:
    base = {f"c{i:04d}": True for i in range(2000)}
    cand = {cid: int(cid[1:]) >= 15 for cid in base}  # 15 of 2000 down: p ~ 6e-5, -0.75 points
    comparison = compare_outcomes(outcomes("a", base), outcomes("b", cand))
    assert decide_regression(comparison, GateSpec(regression_min_effect=0.02)).passed
    assert not decide_regression(comparison, GateSpec(regression_min_effect=0.005)).passed
    base40 = baseline()
    cand40 = {**base40, **{f"c{i:02d}": False for i in range(5)}}  # 5 down: p = 0.0625
    small = compare_outcomes(outcomes("a", base40), outcomes("b", cand40))
    assert decide_regression(small, GateSpec()).exit_code == ExitCode.INFRASTRUCTURE  # 5 changed: not judged
    assert not decide_regression(small, GateSpec(regression_alpha=0.1)).passed


def test_errors_are_left_out_and_nothing_paired_is_an_infrastructure_failure() -> None:
    base = baseline()
    cand = {**base, "c01": None, "c02": None, "c03": None}  # provider errors are not quality failures
    decision = decide_regression(compare_outcomes(outcomes("a", base), outcomes("b", cand)), GateSpec())
    assert decision.passed and decision.paired == 37
    nothing = decide_regression(
        compare_outcomes(outcomes("a", base), outcomes("b", dict.fromkeys(base))), GateSpec()
    )
    assert not nothing.passed and nothing.exit_code == ExitCode.INFRASTRUCTURE


def test_exit_codes_of_a_run_gated_on_a_baseline() -> None:
    base = baseline()
    ok = decide_regression(compare_outcomes(outcomes("a", base), outcomes("b", base)), GateSpec())
    bad = decide_regression(
        compare_outcomes(outcomes("a", base), outcomes("b", dict.fromkeys(base, False))), GateSpec()
    )

    def gate(code: int, judge_failures: list[str] | None = None) -> GateDecision:
        return GateDecision(passed=code == 0, exit_code=code, judge_failures=judge_failures or [])

    # the baseline replaces the absolute pass-rate gate ...
    assert exit_code_with_baseline(gate(ExitCode.GATE_FAILED), ok.exit_code) == ExitCode.OK
    assert exit_code_with_baseline(gate(ExitCode.OK), bad.exit_code) == ExitCode.GATE_FAILED
    # ... but not a run that could not be judged
    assert exit_code_with_baseline(gate(ExitCode.INFRASTRUCTURE), ok.exit_code) == ExitCode.INFRASTRUCTURE
    assert exit_code_with_baseline(gate(ExitCode.INCOMPLETE), ok.exit_code) == ExitCode.INCOMPLETE
    # ... nor a judge the suite requires calibrated: the comparison leans on its verdicts too
    untrusted = gate(ExitCode.GATE_FAILED, ["judge 'j' of scorer 's' has no calibration"])
    assert exit_code_with_baseline(untrusted, ok.exit_code) == ExitCode.GATE_FAILED


def test_a_critical_case_that_errored_is_not_shown_to_pass() -> None:
    base = baseline()
    cand = {**base, "c03": None}  # the critical case errored: left out of the pairs, but not of the gate
    a, b = outcomes("a", base, frozenset({"c03"})), outcomes("b", cand, frozenset({"c03"}))
    assert unverified_critical(a, b, "critical") == ["c03"]
    assert unverified_critical(a, b, "blocker") == []
    decision = decide_regression(compare_outcomes(a, b), GateSpec(), unverified_critical=["c03"])
    assert not decision.passed and decision.exit_code == ExitCode.GATE_FAILED
    assert (
        "passed in the baseline and errored in this run, so were not shown to pass: c03"
        in decision.reasons[0]
    )


def test_a_drop_over_too_few_pairs_to_be_significant_is_not_judged() -> None:
    base = {f"c{i}": True for i in range(5)}
    cand = {**base, "c1": False, "c2": False, "c3": False, "c4": False}  # 4 of 5 down: p = 0.125
    decision = decide_regression(compare_outcomes(outcomes("a", base), outcomes("b", cand)), GateSpec())
    assert not decision.passed and decision.exit_code == ExitCode.INFRASTRUCTURE
    assert "too few paired cases to judge a drop" in decision.reasons[0]
    # no drop over the same few pairs still passes, and six pairs can show one
    assert decide_regression(compare_outcomes(outcomes("a", base), outcomes("b", base)), GateSpec()).passed
    six = {f"c{i}": True for i in range(6)}
    worse = decide_regression(
        compare_outcomes(outcomes("a", six), outcomes("b", dict.fromkeys(six, False))), GateSpec()
    )
    assert worse.exit_code == ExitCode.GATE_FAILED


def test_a_large_drop_carried_by_too_few_changed_cases_is_not_judged() -> None:
    # 12 paired cases could show a drop, but McNemar's test weighs only the 5 that changed:
    # 5 pass->fail and none back is p = 0.0625 at best, a 41.7-point drop neither shown nor ruled out
    base = {f"c{i:02}": True for i in range(12)}
    cand = {**base, **{f"c{i:02}": False for i in range(5)}}
    decision = decide_regression(compare_outcomes(outcomes("a", base), outcomes("b", cand)), GateSpec())
    assert not decision.passed and decision.exit_code == ExitCode.INFRASTRUCTURE
    assert "too few changed cases to judge a drop" in decision.reasons[0]
    assert "weighs only the 5 case(s) that changed" in decision.reasons[0]
    # six changed cases can be significant: 5 down and 1 up is p = 0.22, an honest "not significant"
    mixed = {**cand, "c11": False}
    base_mixed = {**base, "c11": False}
    mixed["c11"] = True
    passed = decide_regression(compare_outcomes(outcomes("a", base_mixed), outcomes("b", mixed)), GateSpec())
    assert passed.passed and passed.pass_to_fail == 5 and passed.fail_to_pass == 1
    # a drop below min_effect over few changed cases is still no regression
    big = {f"c{i:03}": True for i in range(300)}
    small_drop = decide_regression(
        compare_outcomes(outcomes("a", big), outcomes("b", {**big, "c000": False})), GateSpec()
    )
    assert small_drop.passed and "below min_effect" not in small_drop.reasons[0]


def test_cases_the_baseline_does_not_hold_are_judged_on_their_own() -> None:
    """Ten cases added since the baseline, all failing, used to pass unjudged: the comparison
    pairs only the cases both runs hold."""
    base = baseline()
    added = {f"n{i}": False for i in range(10)}
    new_cases = {cid: (ok, ()) for cid, ok in added.items()}
    comparison = compare_outcomes(outcomes("a", base), outcomes("b", {**base, **added}))
    decision = decide_regression(comparison, GateSpec(), new_cases=new_cases)
    assert not decision.passed and decision.exit_code == ExitCode.GATE_FAILED
    assert decision.new_cases == 10 and decision.new_failed == sorted(added)
    assert decision.failed_on_new_cases_only
    assert (
        "10 case(s) with no verdict in baseline a (new, renamed or errored there), judged on their own: 0 passed"
        in decision.reasons[0]
    )
    # new cases that pass min_pass_rate (0.8 by default) are said, and the run passes
    mostly = {cid: (i != 0, ()) for i, cid in enumerate(added)}
    ok = decide_regression(comparison, GateSpec(), new_cases=mostly)
    assert ok.passed and ok.reasons[1].endswith("9 passed (90.0%, min_pass_rate 80%); failed: n0")
    # ... but not a new case tagged critical that fails
    critical = {**mostly, "n0": (False, ("critical",))}
    assert decide_regression(comparison, GateSpec(), new_cases=critical).exit_code == ExitCode.GATE_FAILED
    # every case renamed: nothing is paired, and the new ones failing on their own fail the run
    renamed = compare_outcomes(outcomes("a", base), outcomes("b", added))
    failed = decide_regression(renamed, GateSpec(), new_cases=new_cases)
    assert failed.exit_code == ExitCode.GATE_FAILED and failed.failed_on_new_cases_only
    assert decide_regression(renamed, GateSpec(), new_cases=mostly).exit_code == ExitCode.INFRASTRUCTURE


def test_check_against_baseline_finds_the_new_cases(tmp_path: Path) -> None:
    store = open_store(tmp_path / "e.duckdb")
    old = [Outcome(f"c{i:02d}", "pass") for i in range(20)]
    a = store_run(store, run_record("r-a"), old)
    b = store_run(
        store, run_record("r-b", minutes=1), [*old, Outcome("new1", "fail"), Outcome("new2", "fail")]
    )
    _, decision = check_against_baseline(store, a, b, GateSpec())
    assert decision.exit_code == ExitCode.GATE_FAILED and decision.new_failed == ["new1", "new2"]


def test_a_case_that_errored_in_the_baseline_is_judged_on_its_own(tmp_path: Path) -> None:
    """A critical case whose baseline call errored is left out of the pairs; failing now, it used to
    pass the gate unjudged (exit 0, "no significant regression")."""
    store = open_store(tmp_path / "e.duckdb")
    rest = [Outcome(f"c{i:02d}", "pass") for i in range(1, 20)]
    a = store_run(store, run_record("r-a"), [Outcome("c00", "error", tags=["critical"]), *rest])
    b = store_run(store, run_record("r-b", minutes=1), [Outcome("c00", "fail", tags=["critical"]), *rest])
    _, decision = check_against_baseline(store, a, b, GateSpec())
    assert decision.paired == 19 and decision.new_cases == 1 and decision.new_failed == ["c00"]
    assert not decision.passed and decision.exit_code == ExitCode.GATE_FAILED
    assert "1 tagged 'critical' failed: c00" in decision.reasons[0]
    # passing now, it is said and the run passes
    c = store_run(store, run_record("r-c", minutes=2), [Outcome("c00", "pass", tags=["critical"]), *rest])
    _, passed = check_against_baseline(store, a, c, GateSpec())
    assert passed.passed and passed.new_cases == 1 and passed.new_failed == []
