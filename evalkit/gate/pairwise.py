"""The pairwise gate criterion (``gate.pairwise``): a pairwise judge's verdict on run B against run A.

:func:`pairwise_gate` applies the criterion to a comparison's statistics (pure); :func:`gate_comparison`
reads the judge's calibration from the store. With ``evalkit run --baseline`` (or ``run_suite(...,
baseline=...)``), :func:`judge_against_baseline` judges the run against its baseline and
:func:`fold_into_regression` lets a failed criterion fail the regression decision. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from evalkit.errors import ExitCode
from evalkit.gate.judge_trust import short_of, show_kappa, too_many_unanswered
from evalkit.gate.judges import calibration_weakness
from evalkit.gate.regression import RegressionDecision
from evalkit.judges.pairwise_stats import WinRate
from evalkit.results import RunRecord
from evalkit.store.calibrations import current_calibrations

if TYPE_CHECKING:
    from evalkit.analysis.pairwise_runs import PairwiseComparison
    from evalkit.store import Store
    from evalkit.suite.spec import PairwiseGateSpec


class PairwiseGateDecision(BaseModel):
    """The suite's pairwise criterion on one comparison."""

    passed: bool
    reasons: list[str] = Field(default_factory=lambda: [])  # why it failed, or what it found
    warnings: list[str] = Field(default_factory=lambda: [])


def pairwise_gate(
    stats: WinRate,
    spec: PairwiseGateSpec,
    *,
    judge_model: str,
    prompt_hash: str,
    calibration: Mapping[str, Any] | None,
) -> PairwiseGateDecision:
    """Apply ``gate.pairwise`` to a comparison's statistics and the judge's latest calibration. Pure.

    - ``min_win_rate``: fails when B's win rate over A is significantly below it (the upper end of
      its 95% interval is under ``min_win_rate``). Without a decisive case there is no evidence.
    - ``min_position_agreement``: this comparison's own position agreement, and the calibrated one,
      must reach it; ``min_kappa``: the calibrated kappa must, on enough answered items (see
      :func:`evalkit.gate.judge_trust.too_many_unanswered`). A judge below either, or without a
      calibration when either is set, is a warning, or a failure with ``calibration: fail``.
    """
    reasons: list[str] = []
    failed = False
    if spec.min_win_rate is not None:
        if stats.win_rate is None:
            reasons.append(f"no decisive case ({stats.ties} ties): no evidence against min_win_rate")
        elif stats.ci_high is not None and stats.ci_high < spec.min_win_rate:
            failed = True
            reasons.append(
                f"B's win rate over A {stats.win_rate:.1%} (95% CI {stats.ci_low:.1%}-{stats.ci_high:.1%}, "
                f"{stats.wins} wins, {stats.losses} losses, {stats.ties} ties, sign test p = "
                f"{stats.sign_test_p:.3g}) is significantly below min_win_rate {spec.min_win_rate:.0%}"
            )
        else:
            reasons.append(
                f"B's win rate over A {stats.win_rate:.1%} (95% CI {stats.ci_low:.1%}-{stats.ci_high:.1%}) "
                f"is not significantly below min_win_rate {spec.min_win_rate:.0%}"
            )
    problems: list[str] = []
    who = f"pairwise judge {judge_model!r} (prompt {prompt_hash})"
    here = stats.position_agreement
    if spec.min_position_agreement is not None and here is not None and here < spec.min_position_agreement:
        problems.append(
            f"{who} named the same winner in both orders on "
            f"{short_of(here, spec.min_position_agreement, 0, percent=True)} of these cases, "
            f"below min_position_agreement {spec.min_position_agreement:.0%}"
        )
    if spec.min_kappa is not None or spec.min_position_agreement is not None:
        if calibration is None:
            problems.append(
                f"{who} has no calibration against human labels; run `evalkit calibrate` before trusting it"
            )
        else:
            kappa = calibration.get("kappa")
            n_judged, n_items = calibration.get("n_judged"), calibration.get("n_items")
            agreement = (calibration.get("report") or {}).get("stats", {}).get("position_agreement")
            unanswered = too_many_unanswered(n_judged, n_items)
            if spec.min_kappa is not None and (kappa is None or kappa < spec.min_kappa or unanswered):
                shown = show_kappa(kappa, n_judged, n_items, below=spec.min_kappa)
                why = f" ({unanswered}), so" if unanswered else ","
                problems.append(
                    f"{who} agrees with humans at {shown}{why} below min_kappa {spec.min_kappa:.2f}"
                )
            if spec.min_position_agreement is not None and (
                agreement is None or agreement < spec.min_position_agreement
            ):
                shown = (
                    "unknown"
                    if agreement is None
                    else short_of(agreement, spec.min_position_agreement, 0, percent=True)
                )
                problems.append(
                    f"{who} was calibrated at position agreement {shown}, below min_position_agreement "
                    f"{spec.min_position_agreement:.0%}"
                )
    warnings: list[str] = []
    if problems and spec.calibration == "fail":
        failed = True
        reasons += problems
    else:
        warnings += problems
    return PairwiseGateDecision(passed=not failed, reasons=reasons, warnings=warnings)


