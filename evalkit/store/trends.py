"""Week-by-week aggregates of chosen runs of a suite, for ``evalkit trend`` (portable SQL).

Weeks start on Monday (``date_trunc('week', ...)`` in DuckDB and PostgreSQL alike). Provider errors
are counted apart and never enter a pass rate; latency is of measured answers only (not cached, not
recorded: ``measured_latency_ms``). Which runs a
trend pools is decided by the caller from :meth:`TrendStore.complete_runs` (one prompt version and
model, runs of some kinds): the weekly queries aggregate exactly the run ids they are given. Their
cost and tokens are of stored results only; what a run spent beyond them is in its summary
(``unstored_*``), which ``evalkit trend`` adds to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from evalkit.store.columns import measured_latency_ms
from evalkit.store.queries import Store

_WEEK = "date_trunc('week', r.started_at)"
_COMPLETE = "r.suite_name = ? AND r.started_at >= ? AND r.status = 'complete'"


class TrendStore:
    """Weekly pass rates, cost and latency of some complete runs of a suite."""

    def __init__(self, store: Store, run_ids: Sequence[str] | None = None) -> None:
        self.store = store
        self.run_ids = run_ids  # the runs the weekly queries pool (None: every complete run)

    def complete_runs(self, suite_name: str, since: datetime) -> Any:
        """The suite's complete runs since ``since``, newest first: id, week, prompt version, model,
        kind, stored summary and config (JSON text), prompt hash and case set hash."""
        sql = (
            f"SELECT r.run_id, {_WEEK} AS week, r.prompt_version, r.model, r.kind, r.summary_json, "
            f"r.config_json, r.prompt_hash, r.case_set_hash FROM runs r "
            f"WHERE {_COMPLETE} ORDER BY r.started_at DESC"
        )
        with self.store._connection() as con:
            return con.query_df(sql, (suite_name, since))

    def weekly_suite(self, suite_name: str, since: datetime) -> Any:
        """Per week: runs, verdict counts, cost, tokens and latency percentiles (a DataFrame)."""
        sql = (
            f"SELECT {_WEEK} AS week, COUNT(DISTINCT r.run_id) AS runs, "
            "SUM(CASE WHEN t.verdict = 'pass' THEN 1 ELSE 0 END) AS passed, "
            "SUM(CASE WHEN t.verdict = 'fail' THEN 1 ELSE 0 END) AS failed, "
            "SUM(CASE WHEN t.verdict = 'error' THEN 1 ELSE 0 END) AS errors, "
            # cost: the target's and the judge's calls (judge_cost_usd is NULL in rows from before migration 11)
            "SUM(t.cost_usd + COALESCE(t.judge_cost_usd, 0)) AS cost_usd, "
            "SUM(COALESCE(t.judge_cost_usd, 0)) AS judge_cost_usd, SUM(t.prompt_tokens) AS prompt_tokens, "
            "SUM(t.completion_tokens) AS completion_tokens, "
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {measured_latency_ms('t')}) AS latency_p50_ms, "
            f"percentile_cont(0.95) WITHIN GROUP (ORDER BY {measured_latency_ms('t')}) AS latency_p95_ms "
            + self._runs("outputs")
            + f" GROUP BY {_WEEK} ORDER BY week"
        )
        return self._query(sql, suite_name, since)

    def weekly_kept_out(self, suite_name: str, since: datetime, cases: Mapping[str, Sequence[str]]) -> Any:
        """Per week: the verdicts of some cases of some runs (``cases``: run id -> case ids), those a
        pass rate leaves out (cases awaiting an expected output: a pass on the other scorers alone is
        no pass of the case). Columns week, passed, failed, errors."""
        parts = [f"(t.run_id = ? AND t.case_id IN ({', '.join('?' for _ in ids)}))" for ids in cases.values()]
        params = [value for run_id, ids in cases.items() for value in (run_id, *ids)]
        sql = (
            f"SELECT {_WEEK} AS week, SUM(CASE WHEN t.verdict = 'pass' THEN 1 ELSE 0 END) AS passed, "
            "SUM(CASE WHEN t.verdict = 'fail' THEN 1 ELSE 0 END) AS failed, "
            "SUM(CASE WHEN t.verdict = 'error' THEN 1 ELSE 0 END) AS errors "
            f"FROM runs r JOIN outputs t ON t.run_id = r.run_id WHERE {_COMPLETE} "
            f"AND ({' OR '.join(parts) or 'FALSE'}) GROUP BY {_WEEK} ORDER BY week"
        )
        with self.store._connection() as con:
            return con.query_df(sql, (suite_name, since, *params))

    def stored_judge_cost(self, suite_name: str, since: datetime) -> Any:
        """Per run: what the judge's calls of its stored results cost (``run_id``, ``judge_cost_usd``)."""
        sql = (
            "SELECT r.run_id AS run_id, SUM(COALESCE(t.judge_cost_usd, 0)) AS judge_cost_usd "
            + self._runs("outputs")
            + " GROUP BY r.run_id"
        )
        return self._query(sql, suite_name, since)

    def weekly_scorers(self, suite_name: str, since: datetime) -> Any:
        """Per week and scorer: scored results, passes and mean score (scorer errors left out)."""
        sql = (
            f"SELECT {_WEEK} AS week, t.scorer AS scorer, COUNT(*) AS scored, "
            "SUM(CASE WHEN t.passed THEN 1 ELSE 0 END) AS passed, AVG(t.score) AS mean_score "
            + self._runs("scores")
            + f" AND t.error IS NULL GROUP BY {_WEEK}, t.scorer ORDER BY week, scorer"
        )
        return self._query(sql, suite_name, since)

    def weekly_fields(self, suite_name: str, since: datetime) -> Any:
        """Per week, scorer and field: fields compared, how many passed, and the slot counts (nn ... vw).

        Rows stored before slots were (migration 8) count by what their status implies.
        """
        slot = (
            "CASE WHEN t.slot IS NOT NULL THEN t.slot WHEN t.status IN ('match', 'partial') THEN 'VC' "
            "WHEN t.status = 'mismatch' THEN 'VW' WHEN t.status = 'missing' THEN 'VN' ELSE 'NV' END"
        )
        counts = ", ".join(
            f"SUM(CASE WHEN {slot} = '{s}' THEN 1 ELSE 0 END) AS {s.lower()}"
            for s in ("NN", "NV", "VN", "VC", "VW")
        )
        sql = (
            f"SELECT {_WEEK} AS week, t.scorer AS scorer, t.field AS field, COUNT(*) AS compared, "
            f"SUM(CASE WHEN t.passed THEN 1 ELSE 0 END) AS passed, {counts} "
            + self._runs("field_scores")
            + f" GROUP BY {_WEEK}, t.scorer, t.field ORDER BY week, scorer, field"
        )
        return self._query(sql, suite_name, since)

    def _runs(self, table: str) -> str:
        chosen = ""
        if self.run_ids is not None:  # an empty choice matches no run
            chosen = f" AND r.run_id IN ({', '.join('?' for _ in self.run_ids) or 'NULL'})"
        return f"FROM runs r JOIN {table} t ON t.run_id = r.run_id WHERE {_COMPLETE}{chosen}"

    def _query(self, sql: str, suite_name: str, since: datetime) -> Any:
        with self.store._connection() as con:
            return con.query_df(sql, (suite_name, since, *(self.run_ids or ())))
