"""A run's stored summary and gate decision, the same for a run, a re-scored run and a merged run.

The gate judges every result except those of quarantined cases: the suite's ``quarantine`` list;
with ``quarantine_flaky``, the cases that both passed and failed across epochs; and the cases
awaiting an expected output that a scorer of the suite compares with (unverified candidates, mined
or generated, which that scorer skips), unless another scorer failed them under ``case_pass: all``
(a failure stands whatever the missing comparison would say). Each suite
judge's calibration is checked against it (``min_kappa``, ``calibration: warn|fail``). A run that
re-scores stored outputs or merges shards is judged by these same rules, so it cannot pass where
the run it stands for would fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evalkit.gate.judges import JudgeCheck, judge_checks
from evalkit.gate.suite import GateDecision, apply_judge_checks, apply_scorer_errors, decide
from evalkit.results import RunSummary, VerdictCounts
from evalkit.store import Store
from evalkit.suite.spec import GateSpec


def _awaiting_expected(
    store: Store, run_id: str, scorers: Sequence[Mapping[str, Any]]
) -> list[tuple[str, bool]]:
    """Cases with no expected output yet (unverified candidates) in a suite with a scorer that
    compares with one, each with whether a result of it failed: that scorer skipped them, so a pass
    on the others is no pass of the case."""
    from evalkit.scorers.base import needs_expected

    try:
        needed = any(needs_expected(str(s.get("name")), s.get("args") or {}) for s in scorers)
    except Exception:  # a scorer this installation does not have (a merge elsewhere): not known
        needed = False
    if not needed:
        return []
    return store.cases_awaiting_expected(run_id)


def judged_summary(
    store: Store,
    run_id: str,
    gate: GateSpec,
    scorers: Sequence[Mapping[str, Any]],
    repeat: int,
    **updates: Any,
) -> tuple[RunSummary, GateDecision, list[JudgeCheck]]:
    """The run's stored aggregates with ``updates``, what its gate counts, the gate's decision (its
    judges' calibrations applied, not yet stored in the summary) and those judge checks."""
    flaky = store.flaky_cases(run_id) if repeat > 1 else []  # one epoch per case: none can be flaky
    auto = set(flaky) if gate.quarantine_flaky else set()
    if auto and gate.critical_tag:  # a critical case must pass: failing some epochs is no excuse
        tags = store.case_tags(run_id, sorted(auto))
        auto = {case for case in auto if gate.critical_tag not in tags.get(case, [])}
    awaiting = _awaiting_expected(store, run_id, scorers)
    # with every scorer required to pass, one that failed such a case fails it whatever the missing
    # comparison would say: it counts; one the others passed (or none could judge) is kept out
    unjudged = {case for case, failed in awaiting if not (failed and gate.case_pass == "all")}
    quarantined = sorted(set(gate.quarantine) | auto | unjudged)
    summary = store.summarize(run_id)
    gate_counts = (  # with nothing quarantined, the gate counts what the summary counted
        store.verdict_counts(run_id, exclude=quarantined)
        if quarantined
        else VerdictCounts(**{key: getattr(summary, key) for key in VerdictCounts.model_fields})
    )
    summary = summary.model_copy(
        update={
            "repeat": repeat,
            "flaky": sorted(flaky),
            "quarantined": quarantined,
            **({"awaiting_expected": sorted(unjudged)} if unjudged else {}),
            "gate_counts": gate_counts,
            **updates,
        }
    )
    checks = judge_checks(scorers, store)
    decision = apply_scorer_errors(decide(gate_counts, gate), summary.scorers, gate)
    return summary, apply_judge_checks(decision, checks), checks
