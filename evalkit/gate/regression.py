"""The regression gate: ``evalkit run ... --baseline RUN|NAME`` fails CI only on a real regression.

Instead of an absolute pass rate, the candidate run is compared with a baseline run on the cases
both scored (see :mod:`evalkit.analysis.compare`). It fails (exit 1) when

- its pass rate is significantly lower: McNemar's exact p < ``gate.regression_alpha`` *and* the drop
  is at least ``gate.regression_min_effect``; or
- a case tagged ``gate.critical_tag`` (``critical``) passed in the baseline and fails now; or
- the cases the baseline holds no verdict for (new or renamed, or errored in the baseline) pass
  below ``gate.min_pass_rate``, or one of them tagged critical fails: the comparison cannot weigh
  them, so the suite's own gate does; or
- a case the baseline stored tagged critical is missing from this run though it set out to run it
  (deleted or renamed in the suite), unless accepted by id (:mod:`evalkit.gate.removed_critical`).

A drop of at least ``min_effect`` carried by so few changed cases that McNemar's test could not
find it significant whichever way they went (five or fewer at alpha 0.05) cannot be judged (exit
3). Anything else passes (exit 0), even when a few cases moved. Cases the suite quarantines are left
out. A run that could not be judged at all (too many provider errors, stopped by its budget) keeps
its own exit code: the comparison cannot overrule missing evidence.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from evalkit.analysis.compare import Comparison, compare_outcomes
from evalkit.analysis.outcomes import RunOutcomes, load_outcomes
from evalkit.errors import ExitCode
from evalkit.gate.removed_critical import (
    RemovedCritical,
    blocks,
    find_removed_critical,
    removed_critical_reasons,
)
from evalkit.results import RunRecord
from evalkit.suite.spec import GateSpec

if TYPE_CHECKING:
    from evalkit.store import Store


class RegressionDecision(BaseModel):
    """The regression gate's verdict and the numbers behind it."""

    passed: bool
    exit_code: int
    baseline_run_id: str
    candidate_run_id: str
    reasons: list[str] = Field(default_factory=lambda: [])
    pass_rate_baseline: float | None = None
    pass_rate_candidate: float | None = None
    diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    paired: int = 0
    pass_to_fail: int = 0
    fail_to_pass: int = 0
    critical_flips: list[str] = Field(default_factory=lambda: [])
    # cases the baseline holds no verdict for (new or renamed, or errored there), scored in this run:
    # the comparison cannot weigh them, so the suite's own min_pass_rate (and critical tag) judges them
    new_cases: int = 0
    new_failed: list[str] = Field(default_factory=lambda: [])
    failed_on_new_cases_only: bool = False  # the run fails only because of the cases above
    # cases the baseline stored tagged critical that this run lacks though it set out to run them
    # (deleted or renamed), with their baseline verdict; those accepted by id; those it cannot tell
    removed_critical: dict[str, str] = Field(default_factory=lambda: {})
    removed_critical_allowed: list[str] = Field(default_factory=lambda: [])
    critical_not_checked: int = 0
    failed_on_removed_critical_only: bool = False  # the run fails only because of removed critical cases
    alpha: float
    min_effect: float


