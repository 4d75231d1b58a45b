"""The ``evalkit`` command: a thin typer app over the library.

Commands parse arguments, call the library and map errors to the documented exit codes
(see :class:`evalkit.errors.ExitCode`). Heavy imports happen inside commands, so ``--help`` is fast.
"""

from __future__ import annotations

import errno
import sys

import typer

# Each module adds its commands to `app`, in the order `--help` lists them.
# isort: off
from evalkit.cli import run  # noqa: F401
from evalkit.cli import results  # noqa: F401
from evalkit.cli import compare  # noqa: F401
from evalkit.cli import report  # noqa: F401
from evalkit.cli import lint  # noqa: F401
from evalkit.cli import judge  # noqa: F401
from evalkit.cli import ci  # noqa: F401
from evalkit.cli import grow  # noqa: F401
from evalkit.cli import trend  # noqa: F401
from evalkit.cli import sync  # noqa: F401
from evalkit.cli import baseline  # noqa: F401
from evalkit.cli import view  # noqa: F401

# isort: on
from evalkit.cli.app import app
from evalkit.cli.terminal import escape_controls
from evalkit.errors import EvalkitError, ExitCode

# a full disk or a read-only/forbidden location met while writing a report, export, ... (exit 3)
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: one line per user error, never a traceback for one."""
    try:
        app(args=argv, prog_name="evalkit")
    except EvalkitError as exc:
        typer.echo(f"evalkit: error: {escape_controls(exc.one_line())}", err=True)
        sys.exit(int(exc.exit_code))
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            raise  # anything else is a bug, shown with its traceback
        where = f"{exc.filename}: " if exc.filename else ""
        typer.echo(
            f"evalkit: error: {where}{exc.strerror}: free space or choose a writable location", err=True
        )
        sys.exit(int(ExitCode.INFRASTRUCTURE))
    except KeyboardInterrupt:
        typer.echo("evalkit: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
