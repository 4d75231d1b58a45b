"""Reading cases from CSV and Parquet files through a column mapping (JSONL is :mod:`evalkit.cases`).

Each row becomes a :class:`~evalkit.cases.Case`; a bad row is a :class:`ConfigError` naming the
file and the row: its line for CSV (the header is line 1), its 1-based row number for Parquet.
Parquet is read a row group at a time, so memory does not grow with the file.
"""

from __future__ import annotations

import datetime
import decimal
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evalkit.cases import Case, describe_validation_error, iter_case_file
from evalkit.errors import ConfigError
from evalkit.suite.case_columns import ColumnMapping
from evalkit.suite.textfile import decode_utf8

TABLE_SUFFIXES = (".csv", ".parquet")


def iter_cases_from(path: Path, columns: ColumnMapping | None = None) -> Iterator[tuple[int, Case]]:
    """``(line or row, case)`` for a JSONL, CSV or Parquet case file."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        yield from iter_case_file(path)
        return
    mapping = columns or ColumnMapping()
    rows = _csv_rows(path) if suffix == ".csv" else _parquet_rows(path)
    checked = False
    for number, row in rows:
        if not checked:
            _check_columns(mapping, list(row), path)
            checked = True
        yield number, _case_from_row(row, mapping, path, number)


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import csv  # only for a CSV case file

    try:
        handle = path.open(encoding="utf-8-sig", newline="")  # -sig: spreadsheets' byte-order mark
    except OSError as exc:
        raise ConfigError(f"cannot read case file: {exc.strerror}", path=path) from None
    with handle:
        reader = csv.DictReader(handle)
        try:
            for row in reader:
                if None in row:  # more cells than the header has columns
                    raise ConfigError(
                        f"{len(row) - 1 + len(row[None])} cells, the header has {len(row) - 1}",
                        path=path,
                        line=reader.line_num,
                    )
                if all(v in ("", None) for v in row.values()):
                    continue
                if None in row.values():  # fewer cells than the header has columns
                    cells = sum(v is not None for v in row.values())
                    raise ConfigError(
                        f"{cells} cells, the header has {len(row)}", path=path, line=reader.line_num
                    )
                yield reader.line_num, row
        except UnicodeDecodeError as exc:  # decoded a buffer ahead of the reader: find the bad byte's line
            decode_utf8(path.read_bytes(), path)
            raise ConfigError(f"not valid UTF-8: {exc}", path=path) from None
        except csv.Error as exc:
            raise ConfigError(f"unreadable CSV: {exc}", path=path, line=reader.line_num) from None


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ConfigError(f"cannot read Parquet case file: {exc}".replace("\n", " "), path=path) from None
    number = 0
    for batch in table.iter_batches():
        for row in batch.to_pylist():
            number += 1
            yield number, {column: _cell(value, path, number, column) for column, value in row.items()}


def _cell(value: Any, path: Path, number: int, column: str) -> Any:
    """A Parquet cell as a case holds it: JSON values as they are, dates and times as ISO 8601 text
    (not their Python repr); bytes are refused, having no text a prompt could show."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        raise ConfigError(
            f"row {number}: column {column!r} holds bytes, not text: store it as a string", path=path
        )
    if isinstance(value, list):
        return [_cell(v, path, number, column) for v in value]
    if isinstance(value, dict):
        return {k: _cell(v, path, number, column) for k, v in value.items()}
    return value


def _check_columns(mapping: ColumnMapping, present: list[str], path: Path) -> None:
    named = [mapping.id, mapping.tags]
    if isinstance(mapping.input, list):
        named += mapping.input
    elif isinstance(mapping.input, dict):
        named += list(mapping.input.values())
    if isinstance(mapping.expected, str):
        named.append(mapping.expected)
    elif isinstance(mapping.expected, dict):
        named += list(mapping.expected.values())
    for column in named:
        if column is not None and column not in present:
            raise ConfigError(
                f"the column mapping names {column!r}, which the file lacks (columns: {', '.join(present)})",
                path=path,
            )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _expected_value(value: Any) -> Any:
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _nest(fields: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for dotted, value in fields.items():
        *parents, leaf = dotted.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _case_from_row(row: dict[str, Any], mapping: ColumnMapping, path: Path, number: int) -> Case:
    id_column = mapping.id or ("id" if "id" in row else None)
    tags_column = mapping.tags or ("tags" if "tags" in row else None)
    expected_spec = (
        mapping.expected if mapping.expected is not None else ("expected" if "expected" in row else None)
    )
    used = {id_column, tags_column}
    if isinstance(expected_spec, str):
        used.add(expected_spec)
    elif isinstance(expected_spec, dict):
        used.update(expected_spec.values())

    if mapping.input is None:
        variables = {k: v for k, v in row.items() if k not in used}
    elif isinstance(mapping.input, list):
        variables = {k: row[k] for k in mapping.input}
    else:
        variables = {name: row[column] for name, column in mapping.input.items()}

    expected: Any = None
    if isinstance(expected_spec, str):
        expected = None if _blank(row[expected_spec]) else _expected_value(row[expected_spec])
    elif isinstance(expected_spec, dict):
        # a blank cell is no value (null: the output should have none), not the empty string
        expected = _nest(
            {name: None if _blank(row[column]) else row[column] for name, column in expected_spec.items()}
        )

    raw: dict[str, Any] = {"input": variables, "provenance": {"file": path.name, "row": number}}
    if id_column is not None and not _blank(row[id_column]):
        raw["id"] = str(row[id_column])
    if expected is not None:
        raw["expected"] = expected
    if tags_column is not None and not _blank(row[tags_column]):
        tags = row[tags_column]
        raw["tags"] = (
            list(tags) if isinstance(tags, list) else [t.strip() for t in str(tags).split(",") if t.strip()]
        )
    try:
        return Case.model_validate(raw)
    except ValidationError as exc:
        if path.suffix.lower() == ".csv":
            raise ConfigError(describe_validation_error(exc), path=path, line=number) from None
        raise ConfigError(f"row {number}: {describe_validation_error(exc)}", path=path) from None
