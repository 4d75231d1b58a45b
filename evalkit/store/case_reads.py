"""Reading a run's cases, outputs, scores and field scores: as pandas DataFrames, or as plain rows.

evalkit's own reads (the summary after a run, ``evalkit show``, ``compare``, the baseline gate)
take :class:`Rows`: DuckDB's ``.df()`` imports pandas, NumPy and pyarrow, ~0.5 s and ~90 MB for a
command that prints ten failures. DataFrames remain the interface for analysis (``frame=True``,
the default, and :func:`evalkit.store.load_run`).
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from evalkit.store.columns import FIELD_COLUMNS, SCORE_COLUMNS

CASE_RESULT_COLUMNS = (
    "case_id",
    "epoch",
    "verdict",
    "score",
    "status",
    "error",
    "raw_text",
    "parsed_json",
    "extraction",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "cached",
    "attempts",
    "judge_cost_usd",
    "saved_cost_usd",
    "input_json",
    "expected_json",
    "tags_json",
    "source",
    "verified",
    "provenance_json",
)
_CASE_TABLE_COLUMNS = frozenset(
    ("input_json", "expected_json", "tags_json", "source", "verified", "provenance_json")
)


class Rows:
    """A query's rows as tuples, with their column names: what a DataFrame gave evalkit, without pandas."""

    def __init__(self, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        self.names = tuple(columns)
        self.rows = list(rows)
        self._record: Any = namedtuple("Row", self.names)  # type: ignore[misc]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Any]:
        """Each row as a named tuple (``row.case_id``)."""
        return (self._record._make(row) for row in self.rows)

    def columns(self, names: Sequence[str]) -> list[list[Any]]:
        """These columns as lists (every one as long as the rows)."""
        index = [self.names.index(name) for name in names]
        return [[row[i] for row in self.rows] for i in index]

    def where(self, column: str, keep: set[Any]) -> Rows:
        """The rows whose ``column`` is in ``keep``."""
        i = self.names.index(column)
        return Rows(self.names, [row for row in self.rows if row[i] in keep])

    def head(self, n: int | None) -> Rows:
        """The first ``n`` rows (all of them for None)."""
        return self if n is None else Rows(self.names, self.rows[:n])


class CaseReads:
    """The store's reads of per-case rows (mixed into :class:`evalkit.store.Store`)."""

    def _connection(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def case_results(
        self,
        run_id: str,
        *,
        verdicts: Sequence[str] | None = None,
        limit: int | None = None,
        frame: bool = True,
    ) -> Any:
        """One row per (case, epoch): input, expected, output, verdict, score (a pandas DataFrame, or
        :class:`Rows` with ``frame=False``)."""
        where = ""
        params: list[Any] = [run_id]
        if verdicts:
            where = f" AND o.verdict IN ({', '.join('?' for _ in verdicts)})"
            params += list(verdicts)
        lim = f" LIMIT {int(limit)}" if limit is not None else ""
        columns = ", ".join(f"{'c' if c in _CASE_TABLE_COLUMNS else 'o'}.{c}" for c in CASE_RESULT_COLUMNS)
        sql = (
            f"SELECT {columns} FROM outputs o JOIN cases c ON c.run_id = o.run_id AND c.case_id = o.case_id "
            f"WHERE o.run_id = ?{where} ORDER BY o.case_id, o.epoch{lim}"
        )
        return self._read(sql, params, CASE_RESULT_COLUMNS, frame)

    def cases_awaiting_expected(self, run_id: str) -> list[tuple[str, bool]]:
        """A run's cases with no expected output that no person has checked yet (mined or generated
        candidates, ``verified`` false), by id, each with whether any of its results failed."""
        with self._connection() as con:
            rows = con.execute(
                "SELECT c.case_id, EXISTS (SELECT 1 FROM outputs o WHERE o.run_id = c.run_id "
                "AND o.case_id = c.case_id AND o.verdict = 'fail') FROM cases c "
                "WHERE c.run_id = ? AND c.expected_json IS NULL AND NOT c.verified ORDER BY c.case_id",
                (run_id,),
            )
        return [(row[0], bool(row[1])) for row in rows]

    def case_tags(self, run_id: str, case_ids: Sequence[str]) -> dict[str, list[str]]:
        """The tags of some of a run's cases, by case id."""
        if not case_ids:
            return {}
        marks = ", ".join("?" for _ in case_ids)
        with self._connection() as con:
            rows = con.execute(
                f"SELECT case_id, tags_json FROM cases WHERE run_id = ? AND case_id IN ({marks})",
                [run_id, *case_ids],
            )
        return {case_id: list(json.loads(tags or "[]")) for case_id, tags in rows}

    def score_rows(self, run_id: str, case_ids: Sequence[str] | None = None, *, frame: bool = True) -> Any:
        """Scores of a run (optionally of some cases): a pandas DataFrame, or :class:`Rows`."""
        return self._rows_for_cases(
            "scores", SCORE_COLUMNS, run_id, case_ids, "case_id, epoch, scorer", frame
        )

    def field_rows(self, run_id: str, case_ids: Sequence[str] | None = None, *, frame: bool = True) -> Any:
        """Field scores of a run (optionally of some cases): a pandas DataFrame, or :class:`Rows`."""
        return self._rows_for_cases(
            "field_scores", FIELD_COLUMNS, run_id, case_ids, "case_id, epoch, scorer, field", frame
        )

    def field_slot_counts(self, run_id: str) -> list[tuple[str, str, str | None, str, int]]:
        """``(scorer, field, slot, status, rows)`` of a run's field scores, counted by the database:
        what field metrics need, without reading every field of every case (8 ms at 2000 cases)."""
        return self.field_slot_counts_by_run([run_id]).get(run_id, [])

    def field_slot_counts_by_run(
        self, run_ids: Sequence[str]
    ) -> dict[str, list[tuple[str, str, str | None, str, int]]]:
        """:meth:`field_slot_counts` of several runs in one query: ``run_id -> rows`` (a run without
        field scores is absent)."""
        if not run_ids:
            return {}
        sql = (
            "SELECT run_id, scorer, field, slot, status, COUNT(*) FROM field_scores "
            f"WHERE run_id IN ({', '.join('?' for _ in run_ids)}) GROUP BY run_id, scorer, field, slot, status"
        )
        found: dict[str, list[tuple[str, str, str | None, str, int]]] = {}
        with self._connection() as con:
            for run_id, scorer, name, slot, status, n in con.execute(sql, list(run_ids)):
                found.setdefault(str(run_id), []).append((str(scorer), str(name), slot, str(status), int(n)))
        return found

    def _rows_for_cases(
        self,
        table: str,
        columns: Sequence[str],
        run_id: str,
        case_ids: Sequence[str] | None,
        order: str,
        frame: bool,
    ) -> Any:
        params: list[Any] = [run_id]
        where = ""
        if case_ids is not None:
            if not case_ids:
                where = " AND FALSE"
            else:
                where = f" AND case_id IN ({', '.join('?' for _ in case_ids)})"
                params += list(case_ids)
        sql = f"SELECT {', '.join(columns)} FROM {table} WHERE run_id = ?{where} ORDER BY {order}"
        return self._read(sql, params, columns, frame)

    def _read(self, sql: str, params: Sequence[Any], columns: Sequence[str], frame: bool) -> Any:
        with self._connection() as con:
            if frame:
                return con.query_df(sql, params)
            return Rows(columns, con.execute(sql, params))
