"""click's usage errors (an unknown option or command, a missing argument, a bad value) in
evalkit's one line: ``evalkit: error: run: no such option: --concurency (did you mean
--concurrency?); see evalkit run --help``, exit 2, as every other bad input reads.

click prints them itself, as a usage line, a hint and ``Error: ...``, before ``evalkit.cli.main``
could: the app's groups turn them into :class:`evalkit.errors.UsageError` instead, which ``main``
prints. ``evalkit`` or a group given no command still prints its help (exit 2).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# typer carries its own copy of click (pyproject.toml: typer>=0.29); its errors are these
from typer._click.core import Context
from typer._click.exceptions import NoArgsIsHelpError, NoSuchOption
from typer._click.exceptions import UsageError as ClickUsageError
from typer.core import TyperGroup

from evalkit.errors import UsageError

# click's "No such command 'rn'. Did you mean 'run', 'runs'?" and the like
_SUGGESTION = re.compile(r"\.? \(?did you mean (.+?)\??\)?$", re.IGNORECASE)


class OneLineUsageErrors(TyperGroup):
    """A typer group whose parsing errors, and its commands', are :class:`UsageError`."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        with _one_line(_joined(parent.command_path if parent else None, info_name)):
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Context) -> Any:
        with _one_line(_joined(ctx.command_path, ctx.invoked_subcommand), invoking=ctx):
            return super().invoke(ctx)


@contextmanager
def _one_line(path: str, invoking: Context | None = None) -> Iterator[None]:
    """Raise click's usage error as :class:`UsageError`. ``path``: the command being parsed, for
    an error click raised without its context (``--db`` given no value); ``invoking``: the group's
    context, whose chosen command is known only once the error is raised."""
    try:
        yield
    except NoArgsIsHelpError:
        raise  # `evalkit` or a group alone: its help, as before
    except ClickUsageError as exc:
        if invoking is not None:
            path = _joined(invoking.command_path, invoking.invoked_subcommand)
        raise UsageError(one_line(exc, path)) from None


def _joined(*words: str | None) -> str:
    return " ".join(word for word in words if word)


def one_line(exc: ClickUsageError, path: str = "") -> str:
    """``exc`` as evalkit says it: the command, click's message (with its suggestion) and where to
    read the command's options. ``path``: the command's, when ``exc`` has no context."""
    if isinstance(exc, NoSuchOption) and exc.possibilities:
        message = f"{exc.message} (did you mean {' or '.join(sorted(set(exc.possibilities)))}?)"
    else:
        message = _SUGGESTION.sub(r" (did you mean \1?)", " ".join(exc.format_message().split()))
    message = message.rstrip(".")
    if message[:1].isupper() and message[1:2].islower():  # "No such option", not "SUITE"
        message = message[0].lower() + message[1:]
    if exc.ctx is not None:
        path = exc.ctx.command_path
    if not path:
        return message
    command = path.partition(" ")[2]  # without the program's name
    return f"{command + ': ' if command else ''}{message}; see {path} --help"
