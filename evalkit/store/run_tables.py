"""A run's rows in every table: read as pandas DataFrames (``load_run``, ``evalkit export``) or as
tuples (``evalkit merge``), and written back into another database under a new run id.

``load_run`` is the documented entry point for analysis in pandas::

    from evalkit.store import load_run

    tables = load_run("latest", db=".evalkit/evalkit.duckdb")
    tables.outputs.groupby("verdict").size()
    tables.field_scores.groupby("field")["passed"].mean()

The frames hold exactly the stored rows and columns (see docs/store.md); ``*_json`` columns hold
JSON text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.results import RunRecord
from evalkit.store.columns import (
    CACHE_COLUMNS,
    CASE_COLUMNS,
    FIELD_COLUMNS,
    OUTPUT_COLUMNS,
    RUN_COLUMNS,
    SCORE_COLUMNS,
    run_row,
)
from evalkit.store.opening import open_store
from evalkit.store.queries import Store

# The per-run tables, their columns as evalkit writes them, and the order rows are read in (their keys).
RESULT_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "cases": (CASE_COLUMNS, "case_id"),
    "outputs": (OUTPUT_COLUMNS, "case_id, epoch"),
    "scores": (SCORE_COLUMNS, "case_id, epoch, scorer"),
    "field_scores": (FIELD_COLUMNS, "case_id, epoch, scorer, field"),
}
TABLE_NAMES = ("runs", *RESULT_TABLES)

RunRows = dict[str, list[tuple[Any, ...]]]


@dataclass(frozen=True)
class RunTables:
    """One run as pandas DataFrames, one per stored table, with every stored column.

    ``run`` has the run's single row of ``runs``; the others hold the run's rows of ``cases``,
    ``outputs`` (one per case and epoch), ``scores`` (per scorer) and ``field_scores`` (per field).
    """

    run_id: str
    run: Any
    cases: Any
    outputs: Any
    scores: Any
    field_scores: Any

    def items(self) -> Iterator[tuple[str, Any]]:
        """(table name, DataFrame) pairs, ``runs`` first."""
        yield "runs", self.run
        for name in RESULT_TABLES:
            yield name, getattr(self, name)


def load_run(run: str = "latest", db: str | Path | Store | None = None) -> RunTables:
    """Load one stored run as pandas DataFrames.

    ``run`` is a run id, a unique prefix of one, or ``latest``; ``db`` a database path (default:
    ``$EVALKIT_DB`` or ``.evalkit/evalkit.duckdb``) or an open :class:`Store`.
    """
    store = db if isinstance(db, Store) else open_store(db, must_exist=True)
    with store.session():
        run_id = store.get_run(run).run_id
        return read_run_tables(store, run_id)


def read_run_tables(store: Store, run_id: str) -> RunTables:
    """Every stored row of ``run_id``, table by table (``SELECT *``: columns added later come too)."""
    frames: dict[str, Any] = {}
    with store._connection() as con:
        frames["run"] = con.query_df("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        for table, (_, order) in RESULT_TABLES.items():
            frames[table] = con.query_df(
                f"SELECT * FROM {table} WHERE run_id = ? ORDER BY {order}", (run_id,)
            )
    return RunTables(run_id=run_id, **frames)


# the files its cases were given (migration 012): which file each case used, and the files themselves
_RUN_FILE_COLUMNS = ("run_id", "case_id", "variable", "name", "sha256")
_FILE_COLUMNS = ("sha256", "media_type", "size_bytes", "data_base64")


def read_run_rows(store: Store, run_id: str) -> RunRows:
    """The run's rows of each result table as tuples, NULLs kept as None (what a copy needs), and
    of its input files (``run_input_files``, and the ``input_files`` they name)."""
    rows: RunRows = {}
    with store._connection() as con:
        for table, (columns, order) in RESULT_TABLES.items():
            rows[table] = con.execute(
                f"SELECT {', '.join(columns)} FROM {table} WHERE run_id = ? ORDER BY {order}", (run_id,)
            )
        rows["run_input_files"] = con.execute(
            f"SELECT {', '.join(_RUN_FILE_COLUMNS)} FROM run_input_files WHERE run_id = ? "
            "ORDER BY case_id, variable",
            (run_id,),
        )
        rows["input_files"] = con.execute(
            f"SELECT {', '.join(_FILE_COLUMNS)} FROM input_files WHERE sha256 IN "
            "(SELECT sha256 FROM run_input_files WHERE run_id = ?) ORDER BY sha256",
            (run_id,),
        )
    return rows


def read_run_calls(store: Store, run_id: str) -> str | None:
    """The run's ``calls_json`` as stored (not a :class:`~evalkit.results.RunRecord` field)."""
    with store._connection() as con:
        rows = con.execute("SELECT calls_json FROM runs WHERE run_id = ?", (run_id,))
    return rows[0][0] if rows else None


def insert_run(
    store: Store, run: RunRecord, parts: Sequence[RunRows], *, calls_json: str | None = None
) -> None:
    """Create ``run`` and store the rows of ``parts`` (read from other runs) under its id, atomically.

    Rows are copied as they are except for ``run_id``. Two parts holding the same key (a case, or a
    case and epoch) make the whole insert fail with :class:`~evalkit.errors.DuplicateRowError`.
    ``calls_json``: the run's call counters (a copy of a run keeps its own; a merge stores the sum
    when it finishes the run).
    """
    with store._transaction() as con:
        con.insert("runs", RUN_COLUMNS, [run_row(run)])
        if calls_json is not None:
            con.execute("UPDATE runs SET calls_json = ? WHERE run_id = ?", (calls_json, run.run_id))
        for table, (columns, _) in RESULT_TABLES.items():
            at = columns.index("run_id")
            rows = [(*row[:at], run.run_id, *row[at + 1 :]) for part in parts for row in part[table]]
            con.insert(table, columns, rows)
        # a file is stored once by content: one the target already holds is the same file
        files = [row for part in parts for row in part.get("input_files", ())]
        con.insert("input_files", _FILE_COLUMNS, files, ignore_existing=True)
        used = [(run.run_id, *row[1:]) for part in parts for row in part.get("run_input_files", ())]
        con.insert("run_input_files", _RUN_FILE_COLUMNS, used, ignore_existing=True)


def read_cache_rows(store: Store) -> list[tuple[Any, ...]]:
    """Every row of the response cache."""
    with store._connection() as con:
        rows: list[tuple[Any, ...]] = con.execute(
            f"SELECT {', '.join(CACHE_COLUMNS)} FROM response_cache ORDER BY cache_key"
        )
    return rows


def add_cache_rows(store: Store, rows: Sequence[tuple[Any, ...]]) -> None:
    """Add response-cache rows; keys already cached keep their stored response."""
    with store._transaction() as con:
        con.insert("response_cache", CACHE_COLUMNS, rows, ignore_existing=True, key="cache_key")