def decide_regression(
    comparison: Comparison,
    gate: GateSpec,
    *,
    allow_scoring_change: bool = False,
    unverified_critical: Sequence[str] = (),
    new_cases: Mapping[str, tuple[bool, Sequence[str]]] | None = None,
    removed: RemovedCritical | None = None,
    allow_removed_critical: Collection[str] = (),
) -> RegressionDecision:
    """Apply the regression rules to a comparison of the candidate (B) with the baseline (A).

    Runs scored differently (scorers, case rule or expected outputs changed) cannot be judged on
    their pass rates (exit 3), unless ``allow_scoring_change``: a loosened scorer would otherwise
    pass a run whose answers got worse. ``unverified_critical``: critical cases that passed in the
    baseline and errored in this run (they fail it: a case that must pass was not shown to). A drop
    over so few paired cases that McNemar's test could not find any drop significant cannot be
    judged (exit 3) rather than called no regression. ``new_cases``: case id -> (passed, tags) of the
    scored cases the baseline holds no verdict for (absent from it, or errored in it); their pass rate
    must reach ``gate.min_pass_rate`` and none tagged critical may fail, or the run fails (they would
    otherwise pass unjudged). ``removed``: the baseline's critical cases this run lacks; they fail it
    unless their ids are in ``allow_removed_critical``.
    """
    decision = _decide(
        comparison,
        gate,
        allow_scoring_change=allow_scoring_change,
        unverified_critical=unverified_critical,
        new_cases=new_cases,
    )
    if removed is None or not (removed.removed or removed.unknown or allow_removed_critical):
        return decision
    failing, notes = removed_critical_reasons(
        removed, gate.critical_tag, comparison.a.run_id, allow_removed_critical
    )
    update: dict[str, object] = {
        "removed_critical": removed.removed,
        "removed_critical_allowed": sorted(c for c in removed.removed if c in allow_removed_critical),
        "critical_not_checked": removed.unknown,
        "reasons": [*decision.reasons, *notes],
    }
    if failing is not None:
        update |= {
            "passed": False,
            "exit_code": blocks(decision.exit_code),
            # the reason that fails the run first; after reasons that already failed it
            "reasons": [*decision.reasons, failing, *notes]
            if not decision.passed
            else [failing, *decision.reasons, *notes],
            "failed_on_new_cases_only": False,
            "failed_on_removed_critical_only": decision.passed,
        }
    return decision.model_copy(update=update)


