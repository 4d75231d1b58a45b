"""The model frontier of a group in the terminal: what ``evalkit compare GROUP`` prints after its table."""

from __future__ import annotations

from typing import Any

from evalkit.analysis.frontier import Frontier
from evalkit.report.formatting import pvalue

PARETO_MARK = "◆"
DOMINATED_MARK = "·"


def print_frontier(frontier: Frontier) -> None:
    """The frontier table (one row per cell, Pareto cells marked ◆) and the named recommendation."""
    from rich.table import Table
    from rich.text import Text

    from evalkit.cli.console import out
    from evalkit.cli.terminal import SafeConsole as Console

    out.print(Text("Model frontier: quality vs cost per 1,000 cases vs p95 latency", style="bold"))
    out.print(
        f"◆ Pareto-optimal (no other cell is as good on all three and better on one) · {frontier.method}"
    )
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
            interval_text(s.pass_rate, s.pass_low, s.pass_high),
        ]
        if frontier.has_f1:
            row.append(interval_text(s.f1, s.f1_low, s.f1_high))
        note = "best" if s.run_id == frontier.best else "not worse" if cell.not_worse else "worse"
        if s.run_id == frontier.recommended:
            note += ", recommended"
        row += [
            usd_per_1k(s.cost_per_1k),
            milliseconds(s.p95_ms),
            ""
            if s.run_id == frontier.best or cell.diff_vs_best is None
            else f"{cell.diff_vs_best * 100:+.1f} pts",
            "" if cell.p_vs_best is None else pvalue(cell.p_vs_best),
            Text(note, style="bold green" if s.run_id == frontier.recommended else ""),
        ]
        table.add_row(*row, style="" if cell.pareto else "dim")
    Console(highlight=False, width=max(out.width, 150)).print(table)
    out.print(Text(frontier.recommendation(), style="bold"), markup=False)


def interval_text(value: float | None, low: float | None, high: float | None) -> str:
    """``76.0% [62.6, 85.7]``: a rate and its interval, in percent."""
    if value is None:
        return "n/a"
    if low is None or high is None:
        return f"{value:.1%}"
    return f"{value:.1%} [{low * 100:.1f}, {high * 100:.1f}]"


def usd_per_1k(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.4f}"


def milliseconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"
