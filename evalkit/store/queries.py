"""The results store: every write and every query evalkit makes, in one place.

Nothing outside ``evalkit.store`` writes SQL. Methods take and return pydantic records, pandas
DataFrames or plain rows (:mod:`evalkit.store.case_reads`). Each method runs in its own short transaction unless called inside :meth:`Store.session`,
which keeps one connection open for a group of reads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from evalkit.errors import UsageError
from evalkit.results import (
    CaseResult,
    RunRecord,
    RunSummary,
    ScorerSummary,
    VerdictCounts,
    judge_prompt_cache_fields,
    prompt_cache_fields,
    run_costs,
)
from evalkit.store.backend import Backend
from evalkit.store.case_reads import CaseReads
from evalkit.store.columns import (
    CACHE_COLUMNS,
    CALIBRATION_COLUMNS,
    CASE_COLUMNS,
    FIELD_COLUMNS,
    OUTPUT_COLUMNS,
    RUN_COLUMNS,
    SCORE_COLUMNS,
    calibration_dict,
    measured_latency_ms,
    run_record,
    run_row,
)
from evalkit.store.migrate import migrate
from evalkit.store.result_rows import ResultRows
from evalkit.store.values import like_literal, to_json, utcnow


class Store(CaseReads):
    """Runs, cases, outputs and scores in a database (DuckDB by default)."""

    def __init__(self, backend: Backend, *, create_later: bool = False) -> None:
        """Open ``backend``, creating and migrating its database if needed.

        ``create_later``: a database that does not exist yet is created on first use instead (a
        run's first commit, made while its first calls are in flight); until then it holds nothing,
        so :meth:`cached_responses` finds nothing without creating it.
        """
        self.backend = backend
        self._con: Any = None
        self._migrating = threading.Lock()
        self.opened = False  # migrated (or found up to date) by this store
        missing = getattr(backend, "missing", None)
        if create_later and missing is not None and missing():
            backend.check_creatable()  # type: ignore[attr-defined]  # an unwritable place fails now, before any call
            return
        with self._connection():
            pass

    def __repr__(self) -> str:
        return f"Store({self.backend})"

    @contextmanager
    def session(self) -> Iterator[Store]:
        """Keep one connection open for several calls (reads in the CLI). Holds the database lock."""
        if self._con is not None:
            yield self
            return
        with self._connect() as con:
            self._con = con
            try:
                yield self
            finally:
                self._con = None

    @contextmanager
    def hold(self) -> Iterator[Store]:
        """Keep the database open across the calls of a run where the backend benefits (DuckDB),
        still letting other processes in when they ask."""
        hold = getattr(self.backend, "hold", None)
        if hold is None:
            yield self
            return
        with hold():
            yield self

    def close_in_background(self, *, process_ends: bool = False) -> None:
        """Let a held database close on a thread while the caller goes on (DuckDB; see
        :meth:`evalkit.store.duckdb.DuckDBBackend.close_in_background`, and its ``process_ends``).
        Nothing changes for a backend without it."""
        close = getattr(self.backend, "close_in_background", None)
        if close is not None:
            close(process_ends=process_ends)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if self._con is not None:
            yield self._con
        else:
            with self._connect() as con:
                yield con

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """A new connection; the first one migrates the database (creating it, see ``create_later``)."""
        with self.backend.connect() as con:
            if not self.opened:
                with self._migrating:
                    if not self.opened:
                        migrate(con, self.backend, where=str(self.backend))
                        self.opened = True
            yield con

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._connection() as con, self.backend.transaction(con):
            yield con

    # ---- writes -------------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        """Record a new run (status ``running``)."""
        with self._transaction() as con:
            con.insert("runs", RUN_COLUMNS, [run_row(run)])

    def add_results(
        self, run_id: str, results: Sequence[CaseResult], cache_rows: Sequence[tuple[str, str, Any]] = ()
    ) -> None:
        """Store a batch of case results atomically: the batch lands whole or not at all.

        Case rows are written once per run (later epochs of the same case add nothing there).
        A result already stored for the same (case, epoch) is an error: runs never store twice.
        ``cache_rows`` are new ``(cache_key, model, Completion)`` responses for the response cache,
        committed in the same transaction, so a cached answer always has its result stored too.
        """
        rows = ResultRows(run_id)
        for result in results:
            rows.add(result)
        rows.add_cache(cache_rows)
        self.add_rows(rows)

    def add_rows(self, rows: ResultRows) -> None:
        """Store rows built from a batch of results (see :meth:`add_results`), atomically."""
        if not rows:
            return
        with self._transaction() as con:
            con.insert("cases", CASE_COLUMNS, rows.cases, ignore_existing=not rows.new_cases)
            con.insert("outputs", OUTPUT_COLUMNS, rows.outputs)
            con.insert("scores", SCORE_COLUMNS, rows.scores)
            con.insert("field_scores", FIELD_COLUMNS, rows.fields)
            con.insert("response_cache", CACHE_COLUMNS, rows.cache, ignore_existing=True, key="cache_key")
            if rows.calls_json is not None:
                con.execute("UPDATE runs SET calls_json = ? WHERE run_id = ?", (rows.calls_json, rows.run_id))

    def cached_responses(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Cached responses for these cache keys (the ones found)."""
        found: dict[str, dict[str, Any]] = {}
        if not self.opened:  # a database still to be created (``create_later``) caches nothing
            return found
        with self._connection() as con:
            for start in range(0, len(keys), 1000):
                part = list(keys[start : start + 1000])
                marks = ", ".join("?" for _ in part)
                rows = con.execute(
                    f"SELECT {', '.join(CACHE_COLUMNS)} FROM response_cache WHERE cache_key IN ({marks})",
                    part,
                )
                found.update({row[0]: dict(zip(CACHE_COLUMNS, row, strict=True)) for row in rows})
        return found

    def finish_run(self, run_id: str, *, status: str, summary: RunSummary) -> None:
        """Mark a run complete or incomplete and store its summary."""
        calls = summary.calls.model_dump_json() if summary.calls is not None else None
        with self._transaction() as con:
            con.execute(
                "UPDATE runs SET status = ?, finished_at = ?, summary_json = ?, "
                "calls_json = COALESCE(?, calls_json) WHERE run_id = ?",
                (status, utcnow(), to_json(summary.stored()), calls, run_id),
            )

    # ---- reads --------------------------------------------------------------------------------

    def get_run(self, ref: str = "latest", *, suite: str | None = None) -> RunRecord:
        """A run by id, unique id prefix, or ``latest`` (optionally the latest of ``suite``)."""
        with self._connection() as con:
            cols = ", ".join(RUN_COLUMNS)
            if ref == "latest":
                where, params = ("WHERE suite_name = ?", [suite]) if suite else ("", [])
                rows = con.execute(
                    f"SELECT {cols} FROM runs {where} ORDER BY started_at DESC LIMIT 1", params
                )
                if not rows:
                    raise UsageError("no runs stored yet" + (f" for suite {suite!r}" if suite else ""))
                return run_record(rows[0])
            rows = con.execute(f"SELECT {cols} FROM runs WHERE run_id = ?", (ref,))
            if not rows:
                rows = con.execute(
                    f"SELECT {cols} FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY started_at LIMIT 3",
                    (like_literal(ref) + "%",),
                )
        if not rows:
            raise UsageError(f"no run {ref!r} (see `evalkit runs`)")
        if len(rows) > 1:
            raise UsageError(f"run prefix {ref!r} is ambiguous: {', '.join(r[0] for r in rows)}, ...")
        return run_record(rows[0])

    def has_run(self, run_id: str) -> bool:
        """Whether a run with exactly this id is stored."""
        with self._connection() as con:
            return bool(con.execute("SELECT COUNT(*) FROM runs WHERE run_id = ?", (run_id,))[0][0])

    def list_runs(self, *, suite: str | None = None, limit: int = 20, offset: int = 0) -> list[RunRecord]:
        """Most recent runs first, from the ``offset``-th on."""
        cols = ", ".join(RUN_COLUMNS)
        where, params = ("WHERE suite_name = ?", [suite]) if suite else ("", [])
        with self._connection() as con:
            rows = con.execute(
                f"SELECT {cols} FROM runs {where} ORDER BY started_at DESC, run_id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        return [run_record(r) for r in rows]

    def completed_keys(self, run_id: str) -> set[tuple[str, int]]:
        """(case_id, epoch) pairs that already have a stored result in this run."""
        with self._connection() as con:
            return {
                (r[0], r[1])
                for r in con.execute("SELECT case_id, epoch FROM outputs WHERE run_id = ?", (run_id,))
            }

    def verdict_counts(self, run_id: str, *, exclude: Sequence[str] = ()) -> VerdictCounts:
        """Pass/fail/error counts and pass rate of a run, leaving out the cases in ``exclude``."""
        params: list[Any] = [run_id]
        where = ""
        if exclude:
            where = f" AND case_id NOT IN ({', '.join('?' for _ in exclude)})"
            params += list(exclude)
        with self._connection() as con:
            counts = dict(
                con.execute(
                    f"SELECT verdict, COUNT(*) FROM outputs WHERE run_id = ?{where} GROUP BY verdict", params
                )
            )
        n_pass, n_fail, n_error = (int(counts.get(k, 0)) for k in ("pass", "fail", "error"))
        scored = n_pass + n_fail
        return VerdictCounts(
            results=scored + n_error,
            passed=n_pass,
            failed=n_fail,
            errors=n_error,
            pass_rate=(n_pass / scored) if scored else None,
        )

    def mean_completion_tokens(self, model: str, prompt_hash: str | None) -> tuple[float, int]:
        """Mean completion tokens of stored, uncached outputs of a model and prompt version, and how many."""
        sql = (
            "SELECT AVG(o.completion_tokens), COUNT(*) FROM outputs o JOIN runs r ON r.run_id = o.run_id "
            "WHERE r.model = ? AND o.status = 'ok' AND NOT o.cached AND "
            + ("r.prompt_hash = ?" if prompt_hash is not None else "r.prompt_hash IS NULL")
        )
        params: list[Any] = [model] + ([prompt_hash] if prompt_hash is not None else [])
        with self._connection() as con:
            mean, n = con.execute(sql, params)[0]
        return float(mean or 0.0), int(n)

    def flaky_cases(self, run_id: str) -> list[str]:
        """Cases of a run that both passed and failed across its epochs."""
        with self._connection() as con:
            rows = con.execute(
                # MIN <> MAX rather than COUNT(DISTINCT): no set of verdicts kept per case (~2.6 MB less
                # memory for 2000 cases)
                "SELECT case_id FROM outputs WHERE run_id = ? AND verdict IN ('pass', 'fail') GROUP BY case_id "
                "HAVING MIN(verdict) <> MAX(verdict) ORDER BY case_id",
                (run_id,),
            )
        return [r[0] for r in rows]

    def flaky_history(self, suite_name: str, *, runs: int = 20) -> Any:
        """Per case: in how many of the suite's last ``runs`` runs it was flaky, and its pass rate
        (DataFrame). Re-scored runs are left out: they score the same sampled outputs again."""
        sql = (
            "WITH recent AS (SELECT run_id FROM runs WHERE suite_name = ? AND COALESCE(kind, 'full') <> 'rescore' "
            "ORDER BY started_at DESC LIMIT ?), "
            "per_run AS (SELECT o.run_id, o.case_id, "
            "SUM(CASE WHEN o.verdict = 'pass' THEN 1 ELSE 0 END) AS passes, "
            "SUM(CASE WHEN o.verdict = 'fail' THEN 1 ELSE 0 END) AS fails "
            "FROM outputs o JOIN recent r ON r.run_id = o.run_id GROUP BY o.run_id, o.case_id) "
            "SELECT case_id, SUM(CASE WHEN passes > 0 AND fails > 0 THEN 1 ELSE 0 END) AS flaky_runs, "
            "COUNT(*) AS runs, SUM(passes) * 1.0 / NULLIF(SUM(passes) + SUM(fails), 0) AS pass_rate "
            "FROM per_run GROUP BY case_id HAVING SUM(CASE WHEN passes > 0 AND fails > 0 THEN 1 ELSE 0 END) > 0 "
            "ORDER BY flaky_runs DESC, case_id"
        )
        with self._connection() as con:
            return con.query_df(sql, (suite_name, runs))

    def summarize(self, run_id: str) -> RunSummary:
        """Aggregates of a run, computed in the database: verdict counts, per-scorer rates, tokens, latency."""
        with self._connection() as con:
            totals = con.execute(
                "SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
                "COALESCE(SUM(cost_usd), 0), COALESCE(SUM(judge_cost_usd), 0), SUM(saved_cost_usd), "
                # measured latencies only (NULLs are ignored): see measured_latency_ms
                f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {measured_latency_ms()}), "
                f"percentile_cont(0.95) WITHIN GROUP (ORDER BY {measured_latency_ms()}), "
                "SUM(CASE WHEN cached THEN 1 ELSE 0 END), SUM(attempts), "
                # the provider's prompt cache (NULL in rows from before migration 13), of the prompts sent
                "SUM(cached_prompt_tokens), SUM(CASE WHEN cached THEN 0 ELSE prompt_tokens END), "
                "SUM(cache_write_tokens), SUM(prompt_cache_saved_usd), "
                # and on the scorers' calls (NULL in rows from before migration 16)
                "SUM(judge_cached_prompt_tokens), SUM(judge_cache_write_tokens), SUM(judge_prompt_cache_saved_usd) "
                "FROM outputs WHERE run_id = ? AND status = 'ok'",
                (run_id,),
            )[0]
            scorer_rows = con.execute(
                "SELECT scorer, COUNT(*), SUM(CASE WHEN passed THEN 1 ELSE 0 END), AVG(score) "
                "FROM scores WHERE run_id = ? AND error IS NULL GROUP BY scorer ORDER BY scorer",
                (run_id,),
            )
            scorer_errors = dict(
                con.execute(
                    "SELECT scorer, COUNT(*) FROM scores WHERE run_id = ? AND error IS NOT NULL GROUP BY scorer",
                    (run_id,),
                )
            )
        return RunSummary(
            **self.verdict_counts(run_id).model_dump(),
            prompt_tokens=int(totals[1]),
            completion_tokens=int(totals[2]),
            **run_costs(float(totals[3]), float(totals[4]), totals[5]),
            latency_p50_ms=float(totals[6]) if totals[6] is not None else None,
            latency_p95_ms=float(totals[7]) if totals[7] is not None else None,
            cached=int(totals[8] or 0),
            **prompt_cache_fields(totals[10], totals[11], totals[12], totals[13]),
            **judge_prompt_cache_fields(totals[14], totals[15], totals[16]),
            scorers={
                name: ScorerSummary(
                    scored=int(n),
                    passed=int(p),
                    pass_rate=(int(p) / int(n)) if n else None,
                    mean_score=float(mean) if mean is not None else None,
                    errors=int(scorer_errors.get(name, 0)),
                )
                for name, n, p, mean in scorer_rows
            }
            | {
                name: ScorerSummary(scored=0, passed=0, pass_rate=None, mean_score=None, errors=int(n))
                for name, n in scorer_errors.items()
                if name not in {r[0] for r in scorer_rows}
            },
        )

    # ---- judge calibrations (evalkit calibrate; read by the gate) -------------------------------

    def add_calibration(self, report: Any) -> None:
        """Store a judge calibration report (an :class:`evalkit.judges.calibration.CalibrationReport`)."""
        data = report.model_dump(mode="json")
        values = {c: data.get(c) for c in CALIBRATION_COLUMNS}
        values["created_at"] = report.created_at
        # what has no column of its own: confusion matrix, per-label counts, reliability table
        values["report_json"] = to_json({k: v for k, v in data.items() if k not in CALIBRATION_COLUMNS})
        with self._transaction() as con:
            con.insert(
                "judge_calibrations", CALIBRATION_COLUMNS, [tuple(values[c] for c in CALIBRATION_COLUMNS)]
            )

    def latest_calibrations(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The newest stored calibration of each (judge model, rubric hash) that has one."""
        cols = ", ".join(CALIBRATION_COLUMNS)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        with self._connection() as con:
            for model, rubric in dict.fromkeys(keys):
                rows = con.execute(
                    f"SELECT {cols} FROM judge_calibrations WHERE judge_model = ? AND rubric_hash = ? "
                    "ORDER BY created_at DESC LIMIT 1",
                    (model, rubric),
                )
                if rows:
                    found[(model, rubric)] = calibration_dict(rows[0])
        return found

    def list_calibrations(self, *, limit: int = 20) -> list[dict[str, Any]]:
        """Stored calibrations, newest first."""
        cols = ", ".join(CALIBRATION_COLUMNS)
        with self._connection() as con:
            rows = con.execute(
                f"SELECT {cols} FROM judge_calibrations ORDER BY created_at DESC LIMIT ?", (limit,)
            )
        return [calibration_dict(r) for r in rows]
