"""The ``evalkit`` command: a thin typer app over the library.

Commands parse arguments, call the library and map errors to the documented exit codes
(see :class:`evalkit.errors.ExitCode`). Heavy imports happen inside commands, so ``--help`` is fast.
"""

from __future__ import annotations

import sys

import typer

from evalkit.errors import EvalkitError, ExitCode

app = typer.Typer(
    name="evalkit",
    help="Evaluate LLM features against suites of cases; store results in DuckDB; gate CI on them.\n\n"
    "Exit codes: 0 gate passed, 1 gate failed, 2 usage/config/input error, "
    "3 too many provider/infrastructure errors, 130 interrupted (the run is kept).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Each module adds its commands to `app`, in the order `--help` lists them.
from evalkit.cli import run  # noqa: E402, F401, I001
from evalkit.cli import results  # noqa: E402, F401
from evalkit.cli import compare  # noqa: E402, F401
from evalkit.cli import report  # noqa: E402, F401
from evalkit.cli import lint  # noqa: E402, F401
from evalkit.cli import judge  # noqa: E402, F401
from evalkit.cli import ci  # noqa: E402, F401
from evalkit.cli import grow  # noqa: E402, F401
from evalkit.cli import trend  # noqa: E402, F401
from evalkit.cli import sync  # noqa: E402, F401


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: one line per user error, never a traceback for one."""
    try:
        app(args=argv, prog_name="evalkit")
    except EvalkitError as exc:
        typer.echo(f"evalkit: error: {exc.one_line()}", err=True)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        typer.echo("evalkit: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
