"""``evalkit compare GROUP``: each cell of a prompts x models matrix against a reference cell, then
the group's model frontier; a matrix stopped before every cell started is said to be incomplete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FLIPS_SHOWN = 10


def compare_group(
    store: Any,
    ref: str,
    reference: str | None,
    alpha: float | None,
    min_effect: float | None,
    seed: int,
    summary_md: Path | None,
    allow_scoring_change: bool = False,
    flips: int = FLIPS_SHOWN,
) -> None:
    from rich.table import Table
    from rich.text import Text

    from evalkit.analysis.compare import compare_runs
    from evalkit.cli.console import out, pct
    from evalkit.cli.safe_console import SafeConsole as Console
    from evalkit.errors import UsageError
    from evalkit.report.formatting import pvalue, run_cost_cell
    from evalkit.run.signals import incomplete_group
    from evalkit.store.baselines import BaselineStore
    from evalkit.store.groups import IncompleteGroup, group_runs

    runs = group_runs(store, ref)
    group_id = runs[0].group_id or ref  # every run group_runs finds has it
    incomplete = incomplete_group(store, group_id, runs)
    if len(runs) < 2:
        if incomplete is not None:
            raise IncompleteGroup(incomplete)
        raise UsageError(f"group {ref!r} holds {len(runs)} run; compare needs at least two")
    if incomplete is not None:  # said first: what follows compares only the cells that ran
        out.print(Text(f"WARNING: {incomplete}", style="bold yellow"))
    base = runs[0]
    if reference is not None:
        chosen = BaselineStore(store).run_named(reference, base.suite_name)
        if chosen.run_id not in {r.run_id for r in runs}:
            raise UsageError(f"run {chosen.run_id} is not in group {runs[0].group_id}")
        base = chosen
    comparisons = []
    for run in runs:
        if run.run_id == base.run_id:
            continue
        a_alpha, a_effect = thresholds(run, alpha, min_effect)
        comparisons.append(
            compare_runs(
                store,
                base,
                run,
                alpha=a_alpha,
                min_effect=a_effect,
                seed=seed,
                allow_scoring_change=allow_scoring_change,
            )
        )
    out.print(Text(f"group {runs[0].group_id}: {len(runs)} runs, compared with {base.run_id}", style="bold"))
    table = Table(box=None, show_edge=False, pad_edge=False)
    for col in (
        "prompt",
        "model",
        "run",
        "pass rate (results)",
        "ref → this (paired cases)",
        "p",
        "verdict",
        "pass→fail",
        "fail→pass",
        "cost",
    ):
        table.add_column(col)
    table.add_row(
        base.prompt_version or "-",
        base.model,
        base.run_id,
        pct(base.summary.pass_rate if base.summary else None),
        "(reference)",
        "",
        "",
        "",
        "",
        run_cost_cell(base.summary),
    )
    for c, run in zip(comparisons, [r for r in runs if r.run_id != base.run_id], strict=True):
        head = c.headline
        style = "green" if head.verdict == "better" else "red" if head.verdict == "worse" else ""
        table.add_row(
            run.prompt_version or "-",
            run.model,
            run.run_id,
            pct(run.summary.pass_rate if run.summary else None),
            "n/a"
            if head.diff is None
            else f"{pct(head.a)} → {pct(head.b)} ({head.diff * 100:+.1f} pts, {head.n} cases)",
            pvalue(head.p_value),
            Text(head.verdict, style=style),
            str(len(c.regressions)),
            str(len(c.improvements)),
            run_cost_cell(run.summary),
        )
    Console(highlight=False, width=max(out.width, 150)).print(table)
    for c in comparisons:
        for warning in c.warnings:
            out.print(Text(f"WARNING ({c.b.run_id}): {warning}", style="bold yellow"))
    out.print("Details of one cell: `evalkit compare REFERENCE_RUN CELL_RUN`.")
    if incomplete is not None:
        # the frontier's best and recommended cell would be picked among the cells that ran, as if
        # the others did not exist: left out, and the exit code says the comparison is not whole
        if summary_md is not None:
            from evalkit.report.markdown import comparison_markdown

            cells = [comparison_markdown(c, flips=flips) for c in comparisons]
            write_summary(summary_md, "\n".join([f"**WARNING: {incomplete}**\n", *cells]))
        raise IncompleteGroup(
            f"{incomplete}; no model frontier nor best cell: only the cells that ran were compared"
        )
    from evalkit.cli.frontier_table import print_group_frontier

    frontier = print_group_frontier(store, runs, alpha=thresholds(base, alpha, None)[0], seed=seed)
    if summary_md is not None:
        from evalkit.report.frontier import frontier_markdown
        from evalkit.report.markdown import comparison_markdown

        cells = [comparison_markdown(c, flips=flips) for c in comparisons]
        write_summary(summary_md, "\n".join([*cells, frontier_markdown(frontier)]))


def thresholds(run: Any, alpha: float | None, min_effect: float | None) -> tuple[float, float]:
    """alpha and min_effect: the flags, else the candidate run's gate settings as run, else the defaults."""
    from evalkit.gate.suite import gate_thresholds

    gate_alpha, gate_effect = gate_thresholds(run)
    return (alpha if alpha is not None else gate_alpha, min_effect if min_effect is not None else gate_effect)


def write_summary(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
