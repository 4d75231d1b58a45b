"""The typer application every command module adds its commands to."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="evalkit",
    help="Evaluate LLM features against suites of cases; store results in DuckDB; gate CI on them.\n\n"
    "Exit codes: 0 gate passed, 1 gate failed, 2 usage/config/input error, "
    "3 too many provider/infrastructure errors, 4 stopped by --budget (resumable), "
    "130 interrupted (the run is kept).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
