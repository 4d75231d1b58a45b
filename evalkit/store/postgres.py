"""The PostgreSQL backend (psycopg 3): one results store for many machines at once.

The same numbered migrations and the same SQL as DuckDB run here: evalkit's SQL is portable, with
``?`` placeholders translated to psycopg's ``%s``. PostgreSQL takes concurrent writers without
file locks, so CI runners, laptops and the weekly job can all write at once. Migrations take an
advisory lock, so two processes opening a new database do not both migrate it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from evalkit.errors import DuplicateRowError, StoreError

_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?|%")
_MIGRATION_LOCK = 0x65766B  # "evk": pg_advisory_lock key held while migrating


def to_psycopg(sql: str) -> str:
    """``?`` placeholders become ``%s``; every literal ``%`` becomes ``%%`` (psycopg parses the whole
    query, string literals included, when parameters are passed). Use only when passing parameters."""

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        return token.replace("%", "%%")  # a string literal: a ? inside it is text, not a placeholder

    return _PLACEHOLDER.sub(swap, sql)


def _plain(value: Any) -> Any:
    """PostgreSQL returns NUMERIC aggregates (AVG, SUM of bigint) as Decimal; evalkit uses floats."""
    return float(value) if isinstance(value, Decimal) else value


class PostgresConnection:
    """The operations the store needs, on one psycopg connection."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._con.cursor() as cur:
            cur.execute(to_psycopg(sql) if params else sql, list(params) if params else None)
            if cur.description is None:
                return []
            return [tuple(_plain(v) for v in row) for row in cur.fetchall()]

    def query_df(self, sql: str, params: Sequence[Any] = ()) -> Any:
        import pandas as pd

        with self._con.cursor() as cur:
            cur.execute(to_psycopg(sql) if params else sql, list(params) if params else None)
            columns = [d.name for d in cur.description or []]
            rows = [tuple(_plain(v) for v in row) for row in cur.fetchall()]
        return pd.DataFrame.from_records(rows, columns=columns)

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        ignore_existing: bool = False,
        key: str | None = None,  # DuckDB's shortcut; a conflict clause is as cheap here
    ) -> None:
        """Bulk insert with executemany (psycopg pipelines it into few round trips)."""
        if not rows:
            return
        import psycopg

        marks = ", ".join("%s" for _ in columns)
        conflict = " ON CONFLICT DO NOTHING" if ignore_existing else ""
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){conflict}"
        try:
            with self._con.cursor() as cur:
                cur.executemany(sql, [tuple(r) for r in rows])
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateRowError(f"{table}: {exc.diag.message_primary}") from None


class PostgresBackend:
    """One connection per process, kept open; transactions are explicit."""

    name = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self._con: Any = None
        self._in_use = threading.RLock()

    def __str__(self) -> str:
        return re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", self.url)  # never print a password

    def _connection(self) -> Any:
        if self._con is None or self._con.closed:
            try:
                import psycopg
            except ImportError:
                raise StoreError("PostgreSQL needs psycopg: pip install 'evalkit[postgres]'") from None
            try:
                self._con = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except psycopg.Error as exc:
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise StoreError(f"cannot connect to {self}: {message}") from None
        return self._con

    @contextmanager
    def connect(self) -> Iterator[PostgresConnection]:
        with self._in_use:
            yield PostgresConnection(self._connection())

    @contextmanager
    def transaction(self, con: PostgresConnection) -> Iterator[None]:
        with con._con.transaction():
            yield

    @contextmanager
    def migration_lock(self, con: PostgresConnection) -> Iterator[None]:
        """Held while checking and applying migrations, so concurrent first opens migrate once."""
        con.execute("SELECT pg_advisory_lock(?)", (_MIGRATION_LOCK,))
        try:
            yield
        finally:
            con.execute("SELECT pg_advisory_unlock(?)", (_MIGRATION_LOCK,))

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
