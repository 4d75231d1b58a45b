"""Verdicts: when a case passes, and when a run passes its suite's gate (and which exit code follows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from evalkit.errors import ExitCode
from evalkit.results import GateDecision as GateDecision  # defined with the run records it is stored in
from evalkit.results import ScoreRow, ScorerSummary, Verdict, VerdictCounts
from evalkit.suite.spec import GateSpec

if TYPE_CHECKING:
    from evalkit.gate.judges import JudgeCheck
    from evalkit.results import RunRecord


def case_verdict(scores: Sequence[ScoreRow], gate: GateSpec) -> tuple[Verdict, float | None]:
    """Verdict and weighted score of one case from its scorer results.

    Scorers that could not score (``error`` set) are left out; when none could, the case is an
    ``error``, never a quality failure.
    """
    usable = [s for s in scores if s.error is None]
    if not usable:
        return "error", None
    total = sum(s.weight for s in usable)
    if total > 0:
        score = sum(s.score * s.weight for s in usable) / total
    else:
        score = sum(s.score for s in usable) / len(usable)
    if gate.case_pass == "all":
        passed = all(s.passed for s in usable)
    else:
        passed = score >= gate.case_threshold - 1e-12
    return ("pass" if passed else "fail"), score


def percents(rate: float, threshold: float) -> tuple[str, str]:
    """``rate`` and ``threshold`` as percentages, with the decimals that keep them apart when they
    differ (one at least for the rate; none the threshold does not need): 6 of 7 against a
    min_pass_rate of 0.858 reads 85.71% < 85.8%, never "85.7% < 86%" or "85.7% >= 85.7%"."""
    for digits in range(1, 7):
        if round(rate * 100, digits) != round(threshold * 100, digits) or abs(rate - threshold) <= 1e-12:
            break
    floor = f"{threshold * 100:.{digits}f}".rstrip("0").rstrip(".")
    return f"{rate:.{digits}%}", f"{floor}%"


def decide(summary: VerdictCounts, gate: GateSpec) -> GateDecision:
    """Apply the suite's gate to a run's verdict counts (a summary, or the counts the gate judges)."""
    results = summary.results
    errors = summary.errors
    reasons: list[str] = []
    if results == 0:
        return GateDecision(passed=False, exit_code=ExitCode.INFRASTRUCTURE, reasons=["no results"])
    error_rate = errors / results
    if error_rate > gate.max_error_rate:
        reasons.append(
            f"{errors} of {results} cases ended in errors "
            f"({' > max_error_rate '.join(percents(error_rate, gate.max_error_rate))}); "
            "the quality verdict cannot be trusted"
        )
        return GateDecision(passed=False, exit_code=ExitCode.INFRASTRUCTURE, reasons=reasons)
    pass_rate = summary.pass_rate
    if pass_rate is None:
        return GateDecision(
            passed=False, exit_code=ExitCode.INFRASTRUCTURE, reasons=["no case could be scored"]
        )
    rate, floor = percents(pass_rate, gate.min_pass_rate)
    if pass_rate + 1e-12 < gate.min_pass_rate:
        reasons.append(f"pass rate {rate} < min_pass_rate {floor}")
        return GateDecision(passed=False, exit_code=ExitCode.GATE_FAILED, reasons=reasons)
    reasons.append(f"pass rate {rate} >= min_pass_rate {floor}")
    return GateDecision(passed=True, exit_code=ExitCode.OK, reasons=reasons)


def apply_scorer_errors(
    decision: GateDecision, scorers: Mapping[str, ScorerSummary], gate: GateSpec
) -> GateDecision:
    """A pass the gate cannot vouch for: a scorer that could not score more of the results than
    ``max_error_rate`` allows (a broken output schema, an unreachable judge) leaves its check off
    for them, and the cases passed on the other scorers alone. Exit 3, as for errored cases; a
    failed gate stays failed (its verdict rests on the scorers that worked)."""
    broken = []
    for name, s in scorers.items():
        tried = s.scored + s.errors
        if tried and s.errors / tried > gate.max_error_rate + 1e-12:
            rate, limit = percents(s.errors / tried, gate.max_error_rate)
            broken.append(
                f"scorer {name} could not score {s.errors} of {tried} results ({rate} > max_error_rate {limit})"
            )
    if not broken or not decision.passed:
        return decision
    reasons = [*decision.reasons, *(f"{b}: its check was off for them" for b in broken)]
    return GateDecision(
        passed=False, exit_code=ExitCode.INFRASTRUCTURE, reasons=reasons, warnings=decision.warnings
    )


def apply_judge_checks(decision: GateDecision, checks: Sequence[JudgeCheck]) -> GateDecision:
    """Add what the gate must say about the judges it relies on (see :mod:`evalkit.gate.judges`).

    An uncalibrated judge, or one below its scorer's ``min_kappa``, is a warning; with the scorer's
    ``calibration: fail`` it also fails a gate that would otherwise pass (exit 1), and is listed in
    ``judge_failures`` (it fails a run gated on a baseline too). A gate that already failed keeps
    its exit code.
    """
    warnings = list(decision.warnings)
    reasons = list(decision.reasons)
    failures: list[str] = []
    for check in checks:
        if check.status not in ("uncalibrated", "below"):
            continue
        if check.requirement.on_failure == "fail":  # with or without a min_kappa to reach
            reasons.append(check.message)
            failures.append(check.message)
        else:
            warnings.append(check.message)
    update = {"reasons": reasons, "warnings": warnings, "judge_failures": failures}
    if failures and decision.passed:
        return GateDecision(passed=False, exit_code=ExitCode.GATE_FAILED, **update)
    return decision.model_copy(update=update)


def gate_thresholds(run: RunRecord) -> tuple[float, float]:
    """(alpha, min_effect) a comparison with ``run`` as B uses: its suite gate's
    ``regression_alpha`` and ``regression_min_effect`` as it ran, else the defaults. `compare`, the
    HTML report and the studio all judge a pair of runs with these."""
    defaults, gate = GateSpec(), run.config.get("gate", {})
    return (
        float(gate.get("regression_alpha", defaults.regression_alpha)),
        float(gate.get("regression_min_effect", defaults.regression_min_effect)),
    )
