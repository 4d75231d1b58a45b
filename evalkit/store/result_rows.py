"""The rows a batch of case results adds to the store, built as each result arrives.

A run's writer keeps these tuples (a few hundred bytes per result) instead of the results
themselves (~8 KB of pydantic models each) until its batch is committed, so what waits for a
commit costs little memory. Each tuple follows its table's columns in :mod:`evalkit.store.queries`
(``CASE_COLUMNS``, ``OUTPUT_COLUMNS``, ``SCORE_COLUMNS``, ``FIELD_COLUMNS``, ``CACHE_COLUMNS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalkit.results import CaseResult
from evalkit.store.values import to_json, utcnow

Row = tuple[Any, ...]


class ResultRows:
    """Rows for ``cases``, ``outputs``, ``scores``, ``field_scores`` and ``response_cache``."""

    def __init__(self, run_id: str, *, new_cases: bool = False) -> None:
        self.run_id = run_id
        # no case of these rows is stored for the run yet (a new run, one epoch per case): the case
        # rows are inserted without looking for earlier ones, ~5 ms less per batch
        self.new_cases = new_cases
        self.cases: list[Row] = []  # one per case, however many of its epochs the batch holds
        self.outputs: list[Row] = []  # one per result
        self.scores: list[Row] = []
        self.fields: list[Row] = []
        self.cache: list[Row] = []
        # the run's call counters as of this batch (JSON of CallCounts), stored with it: a process
        # killed later leaves them for its resumption to count on from
        self.calls_json: str | None = None
        self._seen_cases: set[str] = set()

    def __len__(self) -> int:
        """Results held."""
        return len(self.outputs)

    def __bool__(self) -> bool:
        return bool(self.outputs or self.cache)

    def add(self, result: CaseResult) -> None:
        run_id, case, o = self.run_id, result.case, result.output
        if case.id not in self._seen_cases:
            self._seen_cases.add(case.id)
            self.cases.append(
                (
                    run_id,
                    case.id,
                    to_json(case.input),
                    to_json(case.expected) if case.expected is not None else None,
                    to_json(case.tags),
                    case.source.value,
                    case.verified,
                    to_json(case.provenance),
                )
            )
        self.outputs.append(
            (
                run_id,
                case.id,
                result.epoch,
                o.status,
                o.text,
                to_json(o.parsed) if o.extraction != "none" else None,
                o.extraction,
                o.error,
                o.latency_ms,
                o.prompt_tokens,
                o.completion_tokens,
                o.cost_usd,
                o.attempts,
                o.cached,
                result.verdict,
                result.score,
                utcnow(),
                result.judge_cost_usd,
                result.saved_cost_usd,
                o.cached_prompt_tokens,
                o.cache_write_tokens,
                o.prompt_cache_saved_usd,
                result.judge_cached_prompt_tokens,
                result.judge_cache_write_tokens,
                result.judge_prompt_cache_saved_usd,
            )
        )
        for s in result.scores:
            self.scores.append(
                (
                    run_id,
                    case.id,
                    result.epoch,
                    s.scorer,
                    s.score,
                    s.passed,
                    s.weight,
                    s.reason,
                    s.error,
                    to_json(s.details),
                )
            )
            for f in s.fields:
                self.fields.append(
                    (
                        run_id,
                        case.id,
                        result.epoch,
                        s.scorer,
                        f.field,
                        f.score,
                        f.passed,
                        f.status,
                        to_json(f.expected),
                        to_json(f.actual),
                        f.slot,
                    )
                )

    def add_cache(self, cache_rows: Sequence[tuple[str, str, Any]]) -> None:
        """New ``(cache_key, model, Completion)`` responses for the response cache."""
        now = utcnow()
        self.cache.extend(
            (
                key,
                model,
                c.text,
                c.prompt_tokens,
                c.completion_tokens,
                c.cost_usd,
                c.latency_ms,
                now,
                self.run_id,
            )
            for key, model, c in cache_rows
        )
