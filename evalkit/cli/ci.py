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
) -> None:
    """Combine shard databases into one run, print its summary and exit with its gate's code.

    Each database contributes its latest run (with its matrix cells, if any); runs of the same suite,
    prompt and model become one run in --into, with every case of every shard and no case twice.
    """
    from evalkit.cli.console import out, print_summary
    from evalkit.failures import explain_cases
    from evalkit.merge import merge_databases
    from evalkit.store import open_store

    merged = merge_databases(list(sources), into)
    store = open_store(into)
    for m in merged:
        out.print(
            f"merged {len(m.sources)} run(s) into {m.run.run_id} ({into}): "
            + ", ".join(f"{s.run.run_id} ({s.db})" for s in m.sources),
            markup=False,
        )
        failures = explain_cases(store, m.run.run_id, limit=SUMMARY_FAILURES)
        print_summary(m.run, m.run.summary, failures, SUMMARY_FAILURES)
    raise typer.Exit(max(int(m.decision.exit_code) for m in merged))


@app.command()
def export(
    run: str = typer.Argument("latest", help="Run id, unique prefix, or 'latest'."),
    fmt: str = typer.Option("parquet", "--format", "-f", help="parquet, csv or jsonl."),
    out_dir: Path | None = typer.Option(
        None, "--out", "-o", help="Directory for the files (default: exports/RUN_ID)."
    ),
    db: str | None = typer.Option(None, "--db", help="Results database."),
) -> None:
    """Write a run's stored rows to one file per table (runs, cases, outputs, scores, field_scores)."""
    from evalkit.export import FORMATS, export_run
    from evalkit.store import load_run, open_store

    if fmt not in FORMATS:  # checked before opening anything
        from evalkit.errors import UsageError

        raise UsageError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    tables = load_run(run, open_store(db, must_exist=True))
    written = export_run(tables, fmt, out_dir or Path("exports") / tables.run_id)
    for path in written:
        typer.echo(str(path))