def gate_comparison(
    store: Store, comparison: PairwiseComparison, spec: PairwiseGateSpec
) -> PairwiseGateDecision:
    """:func:`pairwise_gate` with the weakest of the judge's current calibrations (one per dataset)."""
    key = (comparison.judge.model, comparison.judge.prompt_hash)
    current = current_calibrations(store, [key]).get(key, [])
    calibration = min(current, key=calibration_weakness, default=None)
    decision = pairwise_gate(
        comparison.stats,
        spec,
        judge_model=comparison.judge.model,
        prompt_hash=comparison.judge.prompt_hash,
        calibration=calibration,
    )
    comparison.gate = decision
    return decision


def pairwise_exit_code(comparison: PairwiseComparison) -> int:
    """The exit code of ``evalkit compare A B --judge``: 1 when B's suite criterion failed, else 0."""
    if comparison.gate is not None and not comparison.gate.passed:
        return int(ExitCode.GATE_FAILED)
    return int(ExitCode.OK)


def judge_against_baseline(
    store: Store, spec: PairwiseGateSpec, baseline: RunRecord, run: RunRecord, base_dir: Path | None
) -> PairwiseComparison | None:
    """Judge ``run`` against ``baseline`` with the criterion's judge, gate it and store it.

    None when no case has an output in both runs (nothing to judge).
    """
    from evalkit.analysis.pairwise_runs import compare_with_judge
    from evalkit.judges.pairwise import DEFAULT_PAIRWISE_RUBRIC, PairwiseJudge
    from evalkit.store.pairwise import PairwiseStore

    judge = PairwiseJudge(
        model=spec.judge,
        rubric=spec.rubric or DEFAULT_PAIRWISE_RUBRIC,
        verdict=spec.verdict,
        api_base=spec.api_base,
    )
    comparison = compare_with_judge(store, baseline, run, judge, base_dir=base_dir)
    if not comparison.cases:
        return None
    gate_comparison(store, comparison, spec)
    PairwiseStore(store).add(comparison)
    return comparison


def fold_into_regression(decision: RegressionDecision, gate: PairwiseGateDecision) -> RegressionDecision:
    """A failed pairwise criterion fails a regression decision that could be judged (exit 1).

    A decision that could not be judged (exit 3) keeps its code; the criterion's reasons are added
    with a ``pairwise:`` prefix.
    """
    if gate.passed or decision.exit_code not in (ExitCode.OK, ExitCode.GATE_FAILED):
        return decision
    return decision.model_copy(
        update={
            "passed": False,
            "exit_code": ExitCode.GATE_FAILED,
            "reasons": [*decision.reasons, *(f"pairwise: {r}" for r in gate.reasons)],
            # the run no longer fails on those cases only: the headline must not say it does
            "failed_on_new_cases_only": False,
            "failed_on_removed_critical_only": False,
        }
    )
