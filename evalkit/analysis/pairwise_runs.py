"""Run B against run A with a pairwise judge: ``evalkit compare RUN_A RUN_B --judge MODEL``.

For every case both runs answered (first epoch; errored cases are left out and counted), the judge
sees the case input and both outputs in both orders (:mod:`evalkit.judges.pairwise`). The result holds each
case's verdict with its reasoning, and the statistics of :func:`evalkit.judges.pairwise_stats.win_rate`; it
is stored (``pairwise_comparisons`` / ``pairwise_verdicts``) so ``evalkit report A --compare B`` shows
it. The suite's optional gate criterion (``gate.pairwise``) is :mod:`evalkit.gate.pairwise`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from evalkit.analysis.outcomes import load_outcomes
from evalkit.judges.pairwise import Complete, PairVerdict, PairwiseJudge, PairwiseJudging, request_text
from evalkit.judges.pairwise_stats import WinRate, win_rate
from evalkit.results import RunRecord

if TYPE_CHECKING:
    from evalkit.gate.pairwise import PairwiseGateDecision
    from evalkit.store import Store


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
    calls: int = 0  # requests the judge was sent (both orders, retries and re-asks included)
    cost_usd: float = 0.0  # what they cost (the judge's calls count as $0 when it is in unpriced_models)
    unpriced_models: list[str] = field(default_factory=list)  # the judge, when litellm has no price for it
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(tzinfo=None))
    gate: PairwiseGateDecision | None = None

    @property
    def cost_known(self) -> bool:
        """Whether ``cost_usd`` is what the judge's calls cost: none went to a model without a price."""
        return not self.unpriced_models

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
    from evalkit.providers.prices import unpriced

    pairs, left_out = pair_cases(store, run_a, run_b)
    if limit is not None:
        left_out += max(0, len(pairs) - limit)
        pairs = pairs[:limit]
    if on_start is not None:
        on_start(len(pairs))

    caller = ModelCaller(base_dir)  # no response cache: it would drop the log-probabilities

    async def go() -> list[JudgedCase]:
        try:
            return await judge_cases(pairs, judge, caller.complete, concurrency=concurrency, on_case=on_case)
        finally:
            await caller.aclose()

    comparison = summarize(asyncio.run(go()), judge, run_a.run_id, run_b.run_id, left_out)
    comparison.calls = caller.stats.requests
    comparison.cost_usd = caller.stats.cost_usd
    comparison.unpriced_models = [judge.model] if unpriced(judge.model) else []
    return comparison


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None
