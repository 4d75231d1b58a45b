"""The HTML report's case table: one record per case, each run's verdict, score, output and notes.

With several epochs a run's verdict of a case is the comparison's (the majority over its epochs,
see :class:`~evalkit.analysis.outcomes.CaseOutcome`), so the table's flips are the ones the
"Flipped cases" section counts; the output, error and scorer notes shown are the first epoch's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalkit.analysis.outcomes import RunOutcomes, frame_columns

if TYPE_CHECKING:
    from evalkit.report.html import RunView

MAX_TEXT = 20_000  # characters of one input/output shown; the store keeps everything


def _notes(scores: Any, epochs: dict[str, int]) -> dict[str, list[list[Any]]]:
    """Per case, each scorer's note of the epoch shown (``epochs``, by case id):
    [scorer, score, passed, reason, error, reasoning]."""
    notes: dict[str, list[list[Any]]] = {}
    if not len(scores):
        return notes
    columns = frame_columns(
        scores, ("case_id", "epoch", "scorer", "score", "passed", "reason", "error", "details_json")
    )
    for case_id, epoch, scorer, score, passed, reason, error, details in zip(*columns, strict=True):
        if epoch != epochs.get(case_id):
            continue
        reasoning = None
        if details and "reasoning" in details:  # cheap test first: most scorers have no explanation
            value = json.loads(details).get("reasoning")
            reasoning = None if value is None else _clip(str(value))
        notes.setdefault(case_id, []).append(
            [
                scorer,
                round(float(score), 4),
                bool(passed),
                reason,
                error if isinstance(error, str) else None,
                reasoning,
            ]
        )
    return notes


_CASE_COLUMNS = (
    "case_id",
    "epoch",
    "verdict",
    "score",
    "error",
    "raw_text",
    "input_json",
    "expected_json",
    "tags_json",
)


@dataclass
class _EpochTally:
    """One case of one run over its epochs: the row shown (its first epoch) and the verdict counts."""

    shown: tuple[Any, ...]
    passed: int = 0
    errored: int = 0
    epochs: int = 0


def _tallies(frame: Any) -> dict[str, _EpochTally]:
    tallies: dict[str, _EpochTally] = {}
    for row in zip(*frame_columns(frame, _CASE_COLUMNS), strict=True):
        tally = tallies.get(row[0])
        if tally is None:
            tally = tallies[row[0]] = _EpochTally(row)
        elif row[1] < tally.shown[1]:
            tally.shown = row
        tally.passed += row[2] == "pass"
        tally.errored += row[2] == "error"
        tally.epochs += 1
    return tallies


def case_records(views: list[RunView], outcomes: list[RunOutcomes] | None = None) -> list[dict[str, Any]]:
    """One record per case for the page's case table, in the store's case order.

    With ``outcomes`` (one per view), a run's verdict and score of a case are its
    :class:`~evalkit.analysis.outcomes.CaseOutcome`'s, what the comparison judges: the majority
    verdict over the epochs (a tie fails; an errored epoch does not vote; every epoch errored is an
    error) and the mean score. So the table's flips are exactly the comparison's. Without them (runs
    of one epoch), the first epoch's. The output, error and scorer notes are of the first epoch.

    ``s`` holds one entry per run (None when the case is not in that run): verdict ``v``, score
    ``sc``, raw output ``out``, error ``e`` and scorer notes ``n``.
    """
    per_run = [_tallies(view.frame) for view in views]
    notes = [
        _notes(view.scores, {case_id: t.shown[1] for case_id, t in tallies.items()})
        for view, tallies in zip(views, per_run, strict=True)
    ]
    records = []
    for case_id in dict.fromkeys(cid for tallies in per_run for cid in tallies):
        found = [tallies.get(case_id) for tallies in per_run]
        base = next(t.shown for t in found if t is not None)
        sides: list[dict[str, Any] | None] = []
        why: list[str] = []
        for k, (tally, run_notes) in enumerate(zip(found, notes, strict=True)):
            if tally is None:
                sides.append(None)
                continue
            _, _, verdict, score, error, raw, _, _, _ = tally.shown
            if outcomes is not None:
                outcome = outcomes[k].cases[case_id]
                verdict = "error" if outcome.passed is None else ("pass" if outcome.passed else "fail")
                score = outcome.score
            side = {
                "v": verdict,
                "sc": None if _missing(score) else round(float(score), 4),
                "out": _clip(raw) if isinstance(raw, str) else None,
                "e": error if isinstance(error, str) else None,
                "n": run_notes.get(case_id, []),
            }
            sides.append(side)
            if side["v"] != "pass":
                why.append(_why(side, tally))
        verdicts = [side["v"] if side else None for side in sides]
        flip = ""
        if len(verdicts) == 2 and {verdicts[0], verdicts[1]} == {"pass", "fail"}:
            flip = "pass→fail" if verdicts[0] == "pass" else "fail→pass"
        records.append(
            {
                "id": case_id,
                "tags": json.loads(base[8]),
                "in": _clip(base[6]),
                "exp": _clip(base[7]) if isinstance(base[7], str) else None,
                "s": sides,
                "flip": flip,
                "fail": int(bool(why)),
                "err": int("error" in verdicts),
                "why": _clip(why[-1], 300) if why else "",
            }
        )
    return records


def _why(side: dict[str, Any], tally: _EpochTally) -> str:
    """Why a run's case did not pass: its first epoch's reason, after the epochs' count when it has several."""
    shown = tally.shown[2]
    reason = ""
    if shown == "error":
        reason = f"error: {side['e']}"
    elif shown == "fail":
        reason = "; ".join(f"{n[0]}: {n[3]}" for n in side["n"] if not n[2]) or "below threshold"
    if tally.epochs == 1:
        return reason
    counted = f"passed {tally.passed} of {tally.epochs} epochs" + (
        f", {tally.errored} errored" if tally.errored else ""
    )
    return f"{counted}; first epoch: {reason}" if reason else counted


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
