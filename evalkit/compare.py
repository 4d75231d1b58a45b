"""Paired comparison of two runs over the same cases: statistics, a verdict per metric, flipped cases.

Run A is the reference (a baseline, the old prompt), run B the candidate; every difference is
``B - A``. Only cases scored in both runs are paired; cases that errored in either run (provider
errors) or exist in one run only are counted and left out, never treated as failures.

- Pass/fail metrics (the case verdict, each scorer's pass, each field's match) use McNemar's exact
  test: under "no difference", the discordant pairs (pass->fail vs fail->pass) split 50/50, so the
  p-value is a two-sided binomial test on them (``scipy.stats.binomtest``).
- Score-like metrics (mean case score, each scorer's mean score, cost, tokens, latency) get a paired
  bootstrap confidence interval of the mean difference (``scipy.stats.bootstrap``, cases resampled
  as pairs, seeded so the same runs always give the same interval).
- A verdict is ``better`` or ``worse`` only when the difference is significant (p < alpha, or the
  interval excludes zero) *and* at least ``min_effect`` in size for rates and scores; otherwise
  ``no significant difference``.

With several epochs per case, a case counts as passing when it passed in most of its scored epochs
(ties count as a fail) and its score is the mean over epochs.

Everything here is a pure function of :class:`RunOutcomes`; :func:`load_outcomes` reads one from the store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from evalkit.results import RunRecord

if TYPE_CHECKING:
    from evalkit.store import Store

MetricVerdict = Literal["better", "worse", "no significant difference", "n/a"]
MetricKind = Literal["cases", "scorer", "field", "usage"]
FlipDirection = Literal["pass→fail", "fail→pass"]

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95


# ---- the statistics --------------------------------------------------------------------------


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
    from scipy.stats import binomtest

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
    p_value = 1.0 if discordant == 0 else float(binomtest(b_only, discordant, 0.5).pvalue)
    return McNemarResult(
        n=len(a_passed), both_pass=both, a_only=a_only, b_only=b_only, both_fail=neither, p_value=p_value
    )


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
    import numpy as np

    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    if not a:
        raise ValueError("no pairs to compare")
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    diff = float(xb.mean() - xa.mean())
    if len(xa) < 2 or np.all(xb - xa == (xb - xa)[0]):
        # every resample has the same mean difference: the interval is that point
        return BootstrapCI(
            diff=diff, low=diff, high=diff, confidence=confidence, n=len(xa), resamples=0, seed=seed
        )
    from scipy.stats import bootstrap

    result = bootstrap(
        (xa, xb),
        _mean_difference,
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        batch=max(1, 4_000_000 // len(xa)),  # bounds memory at ~32 MB per batch, whatever the size
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return BootstrapCI(
        diff=diff,
        low=float(ci.low),
        high=float(ci.high),
        confidence=confidence,
        n=len(xa),
        resamples=resamples,
        seed=seed,
    )


def _mean_difference(a: Any, b: Any, axis: int = -1) -> Any:
    return b.mean(axis=axis) - a.mean(axis=axis)


# ---- per-run data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseOutcome:
    """One case of one run, aggregated over its epochs: what the comparison needs of it."""

    case_id: str
    passed: bool | None  # None: every epoch errored (a provider error, not a quality failure)
    score: float | None
    tags: tuple[str, ...] = ()
    cost_usd: float = 0.0
    tokens: float = 0.0
    latency_ms: float | None = None  # None when every answer came from the cache
    scorers: dict[str, tuple[bool, float]] = field(default_factory=dict)  # label -> (passed, score)
    fields: dict[str, bool] = field(default_factory=dict)  # "scorer:field" -> passed
    output: str | None = None  # first epoch's raw output
    expected: Any = None
    input: Any = None
    reasons: tuple[str, ...] = ()  # first epoch: why it did not pass


@dataclass(frozen=True)
class RunOutcomes:
    """A run and its cases, keyed by case id."""

    run: RunRecord
    cases: dict[str, CaseOutcome]
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None


# ---- the comparison ----------------------------------------------------------------------------


class MetricComparison(BaseModel):
    """One metric of A and B side by side, with the paired statistics and a verdict."""

    kind: MetricKind
    name: str
    metric: str  # "pass rate", "mean score", "accuracy", "cost per case", ...
    a: float | None
    b: float | None
    n: int = Field(description="paired cases the statistics are computed on")
    higher_is_better: bool = True
    mcnemar: McNemarResult | None = None
    ci: BootstrapCI | None = None
    verdict: MetricVerdict = "n/a"

    @property
    def diff(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def p_value(self) -> float | None:
        return self.mcnemar.p_value if self.mcnemar is not None else None

    @property
    def label(self) -> str:
        return self.metric if self.kind in ("cases", "usage") else f"{self.kind} {self.name}: {self.metric}"


class FlippedCase(BaseModel):
    """A case whose verdict changed between the runs, with both outputs."""

    case_id: str
    direction: FlipDirection
    tags: list[str] = Field(default_factory=list)
    score_a: float | None = None
    score_b: float | None = None
    output_a: str | None = None
    output_b: str | None = None
    expected: Any = None
    input: Any = None
    reasons_a: list[str] = Field(default_factory=list)
    reasons_b: list[str] = Field(default_factory=list)


class RunLabel(BaseModel):
    """How a compared run is named in tables: its id, prompt version and model."""

    run_id: str
    suite_name: str
    prompt_version: str | None
    prompt_hash: str | None
    model: str
    status: str

    @property
    def short(self) -> str:
        return f"{self.prompt_version or '-'} · {self.model}"


class Comparison(BaseModel):
    """Run B against run A over their paired cases."""

    a: RunLabel
    b: RunLabel
    paired: int
    only_a: int = Field(description="cases only run A holds")
    only_b: int = Field(description="cases only run B holds")
    errored: int = Field(description="cases left out because they errored in A or B")
    alpha: float
    min_effect: float
    seed: int
    metrics: list[MetricComparison]
    flips: list[FlippedCase]
    latency: dict[str, dict[str, float | None]] = Field(
        default_factory=dict, description="p50/p95 of uncached latency per run (a and b), not paired"
    )

    def metric(self, kind: MetricKind, name: str, metric: str) -> MetricComparison | None:
        """The metric with this kind, name and metric label, if compared."""
        return next(
            (m for m in self.metrics if m.kind == kind and m.name == name and m.metric == metric), None
        )

    @property
    def headline(self) -> MetricComparison:
        """The case pass rate: the metric the regression gate reads."""
        found = self.metric("cases", "cases", "pass rate")
        assert found is not None
        return found

    @property
    def regressions(self) -> list[FlippedCase]:
        return [f for f in self.flips if f.direction == "pass→fail"]

    @property
    def improvements(self) -> list[FlippedCase]:
        return [f for f in self.flips if f.direction == "fail→pass"]


def compare_outcomes(
    a: RunOutcomes,
    b: RunOutcomes,
    *,
    alpha: float = 0.05,
    min_effect: float = 0.0,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Comparison:
    """Compare run B with run A on the cases both scored: every metric, its verdict, and the flips."""
    common = sorted(a.cases.keys() & b.cases.keys())
    pairs = [(a.cases[c], b.cases[c]) for c in common]
    scored = [(x, y) for x, y in pairs if x.passed is not None and y.passed is not None]

    def boot(xs: Sequence[float], ys: Sequence[float]) -> BootstrapCI | None:
        if not xs:
            return None
        return paired_bootstrap(xs, ys, seed=seed, resamples=resamples, confidence=confidence)

    def rate_metric(
        kind: MetricKind, name: str, metric: str, got: list[tuple[bool, bool]]
    ) -> MetricComparison:
        if not got:
            return MetricComparison(kind=kind, name=name, metric=metric, a=None, b=None, n=0)
        xs, ys = [p for p, _ in got], [q for _, q in got]
        test = mcnemar_exact(xs, ys)
        ci = boot([float(v) for v in xs], [float(v) for v in ys])
        verdict = _verdict(test.rate_b - test.rate_a, test.p_value < alpha, min_effect, True)
        return MetricComparison(
            kind=kind,
            name=name,
            metric=metric,
            a=test.rate_a,
            b=test.rate_b,
            n=test.n,
            mcnemar=test,
            ci=ci,
            verdict=verdict,
        )

    def mean_metric(
        kind: MetricKind,
        name: str,
        metric: str,
        got: list[tuple[float, float]],
        *,
        higher_is_better: bool = True,
        effect: float = min_effect,
    ) -> MetricComparison:
        if not got:
            return MetricComparison(
                kind=kind, name=name, metric=metric, a=None, b=None, n=0, higher_is_better=higher_is_better
            )
        xs, ys = [p for p, _ in got], [q for _, q in got]
        ci = boot(xs, ys)
        assert ci is not None
        verdict = _verdict(ci.diff, ci.excludes_zero, effect, higher_is_better)
        return MetricComparison(
            kind=kind,
            name=name,
            metric=metric,
            a=sum(xs) / len(xs),
            b=sum(ys) / len(ys),
            n=len(xs),
            higher_is_better=higher_is_better,
            ci=ci,
            verdict=verdict,
        )

    metrics = [
        rate_metric("cases", "cases", "pass rate", [(bool(x.passed), bool(y.passed)) for x, y in scored]),
        mean_metric(
            "cases",
            "cases",
            "mean score",
            [(x.score, y.score) for x, y in scored if x.score is not None and y.score is not None],
        ),
    ]
    for name in _ordered_keys(scored, lambda c: c.scorers):
        both = [
            (x.scorers[name], y.scorers[name]) for x, y in scored if name in x.scorers and name in y.scorers
        ]
        metrics.append(rate_metric("scorer", name, "pass rate", [(p[0], q[0]) for p, q in both]))
        metrics.append(mean_metric("scorer", name, "mean score", [(p[1], q[1]) for p, q in both]))
    for name in _ordered_keys(scored, lambda c: c.fields):
        both_f = [
            (x.fields[name], y.fields[name]) for x, y in scored if name in x.fields and name in y.fields
        ]
        metrics.append(rate_metric("field", name, "accuracy", both_f))
    metrics.append(
        mean_metric(
            "usage",
            "usage",
            "cost per case (USD)",
            [(x.cost_usd, y.cost_usd) for x, y in scored],
            higher_is_better=False,
            effect=0.0,
        )
    )
    metrics.append(
        mean_metric(
            "usage",
            "usage",
            "tokens per case",
            [(x.tokens, y.tokens) for x, y in scored],
            higher_is_better=False,
            effect=0.0,
        )
    )
    metrics.append(
        mean_metric(
            "usage",
            "usage",
            "latency per case (ms)",
            [
                (x.latency_ms, y.latency_ms)
                for x, y in scored
                if x.latency_ms is not None and y.latency_ms is not None
            ],
            higher_is_better=False,
            effect=0.0,
        )
    )

    flips = [
        FlippedCase(
            case_id=x.case_id,
            direction="pass→fail" if x.passed else "fail→pass",
            tags=sorted(set(x.tags) | set(y.tags)),
            score_a=x.score,
            score_b=y.score,
            output_a=x.output,
            output_b=y.output,
            expected=y.expected if y.expected is not None else x.expected,
            input=y.input if y.input is not None else x.input,
            reasons_a=list(x.reasons),
            reasons_b=list(y.reasons),
        )
        for x, y in scored
        if x.passed != y.passed
    ]
    # regressions first, then the largest score change
    flips.sort(key=lambda f: (f.direction != "pass→fail", -abs((f.score_b or 0.0) - (f.score_a or 0.0))))
    return Comparison(
        a=_label(a.run),
        b=_label(b.run),
        paired=len(scored),
        only_a=len(a.cases.keys() - b.cases.keys()),
        only_b=len(b.cases.keys() - a.cases.keys()),
        errored=len(pairs) - len(scored),
        alpha=alpha,
        min_effect=min_effect,
        seed=seed,
        metrics=metrics,
        flips=flips,
        latency={
            "a": {"p50_ms": a.latency_p50_ms, "p95_ms": a.latency_p95_ms},
            "b": {"p50_ms": b.latency_p50_ms, "p95_ms": b.latency_p95_ms},
        },
    )


def _verdict(diff: float, significant: bool, min_effect: float, higher_is_better: bool) -> MetricVerdict:
    if not significant or abs(diff) + 1e-12 < min_effect or diff == 0:
        return "no significant difference"
    return "better" if (diff > 0) == higher_is_better else "worse"


def _ordered_keys(
    pairs: Sequence[tuple[CaseOutcome, CaseOutcome]], get: Callable[[CaseOutcome], dict[str, Any]]
) -> list[str]:
    """Keys in order of first appearance (the suite's scorer and field order)."""
    seen: dict[str, None] = {}
    for x, _ in pairs:
        for key in get(x):
            seen.setdefault(key, None)
    return list(seen)


def _label(run: RunRecord) -> RunLabel:
    return RunLabel(
        run_id=run.run_id,
        suite_name=run.suite_name,
        prompt_version=run.prompt_version,
        prompt_hash=run.prompt_hash,
        model=run.model,
        status=run.status,
    )


# ---- reading a run's outcomes from the store ---------------------------------------------------


def load_outcomes(store: Store, run: RunRecord) -> RunOutcomes:
    """A run's cases aggregated over epochs, read through the store (no SQL here)."""
    with store.session():
        frame = store.case_results(run.run_id)
        scores = store.score_rows(run.run_id)
        fields = store.field_rows(run.run_id)
    return outcomes_from_frames(run, frame, scores, fields)


def outcomes_from_frames(run: RunRecord, frame: Any, scores: Any, fields: Any) -> RunOutcomes:
    """Build :class:`RunOutcomes` from the store's case, score and field frames."""
    scorer_acc: dict[str, dict[str, list[tuple[bool, float]]]] = {}
    reasons: dict[str, list[str]] = {}
    for case_id, epoch, scorer, score, passed, reason, error in zip(
        scores["case_id"],
        scores["epoch"],
        scores["scorer"],
        scores["score"],
        scores["passed"],
        scores["reason"],
        scores["error"],
        strict=True,
    ):
        if isinstance(error, str):
            if int(epoch) == 0:
                reasons.setdefault(case_id, []).append(f"{scorer}: could not score ({error})")
            continue
        scorer_acc.setdefault(case_id, {}).setdefault(scorer, []).append((bool(passed), float(score)))
        if int(epoch) == 0 and not passed:
            reasons.setdefault(case_id, []).append(f"{scorer}: {reason}")
    field_acc: dict[str, dict[str, list[bool]]] = {}
    for case_id, scorer, name, passed in zip(
        fields["case_id"], fields["scorer"], fields["field"], fields["passed"], strict=True
    ):
        field_acc.setdefault(case_id, {}).setdefault(f"{scorer}:{name}", []).append(bool(passed))

    per_case: dict[str, list[Any]] = {}
    for row in frame.itertuples(index=False):
        per_case.setdefault(row.case_id, []).append(row)
    uncached_latencies: list[float] = []
    cases: dict[str, CaseOutcome] = {}
    for case_id, rows in per_case.items():
        verdicts = [r.verdict for r in rows if r.verdict in ("pass", "fail")]
        n_pass = sum(v == "pass" for v in verdicts)
        scored = [float(r.score) for r in rows if r.verdict != "error" and not _missing(r.score)]
        latencies = [float(r.latency_ms) for r in rows if r.status == "ok" and not bool(r.cached)]
        uncached_latencies += latencies
        first = min(rows, key=lambda r: int(r.epoch))
        error_reason = (
            (f"error: {first.error}",) if first.verdict == "error" and isinstance(first.error, str) else ()
        )
        cases[case_id] = CaseOutcome(
            case_id=case_id,
            passed=(n_pass * 2 > len(verdicts)) if verdicts else None,
            score=sum(scored) / len(scored) if scored else None,
            tags=tuple(json.loads(first.tags_json)),
            cost_usd=sum(float(r.cost_usd) for r in rows) / len(rows),
            tokens=sum(int(r.prompt_tokens) + int(r.completion_tokens) for r in rows) / len(rows),
            latency_ms=sum(latencies) / len(latencies) if latencies else None,
            scorers={
                name: (sum(p for p, _ in got) * 2 > len(got), sum(s for _, s in got) / len(got))
                for name, got in scorer_acc.get(case_id, {}).items()
            },
            fields={name: sum(got) * 2 > len(got) for name, got in field_acc.get(case_id, {}).items()},
            output=first.raw_text if isinstance(first.raw_text, str) else None,
            expected=json.loads(first.expected_json) if isinstance(first.expected_json, str) else None,
            input=json.loads(first.input_json),
            reasons=error_reason or tuple(reasons.get(case_id, ())),
        )
    p50, p95 = _percentiles(uncached_latencies)
    return RunOutcomes(run=run, cases=cases, latency_p50_ms=p50, latency_p95_ms=p95)


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    import numpy as np

    p50, p95 = np.percentile(np.asarray(values), [50, 95])
    return float(p50), float(p95)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def compare_runs(
    store: Store,
    a: RunRecord,
    b: RunRecord,
    *,
    alpha: float = 0.05,
    min_effect: float = 0.0,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> Comparison:
    """Load both runs from the store and compare B with A."""
    return compare_outcomes(
        load_outcomes(store, a),
        load_outcomes(store, b),
        alpha=alpha,
        min_effect=min_effect,
        seed=seed,
        resamples=resamples,
    )
