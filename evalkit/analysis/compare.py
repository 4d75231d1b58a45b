"""Paired comparison of two runs over the same cases: statistics, a verdict per metric, flipped cases.

Run A is the reference (a baseline, the old prompt), run B the candidate; every difference is
``B - A``. Only cases scored in both runs are paired; cases that errored in either run (provider
errors) or exist in one run only are counted and left out, never treated as failures.

- Pass/fail metrics (the case verdict, each scorer's pass, each field's match) use McNemar's exact
  test; score-like metrics (mean case score, each scorer's mean score, cost, tokens, latency) get a
  paired bootstrap confidence interval of the mean difference (both in :mod:`evalkit.analysis.paired_stats`).
- A verdict is ``better`` or ``worse`` only when the difference is significant (p < alpha, and the
  interval excludes zero) *and* at least ``min_effect`` in size for rates and scores; otherwise
  ``no significant difference``. Every metric but the case pass rate is one family of tests whose
  p-values are Holm-adjusted (:mod:`evalkit.analysis.multiplicity`).
- Runs scored differently (scorer config, case rule, expected outputs) get ``not comparable`` on
  every score and rate unless ``allow_scoring_change`` (:mod:`evalkit.analysis.comparability`).

With several epochs per case, a case counts as passing when it passed in most of its scored epochs
(ties count as a fail) and its score is the mean over epochs.

Everything here is a pure function of :class:`RunOutcomes`; :func:`evalkit.analysis.outcomes.load_outcomes`
reads one from the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from evalkit.analysis.comparability import check_comparability
from evalkit.analysis.multiplicity import ADJUSTMENT, adjust_family, signed_rank_p
from evalkit.analysis.outcomes import CaseOutcome, RunOutcomes, load_outcomes
from evalkit.analysis.paired_stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    BootstrapCI,
    McNemarResult,
    mcnemar_exact,
    paired_bootstrap_many,
)
from evalkit.results import RunRecord

if TYPE_CHECKING:
    from evalkit.store import Store

MetricVerdict = Literal["better", "worse", "no significant difference", "not comparable", "n/a"]
MetricKind = Literal["cases", "scorer", "field", "usage"]
FlipDirection = Literal["pass→fail", "fail→pass"]


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
    test_p: float | None = Field(default=None, description="scores and usage: Wilcoxon signed-rank p")
    p_adjusted: float | None = Field(
        default=None, description="Holm-adjusted p (every metric but the headline)"
    )

    @property
    def diff(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def p_value(self) -> float | None:
        """The unadjusted p-value: McNemar's for rates, the signed-rank test's for scores and usage."""
        return self.mcnemar.p_value if self.mcnemar is not None else self.test_p

    @property
    def label(self) -> str:
        return self.metric if self.kind in ("cases", "usage") else f"{self.kind} {self.name}: {self.metric}"


@dataclass(frozen=True)
class FlippedCase:
    """A case whose verdict changed between the runs, with both outputs."""

    case_id: str
    direction: FlipDirection
    tags: list[str] = field(default_factory=list)
    score_a: float | None = None
    score_b: float | None = None
    output_a: str | None = None
    output_b: str | None = None
    expected: Any = None
    input: Any = None
    reasons_a: list[str] = field(default_factory=list)
    reasons_b: list[str] = field(default_factory=list)


class RunLabel(BaseModel):
    """How a compared run is named in tables: its id, prompt version and model."""

    run_id: str
    suite_name: str
    prompt_version: str | None
    prompt_hash: str | None
    model: str
    status: str
    epochs: int = 1  # --repeat: each case's verdict is the majority of its epochs

    @property
    def short(self) -> str:
        return f"{self.prompt_version or '-'} · {self.model}"


@dataclass
class Comparison:
    """Run B against run A over their paired cases (a dataclass: at 10k cases it holds thousands of flips)."""

    a: RunLabel
    b: RunLabel
    paired: int
    only_a: int  # cases only run A holds
    only_b: int  # cases only run B holds
    errored: int  # cases left out because they errored in A or B
    alpha: float
    min_effect: float
    seed: int
    metrics: list[MetricComparison]
    flips: list[FlippedCase]
    latency: dict[str, dict[str, float | None]] = field(default_factory=dict)  # p50/p95 per run, not paired
    adjustment: str = ADJUSTMENT  # how the p-values of the per-scorer/per-field family were adjusted
    comparable: bool = True  # False: scored differently (see warnings)
    warnings: list[str] = field(default_factory=list)  # what differs in how the runs were scored
    paired_ids: tuple[str, ...] = ()  # the cases both runs scored, which every paired figure rests on

    @property
    def epochs_note(self) -> str | None:
        """Said wherever the comparison is shown when a run has several epochs: its pass rate here is
        over cases (each by the majority of its epochs), not over every epoch as its own summary's."""
        epochs = sorted({self.a.epochs, self.b.epochs})
        if epochs == [1]:
            return None
        shown = " and ".join(str(e) for e in epochs)
        return (
            f"pass rates count each case once, by the majority of its {shown} epochs "
            "(a run's own summary counts every epoch)"
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


@dataclass
class _MetricSeries:
    """One metric's per-case values over the paired cases (``present`` marks the cases it has)."""

    kind: MetricKind
    name: str
    metric: str
    rate: bool  # pass/fail (McNemar) rather than a score (bootstrap only)
    a: list[float]
    b: list[float]
    present: list[bool]
    higher_is_better: bool = True
    use_min_effect: bool = True


def compare_outcomes(
    a: RunOutcomes,
    b: RunOutcomes,
    *,
    alpha: float = 0.05,
    min_effect: float = 0.0,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    allow_scoring_change: bool = False,
) -> Comparison:
    """Compare run B with run A on the cases both scored: every metric, its verdict, and the flips.

    When the runs were scored differently, score and rate verdicts are ``not comparable`` unless
    ``allow_scoring_change``.
    """
    common = sorted(a.cases.keys() & b.cases.keys())
    pairs = [(a.cases[c], b.cases[c]) for c in common]
    scored = [(x, y) for x, y in pairs if x.passed is not None and y.passed is not None]
    series = _series(scored)
    cis: list[BootstrapCI | None] = [None] * len(series)
    usable = [i for i, s in enumerate(series) if any(s.present)]
    if usable:
        import numpy as np

        found = paired_bootstrap_many(
            np.column_stack([series[i].a for i in usable]),
            np.column_stack([series[i].b for i in usable]),
            np.column_stack([series[i].present for i in usable]),
            seed=seed,
            resamples=resamples,
            confidence=confidence,
        )
        for i, ci in zip(usable, found, strict=True):
            cis[i] = ci
    metrics = [
        _metric(s, ci, alpha=alpha, min_effect=min_effect if s.use_min_effect else 0.0)
        for s, ci in zip(series, cis, strict=True)
    ]
    metrics = adjust_family(metrics, alpha=alpha, min_effect=min_effect)
    changed = sum(1 for x, y in scored if x.expected_json != y.expected_json)
    check = check_comparability(a.run, b.run, expected_changed=changed)
    if not check.comparable and not allow_scoring_change:
        metrics = [
            m
            if m.kind == "usage" or m.verdict == "n/a"
            else m.model_copy(update={"verdict": "not comparable"})
            for m in metrics
        ]
    flips = [
        FlippedCase(
            case_id=x.case_id,
            direction="pass→fail" if x.passed else "fail→pass",
            tags=sorted(set(x.tags) | set(y.tags)),
            score_a=x.score,
            score_b=y.score,
            output_a=x.output,
            output_b=y.output,
            expected=_json(y.expected_json or x.expected_json),
            input=_json(y.input_json or x.input_json),
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
        paired_ids=tuple(x.case_id for x, _ in scored),
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
        comparable=check.comparable,
        warnings=check.warnings(allowed=allow_scoring_change),
    )


def _series(scored: Sequence[tuple[CaseOutcome, CaseOutcome]]) -> list[_MetricSeries]:
    """Every compared metric as per-case values over the scored pairs, in display order."""

    def build(
        kind: MetricKind,
        name: str,
        metric: str,
        rate: bool,
        get: Callable[[CaseOutcome], float | None],
        **options: Any,
    ) -> _MetricSeries:
        a, b, present = [], [], []
        for x, y in scored:
            va, vb = get(x), get(y)
            ok = va is not None and vb is not None
            a.append(va if va is not None and ok else 0.0)
            b.append(vb if vb is not None and ok else 0.0)
            present.append(ok)
        return _MetricSeries(kind, name, metric, rate, a, b, present, **options)

    def scorer_value(name: str, index: int) -> Callable[[CaseOutcome], float | None]:
        return lambda c: float(c.scorers[name][index]) if name in c.scorers else None

    def field_value(name: str) -> Callable[[CaseOutcome], float | None]:
        return lambda c: float(c.fields[name]) if name in c.fields else None

    out = [
        build("cases", "cases", "pass rate", True, lambda c: float(bool(c.passed))),
        build("cases", "cases", "mean score", False, lambda c: c.score),
    ]
    for name in _ordered_keys(scored, lambda c: c.scorers):
        out.append(build("scorer", name, "pass rate", True, scorer_value(name, 0)))
        out.append(build("scorer", name, "mean score", False, scorer_value(name, 1)))
    for name in _ordered_keys(scored, lambda c: c.fields):
        out.append(build("field", name, "accuracy", True, field_value(name)))
    usage = {"higher_is_better": False, "use_min_effect": False}  # min_effect is a rate, not dollars or ms
    out.append(build("usage", "usage", "cost per case (USD)", False, lambda c: c.cost_usd, **usage))
    out.append(build("usage", "usage", "tokens per case", False, lambda c: c.tokens, **usage))
    out.append(build("usage", "usage", "latency per case (ms)", False, lambda c: c.latency_ms, **usage))
    return out


def _metric(s: _MetricSeries, ci: BootstrapCI | None, *, alpha: float, min_effect: float) -> MetricComparison:
    kept = [i for i, ok in enumerate(s.present) if ok]
    base = {"kind": s.kind, "name": s.name, "metric": s.metric, "higher_is_better": s.higher_is_better}
    if not kept or ci is None:
        return MetricComparison(**base, a=None, b=None, n=0)
    mean_a = sum(s.a[i] for i in kept) / len(kept)
    mean_b = sum(s.b[i] for i in kept) / len(kept)
    if s.rate:
        test = mcnemar_exact([s.a[i] > 0.5 for i in kept], [s.b[i] > 0.5 for i in kept])
        verdict = _verdict(mean_b - mean_a, test.p_value < alpha, min_effect, s.higher_is_better)
        return MetricComparison(**base, a=mean_a, b=mean_b, n=len(kept), mcnemar=test, ci=ci, verdict=verdict)
    verdict = _verdict(ci.diff, ci.excludes_zero, min_effect, s.higher_is_better)
    p = signed_rank_p([s.a[i] for i in kept], [s.b[i] for i in kept])
    return MetricComparison(**base, a=mean_a, b=mean_b, n=len(kept), ci=ci, verdict=verdict, test_p=p)


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
        epochs=max(1, int(run.config.get("run", {}).get("repeat", 1) or 1)),
    )


# ---- reading a run's outcomes from the store ---------------------------------------------------


def _json(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def compare_runs(
    store: Store,
    a: RunRecord,
    b: RunRecord,
    *,
    alpha: float = 0.05,
    min_effect: float = 0.0,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    allow_scoring_change: bool = False,
) -> Comparison:
    """Load both runs from the store and compare B with A."""
    return compare_outcomes(
        load_outcomes(store, a),
        load_outcomes(store, b),
        alpha=alpha,
        min_effect=min_effect,
        seed=seed,
        resamples=resamples,
        allow_scoring_change=allow_scoring_change,
    )
