"""How ``evalkit compare`` prints a model against a recorded baseline (e.g. human moderators)."""

from __future__ import annotations

from evalkit.analysis.compare import Comparison
from evalkit.analysis.human_baseline import BaselineErrorRates, baseline_error_rates
from evalkit.cli.console import out
from evalkit.results import RunRecord


def print_baseline_rates(
    comparison: Comparison, run_a: RunRecord, run_b: RunRecord
) -> BaselineErrorRates | None:
    """One line when A or B replayed recordings marked as a baseline; nothing otherwise."""
    rates = baseline_error_rates(comparison, run_a, run_b)
    if rates is not None:
        out.print(f"Baseline: {rates.line}", style="bold")
    return rates
