"""A group's cells read from the store as :class:`~evalkit.analysis.frontier.CellStats`.

Per cell: the pass rate over the cases with a pass/fail verdict (errors left out, like the run's
own pass rate, and counted apart against the run's ``gate.max_error_rate``), the exit code and first
reason its gate stored (a run in progress has none) with its 95% Wilson
interval; USD per 1,000 cases from each case's stored cost
(one answer: with epochs, their mean; target and judge; an answer served from the cache at what it cost when first made, see
:mod:`evalkit.analysis.costs`; cases whose cost is unknown left out of the mean; unknown for a
``python:`` or ``http:`` target, whose own model calls evalkit does not see); the p95 of the
uncached latencies; and, when the run scored fields, the micro field F1 with a 95% percentile
bootstrap interval over cases (seeded: the same data give the same interval).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evalkit.analysis.field_metrics import slot_of
from evalkit.analysis.frontier import DEFAULT_ALPHA, CellStats, Frontier, build_frontier
from evalkit.analysis.outcomes import RunOutcomes, frame_columns, outcomes_from_frames
from evalkit.analysis.paired_stats import DEFAULT_CONFIDENCE
from evalkit.judges.pairwise_stats import wilson_interval
from evalkit.results import RunRecord

if TYPE_CHECKING:
    from evalkit.store import Store

F1_RESAMPLES = 1000


def group_frontier(
    store: Store, runs: Sequence[RunRecord], *, alpha: float = DEFAULT_ALPHA, seed: int = 0
) -> Frontier:
    """The frontier of a group's runs (see :func:`evalkit.store.groups.group_runs`)."""
    return build_frontier([load_cell(store, run, seed=seed) for run in runs], alpha=alpha)


def gate_alpha(run: RunRecord) -> float:
    """The significance level the run's suite gates regressions with (``gate.regression_alpha``)."""
    return float(run.config.get("gate", {}).get("regression_alpha", DEFAULT_ALPHA))


def load_cell(store: Store, run: RunRecord, *, seed: int = 0) -> CellStats:
    """One run's cell figures, read through the store."""
    with store.session():
        frame = store.case_results(run.run_id, frame=False)
        scores = store.score_rows(run.run_id, frame=False)
        fields = store.field_rows(run.run_id, frame=False)
    return cell_stats(outcomes_from_frames(run, frame, scores, fields), fields, seed=seed)


def cell_stats(outcomes: RunOutcomes, fields: Any = None, *, seed: int = 0) -> CellStats:
    """A cell's figures from its outcomes and (optionally) its field rows."""
    run = outcomes.run
    verdicts = {cid: c.passed for cid, c in outcomes.cases.items() if c.passed is not None}
    limit = run.config.get("gate", {}).get("max_error_rate")
    summary = run.settled_summary
    gate = summary.gate if summary is not None else None
    passed = sum(verdicts.values())
    low, high = wilson_interval(passed, len(verdicts)) if verdicts else (None, None)
    # unknown (None) for a run with calls no cost counts, a python:/http: target's among them (outcomes)
    costs = [c.cost_usd for c in outcomes.cases.values() if c.cost_usd is not None]
    f1, f1_low, f1_high = micro_f1_interval(field_slot_counts(fields), seed=seed)
    return CellStats(
        run_id=run.run_id,
        prompt_version=run.prompt_version,
        model=run.model,
        scored=len(verdicts),
        passed=passed,
        pass_low=low,
        pass_high=high,
        cost_per_1k=1000 * sum(costs) / len(costs) if costs else None,
        p95_ms=outcomes.latency_p95_ms,
        f1=f1,
        f1_low=f1_low,
        f1_high=f1_high,
        case_passed=verdicts,
        errors=len(outcomes.cases) - len(verdicts),
        max_error_rate=float(limit) if limit is not None else None,
        gate_exit_code=int(gate.exit_code) if gate is not None else None,
        gate_reason=gate.reasons[0] if gate is not None and gate.reasons else None,
        finished=run.status != "running",
    )


def field_slot_counts(fields: Any) -> list[tuple[int, int, int]]:
    """Per case (every epoch and field pooled): (right values, values stated, values to find), in
    case-id order: the bootstrap draws cases by position, so the same data must give the same order
    whatever order (collation) the database returned its rows in."""
    if fields is None or not len(fields):
        return []
    case_ids, statuses, slots = frame_columns(fields, ("case_id", "status", "slot"))
    per_case: dict[str, list[int]] = {}
    for case_id, status, slot in zip(case_ids, statuses, slots, strict=True):
        kind = slot_of(None if slot is None or slot != slot else str(slot), str(status))  # NaN != NaN
        counts = per_case.setdefault(case_id, [0, 0, 0])
        counts[0] += kind == "VC"
        counts[1] += kind in ("NV", "VC", "VW")
        counts[2] += kind in ("VN", "VC", "VW")
    ordered = (per_case[case_id] for case_id in sorted(per_case))
    return [(vc, stated, to_find) for vc, stated, to_find in ordered]


def micro_f1_interval(
    cases: Sequence[tuple[int, int, int]],
    *,
    seed: int = 0,
    resamples: int = F1_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float | None, float | None, float | None]:
    """Micro F1 = 2 VC / (stated + to find) over the pooled slots, and a percentile bootstrap interval
    (cases resampled with replacement); ``(None, None, None)`` without any stated or wanted value."""
    import numpy as np

    counts = np.asarray(cases, dtype=float).reshape(-1, 3)
    totals = counts.sum(axis=0)
    if totals[1] + totals[2] == 0:
        return None, None, None
    observed = float(2 * totals[0] / (totals[1] + totals[2]))
    if len(counts) < 2:
        return observed, observed, observed
    rng = np.random.default_rng(seed)
    n = len(counts)
    pooled = np.empty((resamples, 3))
    batch = max(1, min(resamples, 1_000_000 // n))  # bounds memory to ~16 MB per batch
    for start in range(0, resamples, batch):
        size = min(batch, resamples - start)
        picks = rng.integers(0, n, (size, n)) + (np.arange(size) * n)[:, None]
        drawn = np.bincount(picks.ravel(), minlength=size * n).reshape(size, n)
        pooled[start : start + size] = drawn @ counts  # each case times how often it was drawn
    denominator = pooled[:, 1] + pooled[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1s = np.where(denominator > 0, 2 * pooled[:, 0] / denominator, np.nan)
    tail = (1 - confidence) / 2
    low, high = np.nanpercentile(f1s, [100 * tail, 100 * (1 - tail)])
    return observed, float(min(low, observed)), float(max(high, observed))
