"""Store methods for growing suites: candidates (generated and mined cases) and mined log records.

Tables from migrations 004 and 017 (docs/store.md). Like the rest of the store, portable SQL only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from evalkit.candidates import Candidate, CandidateStatus, Generation, MinedRecord
from evalkit.results import CallCounts
from evalkit.store.queries import Store
from evalkit.store.values import to_json, utcnow

CANDIDATE_COLUMNS = (
    "suite_name",
    "candidate_id",
    "source",
    "family",
    "input_json",
    "expected_json",
    "tags_json",
    "provenance_json",
    "status",
    "created_at",
    "decided_at",
)
MINED_COLUMNS = (
    "suite_name",
    "log_id",
    "log_source",
    "logged_at",
    "failure",
    "cluster_id",
    "cluster_label",
    "case_id",
    "mined_at",
)
GENERATION_COLUMNS = (
    "generation_id",
    "suite_name",
    "model",
    "started_at",
    "finished_at",
    "wanted",
    "calls",
    "candidates",
    "invalid",
    "duplicates",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "unpriced",
)
_BATCH = 1000  # ids per IN (...) list


class GrowthStore:
    """Candidates and mined records of a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_candidates(self, candidates: Sequence[Candidate]) -> int:
        """Store new candidates; ones already stored (same suite and id) are left as they are.

        Returns how many were new.
        """
        if not candidates:
            return 0
        suite = candidates[0].suite_name
        known = self.known_candidate_ids(suite, [c.candidate_id for c in candidates])
        fresh = [c for c in candidates if c.candidate_id not in known]
        with self.store._transaction() as con:
            con.insert(
                "candidates", CANDIDATE_COLUMNS, [_candidate_row(c) for c in fresh], ignore_existing=True
            )
        return len(fresh)

    def known_candidate_ids(self, suite_name: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored candidates of the suite (any status)."""
        return self._existing("candidates", "candidate_id", suite_name, ids)

    def candidates(
        self,
        suite_name: str,
        *,
        status: CandidateStatus | None = None,
        source: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[Candidate]:
        """Candidates of a suite, oldest first, optionally filtered by status, source and id."""
        where, params = ["suite_name = ?"], [suite_name]
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if ids is not None:
            if not ids:
                return []
            where.append(f"candidate_id IN ({', '.join('?' for _ in ids)})")
            params += list(ids)
        sql = (
            f"SELECT {', '.join(CANDIDATE_COLUMNS)} FROM candidates WHERE {' AND '.join(where)} "
            "ORDER BY created_at, candidate_id"
        )
        with self.store._connection() as con:
            rows = con.execute(sql, params)
        return [_candidate(row) for row in rows]

    def candidate_inputs(self, suite_name: str) -> list[tuple[str, dict[str, Any]]]:
        """(id, input) of every candidate of the suite, whatever its status (for dedup)."""
        with self.store._connection() as con:
            rows = con.execute(
                "SELECT candidate_id, input_json FROM candidates WHERE suite_name = ? ORDER BY candidate_id",
                (suite_name,),
            )
        return [(r[0], json.loads(r[1])) for r in rows]

    def decide(self, suite_name: str, ids: Sequence[str], status: CandidateStatus) -> None:
        """Mark candidates accepted or rejected."""
        if not ids:
            return
        marks = ", ".join("?" for _ in ids)
        with self.store._transaction() as con:
            con.execute(
                f"UPDATE candidates SET status = ?, decided_at = ? WHERE suite_name = ? AND candidate_id IN ({marks})",
                [status, utcnow(), suite_name, *ids],
            )

    def revise(self, suite_name: str, candidate_id: str, expected: Any, provenance: dict[str, Any]) -> None:
        """Replace a candidate's expected output and provenance (a reviewer edited it before accepting)."""
        with self.store._transaction() as con:
            con.execute(
                "UPDATE candidates SET expected_json = ?, provenance_json = ? WHERE suite_name = ? AND candidate_id = ?",
                [to_json(expected), to_json(provenance), suite_name, candidate_id],
            )

    def record_generation(self, generation: Generation) -> None:
        """Store one ``evalkit generate``'s outcome and what its calls cost."""
        row = tuple(getattr(generation, c) for c in GENERATION_COLUMNS)
        with self.store._transaction() as con:
            con.insert(
                "generations",
                (*GENERATION_COLUMNS, "calls_json"),
                [(*row, generation.call_counts.model_dump_json())],
            )

    def generations(self, suite_name: str) -> list[Generation]:
        """The suite's generations, oldest first."""
        with self.store._connection() as con:
            rows = con.execute(
                f"SELECT {', '.join(GENERATION_COLUMNS)}, calls_json FROM generations "
                "WHERE suite_name = ? ORDER BY started_at, generation_id",
                (suite_name,),
            )
        return [
            Generation(
                **dict(zip(GENERATION_COLUMNS, row[:-1], strict=True)),
                call_counts=CallCounts.model_validate_json(row[-1]),
            )
            for row in rows
        ]

    def mined_log_ids(self, suite_name: str, log_ids: Sequence[str]) -> set[str]:
        """Which of ``log_ids`` an earlier mining run of the suite already considered."""
        return self._existing("mined_records", "log_id", suite_name, log_ids)

    def record_mining(self, records: Sequence[MinedRecord], candidates: Sequence[Candidate]) -> None:
        """Store a mining run's records and the mined cases, in one transaction."""
        with self.store._transaction() as con:
            con.insert("mined_records", MINED_COLUMNS, [_mined_row(r) for r in records], ignore_existing=True)
            con.insert(
                "candidates", CANDIDATE_COLUMNS, [_candidate_row(c) for c in candidates], ignore_existing=True
            )

    def failure_clusters_by_week(self, suite_name: str, since: datetime) -> Any:
        """Mined failures per week and cluster, a pandas DataFrame.

        The week is that of the log time; a record without one counts in the week it was mined
        (rather than in none: its failure happened, at the latest, then).
        """
        week = "date_trunc('week', COALESCE(logged_at, mined_at))"
        sql = (
            f"SELECT {week} AS week, cluster_id, MIN(cluster_label) AS cluster_label, "
            "MIN(failure) AS failure, COUNT(*) AS failures FROM mined_records "
            "WHERE suite_name = ? AND failure IS NOT NULL AND COALESCE(logged_at, mined_at) >= ? "
            f"GROUP BY {week}, cluster_id ORDER BY week, failures DESC, cluster_id"
        )
        with self.store._connection() as con:
            return con.query_df(sql, (suite_name, since))

    def _existing(self, table: str, column: str, suite_name: str, values: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.store._connection() as con:
            for start in range(0, len(values), _BATCH):
                part = list(values[start : start + _BATCH])
                marks = ", ".join("?" for _ in part)
                rows = con.execute(
                    f"SELECT {column} FROM {table} WHERE suite_name = ? AND {column} IN ({marks})",
                    [suite_name, *part],
                )
                found.update(r[0] for r in rows)
        return found


def _candidate_row(c: Candidate) -> tuple[Any, ...]:
    return (
        c.suite_name,
        c.candidate_id,
        c.source,
        c.family,
        to_json(c.input),
        to_json(c.expected) if c.expected is not None else None,
        to_json(c.tags),
        to_json(c.provenance),
        c.status,
        c.created_at,
        c.decided_at,
    )


def _candidate(row: Sequence[Any]) -> Candidate:
    data = dict(zip(CANDIDATE_COLUMNS, row, strict=True))
    return Candidate(
        suite_name=data["suite_name"],
        candidate_id=data["candidate_id"],
        source=data["source"],
        family=data["family"],
        input=json.loads(data["input_json"]),
        expected=json.loads(data["expected_json"]) if data["expected_json"] is not None else None,
        tags=json.loads(data["tags_json"]),
        provenance=json.loads(data["provenance_json"]),
        status=data["status"],
        created_at=data["created_at"],
        decided_at=data["decided_at"],
    )


def _mined_row(r: MinedRecord) -> tuple[Any, ...]:
    return tuple(getattr(r, column) for column in MINED_COLUMNS)
