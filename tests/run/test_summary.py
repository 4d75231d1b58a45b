"""A run's summary counts what its calls spent beyond its stored results, once, and only that."""

from __future__ import annotations

import pytest

from evalkit.report.formatting import cost_text
from evalkit.results import CallCounts, RunSummary, run_costs
from evalkit.run.summary import with_unstored_spend


def stored(target: float, judge: float, tokens: tuple[int, int], calls: CallCounts) -> RunSummary:
    """A summary as the store computes it from a run's results, with the run's call counters."""
    return RunSummary(
        results=4,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        **run_costs(target, judge, None),
    ).model_copy(update={"calls": calls})


def test_answers_no_stored_result_holds_are_added_and_said_apart() -> None:
    calls = CallCounts(spent_usd=0.005, judge_spent_usd=0.002, prompt_tokens=130, completion_tokens=70)
    summary = with_unstored_spend(stored(0.0025, 0.0015, (100, 50), calls))
    assert (summary.cost_usd, summary.target_cost_usd) == (pytest.approx(0.005), pytest.approx(0.003))
    assert summary.judge_cost_usd == pytest.approx(0.002)
    assert (summary.prompt_tokens, summary.completion_tokens) == (130, 70)
    assert summary.unstored_cost_usd == pytest.approx(0.001)
    assert (summary.unstored_prompt_tokens, summary.unstored_completion_tokens) == (30, 20)
    assert {"unstored_cost_usd", "unstored_prompt_tokens"} <= set(summary.stored())
    text = cost_text(summary, stopped=True)
    assert "· $0.0010 of it (30 in / 20 out tokens) on answers not stored as results yet" in text
    # complete: asked for again (a --resume --no-cache, a resume after a refused commit, a Ray shard
    # resubmitted after its worker died repeating a result)
    assert "on answers no stored result holds (asked for again: after a stop" in cost_text(summary)


def test_the_results_figures_stand_where_the_counters_hold_less() -> None:
    """Counters summed in another order than the results' costs differ by rounding, not by an answer;
    a part killed after its counters were last written left results they do not count. Neither adds
    anything, and the summary keeps the shape it is stored in."""
    noise = CallCounts(spent_usd=0.1 + 0.2, judge_spent_usd=0.0, prompt_tokens=100, completion_tokens=50)
    rounded = stored(0.3, 0.0, (100, 50), noise)
    assert with_unstored_spend(rounded) == rounded and "unstored_cost_usd" not in rounded.stored()
    killed = CallCounts(spent_usd=0.001, judge_spent_usd=0.0005, prompt_tokens=40, completion_tokens=20)
    summary = stored(0.002, 0.001, (100, 50), killed)
    assert with_unstored_spend(summary) == summary
    assert with_unstored_spend(RunSummary(cost_usd=0.01)) == RunSummary(cost_usd=0.01)  # no counters
