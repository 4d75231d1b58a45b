"""Pairwise comparisons (migration 006): ``evalkit compare A B --judge`` writes them, the report reads them.

Portable SQL only, like the rest of the store.
"""

from __future__ import annotations

import json
from typing import Any

from evalkit.store.queries import Store
from evalkit.store.values import to_json

COMPARISON_COLUMNS = (
    "comparison_id",
    "run_a",
    "run_b",
    "judge_model",
    "prompt_hash",
    "verdict_method",
    "n_items",
    "wins",
    "losses",
    "ties",
    "errors",
    "win_rate",
    "ci_low",
    "ci_high",
    "sign_test_p",
    "position_agreement",
    "first_slot_share",
    "summary_json",
    "created_at",
)
VERDICT_COLUMNS = (
    "comparison_id",
    "case_id",
    "winner",
    "decided_by",
    "margin",
    "consistent",
    "winner_ab",
    "winner_ba",
    "margin_ab",
    "margin_ba",
    "reasoning_ab",
    "reasoning_ba",
    "error",
    "details_json",
)


class PairwiseStore:
    """The pairwise comparisons of a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, comparison: Any) -> None:
        """Store a :class:`evalkit.analysis.pairwise_runs.PairwiseComparison` and its verdicts, in one transaction."""
        s = comparison.stats
        judge = comparison.judge
        summary = {
            "stats": s.model_dump(mode="json"),
            "judge": judge.model_dump(mode="json"),
            "left_out": comparison.left_out,
            "calls": comparison.calls,
            "cost_usd": comparison.cost_usd,
            "unpriced_models": comparison.unpriced_models,
            "gate": comparison.gate.model_dump(mode="json") if comparison.gate is not None else None,
        }
        row = (
            comparison.comparison_id,
            comparison.run_a,
            comparison.run_b,
            judge.model,
            judge.prompt_hash,
            judge.verdict,
            s.n + s.errors,
            s.wins,
            s.losses,
            s.ties,
            s.errors,
            s.win_rate,
            s.ci_low,
            s.ci_high,
            s.sign_test_p,
            s.position_agreement,
            s.first_slot_share,
            to_json(summary),
            comparison.created_at,
        )
        verdicts = []
        for case in comparison.cases:
            v = case.verdict
            verdicts.append(
                (
                    comparison.comparison_id,
                    case.case_id,
                    v.winner,
                    v.decided_by,
                    v.margin,
                    v.consistent,
                    v.ab.winner,
                    v.ba.winner,
                    v.ab.margin,
                    v.ba.margin,
                    v.ab.reasoning,
                    v.ba.reasoning,
                    v.error,
                    to_json(v.model_dump(mode="json")),
                )
            )
        with self.store._transaction() as con:
            con.insert("pairwise_comparisons", COMPARISON_COLUMNS, [row])
            if verdicts:
                con.insert("pairwise_verdicts", VERDICT_COLUMNS, verdicts)

    def latest(self, run_a: str, run_b: str) -> dict[str, Any] | None:
        """The newest comparison of run B against run A, with its verdicts (``verdicts``: dicts by case)."""
        cols = ", ".join(COMPARISON_COLUMNS)
        with self.store._connection() as con:
            rows = con.execute(
                f"SELECT {cols} FROM pairwise_comparisons WHERE run_a = ? AND run_b = ? "
                "ORDER BY created_at DESC LIMIT 1",
                (run_a, run_b),
            )
            if not rows:
                return None
            found = dict(zip(COMPARISON_COLUMNS, rows[0], strict=True))
            verdict_rows = con.execute(
                f"SELECT {', '.join(VERDICT_COLUMNS)} FROM pairwise_verdicts WHERE comparison_id = ? "
                "ORDER BY case_id",
                (found["comparison_id"],),
            )
        found["summary"] = json.loads(found.pop("summary_json") or "{}")
        verdicts = []
        for r in verdict_rows:
            v = dict(zip(VERDICT_COLUMNS, r, strict=True))
            v["details"] = json.loads(v.pop("details_json") or "{}")
            verdicts.append(v)
        found["verdicts"] = verdicts
        return found
