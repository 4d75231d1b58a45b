"""The page of a run group (``evalkit report GROUP``): the model frontier as a table and a chart.

One self-contained HTML file like the trend page: no script, the chart inlined as a PNG data URI
drawn with matplotlib's Agg canvas (no pyplot state), every stored value (prompt, model, run id)
through jinja2's autoescaping. The text helpers are shared with the terminal table.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.analysis.frontier import CellStats, Frontier
from evalkit.report.formatting import cell as md_cell
from evalkit.report.formatting import milliseconds, pvalue

REPORTS_DIR = Path("reports")
PARETO_COLOR = "#4c72b0"
DOMINATED_COLOR = "#a0a0a0"
RECOMMENDED_COLOR = "#55a868"


def interval_text(value: float | None, low: float | None, high: float | None) -> str:
    """``76.0% [62.6, 85.7]``: a rate and its interval, in percent."""
    if value is None:
        return "n/a"
    if low is None or high is None:
        return f"{value:.1%}"
    return f"{value:.1%} [{low * 100:.1f}, {high * 100:.1f}]"


def pass_rate_text(stats: CellStats) -> str:
    """A cell's pass rate and interval, and the cases it errored on, which the rate leaves out
    (``100.0% [83.9, 100.0] · 20 errored``)."""
    text = interval_text(stats.pass_rate, stats.pass_low, stats.pass_high)
    return text + (f" · {stats.errors} errored" if stats.errors else "")


def usd_per_1k(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.4f}"


def cell_note(frontier: Frontier, run_id: str) -> str:
    """``best``, ``not worse`` or ``worse`` (than the best), and ``recommended``; or ``not judged``, and
    why, for a cell whose run its gate could not judge."""
    cell = frontier.cell(run_id)
    s = cell.stats
    if not s.finished:
        return "not judged: the run has not finished"
    if not s.errors_within_gate:
        return f"not judged: {s.errors} of {s.errors + s.scored} cases errored (max_error_rate {s.max_error_rate:.0%})"
    if not s.judged:
        return f"not judged (exit {s.gate_exit_code})" + (f": {s.gate_reason}" if s.gate_reason else "")
    note = "best" if run_id == frontier.best else "not worse" if cell.not_worse else "worse"
    return note + (", recommended" if run_id == frontier.recommended else "")


def diff_text(frontier: Frontier, run_id: str) -> str:
    cell = frontier.cell(run_id)
    if run_id == frontier.best or cell.diff_vs_best is None or frontier.best is None:
        return ""
    best = frontier.cell(frontier.best).stats
    # on the cases both scored: said when that is not every case of each, whose pass rates are shown
    on = f" on {cell.paired} cases" if cell.paired != cell.stats.scored or best.scored != cell.paired else ""
    return f"{cell.diff_vs_best * 100:+.1f} pts{on}"


def frontier_markdown(frontier: Frontier) -> str:
    """The frontier table and the recommendation for ``compare GROUP --summary-md`` (every stored name
    escaped, as in the other summaries)."""
    f1 = frontier.has_f1
    lines = [
        "### Model frontier",
        "",
        md_cell(frontier.recommendation(), 600),
        "",
        "| | prompt · model | pass rate [95% CI] |"
        + (" micro F1 [95% CI] |" if f1 else "")
        + " $/1k cases | p95 | Δ vs best | p vs best | |",
        "|---|---|---:|" + ("---:|" if f1 else "") + "---:|---:|---:|---:|---|",
    ]
    for c in frontier.cells:
        s = c.stats
        f1_cell = f" {interval_text(s.f1, s.f1_low, s.f1_high)} |" if f1 else ""
        p = "" if c.p_vs_best is None else pvalue(c.p_vs_best)
        lines.append(
            f"| {'◆' if c.pareto else '·'} | {md_cell(s.label)} | {pass_rate_text(s)} |"
            f"{f1_cell} {usd_per_1k(s.cost_per_1k)} | {milliseconds(s.p95_ms)} | {diff_text(frontier, s.run_id)} "
            f"| {p} | {cell_note(frontier, s.run_id)} |"
        )
    lines += ["", f"◆ Pareto-optimal. Method: {md_cell(frontier.method, 600)}."]
    return "\n".join(lines) + "\n"


def frontier_chart(frontier: Frontier) -> str | None:
    """Pass rate (95% interval as error bars) against USD per 1,000 cases, one labelled point per
    cell: Pareto cells as dots, dominated ones as grey crosses, the recommended one in green. None
    when no cell has both a pass rate and a cost. (The frontier is three-dimensional: a cell that
    looks dominated here can be on it by its p95 latency.)"""
    from evalkit.report.charts import _png  # one figure recipe for every report chart

    drawn = [c for c in frontier.cells if c.stats.pass_rate is not None and c.stats.cost_per_1k is not None]
    if not drawn:
        return None

    def draw(fig: Any, _: Any) -> None:
        ax = fig.subplots()
        for cell in drawn:
            s = cell.stats
            rate = s.pass_rate or 0.0
            low = rate - (s.pass_low if s.pass_low is not None else rate)
            high = (s.pass_high if s.pass_high is not None else rate) - rate
            recommended = s.run_id == frontier.recommended
            color = RECOMMENDED_COLOR if recommended else PARETO_COLOR if cell.pareto else DOMINATED_COLOR
            ax.errorbar(
                [s.cost_per_1k],
                [rate],
                yerr=[[low], [high]],
                fmt="o" if cell.pareto else "x",
                color=color,
                ms=8 if recommended else 6,
                capsize=3,
            )
            label = s.label if len(s.label) <= 28 else s.label[:27] + "…"
            ax.annotate(label, (s.cost_per_1k, rate), xytext=(5, 4), textcoords="offset points", fontsize=7)
        costs = [c.stats.cost_per_1k or 0.0 for c in drawn]
        if min(costs) > 0 and max(costs) / min(costs) > 20:  # prices of models span orders of magnitude
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(lambda v, _: "")
        ax.xaxis.set_major_formatter(lambda v, _: f"${v:g}")
        ax.margins(x=0.2)  # room for the labels of the outermost points
        for marker, color, label in (
            ("o", PARETO_COLOR, "Pareto-optimal"),
            ("x", DOMINATED_COLOR, "dominated"),
            ("o", RECOMMENDED_COLOR, "recommended"),
        ):
            ax.plot([], [], marker, color=color, label=label)
        ax.legend(fontsize="small", loc="lower right")
        ax.set_xlabel("USD per 1,000 cases")
        ax.set_ylabel("pass rate (95% CI)")
        ax.set_ylim(-0.02, 1.05)
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")

    return _png(draw, [], size=(7.2, 4.2), margins={"bottom": 0.13, "left": 0.1})


def render_group_html(frontier: Frontier, *, group_id: str, suite: str) -> str:
    """The group page as a string."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evalkit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("group.html.j2").render(
        frontier=frontier,
        group_id=group_id,
        suite=suite,
        chart=frontier_chart(frontier),
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        interval=interval_text,
        pass_rate=pass_rate_text,
        usd=usd_per_1k,
        ms=milliseconds,
        note=lambda run_id: cell_note(frontier, run_id),
        diff=lambda run_id: diff_text(frontier, run_id),
        pvalue=pvalue,
    )


def write_group_report(frontier: Frontier, *, group_id: str, suite: str, path: Path | None = None) -> Path:
    """Write the group page (default ``reports/<group>.html``); returns its path."""
    if path is None:
        path = REPORTS_DIR / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', group_id)}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_group_html(frontier, group_id=group_id, suite=suite), encoding="utf-8")
    return path
