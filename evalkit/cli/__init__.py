"""The ``evalkit`` command: a thin typer app over the library.

Commands parse arguments, call the library and map errors to the documented exit codes
(see :class:`evalkit.errors.ExitCode`). Heavy imports happen inside commands, so ``--help`` is fast.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from evalkit.cli.collector import pause_for_start_up
from evalkit.cli.process import mark_ending
from evalkit.cli.pydantic_plugins import skip_plugin_discovery
from evalkit.cli.terminal import escape_controls
from evalkit.errors import EvalkitError, ExitCode

if TYPE_CHECKING:
    import typer

# a full disk or a read-only/forbidden location met while writing a report, export, ... (exit 3)
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
# a path given that cannot be written as asked: a directory for a file, a file for a directory (exit 2)
_PATH_ERRNOS = {errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENOENT}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: one line per user error, never a traceback for one.

    As the process's entry point (``argv`` None), it ends the process as soon as the command is
    done: exit handlers run and output is flushed, but the interpreter's teardown (freeing every
    module and object, ~0.3 s after a run) is skipped. Called with ``argv`` (tests, embedding), it
    raises ``SystemExit`` like any click application. The process also skips pydantic's plug-in
    discovery (:mod:`evalkit.cli.pydantic_plugins`): set ``PYDANTIC_DISABLE_PLUGINS`` yourself to
    have them; for ``evalkit run`` it pauses the cyclic garbage collector until the run's calls
    begin (:mod:`evalkit.cli.collector`).
    """
    if argv is None:
        mark_ending()  # evalkit.cli.process
        skip_plugin_discovery()
        if sys.argv[1:2] == ["run"]:
            pause_for_start_up()  # until the run's calls begin (evalkit.cli.collector)
    import typer  # with the commands, after the pause: they are most of what start-up builds

    try:
        try:
            args = sys.argv[1:] if argv is None else argv
            load_commands(args[0] if argv is None and args else None)(args)(args=args, prog_name="evalkit")
        except EvalkitError as exc:
            typer.echo(f"evalkit: error: {escape_controls(exc.one_line())}", err=True)
            sys.exit(int(exc.exit_code))
        except OSError as exc:
            if exc.errno in _ENVIRONMENT_ERRNOS:
                where = f"{exc.filename}: " if exc.filename else ""
                typer.echo(
                    f"evalkit: error: {where}{exc.strerror}: free space or choose a writable location",
                    err=True,
                )
                sys.exit(int(ExitCode.INFRASTRUCTURE))
            if exc.errno in _PATH_ERRNOS and exc.filename:  # an output path given as a directory, ...
                typer.echo(f"evalkit: error: {escape_controls(str(exc.filename))}: {exc.strerror}", err=True)
                sys.exit(int(ExitCode.USAGE))
            if argv is not None:
                raise
            _internal_error()  # anything else is a bug, shown with its traceback
        except KeyboardInterrupt:
            typer.echo("evalkit: interrupted", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        except Exception:
            if argv is not None:
                raise
            _internal_error()
    except SystemExit as done:
        if _typer_interrupt(done):  # typer ended it at Ctrl-C with 130 and not a word
            typer.echo("evalkit: interrupted", err=True)
        if _broken_pipe(done):  # click ends it with 1, which reads as "the gate failed"
            with contextlib.suppress(OSError, ValueError):  # stderr may be closed as well
                sys.stderr.write("evalkit: output closed early (broken pipe): no verdict\n")
            done = SystemExit(int(ExitCode.BROKEN_PIPE))
        if argv is not None:
            raise done
        _end_process(done.code)


def _typer_interrupt(done: SystemExit) -> bool:
    """Whether typer turned a KeyboardInterrupt into this exit (``Exit(130) from`` it), before
    ``main``'s own handler could say so: every command but ``run``, which stops on its own signals."""
    exit_ = done.__context__
    return exit_ is not None and isinstance(exit_.__cause__, KeyboardInterrupt)


# the module that adds each command (or group) to `app`: `evalkit CMD` imports that one alone
COMMAND_MODULES = {
    "run": "run",
    **dict.fromkeys(("runs", "show", "schema", "flaky"), "results"),
    "compare": "compare",
    "report": "report",
    "lint": "lint",
    "rescore": "rescore",
    **dict.fromkeys(("calibrate", "reliability"), "judge"),
    **dict.fromkeys(("merge", "export"), "ci"),
    **dict.fromkeys(("generate", "review", "mine", "weekly"), "grow"),
    "trend": "trend",
    "sync": "sync",
    "baseline": "baseline",
    **dict.fromkeys(("view", "labels"), "view"),
}


def _broken_pipe(done: SystemExit) -> bool:
    """Whether click ended the command because its output was closed (``evalkit run ... | head``):
    it exits 1 then, the code of a failed gate, though the command never reached its own code."""
    cause = done.__context__
    return isinstance(cause, OSError) and cause.errno == errno.EPIPE


def load_commands(command: str | None = None) -> Callable[[Sequence[str]], typer.Typer]:
    """``app_for``, once the command modules have added their commands to the app.

    ``command``: the first argument of a process that runs one command: only the module that adds
    it is imported (the others cost ~5 ms of start-up). Without one, or with a name no module adds
    (``--help``, a misspelt command), every module is, in the order ``--help`` lists them, so the
    listing and the suggestions for a misspelt name are complete.
    """
    import importlib

    from evalkit.cli.app import app_for

    if command in COMMAND_MODULES:
        importlib.import_module(f"evalkit.cli.{COMMAND_MODULES[command]}")
        return app_for
    # isort: off
    from evalkit.cli import run  # noqa: F401
    from evalkit.cli import results  # noqa: F401
    from evalkit.cli import compare  # noqa: F401
    from evalkit.cli import report  # noqa: F401
    from evalkit.cli import lint  # noqa: F401
    from evalkit.cli import rescore  # noqa: F401
    from evalkit.cli import judge  # noqa: F401
    from evalkit.cli import ci  # noqa: F401
    from evalkit.cli import grow  # noqa: F401
    from evalkit.cli import trend  # noqa: F401
    from evalkit.cli import sync  # noqa: F401
    from evalkit.cli import baseline  # noqa: F401
    from evalkit.cli import view  # noqa: F401

    # isort: on
    return app_for


def _internal_error() -> None:
    """A bug: its traceback, and a code of its own (Python's 1 would read as "gate failed")."""
    import typer

    traceback.print_exc()
    typer.echo(
        f"evalkit: internal error (exit {int(ExitCode.INTERNAL)}): please report it with the traceback above",
        err=True,
    )
    sys.exit(int(ExitCode.INTERNAL))


def _end_process(code: object) -> None:
    """What ``sys.exit(code)`` does, without the interpreter's teardown."""
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    # what the interpreter does first at exit: wake idle thread pools and wait for non-daemon threads
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can be said on it
            stream.flush()
    os._exit(code or 0)
