"""A model against a recorded baseline (e.g. human moderators): both error rates with intervals.

When one of two compared runs replayed recordings marked as a baseline (``baseline:`` in a
``replay:`` target, stored with the run as ``config.run.baseline_label``), ``evalkit compare`` and
the report say it in one line, over the cases both runs scored::

    human moderators 24.4% error (95% CI 14.2-38.7%) -> openai/gpt-4o-mini 2.2% (0.4-11.6%): -22.2 pts (95% CI -35.6 to -8.9), McNemar p=0.002

Each error rate has a Wilson interval; the difference is the comparison's paired bootstrap
interval of the pass rate, turned round (an error rate is one minus the pass rate).
"""

from __future__ import annotations

from dataclasses import dataclass

from evalkit.analysis.compare import Comparison
from evalkit.judges.pairwise_stats import wilson_interval
from evalkit.results import RunRecord


@dataclass(frozen=True)
class BaselineErrorRates:
    """The error rate of the baseline's recordings against the model's, on the same cases."""

    label: str  # what the baseline is: "human moderators"
    model: str  # the other run's model string
    n: int  # paired cases
    baseline_errors: int
    model_errors: int
    baseline_interval: tuple[float, float]
    model_interval: tuple[float, float]
    diff_interval: tuple[float, float] | None  # model minus baseline error rate
    p_value: float | None
    confidence: float = 0.95

    @property
    def baseline_rate(self) -> float:
        return self.baseline_errors / self.n

    @property
    def model_rate(self) -> float:
        return self.model_errors / self.n

    @property
    def line(self) -> str:
        """The one-line summary ``compare`` prints and the report shows."""
        level = f"{self.confidence * 100:.0f}% CI"
        bl, bh = self.baseline_interval
        ml, mh = self.model_interval
        text = (
            f"{self.label} {self.baseline_rate:.1%} error ({level} {bl:.1%}-{bh:.1%}) -> "
            f"{self.model} {self.model_rate:.1%} ({ml:.1%}-{mh:.1%}) on {self.n} cases"
        )
        diff = (self.model_rate - self.baseline_rate) * 100
        text += f": {diff:+.1f} pts"
        if self.diff_interval is not None:
            low, high = self.diff_interval
            text += f" ({level} {low * 100:+.1f} to {high * 100:+.1f})"
        if self.p_value is not None:
            text += f", McNemar p={self.p_value:.3g}"
        return text


def run_baseline_label(run: RunRecord) -> str | None:
    """The baseline label stored with a run that replayed recordings marked as one."""
    label = (run.config.get("run") or {}).get("baseline_label")
    return str(label) if label else None


def baseline_error_rates(comparison: Comparison, a: RunRecord, b: RunRecord) -> BaselineErrorRates | None:
    """The baseline line of a comparison of ``a`` and ``b``, when one of them is a labelled baseline."""
    label_a, label_b = run_baseline_label(a), run_baseline_label(b)
    if (label_a is None) == (label_b is None):  # neither is a baseline, or both are: nothing to set apart
        return None
    test = comparison.headline.mcnemar
    if test is None or test.n == 0:
        return None
    baseline_is_a = label_a is not None
    passed_a, passed_b = test.both_pass + test.a_only, test.both_pass + test.b_only
    baseline_errors = test.n - (passed_a if baseline_is_a else passed_b)
    model_errors = test.n - (passed_b if baseline_is_a else passed_a)
    ci = comparison.headline.ci
    diff = None
    if (
        ci is not None
    ):  # ci is of pass rate B - A; error rate model - baseline is its negation when A is the baseline
        diff = (-ci.high, -ci.low) if baseline_is_a else (ci.low, ci.high)
    confidence = ci.confidence if ci is not None else 0.95
    return BaselineErrorRates(
        label=str(label_a or label_b),
        model=(b if baseline_is_a else a).model,
        n=test.n,
        baseline_errors=baseline_errors,
        model_errors=model_errors,
        baseline_interval=wilson_interval(baseline_errors, test.n, confidence),
        model_interval=wilson_interval(model_errors, test.n, confidence),
        diff_interval=diff,
        p_value=test.p_value,
        confidence=confidence,
    )
