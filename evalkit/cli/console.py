"""Terminal presentation shared by commands: the run summary and case explanations."""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from evalkit.analysis.failures import CaseExplanation
from evalkit.cli.safe_console import SafeConsole
from evalkit.report.formatting import (
    calls_text,
    count_text,
    epochs_text,
    milliseconds,
    run_cost_cell,
    usage_text,
)
from evalkit.results import RunSummary

if TYPE_CHECKING:
    from rich.progress import Progress

    from evalkit.results import RunRecord
    from evalkit.run.estimate import RunEstimate

# Long reasons stay on one line, and tables are not squeezed to 80 columns, in CI logs (no terminal).
# Both show control characters of model output escaped (see evalkit.cli.safe_console).
out = SafeConsole(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = SafeConsole(stderr=True, highlight=False)


def progress_bar(enabled: bool = True) -> Progress:
    """The progress bar long commands show on stderr: description, bar, done/total, elapsed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}", markup=False),  # names as written
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not enabled,
    )


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def score_text(value: float, passed: bool) -> str:
    """A score to two decimals, rounded down for anything that failed: a failure never reads "1.00"."""
    if passed:
        return f"{value:.2f}"
    return f"{min(math.floor(value * 100) / 100, 0.99):.2f}"


def clip(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_summary(
    run: RunRecord,
    summary: RunSummary,
    failures: list[CaseExplanation],
    shown: int,
    *,
    decided_later: bool = False,
) -> None:
    """The end-of-run summary: counts, per-scorer table, usage, failures with reasons, gate decision.

    ``decided_later``: the run is gated on a baseline, whose comparison (printed after) decides the
    exit code of a run that could be judged; the suite gate's line says so.
    """
    head = f"{run.suite_name} · prompt {run.prompt_version or '-'} · {run.model} · run {run.run_id}"
    out.print(Text(head, style="bold"))
    counted = (  # with epochs, results: a case counts once per epoch
        f"Cases {summary.results}"
        # a run stopped early (--budget) has results for some of its cases: say of how many
        + ("" if run.status == "complete" else f" of {run.n_cases}")
        if summary.repeat <= 1
        else f"Results {summary.results} ({run.n_cases} cases x {summary.repeat} epochs)"
    )
    out.print(
        f"{counted}: {summary.passed} passed, {summary.failed} failed, "
        f"{count_text(summary.errors, 'error')} · pass rate {pct(summary.pass_rate)}"
        + (
            f" · {len(summary.awaiting_expected)} awaiting an expected output (kept out of the gate; "
            "errors when no other scorer applies)"
            if summary.awaiting_expected
            else ""
        )
        + ("" if run.status == "complete" else f" · run {run.status}")
    )
    table = Table(show_edge=False, pad_edge=False, box=None)
    for col in ("scorer", "pass rate", "mean score", "scored", "errors"):
        table.add_column(col, justify="left" if col == "scorer" else "right")
    for name, s in summary.scorers.items():
        mean = "n/a" if s.mean_score is None else f"{s.mean_score:.2f}"
        table.add_row(name, pct(s.pass_rate), mean, str(s.scored), str(s.errors))
    out.print(table)
    out.print(usage_text(summary, stopped=run.status != "complete"))
    print_prefix_estimates({"": (run, summary)})
    if summary.calls is not None:
        out.print(calls_text(summary.calls))
    epochs = epochs_text(summary)
    if epochs is not None:
        out.print(epochs)
    awaiting = set(summary.awaiting_expected)
    if awaiting:
        listed = ", ".join(sorted(awaiting)[:10]) + (
            f" (+{len(awaiting) - 10} more)" if len(awaiting) > 10 else ""
        )
        out.print(
            f"Awaiting an expected output (kept out of the gate: a scorer that compares with one "
            f"skipped them, and no other failed them): {len(awaiting)} cases: {listed}"
        )
    others = [case for case in summary.quarantined if case not in awaiting]
    if others:
        out.print(f"Quarantined (kept out of the gate): {', '.join(others)}")
    n_bad = summary.failed + summary.errors
    if failures:
        out.print(
            Text(
                f"Failures (showing {len(failures)} of {n_bad}; `evalkit show {run.run_id}` for all):",
                style="bold",
            )
        )
        for case in failures:
            score = "" if case.score is None else f" score {score_text(case.score, case.verdict == 'pass')}"
            out.print(f"  {case.name} [{case.verdict}{score}] " + " | ".join(case.reasons))
    gate = summary.gate
    passed = gate is not None and gate.passed
    style = "bold green" if passed else "bold red"
    verdict = "PASSED" if passed else "FAILED"
    reasons, warnings = (gate.reasons, gate.warnings) if gate is not None else ([], [])
    exit_code = gate.exit_code if gate is not None else None
    if decided_later and exit_code in (0, 1):
        judges = " with its judges' calibration" if gate is not None and gate.judge_failures else ""
        out.print(
            f"Suite gate {verdict.lower()}: " + "; ".join(reasons) + " (not deciding: with --baseline, the "
            f"regression gate below decides the exit code{judges})"
        )
    else:
        out.print(Text(f"Gate {verdict}: " + "; ".join(reasons) + f" (exit {exit_code})", style=style))
    for warning in warnings:
        out.print(Text(f"WARNING: {warning}", style="bold yellow"))


def print_prompt_cache(runs: dict[str, RunRecord]) -> None:
    """The provider's prompt cache in one run (label ``""``) or two (``A``, ``B``): cached share and
    savings, then each run's measured share against lint's stable-prefix estimate. Nothing at all when
    no provider reported cached prompt tokens."""
    from evalkit.analysis.caching import compare_text, prompt_cache_text

    summaries = [r.summary for r in runs.values()]
    line = compare_text(*summaries) if len(summaries) == 2 else prompt_cache_text(summaries[0])
    if line:
        out.print(line)
        print_prefix_estimates({label: (r, r.summary) for label, r in runs.items()})


def print_prefix_estimates(runs: dict[str, tuple[RunRecord, RunSummary | None]]) -> None:
    """For each run whose provider reported cached prompt tokens: the measured cached share against
    the cache-stable prefix ``evalkit lint`` estimates for its prompt (when the suite file allows)."""
    from evalkit.analysis.caching import estimate_text

    for label, (run, summary) in runs.items():
        line = estimate_text(run, summary)
        if line:
            out.print((f"{label}: " if label else "") + line)


def print_case(case: CaseExplanation, *, full: bool = False) -> None:
    """One case in `evalkit show`: verdict, reasons per scorer, output against expected."""
    score = "" if case.score is None else f" score {score_text(case.score, case.verdict == 'pass')}"
    tags = f" tags {','.join(case.tags)}" if case.tags else ""
    out.print(Text(f"{case.name}  [{case.verdict}{score}]{tags}", style="bold"))
    if case.error:
        out.print(f"  error: {case.error}")
    for note in case.notes:
        mark = "error" if note.error else ("pass" if note.passed else "FAIL")
        text = note.error if note.error else note.reason
        shown = score_text(note.score, note.passed or bool(note.error))
        out.print(f"  {mark:5} {note.scorer} ({shown}): {text}")
        for key in ("reasoning", "confidence"):
            if key in note.details:
                out.print(f"        {key}: {clip(note.details[key], 10_000 if full else 300)}")
    limit = 100_000 if full else 300
    out.print(f"  input:    {clip(case.input, limit)}")
    out.print(f"  output:   {clip(case.output or '', limit)}")
    out.print(f"  expected: {clip(case.expected, limit)}")


def print_estimate(estimate: RunEstimate) -> None:
    """`evalkit run --dry-run`: calls, tokens and cost, before anything is spent."""
    cost = (
        "unknown (model not in litellm's price map)"
        if estimate.cost_usd is None
        else f"${estimate.cost_usd:.4f}"
    )
    out.print(
        Text(
            f"{estimate.suite} · prompt {estimate.prompt_version or '-'} · {estimate.model} (dry run)",
            style="bold",
        )
    )
    out.print(
        f"Cases {estimate.cases} x {estimate.epochs} epoch(s): {estimate.calls:,} calls, {estimate.cached:,} already cached"
    )
    if estimate.unsent == 1:
        out.print(f"Not sent: 1 case, the run's error without a call: {estimate.unsent_reason}")
    elif estimate.unsent:
        out.print(
            f"Not sent: {estimate.unsent:,} cases, each the run's error without a call; the first: "
            f"{estimate.unsent_reason}"
        )
    unmetered = f" · {estimate.unmetered}'s own model calls are not counted" if estimate.unmetered else ""
    out.print(
        f"Tokens ~{estimate.prompt_tokens:,} in / ~{estimate.completion_tokens:,} out "
        f"(completion: {estimate.completion_basis}) · estimated cost {cost}{unmetered}"
    )
    if estimate.judge_calls:
        judge = "unknown (a judge model not in litellm's price map)"
        if estimate.judge_cost_usd is not None:
            judge = f"${estimate.judge_cost_usd:.4f}"
        total = "unknown" if estimate.total_cost_usd is None else f"${estimate.total_cost_usd:.4f}"
        out.print(
            f"Judge calls ~{estimate.judge_calls:,} (none assumed cached): ~{estimate.judge_prompt_tokens:,} in / "
            f"~{estimate.judge_completion_tokens:,} out (at max_tokens) · estimated judge cost {judge}"
        )
        out.print(f"Estimated total {total} (target {cost}, judge {judge})")


def print_matrix(runs: list[RunRecord], group_id: str) -> None:
    """The cells of a prompts x models matrix side by side."""
    cells = [r for r in runs if r.group_id == group_id]
    table = Table(title=f"matrix {group_id}", box=None, show_edge=False, pad_edge=False)
    for col in ("prompt", "model", "run", "pass rate", "cost", "p50", "gate"):
        table.add_column(col)
    for r in sorted(cells, key=lambda r: (r.model, r.prompt_version or "")):
        s = r.summary or RunSummary()  # a cell killed before it finished has none
        table.add_row(
            r.prompt_version or "-",
            r.model,
            r.run_id,
            pct(s.pass_rate),
            run_cost_cell(r.summary),
            milliseconds(s.latency_p50_ms),
            f"exit {s.exit_code}",
        )
    out.print(table)
