"""How far to trust a run's verdicts: self-reported confidence, judge noise and target noise.

- **Confidence calibration**: when the suite names ``target.confidence_field``, each stored output's
  confidence is checked against the case's verdict (pass = the model was right): expected
  calibration error and a reliability table.
- **Judge noise**: for every ``llm_judge`` scorer that cast several votes per output (a panel, or
  ``repeats``), how much the votes on the *same output* disagree.
- **Target noise**: for runs with several epochs, how often the *target's* verdict on the same case
  changes between epochs. Kept apart from the judge's noise: one is the grader, the other the graded.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, Field

from evalkit.judges.agreement import ReliabilityBin, expected_calibration_error, reliability_table
from evalkit.outputs import MISSING, get_path


class ConfidenceReport(BaseModel):
    """Self-reported confidence against verdicts."""

    field: str
    cases: int  # scored outputs (pass or fail)
    with_confidence: int  # of which reported a usable confidence
    mean_confidence: float | None
    accuracy: float | None  # pass rate of the outputs that reported a confidence
    ece: float | None
    reliability: list[ReliabilityBin] = Field(default_factory=lambda: [])


class JudgeNoise(BaseModel):
    """Disagreement among the votes a judge scorer cast on the same outputs."""

    scorer: str
    outputs: int  # outputs with at least two votes
    mean_votes: float
    split_rate: float | None  # share of those outputs whose votes disagreed on pass/fail
    mean_vote_agreement: float | None  # mean share of votes agreeing with the final verdict
    mean_score_stdev: float | None  # mean spread of the votes' 0-10 scores


class TargetNoise(BaseModel):
    """Verdict changes of the target across epochs of the same case."""

    cases: int  # cases with at least two scored epochs
    flip_rate: float | None  # share of those whose verdict differed between epochs


class ReliabilityReport(BaseModel):
    run_id: str
    confidence: ConfidenceReport | None
    judges: list[JudgeNoise]
    target: TargetNoise


def confidence_value(value: Any) -> float | None:
    """A confidence in [0, 1] from a JSON value: a number in [0, 1], or a percentage in (1, 100]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    if 0.0 <= number <= 1.0:
        return number
    if 1.0 < number <= 100.0:
        return number / 100.0
    return None


def confidence_report(outputs: list[tuple[Any, str]], field: str, bins: int = 10) -> ConfidenceReport:
    """``outputs``: (parsed output, verdict) pairs. Errors are left out; a pass is a correct answer."""
    scored = [(parsed, verdict) for parsed, verdict in outputs if verdict in ("pass", "fail")]
    pairs = []
    for parsed, verdict in scored:
        raw = get_path(parsed, field) if parsed is not None else MISSING
        conf = None if raw is MISSING else confidence_value(raw)
        if conf is not None:
            pairs.append((conf, verdict == "pass"))
    confs, outcomes = [c for c, _ in pairs], [ok for _, ok in pairs]
    return ConfidenceReport(
        field=field,
        cases=len(scored),
        with_confidence=len(pairs),
        mean_confidence=sum(confs) / len(confs) if confs else None,
        accuracy=sum(outcomes) / len(outcomes) if outcomes else None,
        ece=expected_calibration_error(confs, outcomes, bins),
        reliability=reliability_table(confs, outcomes, bins) if pairs else [],
    )


def judge_noise(score_rows: list[tuple[str, dict[str, Any]]]) -> list[JudgeNoise]:
    """``score_rows``: (scorer, details) of every stored score; judge scorers are those with votes."""
    per_scorer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for scorer, details in score_rows:
        if isinstance(details.get("votes"), list) and (details.get("n_votes") or 0) >= 2:
            per_scorer[scorer].append(details)
    out = []
    for scorer, rows in sorted(per_scorer.items()):
        stdevs = [r["score_stdev"] for r in rows if r.get("score_stdev") is not None]
        out.append(
            JudgeNoise(
                scorer=scorer,
                outputs=len(rows),
                mean_votes=statistics.fmean(r["n_votes"] for r in rows),
                split_rate=sum(bool(r.get("split")) for r in rows) / len(rows),
                mean_vote_agreement=statistics.fmean(r.get("vote_agreement", 1.0) for r in rows),
                mean_score_stdev=statistics.fmean(stdevs) if stdevs else None,
            )
        )
    return out


def target_noise(verdicts: list[tuple[str, str]]) -> TargetNoise:
    """``verdicts``: (case id, verdict) of every stored output, all epochs; errors left out."""
    by_case: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for case_id, verdict in verdicts:
        if verdict in ("pass", "fail"):
            by_case[case_id].add(verdict)
            counts[case_id] += 1
    repeated = [c for c, n in counts.items() if n >= 2]
    flips = sum(len(by_case[c]) > 1 for c in repeated)
    return TargetNoise(cases=len(repeated), flip_rate=flips / len(repeated) if repeated else None)


def run_reliability(
    store: Any, run_ref: str, *, field: str | None = None, bins: int = 10
) -> ReliabilityReport:
    """The reliability report of a stored run (``field`` overrides the suite's confidence_field)."""
    record = store.get_run(run_ref)
    field = field or (record.config.get("target") or {}).get("confidence_field")
    with store.session():
        frame = store.case_results(record.run_id)
        scores = store.score_rows(record.run_id)
    confidence = None
    if field:
        outputs = [
            (json.loads(p) if isinstance(p, str) else None, v)
            for p, v in zip(frame["parsed_json"], frame["verdict"], strict=True)
        ]
        confidence = confidence_report(outputs, field, bins)
    rows = [
        (s, json.loads(d) if d else {}) for s, d in zip(scores["scorer"], scores["details_json"], strict=True)
    ]
    return ReliabilityReport(
        run_id=record.run_id,
        confidence=confidence,
        judges=judge_noise(rows),
        target=target_noise(list(zip(frame["case_id"], frame["verdict"], strict=True))),
    )
