"""Exporting a stored run for analysis elsewhere: ``evalkit export RUN --format parquet|csv|jsonl``.

One file per stored table (``runs``, ``cases``, ``outputs``, ``scores``, ``field_scores``), holding the
run's rows with every stored column, so the files load back into pandas, DuckDB, Spark or a
spreadsheet with nothing lost. ``*_json`` columns stay JSON text, as in the database. Frames
computed from the tables (``field_metrics``: per-field slot counts and P/R/F1) come as ``derived``
and are written the same way, after the tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.errors import UsageError
from evalkit.store.run_tables import RunTables

FORMATS = ("parquet", "csv", "jsonl")


def export_run(
    tables: RunTables, fmt: str, out_dir: Path, derived: dict[str, Any] | None = None
) -> list[Path]:
    """Write each table of ``tables``, then each ``derived`` frame, to ``out_dir/<name>.<fmt>``.

    Returns the files written.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r} (formats: {', '.join(FORMATS)})")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for table, frame in [*tables.items(), *(derived or {}).items()]:
        path = out_dir / f"{table}.{fmt}"
        _write(frame, fmt, path)
        written.append(path)
    return written


def _write(frame: Any, fmt: str, path: Path) -> None:
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        # ISO timestamps and real nulls; non-ASCII text stays readable
        frame.to_json(path, orient="records", lines=True, date_format="iso", force_ascii=False)
