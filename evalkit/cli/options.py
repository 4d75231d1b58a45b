"""Arguments and options that several commands share, declared once so their flags and help agree.

Each is an ``Annotated`` alias a command names as a parameter's type; the default stays at the
command (``db: DbOption = None``), where typer expects it. Only typer is imported here, so
``evalkit --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DB_DEFAULT = "(default: $EVALKIT_DB or .evalkit/evalkit.duckdb)"

DbOption = Annotated[str | None, typer.Option("--db", help=f"Results database {DB_DEFAULT}.")]
"""``--db``: the results database, a DuckDB file or a postgresql:// URL."""

SuitePathArgument = Annotated[
    Path, typer.Argument(metavar="SUITE", help="Suite file, or a directory holding suite.yaml.")
]
"""``SUITE`` of the commands that load the suite file itself."""

StoredSuiteArgument = Annotated[
    str,
    typer.Argument(
        metavar="SUITE", help="Suite file or directory, or a suite name as stored (see `evalkit runs`)."
    ),
]
"""``SUITE`` of the commands that read a suite's stored runs; unknown names are an error."""

RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="Run id, unique prefix, or 'latest'.")]
"""``RUN``: a stored run (default ``"latest"`` at each command)."""

ProgressOption = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
]

JunitOption = Annotated[
    Path | None,
    typer.Option(
        "--junit", help="Also write JUnit XML (one testcase per case) here; one run only, not a matrix."
    ),
]

SummaryMdOption = Annotated[
    Path | None,
    typer.Option(
        "--summary-md",
        help="Write a markdown summary (for a PR comment) here, and the HTML report under reports/.",
    ),
]
"""``--summary-md`` of the commands that gate runs (``run``, ``merge``)."""

AllowRemovedCriticalOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-removed-critical",
        metavar="CASE_ID",
        help="With --baseline: accept that this critical case of the baseline was deleted from the suite "
        "(repeat per case); without it a critical case the baseline holds and the run lacks fails the gate.",
    ),
]
"""``--allow-removed-critical`` of the commands that gate runs on a baseline (``run``, ``merge``)."""

BootstrapSeedOption = Annotated[
    int,
    typer.Option(
        "--seed", help="Seed of the bootstrap resampling in the comparison (same seed, same intervals)."
    ),
]


def _significance_level(value: float | None) -> float | None:
    # at 0 no difference is ever significant, at 1 every one is: like gate.regression_alpha, strictly between
    if value is not None and not 0.0 < value < 1.0:
        raise typer.BadParameter(
            f"{value:g} is not a significance level: give one between 0 and 1, e.g. 0.05"
        )
    return value


AlphaOption = Annotated[
    float | None,
    typer.Option(
        "--alpha",
        callback=_significance_level,
        help="Significance level, between 0 and 1 (default: B's gate.regression_alpha, 0.05).",
    ),
]

WeeksOption = Annotated[
    int,
    typer.Option(
        "--weeks", "-w", min=1, max=520, help="Weeks in the trend report, the current one included."
    ),
]

LogsOption = Annotated[
    list[str], typer.Option("--logs", "-l", help="Log file or glob: .jsonl .json .csv .parquet .duckdb.")
]
"""``--logs`` of the commands that mine production logs (``mine``, ``weekly``)."""

LogTableOption = Annotated[str | None, typer.Option("--table", help="Table to read from a DuckDB log.")]

MinedCasesOption = Annotated[
    int | None,
    typer.Option("--n", "-n", min=1, help="Cases to add, at most (default mining.max_cases)."),
]
