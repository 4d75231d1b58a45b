"""Many tests in one comparison: Holm's adjustment, and when a usage difference is too small to call.

A comparison of two runs tests every scorer and every field (51 fields on WDC-PAVE): at alpha 0.05,
two runs of the same noise process would then show a "worse" field in most comparisons. The case
pass rate is the one primary test (the regression gate reads it unadjusted); every other metric of
the comparison is one family, whose p-values get Holm's step-down adjustment (it controls the
family-wise error rate at alpha under any dependence between the tests; Benjamini-Hochberg would
allow more discoveries but controls only the false-discovery rate). A metric is then ``better`` or
``worse`` only when its adjusted p-value is below alpha, its bootstrap interval (for scores and
usage) excludes zero, and the difference is at least ``min_effect`` (rates and scores) or half the
unit it is shown in (usage: 1 ms, $0.000001, 0.1 token), so "+0 ms, better" cannot happen.

Score and usage metrics are tested with the Wilcoxon signed-rank test on the paired differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.analysis.compare import MetricComparison, MetricVerdict

ADJUSTMENT = "holm"
PRIMARY = ("cases", "cases", "pass rate")  # kind, name, metric of the one unadjusted test

# Differences smaller than the unit a usage metric is shown in are never called better or worse.
USAGE_RESOLUTION = {
    "cost per case (USD)": 0.5e-6,
    "tokens per case": 0.05,
    "latency per case (ms)": 0.5,
}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (each in [0, 1], monotone in rank)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def signed_rank_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value of the paired differences ``b - a`` (1.0 when all are 0).

    Unchanged pairs are dropped first (Wilcoxon's own rule) and SciPy tests the rest: exactly up to
    50 of them. Handing SciPy the zeros instead switches it to the normal approximation, which is
    far too small for a few changed cases among many unchanged ones: 8 cases each 0.5 lower among
    32 unchanged gave p 0.0047, below the least an exact test of 8 pairs can give (2/2^8 = 0.0078).
    """
    from scipy.stats import wilcoxon

    changed = [y - x for x, y in zip(a, b, strict=True) if abs(y - x) > 1e-12]
    if not changed:
        return 1.0
    return float(wilcoxon(changed).pvalue)


def adjust_family(
    metrics: Sequence[MetricComparison], *, alpha: float, min_effect: float
) -> list[MetricComparison]:
    """Every metric but the primary one with its Holm-adjusted p-value and the verdict that follows."""
    family = [
        i
        for i, m in enumerate(metrics)
        if m.p_value is not None and (m.kind, m.name, m.metric) != PRIMARY and m.diff is not None
    ]
    adjusted = holm([metrics[i].p_value or 1.0 for i in family])
    out = list(metrics)
    for i, p in zip(family, adjusted, strict=True):
        m = metrics[i]
        out[i] = m.model_copy(update={"p_adjusted": p, "verdict": _verdict(m, p, alpha, min_effect)})
    return out


def _verdict(m: MetricComparison, p_adjusted: float, alpha: float, min_effect: float) -> MetricVerdict:
    diff = m.diff or 0.0
    interval_ok = m.mcnemar is not None or (m.ci is not None and m.ci.excludes_zero)
    smallest = USAGE_RESOLUTION.get(m.metric, 0.0) if m.kind == "usage" else min_effect
    if p_adjusted >= alpha or not interval_ok or diff == 0 or abs(diff) + 1e-12 < smallest:
        return "no significant difference"
    return "better" if (diff > 0) == m.higher_is_better else "worse"
