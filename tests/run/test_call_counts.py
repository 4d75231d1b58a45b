"""Every counter of a run's Calls line survives being carried from one process (a Ray shard) to another."""

from __future__ import annotations

from evalkit.providers.calls import ModelCaller
from evalkit.results import CallCounts
from evalkit.run.call_counts import (
    CALL_COUNTERS,
    add_calls,
    calls_since,
    earlier_calls,
    process_calls,
    summed_calls,
)


def test_every_counter_a_shard_reports_is_added_to_the_driver_s() -> None:
    shard, driver = ModelCaller(), ModelCaller()
    made = CallCounts(**{key: i + 1 for i, key in enumerate(CALL_COUNTERS)})
    add_calls(shard, made)
    assert process_calls(shard) == made
    reported = calls_since(process_calls(shard), CallCounts())
    add_calls(driver, reported)
    add_calls(driver, reported)
    assert process_calls(driver) == CallCounts(**{k: 2 * getattr(made, k) for k in CALL_COUNTERS})
    assert calls_since(process_calls(driver), made) == made


def test_spend_is_summed_over_a_runs_parts_but_not_carried_with_a_shards_counters() -> None:
    """A Ray shard's batch reports its spend apart (for the budget's shares), and the driver adds it:
    carried with the counters as well, it would count twice."""
    shard = ModelCaller()
    shard.stats.cost_usd, shard.stats.judge_cost_usd = 0.003, 0.001
    made = process_calls(shard)
    assert (made.spent_usd, made.judge_spent_usd) == (0.003, 0.001)
    assert calls_since(made, CallCounts()).spent_usd == 0.0
    parts = summed_calls([made, None, made])
    assert (parts.spent_usd, parts.judge_spent_usd) == (0.006, 0.002)


def test_a_run_with_unreported_shard_calls_labels_its_figures_lower_bounds() -> None:
    """A Ray shard that ended before reporting its last calls (its worker killed) left calls no figure
    counts: summed over a run's parts, the mark says every count, the tokens and the spend are at
    least what they show (the stop line's spend too), not exactly."""
    from evalkit.report.formatting import calls_text, run_cost_cell, usage_text
    from evalkit.results import RunSummary
    from evalkit.run.budget import budget_stop_reason

    counted = CallCounts(requests=601, cache_misses=601, spent_usd=0.0012, prompt_tokens=2404)
    calls = summed_calls([counted, CallCounts(unreported_shards=1)])
    assert (calls.requests, calls.unreported_shards) == (601, 1)
    line = calls_text(calls)
    assert line.startswith("Calls at least 601 requests (0 retries, 0 failed)")
    assert "1 Ray shard task(s) ended before reporting their last calls" in line
    summary = RunSummary(
        results=3, passed=3, prompt_tokens=12, completion_tokens=12, cost_usd=0.0012, calls=calls
    )
    usage = usage_text(summary)
    assert usage.startswith("Tokens at least 12 in / 12 out") and "cost at least $0.0012" in usage
    assert run_cost_cell(summary) == "at least $0.0012"
    exact = summary.model_copy(update={"calls": counted})
    assert calls_text(counted).startswith("Calls 601 requests") and "Ray shard" not in calls_text(counted)
    assert usage_text(exact).startswith("Tokens 12 in") and run_cost_cell(exact) == "$0.0012"
    driver = ModelCaller()
    add_calls(driver, CallCounts(unreported_shards=1))
    driver.stats.cost_usd = 0.00004
    stop = budget_stop_reason(0.00005, driver, "evalkit run s --resume r", share=True)
    assert "spent at least $0.00004 " in stop and "(at most $0.00001 of $0.00005 left overall)" in stop


def test_requests_abandoned_at_a_stop_are_counted_once_the_part_has_ended() -> None:
    """Requests still unanswered while the run goes on are on their way; at its end they were
    abandoned in flight, and the sum over a run's parts (a resumption, a merge) keeps them."""
    caller = ModelCaller()
    caller.stats.requests, caller.stats.unanswered = 5, 2
    assert process_calls(caller).in_flight_at_stop == 0  # what each commit stores mid-run
    stopped = process_calls(caller, ended=True)
    assert (stopped.requests, stopped.in_flight_at_stop) == (5, 2)
    merged = summed_calls([stopped, CallCounts(requests=3, killed_parts=1), stopped])
    assert (merged.requests, merged.in_flight_at_stop, merged.killed_parts) == (13, 4, 1)


