"""The model frontier of a prompts x models matrix: quality against cost and speed, with uncertainty.

Each cell (one run of the group) is a point: quality = pass rate with its 95% Wilson interval,
cost = USD per 1,000 cases, speed = p95 latency. A cell is *dominated* when another cell is at
least as good on all three (pass rate higher or equal, cost and p95 lower or equal) and strictly
better on one; the cells no other cell dominates are the Pareto frontier. Identical points do not
dominate each other, so ties are all kept. An unknown cost or p95 (every answer came from the
cache, or costs were stored before they were recorded) counts as the worst value on that axis.

A cell whose run has not finished, or could not be judged (its stored gate verdict is neither pass nor fail: too many
provider errors, a scorer that could not score, a budget stop; or, without a stored verdict, more
of its cases errored than its gate's ``max_error_rate`` allows) is shown but is never the best nor
recommended, is not on the frontier and dominates no cell: its pass rate rests on the cases it did
answer, and a pipeline that crashes on the hard half would top the group (and push the cells that
answered everything off the frontier).

The *best* cell has the highest pass rate. A cell is *not significantly worse* than the best when
McNemar's exact test on the cases both scored does not reject "same pass rate" at ``alpha``; the
best itself qualifies. Each cell is tested against the best on its own, without a multiplicity
adjustment: an adjustment would reject less often and so call more cells "not worse". Not
rejecting is not proof of equivalence: with few cases every cell passes this test. Among the
cells that qualify, the *recommended* one is the cheapest per 1,000 cases (then the lower p95,
then the higher pass rate).

Pure functions over :class:`CellStats`; :mod:`evalkit.analysis.frontier_cells` builds them from
stored runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from evalkit.analysis.paired_stats import mcnemar_exact

DEFAULT_ALPHA = 0.05
TEST_NAME = "McNemar exact"


@dataclass(frozen=True)
class CellStats:
    """What the frontier knows of one cell (one run of the group)."""

    run_id: str
    prompt_version: str | None
    model: str
    scored: int  # cases with a pass/fail verdict (errors left out, like the run's pass rate)
    passed: int
    pass_low: float | None = None  # 95% Wilson interval of the pass rate
    pass_high: float | None = None
    cost_per_1k: float | None = None  # USD per 1,000 cases: target + judge, cached answers at first cost
    p95_ms: float | None = None  # uncached calls
    f1: float | None = None  # micro field F1, when the suite scores fields
    f1_low: float | None = None  # 95% case-bootstrap interval of the micro F1
    f1_high: float | None = None
    case_passed: Mapping[str, bool] = field(default_factory=dict, repr=False)  # case id -> passed
    errors: int = 0  # cases every epoch of which errored (no answer to score)
    max_error_rate: float | None = None  # the run's gate: above it the run could not be judged
    # the exit code its gate stored (None: no stored verdict) and the verdict's first reason
    gate_exit_code: int | None = None
    gate_reason: str | None = None
    finished: bool = True  # False for a run in progress (or killed before it could say so)

    @property
    def label(self) -> str:
        return f"{self.prompt_version or '-'} · {self.model}"

    @property
    def error_rate(self) -> float | None:
        cases = self.scored + self.errors
        return self.errors / cases if cases else None

    @property
    def judged(self) -> bool:
        """False when the run has not finished, its gate could not judge it (it stored another exit
        code than 0 or 1), or more of its cases errored than its gate allows."""
        return self.finished and self.gate_exit_code in (None, 0, 1) and self.errors_within_gate

    @property
    def errors_within_gate(self) -> bool:
        rate = self.error_rate
        return rate is None or self.max_error_rate is None or rate <= self.max_error_rate + 1e-12

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.scored if self.scored else None


@dataclass(frozen=True)
class FrontierCell:
    """One cell with its place on the frontier and its test against the best cell."""

    stats: CellStats
    pareto: bool
    dominated_by: tuple[str, ...] = ()  # run ids of the cells that dominate it
    paired: int = 0  # cases both this cell and the best scored
    diff_vs_best: float | None = None  # pass-rate difference with the best on the paired cases
    p_vs_best: float | None = None  # McNemar exact p; None for the best itself or without paired cases
    not_worse: bool = False  # not significantly worse than the best (the best itself: True)


@dataclass(frozen=True)
class Frontier:
    """Every cell of a group, the best one, and the cheapest one not significantly worse than it."""

    cells: list[FrontierCell]
    best: str | None  # run id
    recommended: str | None  # run id
    alpha: float = DEFAULT_ALPHA
    test: str = TEST_NAME

    def cell(self, run_id: str) -> FrontierCell:
        return next(c for c in self.cells if c.stats.run_id == run_id)

    @property
    def has_f1(self) -> bool:
        return any(c.stats.f1 is not None for c in self.cells)

    @property
    def method(self) -> str:
        """How quality, its interval and "not significantly worse" were computed, in one sentence."""
        f1 = "; micro field F1 with a 95% case-bootstrap interval" if self.has_f1 else ""
        return (
            f"quality = pass rate of the cases (each by the majority of its epochs) with a 95% Wilson "
            f"interval{f1}; cost = USD per 1,000 cases "
            f"(target + judge); p95 of uncached latencies; not significantly worse = {self.test} "
            f"test against the best on the cases both scored does not reject at alpha {self.alpha:g} "
            "(each cell tested on its own, not adjusted)"
        )

    def recommendation(self) -> str:
        """The named recommendation as one sentence (or why there is none)."""
        if self.best is None:
            return "No cell has a scored case its gate could judge: no best cell to compare with."
        best = self.cell(self.best)
        if self.recommended is None:
            return (
                f"Best: {best.stats.label} ({_pct(best.stats.pass_rate)}); no cell not significantly "
                "worse than it has a known cost."
            )
        chosen = self.cell(self.recommended)
        head = (
            f"Cheapest not significantly worse than the best ({best.stats.label}, "
            f"{_pct(best.stats.pass_rate)}): {chosen.stats.label}"
        )
        if chosen.stats.run_id == best.stats.run_id:
            return head + f" itself, at {_usd(chosen.stats.cost_per_1k)} per 1,000 cases."
        return (
            f"{head}, {_pct(chosen.stats.pass_rate)} at {_usd(chosen.stats.cost_per_1k)} per 1,000 cases "
            f"against {_usd(best.stats.cost_per_1k)} ({self.test} p = {_p(chosen.p_vs_best)} on "
            f"{chosen.paired} paired cases, alpha {self.alpha:g})."
        )


def dominates(a: CellStats, b: CellStats) -> bool:
    """Whether ``a`` is at least as good as ``b`` on pass rate, cost and p95, and strictly better on one."""
    qa, qb = _quality(a), _quality(b)
    ca, cb = _lower_better(a.cost_per_1k), _lower_better(b.cost_per_1k)
    la, lb = _lower_better(a.p95_ms), _lower_better(b.p95_ms)
    at_least = qa >= qb and ca <= cb and la <= lb
    return at_least and (qa > qb or ca < cb or la < lb)


def build_frontier(cells: Sequence[CellStats], *, alpha: float = DEFAULT_ALPHA) -> Frontier:
    """Mark the Pareto cells, test each cell against the best, and name the recommended cell."""
    # a cell that could not be judged has no quality figure to trade: it dominates none and is on no frontier
    dominators = [
        tuple(o.run_id for o in cells if o.run_id != c.run_id and o.judged and dominates(o, c)) for c in cells
    ]
    scored = [c for c in cells if c.scored and c.judged]
    if not scored:
        marked = [
            FrontierCell(c, pareto=c.judged and not d, dominated_by=d)
            for c, d in zip(cells, dominators, strict=True)
        ]
        return Frontier(marked, best=None, recommended=None, alpha=alpha)
    best = max(scored, key=lambda c: (_quality(c), -_lower_better(c.cost_per_1k), -_lower_better(c.p95_ms)))
    marked = []
    for cell, dominated_by in zip(cells, dominators, strict=True):
        marked.append(_tested(cell, best, dominated_by, alpha))
    eligible = [c for c in marked if c.not_worse and c.stats.judged and c.stats.cost_per_1k is not None]
    recommended = min(
        eligible,
        key=lambda c: (c.stats.cost_per_1k, _lower_better(c.stats.p95_ms), -_quality(c.stats)),
        default=None,
    )
    return Frontier(
        marked,
        best=best.run_id,
        recommended=recommended.stats.run_id if recommended else None,
        alpha=alpha,
    )


def _tested(cell: CellStats, best: CellStats, dominated_by: tuple[str, ...], alpha: float) -> FrontierCell:
    pareto = cell.judged and not dominated_by
    if cell.run_id == best.run_id:
        return FrontierCell(cell, pareto, dominated_by, paired=cell.scored, diff_vs_best=0.0, not_worse=True)
    if not cell.judged:
        return FrontierCell(cell, pareto, dominated_by)
    shared = [cid for cid in best.case_passed if cid in cell.case_passed]
    if not shared:
        return FrontierCell(cell, pareto, dominated_by)
    test = mcnemar_exact([best.case_passed[c] for c in shared], [cell.case_passed[c] for c in shared])
    return FrontierCell(
        cell,
        pareto,
        dominated_by,
        paired=test.n,
        diff_vs_best=test.rate_b - test.rate_a,
        p_vs_best=test.p_value,
        not_worse=test.p_value >= alpha or test.rate_b >= test.rate_a,
    )


def _quality(cell: CellStats) -> float:
    rate = cell.pass_rate
    return -math.inf if rate is None else rate


def _lower_better(value: float | None) -> float:
    return math.inf if value is None else value


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.4f}"


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"
