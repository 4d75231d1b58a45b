"""What the Store needs of a database: a Backend that hands out connections and transactions.

DuckDB (:mod:`evalkit.store.duckdb`) and PostgreSQL (:mod:`evalkit.store.postgres`) implement it.
A backend may also offer ``hold()`` (keep one connection for a run, yielding it to processes that ask),
``migration_lock(con)`` (serialise concurrent migrators) and ``path``; callers look those up with
``getattr`` because not every backend has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Connection(Protocol):
    """One open connection: SQL with ``?`` parameters, DataFrames for analysis, bulk inserts."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def query_df(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        ignore_existing: bool = False,
        key: str | None = None,  # with ignore_existing: the single-column key rows are skipped by
    ) -> None: ...


class Backend(Protocol):
    """A database the results store lives in."""

    def connect(self) -> AbstractContextManager[Connection]: ...

    def transaction(self, con: Any) -> AbstractContextManager[None]: ...
