"""``evalkit baseline``: name reference runs (such as main) that ``evalkit run --baseline NAME`` gates on."""

from __future__ import annotations

import typer

from evalkit.cli.app import app
from evalkit.cli.options import DbOption, RunArgument
from evalkit.cli.usage_errors import OneLineUsageErrors

baseline_app = typer.Typer(
    cls=OneLineUsageErrors,
    help="Name reference runs, such as main, for `evalkit run --baseline NAME`: set, unset, list.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(baseline_app, name="baseline")


# kinds of run that hold only some of the suite's cases
PART_KINDS = {
    "subset": "the cases a filter such as pytest -k chose",
    "shard": "one shard's cases",
    "partial": "a merge of some of the shards",
}


@baseline_app.command("set")
def baseline_set(
    name: str = typer.Argument(..., metavar="NAME", help="Baseline name, e.g. main or release-2026-01."),
    run: RunArgument = "latest",
    db: DbOption = None,
) -> None:
    """Point NAME (of the run's suite) at RUN; `evalkit run SUITE --baseline NAME` then compares with it."""
    import re

    from evalkit.cli.console import out
    from evalkit.errors import UsageError
    from evalkit.store import open_store
    from evalkit.store.baselines import NAME_PATTERN, BaselineStore

    if not re.match(NAME_PATTERN, name):
        raise UsageError(f"baseline name {name!r} may hold only letters, digits and . _ - /")
    store = open_store(db, must_exist=True)
    baselines = BaselineStore(store)
    baselines.check_name(name)  # before RUN is looked up: the name is wrong whichever run it is
    record = store.get_run(run)
    if record.status != "complete":
        raise UsageError(f"run {record.run_id} is {record.status}; only a complete run can be a baseline")
    if record.kind in PART_KINDS:  # the cases it lacks would all be judged as new, on min_pass_rate alone
        raise UsageError(
            f"run {record.run_id} is a {record.kind} run ({PART_KINDS[record.kind]}); a baseline is "
            "compared case by case, so it must hold every case: set a full run, or the run "
            "`evalkit merge` made of all the shards"
        )
    before = baselines.get(record.suite_name, name)
    baselines.set(name, record)
    moved = f" (was {before.run_id})" if before and before.run_id != record.run_id else ""
    out.print(
        f"baseline {name} of suite {record.suite_name} -> {record.run_id} "
        f"(prompt {record.prompt_version or '-'}, {record.model}){moved}",
    )


@baseline_app.command("unset")
def baseline_unset(
    name: str = typer.Argument(..., metavar="NAME", help="Baseline name to remove."),
    suite: str | None = typer.Option(None, "--suite", "-s", help="The suite whose baseline it is."),
    db: DbOption = None,
) -> None:
    """Remove baseline NAME (the run it named is kept)."""
    from evalkit.cli.console import out
    from evalkit.errors import UsageError
    from evalkit.store import open_store
    from evalkit.store.baselines import BaselineStore

    baselines = BaselineStore(open_store(db, must_exist=True))
    named = [b for b in baselines.list(suite) if b.name == name]
    if not named:
        raise UsageError(f"no baseline {name!r}" + (f" of suite {suite!r}" if suite else ""))
    if len(named) > 1:
        suites = ", ".join(repr(b.suite_name) for b in named)
        raise UsageError(f"baseline {name!r} is set for suites {suites}: say which with --suite")
    baselines.unset(named[0])
    out.print(f"baseline {name} of suite {named[0].suite_name} removed (it named {named[0].run_id})")


@baseline_app.command("list")
def baseline_list(
    suite: str | None = typer.Option(None, "--suite", "-s", help="Only baselines of this suite."),
    db: DbOption = None,
) -> None:
    """List named baselines."""
    from rich.table import Table

    from evalkit.cli.console import out
    from evalkit.store import open_store
    from evalkit.store.baselines import BaselineStore

    store = open_store(db, must_exist=True)
    table = Table(box=None, show_edge=False, pad_edge=False)
    for col in ("suite", "name", "run", "set (UTC)"):
        table.add_column(col)
    for b in BaselineStore(store).list(suite):
        table.add_row(b.suite_name, b.name, b.run_id, b.set_at.strftime("%Y-%m-%d %H:%M:%S"))
    out.print(table)
