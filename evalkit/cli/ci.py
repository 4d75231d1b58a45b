"""Commands for results that travel: ``evalkit merge`` (shards of a CI matrix) and ``evalkit export``."""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli import app

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
    summary_md: Path | None = typer.Option(
        None,
        "--summary-md",
        help="Write a markdown summary (for a PR comment) here, and the HTML report under reports/.",
    ),
    junit: Path | None = typer.Option(
        None, "--junit", help="Also write JUnit XML (one testcase per case) here."
    ),
) -> None:
    """Combine shard databases into one run, print its summary and exit with its gate's code.

    Each database contributes its latest run (with its matrix cells, if any); runs of the same suite,
    prompt and model become one run in --into, with every case of every shard and no case twice.
    """
    from evalkit.cli.console import out, print_summary
    from evalkit.analysis.failures import explain_cases
    from evalkit.run.merge import apply_merge, plan_merge
    from evalkit.store import open_store

    plan = plan_merge(list(sources), into)  # refuses overlaps and mismatches before anything is written
    store = open_store(into)
    reference = None
    if baseline:
        from evalkit.cli.compare import resolve_baseline

        reference = resolve_baseline(store, plan.suite_name, baseline)
    merged = apply_merge(plan, store)
    for m in merged:
        out.print(
            f"merged {len(m.sources)} run(s) into {m.run.run_id} ({into}): "
            + ", ".join(f"{s.run.run_id} ({s.db})" for s in m.sources),
            markup=False,
        )
        failures = explain_cases(store, m.run.run_id, limit=SUMMARY_FAILURES)
        print_summary(m.run, m.run.summary, failures, SUMMARY_FAILURES)
    codes = [int(m.decision.exit_code) for m in merged]
    if baseline or summary_md:
        from types import SimpleNamespace

        from evalkit.cli.compare import finish_cells
        from evalkit.suite.spec import GateSpec

        # the regression gate reads only the suite's gate, which each run stores with its config
        gate = GateSpec.model_validate(merged[0].run.config.get("gate", {}))
        codes = finish_cells(
            store, SimpleNamespace(config=SimpleNamespace(gate=gate)), merged, reference, summary_md
        )
    if junit is not None and len(merged) == 1:
        from evalkit.report.junit import write_junit

        write_junit(store, merged[0].run.run_id, junit)
    raise typer.Exit(max(codes))


@app.command()
def export(
    run: str = typer.Argument("latest", help="Run id, unique prefix, or 'latest'."),
    fmt: str = typer.Option("parquet", "--format", "-f", help="parquet, csv or jsonl."),
    out_dir: Path | None = typer.Option(
        None, "--out", "-o", help="Directory for the files (default: exports/RUN_ID)."
    ),
    db: str | None = typer.Option(None, "--db", help="Results database."),
) -> None:
    """Write a run's stored rows to one file per table (runs, cases, outputs, scores, field_scores),
    and ``field_metrics``: per json_fields field the slot counts and P/R/F1, plus a ``*`` micro row."""
    import pandas as pd

    from evalkit.analysis.field_metrics import COLUMNS, field_metrics_of_frame
    from evalkit.store.export import FORMATS, export_run
    from evalkit.store import load_run, open_store

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