def _decide(
    comparison: Comparison,
    gate: GateSpec,
    *,
    allow_scoring_change: bool,
    unverified_critical: Sequence[str],
    new_cases: Mapping[str, tuple[bool, Sequence[str]]] | None,
) -> RegressionDecision:
    head = comparison.headline
    critical = [
        f.case_id for f in comparison.regressions if gate.critical_tag and gate.critical_tag in f.tags
    ]
    decision = RegressionDecision(
        passed=True,
        exit_code=ExitCode.OK,
        baseline_run_id=comparison.a.run_id,
        candidate_run_id=comparison.b.run_id,
        pass_rate_baseline=head.a,
        pass_rate_candidate=head.b,
        diff=head.diff,
        ci_low=head.ci.low if head.ci else None,
        ci_high=head.ci.high if head.ci else None,
        p_value=head.p_value,
        paired=head.n,
        pass_to_fail=head.mcnemar.a_only if head.mcnemar else 0,
        fail_to_pass=head.mcnemar.b_only if head.mcnemar else 0,
        critical_flips=critical,
        new_cases=len(new_cases or {}),
        new_failed=sorted(cid for cid, (ok, _) in (new_cases or {}).items() if not ok),
        alpha=gate.regression_alpha,
        min_effect=gate.regression_min_effect,
    )
    if head.n == 0 or head.a is None or head.b is None or head.p_value is None:
        new_verdict = _new_cases_verdict(decision, gate, new_cases or {}, comparison.a.run_id)
        if new_verdict is not None and new_verdict[0]:  # every case renamed, and they fail on their own
            return decision.model_copy(
                update={
                    "passed": False,
                    "exit_code": ExitCode.GATE_FAILED,
                    "reasons": [new_verdict[1]],
                    "failed_on_new_cases_only": True,
                }
            )
        return decision.model_copy(
            update={
                "passed": False,
                "exit_code": ExitCode.INFRASTRUCTURE,
                "reasons": [
                    f"no case was scored in both the baseline {comparison.a.run_id} and this run; "
                    "nothing to compare"
                ],
            }
        )
    if not comparison.comparable and not allow_scoring_change:
        return decision.model_copy(
            update={
                "passed": False,
                "exit_code": ExitCode.INFRASTRUCTURE,
                "reasons": [
                    f"not comparable with baseline {comparison.a.run_id}: "
                    + "; ".join(comparison.warnings or ["the runs were scored differently"])
                    + ". Review the change, then set a new baseline (`evalkit baseline set`), or gate on "
                    "the comparison anyway with --allow-scoring-change"
                ],
            }
        )
    diff = head.b - head.a
    numbers = (
        f"pass rate {head.a:.1%} → {head.b:.1%} ({_points(diff)}"
        + (
            f", {head.ci.confidence:.0%} CI {_points(head.ci.low)} to {_points(head.ci.high)}"
            if head.ci
            else ""
        )
        + f") over {head.n} paired cases, {decision.pass_to_fail} pass→fail and {decision.fail_to_pass} "
        f"fail→pass, McNemar exact p = {_p(head.p_value)}"
    )
    significant = head.p_value < gate.regression_alpha
    large = -diff + 1e-12 >= gate.regression_min_effect
    reasons: list[str] = []
    if unverified_critical:
        listed = ", ".join(unverified_critical[:5]) + (" ..." if len(unverified_critical) > 5 else "")
        reasons.append(
            f"{len(unverified_critical)} case(s) tagged {gate.critical_tag!r} passed in the baseline and "
            f"errored in this run, so were not shown to pass: {listed}"
        )
    if diff < 0 and significant and large:
        reasons.append(
            f"significant regression against baseline {comparison.a.run_id}: {numbers} "
            f"< alpha {gate.regression_alpha:g}, drop >= min_effect {_points(gate.regression_min_effect, sign=False)}"
        )
    if critical:
        listed = ", ".join(critical[:5]) + (" ..." if len(critical) > 5 else "")
        reasons.append(f"{len(critical)} case(s) tagged {gate.critical_tag!r} flipped to fail: {listed}")
    new_verdict = _new_cases_verdict(decision, gate, new_cases or {}, comparison.a.run_id)
    if new_verdict is not None and new_verdict[0]:
        reasons.append(new_verdict[1])
    if reasons:
        return decision.model_copy(
            update={
                "passed": False,
                "exit_code": ExitCode.GATE_FAILED,
                "reasons": reasons,
                "failed_on_new_cases_only": reasons == [new_verdict[1]] if new_verdict else False,
            }
        )
    changed = decision.pass_to_fail + decision.fail_to_pass
    if diff < 0 and not significant and 2 * 0.5**head.n >= gate.regression_alpha:
        unjudged = f"with {head.n} paired cases no drop can reach p < alpha {gate.regression_alpha:g}"
        return _not_judged(
            decision,
            f"too few paired cases to judge a drop against baseline {comparison.a.run_id}: {numbers}; {unjudged}",
        )
    if diff < 0 and not significant and large and 2 * 0.5**changed >= gate.regression_alpha:
        # McNemar's test sees only the cases that changed: a drop of min_effect or more carried by
        # so few of them could not be significant even had every one of them gone the same way
        unjudged = (
            f"McNemar's test weighs only the {changed} case(s) that changed, and with {changed} no drop "
            f"can reach p < alpha {gate.regression_alpha:g}, so a drop of {_points(-diff, sign=False)} "
            f"(>= min_effect {_points(gate.regression_min_effect, sign=False)}) is neither shown nor ruled out"
        )
        return _not_judged(
            decision,
            f"too few changed cases to judge a drop against baseline {comparison.a.run_id}: {numbers}; {unjudged}",
        )
    if diff < 0 and significant:
        why = f"the drop is below min_effect {_points(gate.regression_min_effect, sign=False)}"
    elif diff < 0:
        why = f"p >= alpha {gate.regression_alpha:g}"
    else:
        why = "no drop"
    said = [f"no significant regression against baseline {comparison.a.run_id}: {numbers} ({why})"]
    return decision.model_copy(update={"reasons": said + ([new_verdict[1]] if new_verdict else [])})


def _new_cases_verdict(
    decision: RegressionDecision,
    gate: GateSpec,
    new_cases: Mapping[str, tuple[bool, Sequence[str]]],
    baseline_id: str,
) -> tuple[bool, str] | None:
    """(fails, what to say) of the scored cases the baseline does not hold; None without any."""
    if not new_cases:
        return None
    passed = len(new_cases) - len(decision.new_failed)
    rate = passed / len(new_cases)
    critical = [
        cid for cid in decision.new_failed if gate.critical_tag and gate.critical_tag in new_cases[cid][1]
    ]
    listed = ", ".join(decision.new_failed[:5]) + (" ..." if len(decision.new_failed) > 5 else "")
    head = (
        f"{len(new_cases)} case(s) with no verdict in baseline {baseline_id} (new, renamed or errored there), "
        "judged on their own: "
        f"{passed} passed ({rate:.1%}, min_pass_rate {gate.min_pass_rate:.0%})"
    )
    if critical:
        return True, f"{head}; {len(critical)} tagged {gate.critical_tag!r} failed: {', '.join(critical[:5])}"
    if rate + 1e-12 < gate.min_pass_rate:
        return True, f"{head}; failed: {listed}"
    return False, head + (f"; failed: {listed}" if listed else "")


