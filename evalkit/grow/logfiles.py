"""Reading production logs: JSONL, JSON arrays, CSV, Parquet files and DuckDB tables, as dict records.

Which reader is used follows the file's suffix. Records stream one at a time where the format
allows (JSONL, DuckDB); errors name the file (and line, for JSONL).
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError, UsageError
from evalkit.suite.textfile import json_document, json_objects

JSONL_SUFFIXES = {".jsonl", ".ndjson"}
DUCKDB_SUFFIXES = {".duckdb", ".ddb", ".db"}
SUPPORTED = ".jsonl, .ndjson, .json, .csv, .parquet, .duckdb"


def resolve_logs(patterns: Sequence[str]) -> list[Path]:
    """The log files named by paths and globs, each once, in order; a pattern matching no file is an
    error, and so is a directory: which of its files are logs is for the user to say, not to guess."""
    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True)) or (
            [Path(pattern)] if Path(pattern).is_file() else []
        )
        files = [m for m in matches if m.is_file()]
        if not files and Path(pattern).is_dir():
            raise UsageError(
                f"--logs names a directory: name its files, e.g. --logs '{Path(pattern) / '*.jsonl'}'",
                path=pattern,
            )
        if not files:
            raise UsageError(f"no log file matches {pattern!r}")
        paths.extend(m for m in files if m not in paths)
    return paths


def iter_log(path: Path, *, table: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(position, record)`` for every record of one log (position: line or row number)."""
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from _iter_jsonl(path)
    elif suffix == ".json":
        yield from _iter_json(path)
    elif suffix == ".csv":
        yield from _iter_csv(path)
    elif suffix in {".parquet", ".pq"}:
        yield from _iter_parquet(path)
    elif suffix in DUCKDB_SUFFIXES:
        if not table:
            raise UsageError(f"{path} is a DuckDB database: name the table with --table or mining.table")
        from evalkit.store.logtable import iter_table_rows

        yield from enumerate(iter_table_rows(path, table), start=1)
    else:
        raise ConfigError(f"unsupported log format {suffix or '(no suffix)'!r} (use {SUPPORTED})", path=path)


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    yield from json_objects(path, what="a log record", file="log file")


def _iter_json(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    data = json_document(path, what="log file")
    if isinstance(data, dict):  # {"records": [...]}-style wrappers: the one list inside
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list):
        raise ConfigError("a .json log must hold a list of objects", path=path)
    for i, record in enumerate(data, start=1):
        if not isinstance(record, dict):
            raise ConfigError(f"record {i} is not a JSON object", path=path)
        yield i, record


def _iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("log file not found", path=path) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read CSV: {str(exc).splitlines()[0]}", path=path) from None
    for i, record in enumerate(frame.to_dict(orient="records"), start=1):
        if any(str(v).strip() for v in record.values()):  # trailing all-empty rows are an export artefact
            yield i, {str(k): v for k, v in record.items()}


def _iter_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except FileNotFoundError:
        raise ConfigError("log file not found", path=path) from None
    except Exception as exc:  # pyarrow raises ArrowInvalid and friends for a damaged file
        raise ConfigError(f"cannot read Parquet: {exc}", path=path) from None
    row = 0
    for batch in parquet.iter_batches(batch_size=10_000):
        for record in batch.to_pylist():
            row += 1
            yield row, record
