"""Markdown summaries sized for a pull-request comment: the verdict, a table, the top flipped cases.

Model outputs are untrusted text: every cell is escaped so an output cannot inject markdown, HTML,
links or @-mentions into the comment, and long values are clipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evalkit.analysis.compare import Comparison, MetricComparison
from evalkit.analysis.failures import CaseExplanation
from evalkit.gate.regression import RegressionDecision
from evalkit.report.formatting import cell, count_text, epochs_text, metric_cells, uncounted_calls, usage_text
from evalkit.report.pairwise import pairwise_markdown
from evalkit.results import RunRecord, RunSummary

if TYPE_CHECKING:
    from evalkit.gate.cells import RunVerdict

TOP = 10


def _kept_out(summary: RunSummary) -> list[str]:
    """The epochs and flaky cases, and the cases the gate left out, as the terminal prints them: a
    summary whose gate counts fewer results than it ran says which and why."""
    epochs = epochs_text(summary, cell)
    lines = [epochs] if epochs is not None else []
    if summary.quarantined:
        listed = ", ".join(cell(c) for c in summary.quarantined[:20]) + (
            " …" if len(summary.quarantined) > 20 else ""
        )
        lines.append(f"**Quarantined** (kept out of the gate): {listed}")
    return [*lines, ""] if lines else []


def run_markdown(
    run: RunRecord,
    summary: RunSummary,
    failures: Sequence[CaseExplanation] = (),
    *,
    comparison: Comparison | None = None,
    decision: RegressionDecision | None = None,
    report_path: str | None = None,
    verdict: RunVerdict | None = None,
) -> str:
    """The summary of one finished run: against its baseline when there is one, else its own gate.

    With ``verdict`` (what ``evalkit run`` exits with), the headline, exit code and reasons are the
    verdict's, so the summary never says a run passed while the job fails (a run that could not be
    judged keeps its own exit code, whatever its baseline comparison says).
    """
    who = f"{cell(run.suite_name)} · {cell(run.prompt_version or '-')} · {cell(run.model)}"
    if verdict is not None and verdict.baseline is not None:
        comparison, decision = verdict.baseline.comparison, verdict.baseline.decision
    lines: list[str] = []
    if decision is not None and comparison is not None:
        passed, headline, code = decision.passed, "no significant regression", decision.exit_code
        reasons = decision.reasons
        if not passed:
            headline = "new cases below the gate" if decision.failed_on_new_cases_only else "regression"
            if decision.failed_on_removed_critical_only:
                headline = "critical cases removed"
        if verdict is not None:
            passed, headline, code, reasons = (
                verdict.passed,
                verdict.headline,
                verdict.exit_code,
                verdict.reasons,
            )
        lines += [
            f"### {'✅' if passed else '❌'} evalkit · {who}: {headline} (exit {code})",
            "",
            f"Run `{run.run_id}` against baseline `{decision.baseline_run_id}` ({cell(comparison.a.short)}) · "
            f"{_counted(run, summary)}: {summary.passed} passed, {summary.failed} failed, {count_text(summary.errors, 'error')}.",
            "",
        ]
        lines += _kept_out(summary)
        lines += [f"> {cell(reason, 2000)}" for reason in reasons]
        lines += ["", *_comparison_body(comparison, "baseline", "this run")]
        # the judging of gate.pairwise, which the verdict above decided on too
        if verdict is not None and verdict.baseline is not None and verdict.baseline.pairwise is not None:
            lines += pairwise_markdown(verdict.baseline.pairwise)
    else:
        gate = verdict.gate if verdict is not None else summary.gate
        passed = gate is not None and gate.passed
        mark = "✅" if passed else "❌"
        headline = verdict.headline if verdict is not None else ("gate passed" if passed else "gate failed")
        lines += [
            f"### {mark} evalkit · {who}: {headline} (exit {gate.exit_code if gate is not None else None})",
            "",
            f"Run `{run.run_id}` · {_counted(run, summary)}: {summary.passed} passed, "
            f"{summary.failed} failed, {count_text(summary.errors, 'error')} · pass rate {_pct(summary.pass_rate)}",
            "",
        ]
        lines += _kept_out(summary)
        lines += [f"> {cell(reason, 2000)}" for reason in (gate.reasons if gate is not None else [])]
        lines += ["", "| scorer | pass rate | mean score | scored | errors |", "|---|--:|--:|--:|--:|"]
        for name, s in summary.scorers.items():
            mean = "n/a" if s.mean_score is None else f"{s.mean_score:.2f}"
            lines.append(f"| {cell(name)} | {_pct(s.pass_rate)} | {mean} | {s.scored} | {s.errors} |")
        lines += [
            "",
            usage_text(summary, stopped=run.status != "complete"),
        ]
        lines += [f"({why})" for why in uncounted_calls(summary.calls)]  # why its figures are lower bounds
        if failures:
            n_bad = summary.failed + summary.errors
            lines += [
                "",
                f"**Failures** (top {len(failures)} of {n_bad})",
                "",
                "| case | verdict | why | output |",
                "|---|---|---|---|",
            ]
            for f in failures:
                lines.append(
                    f"| {cell(f.name)} | {f.verdict} | {cell('; '.join(f.reasons))} | {cell(f.output or '')} |"
                )
    if report_path:
        lines += ["", f"Full report: `{report_path}`"]
    return "\n".join(lines).rstrip() + "\n"


def comparison_markdown(
    comparison: Comparison,
    *,
    report_path: str | None = None,
    pairwise: Any = None,
    baseline_line: str | None = None,
    flips: int = TOP,
    removed_line: str | None = None,
) -> str:
    """The summary of ``evalkit compare A B`` (with ``--judge``: the pairwise judge's figures too;
    ``baseline_line``: a recorded baseline's error rate against the model's; ``removed_line``: the
    critical cases of A that B lacks, which fail it), listing the first ``flips`` flipped cases
    (``--flips``), as the terminal does."""
    head = comparison.headline
    lines = [
        f"### evalkit compare · {cell(comparison.a.suite_name)}: {cell(comparison.b.short)} against "
        f"{cell(comparison.a.short)}: pass rate {head.verdict}"
        + ("; critical cases removed (exit 1)" if removed_line else ""),
        "",
        f"A = `{comparison.a.run_id}`, B = `{comparison.b.run_id}`.",
        "",
        *([f"**Baseline:** {cell(baseline_line, 400)}", ""] if baseline_line else []),
        *([f"**Removed critical cases:** {cell(removed_line, 1000)}", ""] if removed_line else []),
        *_comparison_body(comparison, "A", "B", flips),
    ]
    if pairwise is not None:
        lines += pairwise_markdown(pairwise)
    if report_path:
        lines += ["", f"Full report: `{report_path}`"]
    return "\n".join(lines).rstrip() + "\n"


def _comparison_body(comparison: Comparison, a_name: str, b_name: str, shown: int = TOP) -> list[str]:
    notes = [f"{comparison.paired} paired cases"]
    if comparison.errored:
        notes.append(f"{comparison.errored} left out (errored in a run)")
    if comparison.only_a or comparison.only_b:
        notes.append(f"{comparison.only_a} only in {a_name}, {comparison.only_b} only in {b_name}")
    if comparison.epochs_note:
        notes.append(comparison.epochs_note)
    main = [m for m in comparison.metrics if m.kind in ("cases", "usage")]
    detail = [m for m in comparison.metrics if m.kind in ("scorer", "field")]
    lines = [
        "; ".join(notes) + f". McNemar's exact test (pass/fail), Wilcoxon signed-rank test and paired "
        f"bootstrap 95% CI (seed {comparison.seed}) for scores and usage; alpha {comparison.alpha:g}; "
        "p (Holm): adjusted over every metric but the pass rate.",
        *[f"\n> **Warning**: {w}" for w in comparison.warnings],
        "",
        *_metric_table(main, a_name, b_name, comparison.paired),
    ]
    if detail:
        lines += [
            "",
            "<details><summary>Per scorer and per field</summary>",
            "",
            *_metric_table(detail, a_name, b_name, comparison.paired),
            "",
            "</details>",
        ]
    if not comparison.flips:
        return [*lines, "", "No case changed verdict."]
    flips = comparison.flips[:shown]  # as many as `evalkit compare --flips` prints
    listed = f" (top {len(flips)})" if flips else " (none listed)"
    lines += [
        "",
        f"**Flipped cases**: {len(comparison.regressions)} pass→fail, {len(comparison.improvements)} "
        f"fail→pass" + (listed if len(flips) < len(comparison.flips) else ""),
    ]
    if flips:
        lines += [
            "",
            f"| case | change | tags | output, {a_name} | output, {b_name} |",
            "|---|---|---|---|---|",
        ]
    for f in flips:
        tags = ", ".join(cell(t) for t in f.tags)
        lines.append(
            f"| {cell(f.case_id)} | {f.direction} | {tags} | {cell(f.output_a or '')} | {cell(f.output_b or '')} |"
        )
    return lines


def _metric_table(metrics: Sequence[MetricComparison], a_name: str, b_name: str, paired: int) -> list[str]:
    lines = [
        f"| metric | {a_name} | {b_name} | Δ | 95% CI | p | p (Holm) | verdict |",
        "|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for m in metrics:
        c = metric_cells(m, paired)
        verdict = f"**{c.verdict}**" if c.verdict in ("better", "worse") else c.verdict
        lines.append(
            f"| {cell(c.label)} | {c.a} | {c.b} | {c.diff} | {c.ci} | {c.p} | {c.p_adjusted} | {verdict} |"
        )
    return lines


def _counted(run: RunRecord, summary: RunSummary) -> str:
    """What the verdict counts count: cases, or with several epochs results (a case once per epoch)."""
    if summary.repeat <= 1:
        return f"{summary.results} cases"
    return f"{summary.results} results ({run.n_cases} cases x {summary.repeat} epochs)"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