def _not_judged(decision: RegressionDecision, reason: str) -> RegressionDecision:
    return decision.model_copy(
        update={"passed": False, "exit_code": ExitCode.INFRASTRUCTURE, "reasons": [reason]}
    )


def check_against_baseline(
    store: Store,
    baseline: RunRecord,
    candidate: RunRecord,
    gate: GateSpec,
    *,
    seed: int = 0,
    allow_scoring_change: bool = False,
    allow_removed_critical: Collection[str] = (),
) -> tuple[Comparison, RegressionDecision]:
    """Compare a finished run with its baseline (quarantined cases left out) and decide;
    ``allow_removed_critical``: ids of critical cases accepted as deleted from the suite."""
    base, cand = gated_outcomes(store, baseline, candidate, gate.quarantine)
    comparison = compare_outcomes(
        base,
        cand,
        alpha=gate.regression_alpha,
        min_effect=gate.regression_min_effect,
        seed=seed,
        allow_scoring_change=allow_scoring_change,
    )
    # a case that errored in the baseline is as unweighed as one it never held: left out of the
    # pairs, it would otherwise go unjudged however it ends now (a critical case failing included)
    new_cases = {
        case_id: (bool(case.passed), case.tags)
        for case_id, case in cand.cases.items()
        if case.passed is not None and (case_id not in base.cases or base.cases[case_id].passed is None)
    }
    return comparison, decide_regression(
        comparison,
        gate,
        allow_scoring_change=allow_scoring_change,
        unverified_critical=unverified_critical(base, cand, gate.critical_tag),
        new_cases=new_cases,
        removed=find_removed_critical(base, cand, gate.critical_tag),
        allow_removed_critical=allow_removed_critical,
    )


def gated_outcomes(
    store: Store, baseline: RunRecord, candidate: RunRecord, quarantine: Collection[str]
) -> tuple[RunOutcomes, RunOutcomes]:
    """Both runs' outcomes as the gate weighs them: without the cases ``quarantine`` (the suite
    gate's) and the candidate's summary keep out of the gate."""
    base, cand = load_outcomes(store, baseline), load_outcomes(store, candidate)
    quarantined = set(quarantine) | set(candidate.summary.quarantined if candidate.summary else [])
    if quarantined:
        base = replace(base, cases={k: v for k, v in base.cases.items() if k not in quarantined})
        cand = replace(cand, cases={k: v for k, v in cand.cases.items() if k not in quarantined})
    return base, cand


def removed_critical_between(
    store: Store, baseline: RunRecord, candidate: RunRecord
) -> tuple[RemovedCritical | None, str]:
    """The critical cases ``baseline`` holds and ``candidate`` lacks, as the regression gate would
    find them gating ``candidate`` on ``baseline`` with its suite's gate as it ran (critical tag,
    quarantine); and that tag. For `evalkit compare A B`, which compares only the cases both hold."""
    recorded = candidate.config.get("gate") or {}
    tag = str(recorded.get("critical_tag", GateSpec().critical_tag))
    base, cand = gated_outcomes(store, baseline, candidate, recorded.get("quarantine") or [])
    return find_removed_critical(base, cand, tag), tag


def removed_critical_line(store: Store, baseline: RunRecord, candidate: RunRecord) -> str | None:
    """The gate's reason naming the critical cases ``baseline`` holds and ``candidate`` lacks (none
    accepted), for the pages comparing them (the HTML report, the studio); None when there are none."""
    found, tag = removed_critical_between(store, baseline, candidate)
    return removed_critical_reasons(found, tag, baseline.run_id, ())[0] if found is not None else None


def unverified_critical(base: RunOutcomes, cand: RunOutcomes, tag: str) -> list[str]:
    """Cases tagged ``tag`` that passed in the baseline and errored (every epoch) in the candidate."""
    return sorted(
        case_id
        for case_id, was in base.cases.items()
        if tag
        and tag in was.tags
        and was.passed
        and case_id in cand.cases
        and cand.cases[case_id].passed is None
    )


def _points(value: float, *, sign: bool = True) -> str:
    return f"{value * 100:+.1f} pts" if sign else f"{value * 100:.1f} pts"


def _p(value: float) -> str:
    return f"{value:.3g}" if value >= 0.001 else f"{value:.1e}"
