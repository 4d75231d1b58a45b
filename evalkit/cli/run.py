"""``evalkit run``: run a suite, print the summary, exit with the gate's code."""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli import app

SUMMARY_FAILURES = 10


@app.command()
def run(
    suite: Path = typer.Argument(..., help="Suite file, or a directory holding suite.yaml."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Override the suite's model (any litellm model string)."
    ),
    prompt: str | None = typer.Option(
        None, "--prompt", "-p", help="Prompt version to run (default: the suite's)."
    ),
    db: str | None = typer.Option(
        None, "--db", help="Results database (default: $EVALKIT_DB or .evalkit/evalkit.duckdb)."
    ),
    junit: Path | None = typer.Option(
        None, "--junit", help="Also write JUnit XML (one testcase per case) here."
    ),
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, help="Model calls in flight at once."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Run SUITE against its model, store every result, print a summary and exit with the gate's code."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from evalkit.cli.console import err, print_summary
    from evalkit.failures import explain_cases
    from evalkit.runner import RunOptions, run_suite
    from evalkit.store import open_store
    from evalkit.suite import load_suite

    loaded = load_suite(suite)
    store = open_store(db)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not progress,
    )
    task = bar.add_task(f"{loaded.name}", total=None)
    with bar:
        outcome = run_suite(
            loaded,
            store,
            RunOptions(prompt=prompt, model=model, concurrency=concurrency),
            on_start=lambda r: bar.update(
                task, total=r.n_cases, description=f"{r.suite_name} {r.prompt_version or ''}"
            ),
            on_result=lambda _: bar.advance(task),
        )
    failures = explain_cases(store, outcome.run.run_id, limit=SUMMARY_FAILURES)
    print_summary(outcome.run, outcome.summary, failures, SUMMARY_FAILURES)
    if junit is not None:
        from evalkit.report.junit import write_junit

        write_junit(store, outcome.run.run_id, junit)
    raise typer.Exit(outcome.decision.exit_code)
