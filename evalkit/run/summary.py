"""A run's stored summary and gate decision, the same for a run, a re-scored run and a merged run.

The gate judges every result except those of quarantined cases: the suite's ``quarantine`` list;
with ``quarantine_flaky``, the cases that both passed and failed across epochs; and the cases
awaiting an expected output that a scorer of the suite compares with (unverified candidates, mined
or generated, which that scorer skips), unless another scorer failed them under ``case_pass: all``
(a failure stands whatever the missing comparison would say). Each suite
judge's calibration is checked against it (``min_kappa``, ``calibration: warn|fail``). A run that
re-scores stored outputs or merges shards is judged by these same rules, so it cannot pass where
the run it stands for would fail.

A run's tokens and cost are those of its stored results, plus what it spent on answers no stored
result holds (:func:`with_unstored_spend`): a run stopped while cases were being scored paid for
their answers all the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evalkit.errors import ExitCode
from evalkit.gate.judges import JudgeCheck, judge_checks
from evalkit.gate.suite import GateDecision, apply_judge_checks, apply_scorer_errors, decide
from evalkit.results import RunSummary, VerdictCounts, run_costs
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
    empty = store.get_run(run_id) if summary.results == 0 else None
    if empty is not None and empty.shard is not None and empty.n_cases == 0:
        # rendezvous hashing leaves a shard empty now and then (a small suite, many shards): nothing
        # failed, and its CI job must not (exit 3 would stop the merge that judges the whole suite);
        # a shard with cases and no result (stopped at once) is judged as any run
        decision = GateDecision(
            passed=True,
            exit_code=ExitCode.OK,
            reasons=[
                f"shard {empty.shard} holds none of the suite's cases: nothing to judge "
                "(`evalkit merge` judges the suite)"
            ],
        )
    return summary, apply_judge_checks(decision, checks), checks


# below this, a difference between what the calls spent and what the results hold is the order in
# which the same costs were summed, not an answer (the cheapest call costs ~1e-7 USD)
_SUMMING_NOISE_USD = 1e-9


def with_unstored_spend(summary: RunSummary) -> RunSummary:
    """The summary with what its run's calls spent (``summary.calls``, every part of the run) beyond
    its stored results added to its tokens and cost, and said apart (``unstored_*``).

    A run stopped by ``--budget``, a signal or a refused commit has paid for answers it did not
    store: a case whose judging no longer fit the budget, a case being scored at the signal (kept in
    the response cache, where ``--resume`` finds them at no new cost: they count once, in the part
    that paid for them), or answers after the refused commit; a complete run may have paid twice for
    an answer it stored once (asked again after such a stop, or by a Ray shard resubmitted after its
    worker died). The stored results alone would say it spent less than it did. Where the results
    hold more than the counters (a part killed after its counters were last written), the results'
    figures stand."""
    calls = summary.calls
    if calls is None:
        return summary
    target = summary.target_cost_usd if summary.target_cost_usd is not None else summary.cost_usd
    judge = summary.judge_cost_usd or 0.0
    more_target = calls.spent_usd - calls.judge_spent_usd - target
    more_judge = calls.judge_spent_usd - judge
    more_target = more_target if more_target > _SUMMING_NOISE_USD else 0.0
    more_judge = more_judge if more_judge > _SUMMING_NOISE_USD else 0.0
    more_in = max(0, calls.prompt_tokens - summary.prompt_tokens)
    more_out = max(0, calls.completion_tokens - summary.completion_tokens)
    if not (more_target or more_judge or more_in or more_out):
        return summary
    return summary.model_copy(
        update={
            "prompt_tokens": summary.prompt_tokens + more_in,
            "completion_tokens": summary.completion_tokens + more_out,
            **run_costs(target + more_target, judge + more_judge, summary.saved_cost_usd),
            "unstored_cost_usd": more_target + more_judge,
            "unstored_prompt_tokens": more_in,
            "unstored_completion_tokens": more_out,
        }
    )
