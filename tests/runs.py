"""Stored runs for comparison and report tests, written through the real Store (no model needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from evalkit.cases import Case
from evalkit.results import CaseResult, OutputRecord, RunRecord, ScoreRow
from evalkit.scorers.base import FieldScore
from evalkit.store import Store

_T0 = datetime(2026, 1, 5, 9, 0, 0)


def run_record(
    run_id: str,
    *,
    suite: str = "s",
    prompt: str | None = "v1",
    model: str = "openai/m",
    group_id: str | None = None,
    gate: dict[str, Any] | None = None,
    minutes: int = 0,
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        suite_name=suite,
        prompt_version=prompt,
        prompt_hash=f"hash-{prompt}",
        model=model,
        started_at=_T0 + timedelta(minutes=minutes),
        config={"gate": gate or {}},
        group_id=group_id,
    )


@dataclass
class Outcome:
    """One synthetic case result: pass/fail/error, output text, optional judge reasoning and fields."""

    case_id: str
    verdict: str  # pass | fail | error
    output: str = '{"answer": "x"}'
    expected: Any = None
    tags: list[str] = field(default_factory=list)
    score: float | None = None
    latency_ms: float = 120.0
    reasoning: str | None = None
    fields: dict[str, bool] = field(default_factory=dict)
    input: dict[str, Any] = field(default_factory=lambda: {"question": "q"})
    cost_usd: float = 0.0
    cached: bool = False  # answered from the response cache: stored with latency 0


def case_result(o: Outcome, epoch: int = 0) -> CaseResult:
    case = Case(id=o.case_id, input=o.input, expected=o.expected or {"answer": "x"}, tags=o.tags)
    if o.verdict == "error":
        output = OutputRecord(status="error", error="HTTP 503 from provider", attempts=4)
        return CaseResult(case=case, epoch=epoch, output=output, verdict="error")
    passed = o.verdict == "pass"
    score = o.score if o.score is not None else (1.0 if passed else 0.0)
    output = OutputRecord(
        status="ok",
        text=o.output,
        parsed=None,
        extraction="none",
        latency_ms=0.0 if o.cached else o.latency_ms,
        cached=o.cached,
        prompt_tokens=50,
        completion_tokens=10,
        cost_usd=o.cost_usd,
    )
    details = {"reasoning": o.reasoning} if o.reasoning else {}
    scores = [
        ScoreRow(
            scorer="judge" if o.reasoning else "exact",
            score=score,
            passed=passed,
            reason="matches" if passed else "answer differs from expected",
            details=details,
            fields=[
                FieldScore(field=name, score=float(ok), passed=ok, status="match" if ok else "mismatch")
                for name, ok in o.fields.items()
            ],
        )
    ]
    return CaseResult(case=case, epoch=epoch, output=output, scores=scores, verdict=o.verdict, score=score)  # type: ignore[arg-type]


def store_run(store: Store, record: RunRecord, outcomes: list[Outcome]) -> RunRecord:
    """Create the run, add its results and finish it with the store's own summary."""
    store.create_run(record.model_copy(update={"n_cases": len(outcomes)}))
    store.add_results(record.run_id, [case_result(o) for o in outcomes])
    summary = store.summarize(record.run_id)
    store.finish_run(record.run_id, status="complete", summary=summary)
    return store.get_run(record.run_id)
