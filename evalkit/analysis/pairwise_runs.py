"""Run B against run A with a pairwise judge: ``evalkit compare RUN_A RUN_B --judge MODEL``.

For every case both runs answered (first epoch; errored cases are left out and counted), the judge
sees the case input and both outputs in both orders (:mod:`evalkit.judges.pairwise`). The result holds each
case's verdict with its reasoning, and the statistics of :func:`evalkit.judges.pairwise_stats.win_rate`; it
is stored (``pairwise_comparisons`` / ``pairwise_verdicts``) so ``evalkit report A --compare B`` shows
it. :func:`pairwise_gate` is the suite's optional gate criterion (``gate.pairwise``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from evalkit.analysis.compare import load_outcomes
from evalkit.judges.pairwise import Complete, PairVerdict, PairwiseJudge, PairwiseJudging, request_text
from evalkit.judges.pairwise_stats import WinRate, win_rate
from evalkit.results import RunRecord

if TYPE_CHECKING:
    from evalkit.store import Store
    from evalkit.suite.spec import PairwiseGateSpec


@dataclass(frozen=True)
class JudgedCase:
    """One case's pairwise verdict, with what the judge was shown."""

    case_id: str
    verdict: PairVerdict
    request: str
    output_a: str
    output_b: str


@dataclass
class PairwiseComparison:
    """Run B against run A by a pairwise judge."""

    comparison_id: str
    run_a: str
    run_b: str
    judge: PairwiseJudge
    stats: WinRate
    cases: list[JudgedCase]
    left_out: int = 0  # cases not in both runs with an output
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(tzinfo=None))
    gate: PairwiseGateDecision | None = None

    @property
    def disagreements(self) -> list[JudgedCase]:
        """Cases whose two orders named different winners."""
        return [c for c in self.cases if c.verdict.consistent is False]

    @property
    def logprob_decided(self) -> int:
        return sum(c.verdict.decided_by == "logprobs" for c in self.cases)


def pair_cases(
    store: Store, run_a: RunRecord, run_b: RunRecord
) -> tuple[list[tuple[str, str, str, str]], int]:
    """(case id, request, output A, output B) for cases both runs answered; and how many were left out."""
    a, b = load_outcomes(store, run_a), load_outcomes(store, run_b)
    pairs = []
    for case_id in sorted(a.cases.keys() & b.cases.keys()):
        x, y = a.cases[case_id], b.cases[case_id]
        if x.passed is None or y.passed is None or x.output is None or y.output is None:
            continue
        pairs.append((case_id, request_text(_json(y.input_json or x.input_json)), x.output, y.output))
    return pairs, len(a.cases.keys() | b.cases.keys()) - len(pairs)


async def judge_cases(
    pairs: Sequence[tuple[str, str, str, str]],
    judge: PairwiseJudge,
    complete: Complete,
    *,
    concurrency: int = 4,
    on_case: Callable[[], None] | None = None,
) -> list[JudgedCase]:
    """Judge each (case id, request, output A, output B) in both orders."""
    judging = PairwiseJudging(judge, complete)
    slots = asyncio.Semaphore(max(1, concurrency))

    async def one(case_id: str, request: str, out_a: str, out_b: str) -> JudgedCase:
        async with slots:
            verdict = await judging.judge_pair(request, out_a, out_b)
        if on_case is not None:
            on_case()
        return JudgedCase(case_id, verdict, request, out_a, out_b)

    return list(await asyncio.gather(*(one(*p) for p in pairs)))


def summarize(
    cases: Sequence[JudgedCase], judge: PairwiseJudge, run_a: str, run_b: str, left_out: int = 0
) -> PairwiseComparison:
    """The comparison's statistics over its judged cases. Pure."""
    stats = win_rate(
        [c.verdict.winner for c in cases],
        consistent=[c.verdict.consistent for c in cases],
        first_slot_answers=[c.verdict.first_slot_answers for c in cases],
        ids=[c.case_id for c in cases],
    )
    return PairwiseComparison(
        comparison_id=uuid.uuid4().hex[:12],
        run_a=run_a,
        run_b=run_b,
        judge=judge,
        stats=stats,
        cases=list(cases),
        left_out=left_out,
    )


def compare_with_judge(
    store: Store,
    run_a: RunRecord,
    run_b: RunRecord,
    judge: PairwiseJudge,
    *,
    concurrency: int = 4,
    limit: int | None = None,
    base_dir: Any = None,
    on_start: Callable[[int], None] | None = None,
    on_case: Callable[[], None] | None = None,
) -> PairwiseComparison:
    """Judge run B against run A case by case, in both orders (blocking: runs its own event loop)."""
    from evalkit.providers.calls import ModelCaller

    pairs, left_out = pair_cases(store, run_a, run_b)
    if limit is not None:
        left_out += max(0, len(pairs) - limit)
        pairs = pairs[:limit]
    if on_start is not None:
        on_start(len(pairs))

    async def go() -> list[JudgedCase]:
        caller = ModelCaller(base_dir)  # no response cache: it would drop the log-probabilities
        try:
            return await judge_cases(pairs, judge, caller.complete, concurrency=concurrency, on_case=on_case)
        finally:
            await caller.aclose()

    return summarize(asyncio.run(go()), judge, run_a.run_id, run_b.run_id, left_out)


# ---- the gate criterion --------------------------------------------------------------------------


class PairwiseGateDecision(BaseModel):
    """The suite's pairwise criterion on one comparison."""

    passed: bool
    reasons: list[str] = Field(default_factory=list)  # why it failed, or what it found
    warnings: list[str] = Field(default_factory=list)


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
      must reach it; ``min_kappa``: the calibrated kappa must. A judge below either, or without a
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
            f"{who} named the same winner in both orders on {here:.0%} of these cases, "
            f"below min_position_agreement {spec.min_position_agreement:.0%}"
        )
    if spec.min_kappa is not None or spec.min_position_agreement is not None:
        if calibration is None:
            problems.append(
                f"{who} has no calibration against human labels; run `evalkit calibrate` before trusting it"
            )
        else:
            kappa = calibration.get("kappa")
            agreement = (calibration.get("report") or {}).get("stats", {}).get("position_agreement")
            if spec.min_kappa is not None and (kappa is None or kappa < spec.min_kappa):
                shown = "undefined" if kappa is None else f"{kappa:.2f}"
                problems.append(
                    f"{who} agrees with humans at kappa {shown}, below min_kappa {spec.min_kappa:.2f}"
                )
            if spec.min_position_agreement is not None and (
                agreement is None or agreement < spec.min_position_agreement
            ):
                shown = "unknown" if agreement is None else f"{agreement:.0%}"
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
    """:func:`pairwise_gate` with the judge's latest calibration read from the store."""
    key = (comparison.judge.model, comparison.judge.prompt_hash)
    calibration = store.latest_calibrations([key]).get(key)
    decision = pairwise_gate(
        comparison.stats,
        spec,
        judge_model=comparison.judge.model,
        prompt_hash=comparison.judge.prompt_hash,
        calibration=calibration,
    )
    comparison.gate = decision
    return decision


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None
