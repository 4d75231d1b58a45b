"""``evalkit compare``; how ``evalkit run --baseline`` prints its baseline check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from evalkit.cli.app import app
from evalkit.cli.compare_group import FLIPS_SHOWN, compare_group, thresholds, write_summary
from evalkit.cli.options import AlphaOption, BootstrapSeedOption, DbOption


@app.command()
def compare(
    refs: list[str] = typer.Argument(
        ...,
        metavar="RUN",
        help="Two runs, A (the reference) and B (the candidate): ids, unique prefixes, 'latest' or "
        "baseline names (`evalkit compare main latest`). Or one run group (a prompts x models matrix), whose cells are compared with its first run, "
        "then shown as a model frontier (quality, $/1k cases, p95 latency).",
    ),
    reference: str | None = typer.Option(
        None,
        "--reference",
        help="With a group: the cell the others are compared with (default: the first run).",
    ),
    alpha: AlphaOption = None,
    min_effect: float | None = typer.Option(
        None,
        "--min-effect",
        min=0.0,
        max=1.0,
        help="Smallest rate/score difference called better or worse (default: B's gate.regression_min_effect).",
    ),
    seed: BootstrapSeedOption = 0,
    flips: int = typer.Option(
        FLIPS_SHOWN, "--flips", min=0, help="Flipped cases to list with their outputs, also in --summary-md."
    ),
    summary_md: Path | None = typer.Option(None, "--summary-md", help="Also write a markdown summary here."),
    db: DbOption = None,
    allow_scoring_change: bool = typer.Option(
        False,
        "--allow-scoring-change",
        help="Give better/worse verdicts on scores even when the runs were scored differently "
        "(other scorer config, case rule or expected outputs); the difference is still stated.",
    ),
    judge: str | None = typer.Option(
        None,
        "--judge",
        help="Also ask this pairwise judge which output is better, case by case, in both orders: "
        "win rate with CI, sign test, position agreement (stored for `evalkit report A --compare B`).",
    ),
    judge_rubric_file: Path | None = typer.Option(
        None, "--judge-rubric-file", help="What makes one output better (default: B's gate.pairwise.rubric)."
    ),
    judge_verdict: str | None = typer.Option(
        None, "--judge-verdict", help="auto (log-probabilities where returned), logprobs or text."
    ),
    judge_api_base: str | None = typer.Option(None, "--judge-api-base", help="The judge's server."),
    judge_limit: int | None = typer.Option(
        None, "--judge-limit", min=1, help="Judge only the first N cases."
    ),
    allow_removed_critical: list[str] | None = typer.Option(
        None,
        "--allow-removed-critical",
        metavar="CASE_ID",
        help="Accept that this critical case of A was deleted from B's suite (repeat per case), as "
        "`evalkit run --baseline` does; without it a critical case A holds and B lacks is named and "
        "fails the comparison (exit 1), as it fails the regression gate.",
    ),
) -> None:
    """Compare runs on their paired cases: per scorer and field, cost, tokens, latency; flipped cases;
    each run's cached prompt share and savings when a provider reported cached tokens.

    Pass/fail metrics get McNemar's exact test, scores and usage a seeded paired bootstrap interval;
    each metric's verdict is better, worse or no significant difference. With --judge, a pairwise
    judge also compares the outputs; when B's suite sets gate.pairwise, its criterion decides the
    exit code (1 when it fails). A group also gets its model frontier: each cell's pass rate with a
    95% Wilson interval, cost per 1,000 cases and p95 latency, the Pareto-optimal cells marked, and
    the cheapest cell not significantly worse than the best (McNemar exact, paired cases). A group
    whose matrix was stopped before each cell started is called incomplete, its missing cells named:
    the cells that ran are compared, no frontier nor best cell is given, and the exit code is 4.

    Cases tagged critical (B's gate.critical_tag) that A holds and B lacks though it set out to run
    them (deleted or renamed in the suite) are named, and exit 1 unless each is accepted with
    --allow-removed-critical, as the regression gate decides.
    """
    from evalkit.analysis.compare import compare_runs
    from evalkit.cli.human_baseline import print_baseline_rates
    from evalkit.errors import UsageError
    from evalkit.store import open_store
    from evalkit.store.baselines import BaselineStore

    store = open_store(db, must_exist=True)
    if len(refs) > 2:
        raise UsageError("compare takes two runs, or one run group")
    if len(refs) == 1:
        if judge is not None or allow_removed_critical:
            flag = "--judge" if judge is not None else "--allow-removed-critical"
            raise UsageError(f"{flag} compares two runs: name run A and run B")
        compare_group(
            store, refs[0], reference, alpha, min_effect, seed, summary_md, allow_scoring_change, flips
        )
        return
    # either run may be named by a baseline: `evalkit compare main latest`
    run_a, run_b = BaselineStore(store).run_pair(refs[0], refs[1])
    if run_a.run_id == run_b.run_id:
        raise UsageError(f"both arguments name run {run_a.run_id}; compare two different runs")
    a_alpha, a_effect = thresholds(run_b, alpha, min_effect)
    comparison = compare_runs(
        store,
        run_a,
        run_b,
        alpha=a_alpha,
        min_effect=a_effect,
        seed=seed,
        allow_scoring_change=allow_scoring_change,
    )
    if comparison.paired == 0:
        raise UsageError(f"runs {run_a.run_id} and {run_b.run_id} have no case scored in both")
    print_comparison(comparison, flips)
    removed = print_removed_critical(store, run_a, run_b, allow_removed_critical or [])
    from evalkit.cli.console import print_prompt_cache

    print_prompt_cache({"A": run_a, "B": run_b})
    rates = print_baseline_rates(comparison, run_a, run_b)
    from evalkit.cli.field_table import print_field_figures

    print_field_figures(store, run_a, run_b, comparison)
    pairwise = None
    if judge is not None:
        from evalkit.cli.pairwise import judge_runs

        pairwise = judge_runs(
            store, run_a, run_b, judge, judge_rubric_file, judge_verdict, judge_api_base, judge_limit
        )
    if summary_md is not None:
        from evalkit.report.markdown import comparison_markdown

        line = rates.line if rates is not None else None
        md = comparison_markdown(
            comparison, pairwise=pairwise, baseline_line=line, flips=flips, removed_line=removed
        )
        write_summary(summary_md, md)
    code = 0
    if pairwise is not None:
        from evalkit.gate.pairwise import pairwise_exit_code

        code = pairwise_exit_code(pairwise)
    if removed is not None:  # as the regression gate fails a run that lacks them
        from evalkit.gate.removed_critical import blocks

        code = blocks(code)
    if code:
        raise typer.Exit(code)


def print_removed_critical(store: Any, run_a: Any, run_b: Any, allowed: list[str]) -> str | None:
    """Say which critical cases of A run B lacks (the comparison pairs only the cases both hold, so
    deleting a failing critical case would make B look better), as the regression gate finds them;
    returns the line that fails the comparison, None when none does (all accepted, or none removed)."""
    from rich.text import Text

    from evalkit.cli.console import out
    from evalkit.gate.regression import removed_critical_between
    from evalkit.gate.removed_critical import removed_critical_reasons

    found, tag = removed_critical_between(store, run_a, run_b)
    if found is None:
        return None
    failing, notes = removed_critical_reasons(found, tag, run_a.run_id, allowed)
    line = None
    if failing is not None:
        line = f"B {run_b.run_id} lacks critical cases, which fails the regression gate: {failing}"
        out.print(Text(f"REMOVED CRITICAL: {line}", style="bold red"))
    for note in notes:
        out.print(Text(f"NOTE: {note}", style="yellow"))
    return line


# ---- used by `evalkit run` and `evalkit merge` with --baseline/--summary-md ------------------------


def print_verdicts(store: Any, verdicts: list[Any], summary_md: Path | None) -> None:
    """Each run's baseline check (pairwise judging, then the regression gate), and the markdown summary."""
    from evalkit.analysis.failures import explain_cases

    sections = []
    for verdict in verdicts:
        check = verdict.baseline
        if check is not None:
            if check.pairwise is not None:
                from evalkit.cli.pairwise import print_pairwise

                print_pairwise(check.pairwise)
            print_decision(check.comparison, check.decision, verdict)
        if summary_md is not None:
            from evalkit.report.html import write_report
            from evalkit.report.markdown import run_markdown

            stored = store.get_run(verdict.run.run_id)
            report = (
                write_report(store, check.baseline, stored)
                if check is not None
                else write_report(store, stored)
            )
            failures = explain_cases(store, stored.run_id, limit=10)
            sections.append(
                run_markdown(
                    stored,
                    stored.summary,
                    failures,
                    comparison=check.comparison if check is not None else None,
                    decision=check.decision if check is not None else None,
                    report_path=str(report),
                    verdict=verdict,
                )
            )
    if summary_md is not None:
        write_summary(summary_md, "\n".join(sections))


# ---- terminal output ------------------------------------------------------------------------------


def print_comparison(comparison: Any, flips: int = FLIPS_SHOWN) -> None:
    """The comparison table, then the flipped cases with both outputs."""
    from rich.table import Table
    from rich.text import Text

    from evalkit.cli.console import clip, out
    from evalkit.cli.safe_console import SafeConsole as Console
    from evalkit.report.formatting import metric_cells, milliseconds

    a, b = comparison.a, comparison.b
    out.print(Text(f"{a.suite_name}: B {b.short} ({b.run_id}) vs A {a.short} ({a.run_id})", style="bold"))
    notes = [f"{comparison.paired} paired cases"]
    if comparison.errored:
        notes.append(f"{comparison.errored} left out (errored in a run)")
    if comparison.only_a or comparison.only_b:
        notes.append(f"{comparison.only_a} only in A, {comparison.only_b} only in B")
    if comparison.epochs_note:
        notes.append(comparison.epochs_note)
    out.print(
        "; ".join(notes)
        + f" · McNemar exact (pass/fail), Wilcoxon signed-rank and paired bootstrap 95% CI (seed "
        f"{comparison.seed}) for scores and usage · p (Holm): adjusted over every metric but the pass rate · "
        f"alpha {comparison.alpha:g}, min effect {comparison.min_effect * 100:.1f} pts"
    )
    for warning in comparison.warnings:
        out.print(Text(f"WARNING: {warning}", style="bold yellow"))
    table = Table(box=None, show_edge=False, pad_edge=False)
    for col in ("metric", "A", "B", "B - A", "95% CI", "p", "p (Holm)", "verdict"):
        table.add_column(col, justify="left" if col in ("metric", "verdict") else "right")
    for m in comparison.metrics:
        c = metric_cells(m, comparison.paired)
        style = "green" if c.verdict == "better" else "red" if c.verdict == "worse" else ""
        table.add_row(c.label, c.a, c.b, c.diff, c.ci, c.p, c.p_adjusted, Text(c.verdict, style=style))
    lat = comparison.latency
    table.add_row(
        "latency p50 / p95",
        f"{milliseconds(lat['a']['p50_ms'])} / {milliseconds(lat['a']['p95_ms'])}",
        f"{milliseconds(lat['b']['p50_ms'])} / {milliseconds(lat['b']['p95_ms'])}",
        "",
        "",
        "",
        "",
        "(not paired)",
    )
    # as wide as it needs: CI logs are read in a browser, and a wrapped table is unreadable
    Console(highlight=False, width=max(out.width, 150)).print(table)
    out.print(
        Text(
            f"Flipped: {len(comparison.regressions)} pass→fail, {len(comparison.improvements)} fail→pass",
            style="bold",
        )
    )
    for f in comparison.flips[:flips]:
        tags = f" [{', '.join(f.tags)}]" if f.tags else ""
        out.print(f"  {f.direction}  {f.case_id}{tags}")
        out.print(f"    A: {clip(f.output_a or '', 200)}")
        out.print(f"    B: {clip(f.output_b or '', 200)}")
        reasons = f.reasons_b if f.direction == "pass→fail" else f.reasons_a
        if reasons:
            out.print(
                f"    {'B' if f.direction == 'pass→fail' else 'A'} failed: {clip('; '.join(reasons), 200)}",
            )
    if len(comparison.flips) > flips:
        out.print(
            f"  ... {len(comparison.flips) - flips} more (--flips N, or `evalkit report A --compare B`)"
        )


def print_decision(comparison: Any, decision: Any, verdict: Any = None) -> None:
    """The regression gate's verdict after a run with --baseline; with the run's ``verdict``, its
    exit code and reasons (a run that could not be judged keeps its own code)."""
    from rich.text import Text

    from evalkit.cli.console import clip, out

    passed, code, reasons = decision.passed, decision.exit_code, decision.reasons
    if verdict is not None:
        passed, code, reasons = verdict.passed, verdict.exit_code, verdict.reasons
    style = "bold green" if passed else "bold red"
    word = "PASSED" if passed else "FAILED"
    headline = f" ({verdict.headline})" if verdict is not None and not verdict.baseline_applied else ""
    out.print(
        Text(
            f"Regression gate {word}{headline} against baseline {decision.baseline_run_id} "
            f"({comparison.a.short}): " + "; ".join(reasons) + f" (exit {code})",
            style=style,
        )
    )
    for warning in comparison.warnings:  # e.g. the baseline was scored with another scorer config
        out.print(Text(f"WARNING: {warning}", style="bold yellow"))
    for f in comparison.regressions[:5]:
        tags = f" [{', '.join(f.tags)}]" if f.tags else ""
        out.print(f"  pass→fail {f.case_id}{tags}: {clip('; '.join(f.reasons_b), 200)}")
