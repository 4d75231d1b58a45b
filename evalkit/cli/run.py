"""``evalkit run``: run a suite (or a prompts x models matrix), print the summary, exit with the gate's code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from evalkit.cli import app

SUMMARY_FAILURES = 10


@app.command()
def run(
    suite: Path = typer.Argument(..., help="Suite file, or a directory holding suite.yaml."),
    model: list[str] | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model to run instead of the suite's (any litellm model string). Repeat for a matrix.",
    ),
    prompt: list[str] | None = typer.Option(
        None, "--prompt", "-p", help="Prompt version to run (default: the suite's). Repeat for a matrix."
    ),
    db: str | None = typer.Option(
        None, "--db", help="Results database (default: $EVALKIT_DB or .evalkit/evalkit.duckdb)."
    ),
    junit: Path | None = typer.Option(
        None, "--junit", help="Also write JUnit XML (one testcase per case) here."
    ),
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        "-c",
        min=1,
        help="Fixed number of calls in flight (default: adaptive, 8 to 64).",
    ),
    repeat: int = typer.Option(
        1, "--repeat", "-n", min=1, help="Sample every case N times; flags flaky cases."
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Do not reuse cached responses (new ones are still cached)."
    ),
    resume: str | None = typer.Option(
        None, "--resume", help="Finish an unfinished run (id, prefix or 'latest') instead of starting one."
    ),
    budget: float | None = typer.Option(
        None, "--budget", min=0.0, help="Stop once this many USD are spent; the run stays resumable (exit 4)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print calls, tokens and cost it would take; call nothing."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.1, help="Seconds per request (default 60)."
    ),
    shard: str | None = typer.Option(
        None, "--shard", help="Run only shard I of N (e.g. 2/4), split by case id; see `evalkit merge`."
    ),
    ray: str | None = typer.Option(
        None,
        "--ray",
        help="Run shards on Ray: 'local' for a session on this machine, or a cluster address (needs evalkit[ray]).",
    ),
    ray_gpus: float = typer.Option(0.0, "--ray-gpus", min=0.0, help="GPUs each Ray shard task asks for."),
    baseline: str | None = typer.Option(
        None,
        "--baseline",
        help="Gate on a baseline (a name from `evalkit baseline set`, or a run) instead of min_pass_rate: "
        "exit 1 only on a significant drop or a critical case flipping to fail.",
    ),
    summary_md: Path | None = typer.Option(
        None,
        "--summary-md",
        help="Write a markdown summary (for a PR comment) here, and the HTML report under reports/.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Run SUITE against its model, store every result, print a summary and exit with the gate's code.

    With several --prompt and/or --model values, every combination runs over the same cases (sharing
    the response cache), one run per cell, grouped; the exit code is the worst cell's.
    """
    from evalkit.errors import UsageError
    from evalkit.run.runner import RunOptions, new_run_id
    from evalkit.run.sharding import Shard
    from evalkit.store import open_store
    from evalkit.suite.spec import load_suite

    loaded = load_suite(suite)
    prompts: list[str | None] = list(prompt) if prompt else [None]
    models: list[str | None] = list(model) if model else [None]
    cells = [(p, m) for m in models for p in prompts]
    if resume and len(cells) > 1:
        raise UsageError(
            "--resume continues one run; it cannot be combined with several --prompt/--model values"
        )
    base = RunOptions(
        concurrency=concurrency,
        repeat=repeat,
        use_cache=not no_cache,
        resume=resume,
        budget_usd=budget,
        timeout=timeout,
        case_filter=Shard.parse(shard).accepts if shard else None,
        ray=ray,
        ray_num_gpus=ray_gpus,
    )
    if dry_run:
        from evalkit.cli.console import print_estimate
        from evalkit.run.estimate import estimate_run

        store = open_store(db) if (db or Path(_db_path(db)).exists()) else None
        for p, m in cells:
            print_estimate(estimate_run(loaded, store, _cell(base, p, m, None)))
        raise typer.Exit(0)
    store = open_store(db)
    reference = None
    if baseline:
        from evalkit.cli.compare import resolve_baseline

        reference = resolve_baseline(store, loaded.name, baseline)  # a bad name fails before any call
    group = new_run_id(f"{loaded.name}-matrix") if len(cells) > 1 else None
    codes, outcomes = [], []
    for p, m in cells:
        outcome = _run_cell(
            loaded, store, _cell(base, p, m, group), progress, junit if len(cells) == 1 else None
        )
        codes.append(outcome.decision.exit_code)
        outcomes.append(outcome)
    if baseline or summary_md:
        from evalkit.cli.compare import finish_cells

        codes = finish_cells(store, loaded, outcomes, reference, summary_md)
    if group is not None:
        from evalkit.cli.console import print_matrix

        print_matrix(store.list_runs(suite=loaded.name, limit=len(cells) * 2), group)
    raise typer.Exit(max(codes))


def _db_path(db: str | None) -> str:
    from evalkit.store import resolve_db

    return resolve_db(db)


def _cell(base: Any, prompt: str | None, model: str | None, group: str | None) -> Any:
    from dataclasses import replace

    return replace(base, prompt=prompt, model=model, group_id=group)


def _run_cell(loaded: Any, store: Any, options: Any, progress: bool, junit: Path | None) -> Any:
    """Run one (prompt, model) cell with a progress bar and print its summary."""
    from evalkit.cli.console import print_summary, progress_bar
    from evalkit.analysis.failures import explain_cases
    from evalkit.run.runner import run_suite

    bar = progress_bar(progress)
    task = bar.add_task(loaded.name, total=None)

    def started(run: Any, total: int, done: int) -> None:
        bar.update(
            task,
            total=total,
            completed=done,
            description=f"{run.suite_name} {run.prompt_version or ''} {run.model}",
        )

    with bar:
        outcome = run_suite(loaded, store, options, on_start=started, on_result=lambda _: bar.advance(task))
    failures = explain_cases(store, outcome.run.run_id, limit=SUMMARY_FAILURES)
    print_summary(outcome.run, outcome.summary, failures, SUMMARY_FAILURES)
    from evalkit.analysis.field_metrics import field_metrics_of_frame
    from evalkit.cli.field_table import print_field_metrics

    print_field_metrics(field_metrics_of_frame(store.field_rows(outcome.run.run_id)), limit=5)
    if junit is not None:
        from evalkit.report.junit import write_junit

        write_junit(store, outcome.run.run_id, junit)
    return outcome
