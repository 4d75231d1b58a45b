"""Explaining cases: why each one failed, assembled from the stored outputs and scores.

Used by the run summary, ``evalkit show``, JUnit XML and the pytest plugin, so they all say the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.results import CaseResult
from evalkit.store import Store


@dataclass(frozen=True)
class ScorerNote:
    """One scorer's verdict on a case, for display."""

    scorer: str
    score: float
    passed: bool
    reason: str
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseExplanation:
    """A case's verdict with the reasons behind it and what was compared."""

    case_id: str
    epoch: int
    verdict: str
    score: float | None
    error: str | None
    input: Any
    expected: Any
    output: str | None
    tags: list[str]
    latency_ms: float
    notes: list[ScorerNote]

    @property
    def reasons(self) -> list[str]:
        """Why the case did not pass: the error, or each failing scorer's reason."""
        if self.verdict == "error" and self.error:
            return [f"error: {self.error}"]
        out = [f"{n.scorer}: {n.reason}" for n in self.notes if not n.passed and n.error is None]
        out += [f"{n.scorer}: could not score ({n.error})" for n in self.notes if n.error is not None]
        return out or ["weighted score below the case threshold"]

    @property
    def name(self) -> str:
        return self.case_id if self.epoch == 0 else f"{self.case_id}#{self.epoch}"


def explain_cases(
    store: Store,
    run_id: str,
    *,
    verdicts: Sequence[str] | None = ("fail", "error"),
    limit: int | None = None,
    case_ids: Sequence[str] | None = None,
) -> list[CaseExplanation]:
    """Explanations of the cases of a run (by default only those that failed or errored)."""
    with store.session():
        outputs = store.case_results(
            run_id, verdicts=verdicts, limit=None if case_ids else limit, frame=False
        )
        if case_ids is not None:
            outputs = outputs.where("case_id", set(case_ids)).head(limit)
        scores = store.score_rows(run_id, list(dict.fromkeys(outputs.columns(["case_id"])[0])), frame=False)
    notes: dict[tuple[str, int], list[ScorerNote]] = {}
    for row in scores:
        notes.setdefault((row.case_id, int(row.epoch)), []).append(
            ScorerNote(
                scorer=row.scorer,
                score=float(row.score),
                passed=bool(row.passed),
                reason=row.reason,
                error=row.error if isinstance(row.error, str) else None,
                details=json.loads(row.details_json) if row.details_json else {},
            )
        )
    explained = []
    for row in outputs:
        explained.append(
            CaseExplanation(
                case_id=row.case_id,
                epoch=int(row.epoch),
                verdict=row.verdict,
                score=None if _missing(row.score) else float(row.score),
                error=row.error if isinstance(row.error, str) else None,
                input=json.loads(row.input_json),
                expected=json.loads(row.expected_json) if isinstance(row.expected_json, str) else None,
                output=row.raw_text if isinstance(row.raw_text, str) else None,
                tags=json.loads(row.tags_json),
                latency_ms=float(row.latency_ms),
                notes=notes.get((row.case_id, int(row.epoch)), []),
            )
        )
    return explained


def explain_result(result: CaseResult) -> CaseExplanation:
    """The explanation of a result not yet read back from the store (the pytest plugin, ``assert_case``)."""
    return CaseExplanation(
        case_id=result.case.id,
        epoch=result.epoch,
        verdict=result.verdict,
        score=result.score,
        error=result.output.error,
        input=result.case.input,
        expected=result.case.expected,
        output=result.output.text,
        tags=list(result.case.tags),
        latency_ms=result.output.latency_ms,
        notes=[
            ScorerNote(
                scorer=s.scorer,
                score=s.score,
                passed=s.passed,
                reason=s.reason,
                error=s.error,
                details=s.details,
            )
            for s in result.scores
        ],
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
