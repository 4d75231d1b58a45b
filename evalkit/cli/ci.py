"""Commands for results that travel: ``evalkit merge`` (shards of a CI matrix) and ``evalkit export``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from evalkit.cli.app import app
from evalkit.cli.options import (
    AllowRemovedCriticalOption,
    DbOption,
    JunitOption,
    RunArgument,
    SummaryMdOption,
)
from evalkit.errors import UsageError

SUMMARY_FAILURES = 10


@app.command()
def merge(
    sources: list[Path] = typer.Argument(
        ..., metavar="DB", help="Shard databases (each written by `evalkit run --shard I/N`)."
    ),
    into: Path = typer.Option(..., "--into", help="Database to add the merged run to (created if missing)."),
    baseline: str | None = typer.Option(
        None,
        "--baseline",
        help="Gate the merged run on a baseline in --into (a name from `evalkit baseline set`, or a run), "
        "as `evalkit run --baseline` does.",
    ),
    allow_partial: bool = typer.Option(
        False,
        "--allow-partial",
        help="Merge even when shards are missing; the merged run is stored with kind 'partial' (trend leaves it out).",
    ),
    allow_removed_critical: AllowRemovedCriticalOption = None,
    summary_md: SummaryMdOption = None,
    junit: JunitOption = None,
) -> None:
    """Combine shard databases into one run, print its summary and exit with its gate's code.

    Each database contributes its latest run (with its matrix cells, if any); runs of the same suite,
    prompt and model become one run in --into, with every case of every shard and no case twice.
    A missing shard, a shard given twice or a run that is not a shard is refused (exit 2) unless
    --allow-partial.
    """
    from evalkit.analysis.failures import explain_cases
    from evalkit.cli.console import out, print_summary
    from evalkit.run.merge import apply_merge, plan_merge
    from evalkit.store import open_store

    plan = plan_merge(
        list(sources), into, allow_partial=allow_partial
    )  # refuses overlaps and mismatches before anything is written
    if junit is not None and len(plan.cells) > 1:
        raise UsageError(
            f"--junit writes one run's cases, and these shards merge into {len(plan.cells)} runs: "
            "merge each run's shards on its own, or leave --junit out"
        )
    store = open_store(into, option="--into")
    reference = None
    if baseline:
        from evalkit.gate.cells import resolve_baseline

        reference = resolve_baseline(store, plan.suite_name, baseline)
    merged = apply_merge(plan, store)
    for m in merged:
        out.print(
            f"merged {len(m.sources)} run(s) into {m.run.run_id} ({into}): "
            + ", ".join(f"{s.run.run_id} ({s.db})" for s in m.sources),
        )
        if m.run.kind == "partial":
            out.print(f"partial run: {m.run.config['merge']['missing']}")
        failures = explain_cases(store, m.run.run_id, limit=SUMMARY_FAILURES)
        print_summary(m.run, m.summary, failures, SUMMARY_FAILURES, decided_later=reference is not None)
    from evalkit.gate.cells import RunVerdict, gate_on_baseline, worst_exit_code
    from evalkit.store.opening import database_file
    from evalkit.suite.recorded import judge_dir
    from evalkit.suite.spec import GateSpec

    def verdict(m: Any) -> RunVerdict:
        if reference is None:
            return RunVerdict(run=m.run, gate=m.decision)
        # the regression gate reads only the suite's gate, which each run stores with its config
        gate = GateSpec.model_validate(m.run.config.get("gate", {}))
        judge = gate.pairwise.judge if gate.pairwise is not None else None
        return gate_on_baseline(
            store,
            gate,
            m.run,
            m.decision,
            reference,
            base_dir=judge_dir(m.run, database_file(store), judge) if judge else None,
            allow_removed_critical=allow_removed_critical or [],
        )

    verdicts = [verdict(m) for m in merged]
    if baseline or summary_md:
        from evalkit.cli.compare import print_verdicts

        print_verdicts(store, verdicts, summary_md)
    if junit is not None:
        from evalkit.report.junit import write_junit

        write_junit(store, merged[0].run.run_id, junit, verdicts[0])
    raise typer.Exit(worst_exit_code(verdicts))


@app.command()
def export(
    run: RunArgument = "latest",
    fmt: str = typer.Option("parquet", "--format", "-f", help="parquet, csv or jsonl."),
    out_dir: Path | None = typer.Option(
        None, "--out", "-o", help="Directory for the files (default: exports/RUN_ID)."
    ),
    db: DbOption = None,
) -> None:
    """Write a run's stored rows to one file per table (runs, cases, outputs, scores, field_scores),
    and ``field_metrics``: per field of the field-scoring checks the slot counts and P/R/F1, plus a ``*`` micro row."""
    import pandas as pd

    from evalkit.analysis.field_metrics import COLUMNS, field_metrics_of_frame
    from evalkit.store import load_run, open_store
    from evalkit.store.export import FORMATS, export_run

    if fmt not in FORMATS:  # checked before opening anything
        from evalkit.errors import UsageError

        raise UsageError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    tables = load_run(run, open_store(db, must_exist=True))
    metrics = pd.DataFrame(field_metrics_of_frame(tables.field_scores).rows(), columns=list(COLUMNS))
    written = export_run(
        tables, fmt, out_dir or Path("exports") / tables.run_id, derived={"field_metrics": metrics}
    )
    for path in written:
        typer.echo(str(path))