def test_a_run_found_running_when_resumed_counts_a_killed_part() -> None:
    """A clean stop leaves the run complete or incomplete; a killed process leaves it running."""
    from tests.runs import run_record

    recorded = CallCounts(requests=40, spent_usd=0.002)
    killed = run_record("r1").model_copy(update={"status": "running"})
    assert earlier_calls(killed, recorded) == recorded.model_copy(update={"killed_parts": 1})
    assert earlier_calls(killed, None) == CallCounts(killed_parts=1)  # killed before its first commit
    again = earlier_calls(killed, CallCounts(requests=60, killed_parts=1))  # its resumption killed too
    assert again is not None and again.killed_parts == 2
    stopped = killed.model_copy(update={"status": "incomplete"})
    assert earlier_calls(stopped, recorded) == recorded


def test_requests_in_flight_at_a_stop_label_the_tokens_and_cost_lower_bounds() -> None:
    """Requests in flight were counted as they were sent: the Calls line's count stands, the tokens
    and cost are lower bounds (the --budget stop line's spend too)."""
    from evalkit.report.formatting import calls_text, run_cost_cell, usage_text
    from evalkit.report.markdown import run_markdown
    from evalkit.results import RunSummary
    from evalkit.run.budget import budget_stop_reason
    from tests.runs import run_record

    flying = CallCounts(requests=5, cache_misses=5, spent_usd=0.0012, in_flight_at_stop=2)
    line = calls_text(flying)
    assert line.startswith("Calls 5 requests (0 retries, 0 failed)")
    assert line.endswith(
        "2 requests were in flight when the run stopped: their cost is not known (a provider may still"
        " bill them), so the tokens and cost are lower bounds"
    )
    summary = RunSummary(
        results=3, passed=3, prompt_tokens=12, completion_tokens=9, cost_usd=0.0012, calls=flying
    )
    assert summary.cost_at_least and summary.cost_known  # each stored result's cost is still its own
    usage = usage_text(summary, stopped=True)
    assert usage.startswith("Tokens at least 12 in / 9 out") and "cost at least $0.0012" in usage
    assert run_cost_cell(summary) == "at least $0.0012"
    markdown = run_markdown(run_record("r1"), summary)
    assert "Tokens at least 12 in" in markdown
    assert "(2 requests were in flight when the run stopped: their cost is not known" in markdown
    assert not RunSummary(calls=CallCounts(requests=4)).cost_at_least

    driver = ModelCaller()
    driver.stats.cost_usd, driver.stats.unanswered = 0.00004, 1  # a judge call left running at the stop
    whole = RunSummary(cost_usd=0.0003, calls=flying)
    stop = budget_stop_reason(0.00005, driver, "evalkit run s --resume r", run_spent=whole)
    assert "spent at least $0.00004 " in stop and "at least $0.0003 by the run in all its parts" in stop


def test_a_killed_part_labels_the_counts_tokens_and_cost_lower_bounds() -> None:
    """A killed part's calls since its last commit are in no figure: the request count too."""
    from evalkit.report.formatting import calls_text, run_cost_cell
    from evalkit.results import RunSummary

    killed = CallCounts(requests=40, killed_parts=1)
    line = calls_text(killed)
    assert line.startswith("Calls at least 40 requests")
    assert line.endswith(
        "1 earlier part of the run was killed before recording the last calls: those calls are in no"
        " figure, so the counts, tokens and cost are lower bounds"
    )
    summary = RunSummary(cost_usd=0.0003, calls=killed)
    assert summary.cost_at_least and run_cost_cell(summary) == "at least $0.0003"


def test_each_uncounted_counter_alone_makes_the_figures_lower_bounds_and_says_why() -> None:
    """One list of the counters that leave calls out of the figures serves both the rule (``at least``)
    and the reasons printed beside it: a counter named in one and not the other fails here."""
    from evalkit.report.formatting import uncounted_calls
    from evalkit.results import UNCOUNTED, RunSummary

    assert set(UNCOUNTED) <= set(CallCounts.model_fields)
    assert uncounted_calls(CallCounts(requests=5, retries=2, failed_calls=1)) == []
    assert not RunSummary(calls=CallCounts(requests=5)).cost_at_least
    for counter in UNCOUNTED:
        calls = CallCounts(requests=5, **{counter: 2})
        assert RunSummary(calls=calls).cost_at_least, counter
        (why,) = uncounted_calls(calls)
        assert why.startswith("2 ") and "lower bounds" in why, (counter, why)
    every = uncounted_calls(CallCounts(**{counter: 1 for counter in UNCOUNTED}))
    assert len(every) == len(UNCOUNTED) and len(set(every)) == len(UNCOUNTED)
