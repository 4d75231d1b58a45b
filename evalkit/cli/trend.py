"""``evalkit trend``: week-by-week pass rates, failures, cost and latency of a suite, as CSV and HTML."""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli.app import app
from evalkit.cli.options import DbOption, WeeksOption


def suite_name_of(suite: str) -> str:
    """A suite's name from its file or directory, or the argument itself when it is not a path."""
    from evalkit.suite.loading import load_suite

    return load_suite(suite).name if Path(suite).exists() else suite


@app.command()
def trend(
    suite: str = typer.Argument(..., help="Suite file or directory, or a suite name as stored."),
    weeks: WeeksOption = 12,
    out: Path = typer.Option(Path("reports"), "--out", "-o", help="Directory for trend-SUITE.csv and .html."),
    min_drop: float = typer.Option(
        0.05, "--min-drop", min=0.0, max=1.0, help="Pass-rate drop (0.05 = 5 points) that flags a week."
    ),
    db: DbOption = None,
) -> None:
    """Pass rate per week of the suite, each scorer and each field; failures per cluster; cost and latency.

    Writes a tidy CSV and a self-contained HTML page (charts inlined) and lists regression weeks.
    """
    from evalkit.analysis.trend import build_trend
    from evalkit.cli.console import out as console
    from evalkit.report.trend import write_trend
    from evalkit.store import open_store

    name = suite_name_of(suite)
    report = build_trend(open_store(db, must_exist=True), name, weeks=weeks, min_drop=min_drop)
    csv_path, html_path = write_trend(report, out)
    with_runs = sum(1 for r in report.suite_metrics["runs"] if r)
    console.print(
        f"{name}: {weeks} weeks, {with_runs} with runs · wrote {csv_path} and {html_path}", markup=False
    )
    for r in report.regressions:
        console.print(
            f"  regression week of {r.week.isoformat()}: {r.kind} {r.name} {r.baseline:.1%} -> {r.value:.1%}",
            markup=False,
        )
