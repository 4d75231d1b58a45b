"""``evalkit rescore``: a suite's current scorers applied to a run's stored outputs."""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli.app import app
from evalkit.cli.options import DbOption, ProgressOption


@app.command()
def rescore(
    run: str = typer.Argument(
        "latest", metavar="RUN", help="Run whose stored outputs to score: id, unique prefix or 'latest'."
    ),
    suite: Path | None = typer.Option(
        None,
        "--suite",
        help="Suite whose scorers to apply (default: the run's suite file, refused if it is not found "
        "or has changed since the run).",
    ),
    db: DbOption = None,
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, help="Cases scored at once."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Ask the judges again instead of reusing their cached answers."
    ),
    progress: ProgressOption = True,
) -> None:
    """Apply a suite's current scorers to the stored outputs of RUN, calling no target; store a new, linked run.

    Each output's text is parsed again by evalkit's current parser, as a new run would parse it; a
    line says how many parse otherwise than RUN stored them.
    """
    from evalkit.analysis.failures import explain_cases
    from evalkit.cli.console import out, print_summary, progress_bar
    from evalkit.run.rescore import rescore as do_rescore
    from evalkit.store import open_store

    store = open_store(db, must_exist=True)
    bar = progress_bar(progress)
    task = bar.add_task("rescore", total=None)
    with bar:
        outcome = do_rescore(
            store,
            run,
            suite,
            concurrency=concurrency,
            use_cache=not no_cache,
            on_start=lambda r: bar.update(task, total=r.n_cases, description=f"rescore {r.parent_run_id}"),
            on_result=lambda _: bar.advance(task),
        )
    out.print(f"Re-scored {outcome.parent.run_id} into {outcome.run.run_id}: 0 target calls")
    if outcome.reparsed:
        out.print(outcome.reparsed_line)
    failures = explain_cases(store, outcome.run.run_id, limit=10)
    print_summary(outcome.run, outcome.summary, failures, 10)
    raise typer.Exit(outcome.decision.exit_code)
