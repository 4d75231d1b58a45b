"""What a comparison reads of one run: each case's verdict, score, usage and reasons, over its epochs.

:func:`load_outcomes` reads a :class:`RunOutcomes` from the store; :func:`outcomes_from_frames` builds
one from a run's loaded tables (the HTML report has them already). :mod:`evalkit.analysis.compare`
compares two of them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evalkit.analysis.costs import mean_result_cost, result_cost
from evalkit.analysis.paired_stats import p50_p95
from evalkit.results import RunRecord

if TYPE_CHECKING:
    from evalkit.store import Store


@dataclass(frozen=True)
class CaseOutcome:
    """One case of one run, aggregated over its epochs: what the comparison needs of it."""

    case_id: str
    passed: bool | None  # None: every epoch errored (a provider error, not a quality failure)
    score: float | None
    tags: tuple[str, ...] = ()
    cost_usd: float | None = 0.0  # target + judge, cached answers at their first cost; None: unknown
    tokens: float = 0.0
    latency_ms: float | None = None  # None when every answer came from the cache
    scorers: dict[str, tuple[bool, float]] = field(default_factory=dict)  # label -> (passed, score)
    fields: dict[str, bool] = field(default_factory=dict)  # "scorer:field" -> passed
    output: str | None = None  # raw output of the first epoch whose verdict is the case's (majority)
    expected_json: str | None = None  # as stored; parsed only for the cases that flipped
    input_json: str | None = None
    reasons: tuple[str, ...] = ()  # that epoch: why it did not pass


@dataclass(frozen=True)
class RunOutcomes:
    """A run and its cases, keyed by case id."""

    run: RunRecord
    cases: dict[str, CaseOutcome]
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None


def load_outcomes(store: Store, run: RunRecord) -> RunOutcomes:
    """A run's cases aggregated over epochs, read through the store (no SQL here)."""
    with store.session():
        frame = store.case_results(run.run_id, frame=False)
        scores = store.score_rows(run.run_id, frame=False)
        fields = store.field_rows(run.run_id, frame=False)
    return outcomes_from_frames(run, frame, scores, fields)


_FRAME_COLUMNS = (
    "case_id",
    "epoch",
    "verdict",
    "score",
    "status",
    "error",
    "raw_text",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "cached",
    "input_json",
    "expected_json",
    "tags_json",
    "judge_cost_usd",
    "saved_cost_usd",
)


def frame_columns(frame: Any, names: Sequence[str]) -> list[list[Any]]:
    """Columns as Python lists, of a DataFrame or of the store's :class:`~evalkit.store.case_reads.Rows`
    (iterating pandas' Arrow-backed columns value by value is ~10x slower)."""
    if not hasattr(frame, "tolist") and hasattr(frame, "names"):
        return frame.columns(names)  # type: ignore[no-any-return]
    return [frame[name].tolist() for name in names]


def outcomes_from_frames(run: RunRecord, frame: Any, scores: Any, fields: Any) -> RunOutcomes:
    """Build :class:`RunOutcomes` from the store's case, score and field frames (or rows)."""
    scorer_acc: dict[str, dict[str, list[tuple[bool, float]]]] = {}
    reasons: dict[tuple[str, int], list[str]] = {}  # (case, epoch) -> why it did not pass
    score_columns = frame_columns(
        scores, ("case_id", "epoch", "scorer", "score", "passed", "reason", "error")
    )
    for case_id, epoch, scorer, score, passed, reason, error in zip(*score_columns, strict=True):
        if isinstance(error, str):
            reasons.setdefault((case_id, int(epoch)), []).append(f"{scorer}: could not score ({error})")
            continue
        scorer_acc.setdefault(case_id, {}).setdefault(scorer, []).append((bool(passed), float(score)))
        if not passed:
            reasons.setdefault((case_id, int(epoch)), []).append(f"{scorer}: {reason}")
    field_acc: dict[str, dict[str, list[bool]]] = {}
    for case_id, scorer, name, passed in zip(
        *frame_columns(fields, ("case_id", "scorer", "field", "passed")), strict=True
    ):
        field_acc.setdefault(case_id, {}).setdefault(f"{scorer}:{name}", []).append(passed)

    # a run that called a model without a price (at $0), or outside the call path, or a python:/http:
    # target whose own model calls evalkit does not see: cost unknown, not 0
    priced = run.summary is None or (run.summary.cost_known and not run.summary.unmetered_target)
    per_case: dict[str, list[tuple[Any, ...]]] = {}
    for row in zip(*frame_columns(frame, _FRAME_COLUMNS), strict=True):
        per_case.setdefault(row[0], []).append(row)
    uncached_latencies: list[float] = []
    cases: dict[str, CaseOutcome] = {}
    for case_id, rows in per_case.items():
        verdicts = [r[2] for r in rows if r[2] in ("pass", "fail")]
        n_pass = sum(v == "pass" for v in verdicts)
        scored = [float(r[3]) for r in rows if r[2] != "error" and not _missing(r[3])]
        # measured latencies only, as evalkit.store.columns.measured_latency_ms: answers, not cached, not 0
        latencies = [float(r[7]) for r in rows if r[4] == "ok" and not r[11] and r[7]]
        uncached_latencies += latencies
        rows.sort(key=lambda r: int(r[1]))
        first = rows[0]
        passed = (n_pass * 2 > len(verdicts)) if verdicts else None
        # the epoch shown for the case: the first whose verdict is the case's, so a flip to "pass"
        # does not show an epoch that failed (or the reverse)
        verdict = "error" if passed is None else "pass" if passed else "fail"
        shown = next((r for r in rows if r[2] == verdict), first)
        error_reason = (f"error: {shown[5]}",) if shown[2] == "error" and isinstance(shown[5], str) else ()
        scorer_values = scorer_acc.get(case_id, {})
        cases[case_id] = CaseOutcome(
            case_id=case_id,
            passed=passed,
            score=sum(scored) / len(scored) if scored else None,
            tags=tuple(json.loads(first[14])),
            cost_usd=mean_result_cost([result_cost(r[10], r[11], r[15], r[16]) for r in rows])
            if priced
            else None,
            tokens=sum(int(r[8]) + int(r[9]) for r in rows) / len(rows),
            latency_ms=sum(latencies) / len(latencies) if latencies else None,
            scorers={
                name: (sum(p for p, _ in got) * 2 > len(got), sum(v for _, v in got) / len(got))
                for name, got in scorer_values.items()
            },
            fields={name: sum(got) * 2 > len(got) for name, got in field_acc.get(case_id, {}).items()},
            output=shown[6] if isinstance(shown[6], str) else None,
            expected_json=first[13] if isinstance(first[13], str) else None,
            input_json=first[12],
            reasons=error_reason or tuple(reasons.get((case_id, int(shown[1])), ())),
        )
    p50, p95 = p50_p95(uncached_latencies)
    return RunOutcomes(run=run, cases=cases, latency_p50_ms=p50, latency_p95_ms=p95)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
