"""``evalkit trend``: week-by-week pass rates, failures, cost and latency of a suite, as CSV and HTML."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from evalkit.cli.app import app
from evalkit.cli.options import DbOption, StoredSuiteArgument, WeeksOption

if TYPE_CHECKING:
    from evalkit.analysis.trend import Regression

KINDS = ("full", "merged", "subset", "shard", "repeat", "rescore", "partial")


@app.command()
def trend(
    suite: StoredSuiteArgument,
    weeks: WeeksOption = 12,
    out: Path = typer.Option(Path("reports"), "--out", "-o", help="Directory for trend-SUITE.csv and .html."),
    min_drop: float = typer.Option(
        0.05, "--min-drop", min=0.0, max=1.0, help="Pass-rate drop (0.05 = 5 points) that flags a week."
    ),
    prompt: str | None = typer.Option(None, "--prompt", "-p", help="Only runs of this prompt version."),
    model: str | None = typer.Option(None, "--model", "-m", help="Only runs of this model."),
    kind: list[str] | None = typer.Option(
        None,
        "--kind",
        help=f"Pool runs of this kind (repeatable; {', '.join(KINDS)}). Default: full and merged runs.",
    ),
    db: DbOption = None,
) -> None:
    """Pass rate per week of the suite, each scorer and each field; failures per cluster; cost and latency.

    One series per prompt version, model and scoring (each its own CSV and HTML page when there are
    several), pooling complete runs over every case only by default: rescores, subsets (pytest -k), shards,
    repeats and partial merges are left out (see --kind) and counted in the page and the CSV.
    Lists regression weeks, saying when the case files or the prompt's text changed under them.
    """
    from evalkit.analysis.trend import TrendQuery, build_trends
    from evalkit.analysis.trend_runs import DEFAULT_KINDS
    from evalkit.cli.console import out as console
    from evalkit.cli.suite_ref import stored_suite_name
    from evalkit.errors import UsageError
    from evalkit.report.trend import write_trends
    from evalkit.store import open_store

    unknown = sorted(set(kind or ()) - set(KINDS))
    if unknown:
        raise UsageError(f"--kind {unknown[0]!r}: use one of {', '.join(KINDS)}")
    store = open_store(db, must_exist=True)
    name = stored_suite_name(store, suite)  # a suite path, or a stored name; unknown: exit 2
    query = TrendQuery(
        weeks=weeks, min_drop=min_drop, prompt=prompt, model=model, kinds=tuple(kind or DEFAULT_KINDS)
    )
    reports = build_trends(store, name, query)
    for report, (csv_path, html_path) in zip(reports, write_trends(reports, out), strict=True):
        with_runs = sum(1 for r in report.suite_metrics["runs"] if r)
        label = f" ({report.series.label})" if report.series else ""
        console.print(
            f"{name}{label}: {weeks} weeks, {with_runs} with runs · wrote {csv_path} and {html_path}",
        )
        left_out = {reason: sum(counts) for reason, counts in report.left_out.items() if sum(counts)}
        if left_out:
            console.print(
                "  left out: " + ", ".join(f"{n} run(s) {reason}" for reason, n in left_out.items()),
            )
        if report.unpriced_models:
            console.print(
                f"  no price for {', '.join(report.unpriced_models)}: weeks with its runs have no cost (n/a)",
            )
        if report.unmetered_targets:
            console.print(
                f"  {', '.join(report.unmetered_targets)}: the target's own model calls are not counted, "
                "so weeks with its runs have no cost (n/a)",
            )
        if report.uncounted_models:
            console.print(
                f"  the embedding calls to {', '.join(report.uncounted_models)} are not counted, "
                "so weeks with their runs have no cost (n/a)",
            )
        if report.partial_note:
            console.print(f"  {report.partial_note}")
        print_regressions(report.regressions)


def print_regressions(regressions: Sequence[Regression]) -> None:
    """One line per regression week, with what changed under it (``evalkit trend`` and ``evalkit weekly``)."""
    from evalkit.cli.console import out

    for r in regressions:
        out.print(
            f"  regression week of {r.week.isoformat()}: {r.kind} {r.name} {r.baseline:.1%} -> "
            f"{r.value:.1%}{r.note}",
        )
