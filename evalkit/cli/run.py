"""``evalkit run``: run a suite (or a prompts x models matrix), print the summary, exit with the gate's code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from evalkit.cli.app import app
from evalkit.cli.options import (
    AllowRemovedCriticalOption,
    DbOption,
    JunitOption,
    ProgressOption,
    SuitePathArgument,
    SummaryMdOption,
)
from evalkit.errors import EvalkitError, UsageError

SUMMARY_FAILURES = 10


@app.command()
def run(
    suite: SuitePathArgument,
    model: list[str] | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model to run instead of the suite's: any litellm model string, python:module:fn, "
        "http:service.yaml or replay:recorded.jsonl. Repeat for a matrix.",
    ),
    prompt: list[str] | None = typer.Option(
        None, "--prompt", "-p", help="Prompt version to run (default: the suite's). Repeat for a matrix."
    ),
    db: DbOption = None,
    junit: JunitOption = None,
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
        False,
        "--no-cache",
        help="Do not reuse cached responses, the target's or the judge's (new ones are still cached).",
    ),
    resume: str | None = typer.Option(
        None, "--resume", help="Finish an unfinished run (id, prefix or 'latest') instead of starting one."
    ),
    budget: float | None = typer.Option(
        None,
        "--budget",
        min=0.0,
        help="Hard cap in USD (target and judge calls): a case is dispatched only while its worst-case "
        "cost still fits; the run stays resumable (exit 4). A matrix's cells share it, in order: once it "
        "stops a cell, the cells left are not started. Refused for a model litellm's price map "
        "does not price, for semantic_similarity on litellm embeddings, and with --baseline for "
        "gate.pairwise's judge (calls it cannot count or reserve).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print calls, tokens and cost it would take; call nothing."
    ),
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        min=0.1,
        help="Seconds a request may take (default 60); a call's earlier attempts are cut sooner, "
        "after a few of the model's typical latencies.",
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
        "exit 1 only on a significant drop, a critical case flipping to fail, or a judge failing "
        "its `calibration: fail` requirement; exit 3 when the two runs were scored differently.",
    ),
    allow_scoring_change: bool = typer.Option(
        False,
        "--allow-scoring-change",
        help="With --baseline: gate on the comparison even though this run is scored differently from "
        "the baseline (its scorers, case rule or expected outputs changed).",
    ),
    allow_removed_critical: AllowRemovedCriticalOption = None,
    summary_md: SummaryMdOption = None,
    progress: ProgressOption = True,
) -> None:
    """Run SUITE against its model, store every result, print a summary and exit with the gate's code.

    With several --prompt and/or --model values, every combination runs over the same cases (sharing
    the response cache), one run per cell, grouped; the exit code is the worst cell's. A matrix
    stopped part-way (Ctrl-C, SIGTERM) names the cells that never started and the command that runs
    it again.
    """
    from evalkit.store.opening import engine_started, held_store, open_store

    # an existing database's engine starts on a thread while the suite is imported and read
    with engine_started(db):
        from evalkit.providers.lean_vendors import connect_ahead
        from evalkit.suite.loading import load_suite

        loaded = load_suite(suite)
        # an https:// endpoint's TLS context is built while the run's code is imported
        for each in model or [loaded.config.target.model]:
            connect_ahead(each, loaded.config.target.api_base)
        from evalkit.run.matrix import matrix_cells, unused_target_problem
        from evalkit.run.runner import RunOptions
        from evalkit.run.sharding import Shard

        base = RunOptions(
            concurrency=concurrency,
            repeat=repeat,
            use_cache=not no_cache,
            resume=resume,
            budget_usd=budget,
            timeout=timeout,
            case_filter=Shard.parse(shard).accepts if shard else None,
            shard=str(Shard.parse(shard)) if shard else None,
            ray=ray,
            ray_num_gpus=ray_gpus,
        )
        cells = matrix_cells(loaded, base, prompt or [], model or [])
        unused = unused_target_problem(loaded, cells)
        if unused is not None:  # these runs do not read the file: said, not refused
            from evalkit.cli.terminal import escape_controls

            typer.echo(
                f"evalkit: warning: {escape_controls(unused.one_line())} (not used: --model replaces "
                f"the suite's target {loaded.config.target.model}; a run without --model refuses it)",
                err=True,
            )
        if junit is not None and len(cells) > 1:
            raise UsageError(
                f"--junit writes one run's cases, and this matrix has {len(cells)} runs: "
                "give one --prompt and one --model, or leave --junit out"
            )
        for option, path in (("--junit", junit), ("--summary-md", summary_md)):  # before anything is spent
            if path is not None and (
                path.is_dir() or any(p.exists() and not p.is_dir() for p in path.parents)
            ):
                raise UsageError(
                    f"{option} {path}: not a file that can be written (a directory, or under a file)"
                )
        if dry_run:
            from evalkit.cli.console import print_estimate
            from evalkit.run.estimate import estimate_run

            location = _db_path(db)  # a database that does not exist has nothing cached: none is made
            store = open_store(location) if ("://" in location or Path(location).exists()) else None
            for cell in cells:
                print_estimate(estimate_run(loaded, store, cell))
            raise typer.Exit(0)
        if baseline:  # a database that does not exist holds no baseline: said without creating one
            location = _db_path(db)
            if "://" not in location and not Path(location).exists():
                raise UsageError(
                    f"--baseline {baseline}: the database {location} does not exist, so it holds no baseline "
                    "(a CI job restores main's .evalkit/ first; see docs/ci.md)"
                )
        # one open database from its migrations to the last line printed; a new one is created while
        # the first calls are in flight (it has nothing cached to look up first)
        with held_store(db, create_later=True) as store:
            _run_cells(
                store,
                loaded,
                cells,
                baseline,
                summary_md,
                junit,
                progress,
                allow_scoring_change=allow_scoring_change,
                allow_removed_critical=allow_removed_critical or [],
            )


def _run_cells(
    store: Any,
    loaded: Any,
    cells: Any,
    baseline: str | None,
    summary_md: Path | None,
    junit_path: Path | None,
    progress: bool,
    *,
    allow_scoring_change: bool = False,
    allow_removed_critical: list[str] | None = None,
) -> None:
    from evalkit.cli.collector import end_start_up_pause
    from evalkit.run.matrix import run_matrix

    bar = _CellProgress(progress)
    printing_ready = False

    def advance(result: Any) -> None:
        nonlocal printing_ready
        if not printing_ready:  # while the other calls are in flight, not after the last one
            printing_ready = True
            _prepare_printing()
        bar.advance(result)

    # a single run whose summary is the last thing read: the database closes while it prints
    last_read = len(cells) == 1 and not (baseline or summary_md or junit_path)

    def starting(run: Any, total: int, done: int) -> None:
        end_start_up_pause()  # the run's calls begin: what start-up built lives as long as the process
        bar.start(run, total, done)

    def finished(outcome: Any) -> None:
        bar.stop()
        _print_cell(store, outcome, decided_later=bool(baseline), close_store=last_read)

    try:
        matrix = run_matrix(
            loaded,
            store,
            cells,
            baseline=baseline or None,  # a bad name fails before any call
            on_start=starting,
            on_result=advance,
            on_cell=finished,
            allow_scoring_change=allow_scoring_change,
            allow_removed_critical=allow_removed_critical or [],
        )
    except EvalkitError:  # a signal or an error stopped the matrix: say which cells never started
        bar.stop()
        if cells[0].group_id is not None:
            _print_not_started(store, cells[0].group_id)
        raise
    finally:
        bar.stop()
    if baseline or summary_md:
        from evalkit.cli.compare import print_verdicts

        print_verdicts(store, [cell.verdict for cell in matrix.cells], summary_md)
    if junit_path is not None:  # written once the verdict (baseline included) is known
        from evalkit.report.junit import write_junit

        write_junit(store, matrix.cells[0].run.run_id, junit_path, matrix.cells[0].verdict)
    if matrix.group_id is not None:
        from evalkit.cli.console import print_matrix

        print_matrix(store.list_runs(suite=loaded.name, limit=len(cells) * 2), matrix.group_id)
        if len(matrix.cells) < len(cells):  # --budget, shared by the cells, ran out before the last
            _print_not_started(store, matrix.group_id, budget_spent=True)
    raise typer.Exit(matrix.exit_code)


def _print_not_started(store: Any, group_id: str, *, budget_spent: bool = False) -> None:
    """The cells of a stopped matrix that never started and the command that runs it again
    (``budget_spent``: stopped by its --budget, which that command does not repeat)."""
    from rich.text import Text

    from evalkit.cli.console import out
    from evalkit.run.signals import matrix_not_started

    try:
        note = matrix_not_started(store, group_id)
    except EvalkitError:  # the database that stopped the matrix: its own error says so
        return
    if note is not None:
        spent = (
            " (its --budget ran out: give that command a --budget to cap the rest)" if budget_spent else ""
        )
        out.print(Text(f"matrix {group_id} stopped: {note}{spent}", style="bold yellow"))


def _db_path(db: str | None) -> str:
    from evalkit.store import resolve_db

    return resolve_db(db)


class _CellProgress:
    """A progress bar per cell: shown from the cell's start until its summary is printed."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.task: Any = None

    def start(self, run: Any, total: int, done: int) -> None:
        self.stop()
        if not self.enabled:  # --no-progress: no bar to build, nor to advance for every result
            return
        from evalkit.cli.console import progress_bar

        self.bar = progress_bar(self.enabled)
        self.task = self.bar.add_task(
            f"{run.suite_name} {run.prompt_version or ''} {run.model}", total=total, completed=done
        )
        self.bar.start()

    def advance(self, _result: Any) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _prepare_printing() -> None:
    """Import what a cell's summary is printed with (rich and its tables, ~15 ms of CPU)."""
    import evalkit.cli.console
    import evalkit.cli.field_table  # noqa: F401 (with the failure and field analyses they print)


def _print_cell(store: Any, outcome: Any, *, decided_later: bool = False, close_store: bool = False) -> None:
    """One cell's summary, as soon as it ran (with --baseline, the regression gate decides later).

    ``close_store``: nothing reads the store after this summary, so it closes while the summary prints.
    """
    from evalkit.analysis.failures import explain_cases
    from evalkit.analysis.field_metrics import field_metrics_of_counts
    from evalkit.cli.console import print_summary
    from evalkit.cli.field_table import print_field_metrics
    from evalkit.cli.process import ends_after_command

    failures = explain_cases(store, outcome.run.run_id, limit=SUMMARY_FAILURES)
    fields = field_metrics_of_counts(store.field_slot_counts(outcome.run.run_id))
    if close_store:
        store.close_in_background(process_ends=ends_after_command())
    print_summary(outcome.run, outcome.summary, failures, SUMMARY_FAILURES, decided_later=decided_later)
    print_field_metrics(fields, limit=5, config=outcome.run.config)
