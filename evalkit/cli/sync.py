"""``evalkit sync``: push local runs to a shared results store (e.g. PostgreSQL)."""

from __future__ import annotations

from typing import Annotated

import typer

from evalkit.cli.app import app
from evalkit.cli.options import DB_DEFAULT


@app.command()
def sync(
    runs: list[str] = typer.Argument(
        ..., metavar="RUN", help="Run ids (or unique prefixes, or 'latest') to push."
    ),
    to: str = typer.Option(..., "--to", help="Target database: postgresql://... or a DuckDB file."),
    db: Annotated[str | None, typer.Option("--db", help=f"Source database {DB_DEFAULT}.")] = None,
) -> None:
    """Copy finished runs, whole and under the same ids, into another results store; already-synced runs are skipped."""
    from evalkit.cli.console import out
    from evalkit.store import open_store, resolve_db
    from evalkit.store.sync import sync_run

    if resolve_db(db) == to:
        from evalkit.errors import UsageError

        raise UsageError("--to is the source database itself")
    source = open_store(db, must_exist=True)
    target = open_store(to, option="--to")
    for ref in runs:
        result = sync_run(source, target, ref)
        verb = "copied" if result.copied else "already there"
        out.print(f"{result.run_id}: {verb} ({result.rows} rows) -> {target.backend}")
