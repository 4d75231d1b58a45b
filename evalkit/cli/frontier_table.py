"""The model frontier of a group in the terminal: what ``evalkit compare GROUP`` prints after its table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evalkit.analysis.frontier import Frontier
from evalkit.report.formatting import milliseconds, pvalue
from evalkit.report.frontier import cell_note, diff_text, interval_text, pass_rate_text, usd_per_1k
from evalkit.results import RunRecord

if TYPE_CHECKING:
    from evalkit.store import Store

PARETO_MARK = "◆"
DOMINATED_MARK = "·"


def print_group_frontier(store: Store, runs: Sequence[RunRecord], *, alpha: float, seed: int) -> Frontier:
    """Read the group's cells and print their frontier (see :func:`print_frontier`); returns it."""
    from evalkit.analysis.frontier_cells import group_frontier

    frontier = group_frontier(store, runs, alpha=alpha, seed=seed)
    print_frontier(frontier)
    return frontier


def print_frontier(frontier: Frontier) -> None:
    """The frontier table (one row per cell, Pareto cells marked ◆) and the named recommendation."""
    from rich.table import Table
    from rich.text import Text

    from evalkit.cli.console import out
    from evalkit.cli.safe_console import SafeConsole as Console

    out.print(Text("Model frontier: quality vs cost per 1,000 cases vs p95 latency", style="bold"))
    out.print("◆ Pareto-optimal: no other cell is as good on all three and better on one (ties all kept)")
    out.print(f"Method: {frontier.method}.")
    table = Table(box=None, show_edge=False, pad_edge=False)
    columns = ["", "prompt · model", "run", "pass rate [95% CI]"]
    if frontier.has_f1:
        columns.append("micro F1 [95% CI]")
    columns += ["$/1k cases", "p95", "Δ vs best", "p vs best", ""]
    for col in columns:
        table.add_column(col, justify="left" if col in ("", "prompt · model", "run") else "right")
    for cell in frontier.cells:
        s = cell.stats
        row: list[Any] = [
            PARETO_MARK if cell.pareto else DOMINATED_MARK,
            s.label,
            s.run_id,
            pass_rate_text(s),
        ]
        if frontier.has_f1:
            row.append(interval_text(s.f1, s.f1_low, s.f1_high))
        row += [
            usd_per_1k(s.cost_per_1k),
            milliseconds(s.p95_ms),
            diff_text(frontier, s.run_id),
            "" if cell.p_vs_best is None else pvalue(cell.p_vs_best),
            Text(
                cell_note(frontier, s.run_id), style="bold green" if s.run_id == frontier.recommended else ""
            ),
        ]
        table.add_row(*row, style="" if cell.pareto else "dim")
    Console(highlight=False, width=max(out.width, 150)).print(table)
    out.print(Text(frontier.recommendation(), style="bold"))
