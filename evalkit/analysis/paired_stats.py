"""Paired statistics for two runs over the same cases: McNemar's exact test and bootstrap intervals.

- Pass/fail metrics use McNemar's exact test: under "no difference", the discordant pairs
  (pass->fail vs fail->pass) split 50/50, so the p-value is a two-sided binomial test on them
  (computed here: the same p-value as ``scipy.stats.binomtest``, without importing SciPy).
- Score-like metrics get a paired bootstrap confidence interval of the mean difference (cases
  resampled as pairs, seeded so the same data always give the same interval).

Pure functions; :mod:`evalkit.analysis.compare` applies them to runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95


class McNemarResult(BaseModel):
    """McNemar's exact test on paired pass/fail outcomes (A = reference, B = candidate)."""

    n: int = Field(description="paired cases")
    both_pass: int
    a_only: int = Field(description="passed in A, failed in B (pass→fail)")
    b_only: int = Field(description="failed in A, passed in B (fail→pass)")
    both_fail: int
    p_value: float = Field(description="two-sided exact p-value; 1.0 without discordant pairs")

    @property
    def rate_a(self) -> float:
        return (self.both_pass + self.a_only) / self.n if self.n else math.nan

    @property
    def rate_b(self) -> float:
        return (self.both_pass + self.b_only) / self.n if self.n else math.nan


def mcnemar_exact(a_passed: Sequence[bool], b_passed: Sequence[bool]) -> McNemarResult:
    """McNemar's exact test: a two-sided binomial test (p = 1/2) on the discordant pairs."""
    if len(a_passed) != len(b_passed):
        raise ValueError("paired samples must have the same length")
    both = a_only = b_only = neither = 0
    for a, b in zip(a_passed, b_passed, strict=True):
        if a and b:
            both += 1
        elif a:
            a_only += 1
        elif b:
            b_only += 1
        else:
            neither += 1
    discordant = a_only + b_only
    p_value = 1.0 if discordant == 0 else binomial_two_sided_half(b_only, discordant)
    return McNemarResult(
        n=len(a_passed), both_pass=both, a_only=a_only, b_only=b_only, both_fail=neither, p_value=p_value
    )


def binomial_two_sided_half(k: int, n: int) -> float:
    """Two-sided exact binomial test of ``k`` successes in ``n`` trials at p = 1/2.

    The distribution is symmetric, so the outcomes at most as likely as ``k`` are the two tails
    beyond ``min(k, n - k)``: p = 2 P(X <= min(k, n - k)), at most 1. Terms in log space.
    """
    low = min(k, n - k)
    if 2 * low == n:
        return 1.0
    log_half_n = n * math.log(0.5)
    log_n = math.lgamma(n + 1)
    tail = math.fsum(
        math.exp(log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n) for i in range(low + 1)
    )
    return min(1.0, 2.0 * tail)


def p50_p95(values: list[float]) -> tuple[float | None, float | None]:
    """p50 and p95 with linear interpolation between closest ranks (NumPy's default), without NumPy."""
    if not values:
        return None, None
    ordered = sorted(values)

    def at(q: float) -> float:
        position = (len(ordered) - 1) * q
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return at(0.5), at(0.95)


class BootstrapCI(BaseModel):
    """A paired bootstrap confidence interval of ``mean(B) - mean(A)``."""

    diff: float = Field(description="observed mean difference B - A")
    low: float
    high: float
    confidence: float
    n: int
    resamples: int
    seed: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> BootstrapCI:
    """Percentile bootstrap CI of the mean paired difference; pairs are resampled together.

    Deterministic for a given ``seed``. With fewer than two pairs the interval is the point itself.
    """
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    if not a:
        raise ValueError("no pairs to compare")
    return paired_bootstrap_many(
        [[x] for x in a], [[y] for y in b], seed=seed, resamples=resamples, confidence=confidence
    )[0]


def paired_bootstrap_many(
    a: Any,
    b: Any,
    present: Any = None,
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[BootstrapCI]:
    """Paired bootstrap CIs of ``mean(B) - mean(A)`` for several metrics over the same n cases at once.

    ``a`` and ``b`` are n x k (case x metric); ``present`` (n x k, optional) says which cases each
    metric has. Every resample draws n cases with replacement (as counts per case) and is applied to
    all k metrics by one matrix product; a metric's resampled mean uses only its present cases.
    This is the textbook percentile bootstrap of the paired difference, written out instead of
    calling ``scipy.stats.bootstrap`` per metric because a comparison has ~20 metrics and 10k cases
    make that ~10 s; here it is well under one.
    """
    import numpy as np

    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if xa.ndim != 2 or xa.shape != xb.shape:
        raise ValueError("a and b must be n x k arrays of the same shape")
    n, k = xa.shape
    mask = np.ones((n, k), dtype=bool) if present is None else np.asarray(present, dtype=bool)
    weights = mask.astype(float)
    d = np.where(mask, xb - xa, 0.0)
    counts = weights.sum(axis=0)
    if (counts == 0).any():
        raise ValueError("a metric has no pairs to compare")
    observed = d.sum(axis=0) / counts
    tail = (1.0 - confidence) / 2.0
    if n < 2:
        low = high = observed
        used = 0
    else:
        rng = np.random.default_rng(seed)
        means = np.empty((resamples, k))
        batch = max(1, min(resamples, 2_000_000 // n))  # bounds memory to ~16 MB per batch
        for start in range(0, resamples, batch):
            size = min(batch, resamples - start)
            picks = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
            drawn = np.bincount(picks.ravel(), minlength=size * n).reshape(size, n).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                means[start : start + size] = (drawn @ d) / (drawn @ weights)
        low, high = np.nanpercentile(means, [100 * tail, 100 * (1 - tail)], axis=0)
        used = resamples
    return [
        BootstrapCI(
            diff=float(observed[j]),
            low=float(min(low[j], observed[j])) if used == 0 else float(low[j]),
            high=float(max(high[j], observed[j])) if used == 0 else float(high[j]),
            confidence=confidence,
            n=int(counts[j]),
            resamples=used,
            seed=seed,
        )
        for j in range(k)
    ]
