"""The typer application every command module adds its commands to."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import typer
from typer.main import get_command_name
from typer.models import CommandInfo

from evalkit.cli.usage_errors import OneLineUsageErrors

app = typer.Typer(
    cls=OneLineUsageErrors,
    name="evalkit",
    help="Evaluate LLM features against suites of cases; store results in DuckDB; gate CI on them.\n\n"
    "Exit codes: 0 gate passed, 1 gate failed, 2 usage/config/input error, "
    "3 could not be judged (too many provider/infrastructure errors, a scorer that could not score, "
    "or a database file that failed; with --baseline, not comparable, or a drop over too few changed "
    "cases to tell), "
    "4 stopped by --budget (resumable), "
    "70 internal error (a bug: its traceback is printed), 130 interrupted, 141 output closed early "
    "(a broken pipe: no verdict) and 143 terminated "
    "(the run is kept, resumable).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _commands() -> None:
    # A callback keeps `evalkit` a group of commands when `app_for` leaves a single command in it
    # (typer makes an app of one command that command itself, without its name on the line).
    pass


def app_for(args: Sequence[str]) -> typer.Typer:
    """``app`` with only the command (or group) that ``args`` start with.

    typer turns every command's signature into click parameters before parsing anything: ~12 ms
    for all of them, of which the command asked for is ~1 ms. Without a known command first (no
    arguments, an option, a misspelt name) the whole app parses, with its listing and suggestions.
    """
    if not args:
        return app
    commands = [c for c in app.registered_commands if _name(c) == args[0]]
    groups = [g for g in app.registered_groups if g.name == args[0]]
    if not commands and not groups:
        return app
    only = copy.copy(app)
    only.registered_commands = commands
    only.registered_groups = groups
    return only


def _name(command: CommandInfo) -> str:
    if command.name:
        return command.name
    assert command.callback is not None
    return get_command_name(command.callback.__name__)
