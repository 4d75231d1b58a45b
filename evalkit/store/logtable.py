"""Reading a production-log table out of a user's DuckDB database (for ``evalkit mine``).

The database is opened read-only and the table named by the suite's ``mining.table`` (or
``--table``) is read whole; the identifier is checked and quoted, never pasted in raw.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_BATCH_ROWS = 10_000


def iter_table_rows(path: Path, table: str) -> Iterator[dict[str, Any]]:
    """Every row of ``table`` (``name`` or ``schema.name``) in the DuckDB file ``path``, as dicts."""
    import duckdb

    if not _IDENTIFIER.match(table):
        raise ConfigError(f"not a table name: {table!r}", path=path)
    quoted = ".".join(f'"{part}"' for part in table.split("."))
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise ConfigError(f"cannot open log database: {exc}", path=path) from None
    try:
        try:
            cursor = con.execute(f"SELECT * FROM {quoted}")
        except duckdb.CatalogException:
            raise ConfigError(f"log database has no table {table!r}", path=path) from None
        columns = [d[0] for d in cursor.description]
        while rows := cursor.fetchmany(_BATCH_ROWS):
            for row in rows:
                yield dict(zip(columns, row, strict=True))
    finally:
        con.close()
