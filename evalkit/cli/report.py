"""``evalkit report``: a self-contained HTML report of a run, or of two runs side by side."""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli.app import app
from evalkit.cli.options import BootstrapSeedOption, DbOption, RunArgument


@app.command()
def report(
    run: RunArgument = "latest",
    compare: str | None = typer.Option(
        None,
        "--compare",
        help="A second run, shown side by side and compared with RUN (RUN is the reference A, "
        "like `evalkit compare RUN RUN2`).",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output file (default: reports/<run>[-vs-<run2>].html)."
    ),
    seed: BootstrapSeedOption = 0,
    db: DbOption = None,
) -> None:
    """Write one self-contained HTML file (charts inline, no external assets): summary, charts, a case
    table filterable to failures with word-level diffs, judge explanations and the prompt versions."""
    from evalkit.cli.console import out as console
    from evalkit.errors import UsageError
    from evalkit.report.html import write_report
    from evalkit.store import open_store

    store = open_store(db, must_exist=True)
    record = store.get_run(run)
    other = store.get_run(compare) if compare else None
    if other is not None and other.run_id == record.run_id:
        raise UsageError(f"--compare names the same run {record.run_id}")
    try:
        path = write_report(store, record, other, path=out, seed=seed)
    except OSError as exc:
        raise UsageError(
            f"cannot write the report: {exc.strerror or exc}", path=out or exc.filename
        ) from None
    console.print(f"report written to {path}", markup=False)
