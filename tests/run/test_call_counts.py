"""Every counter of a run's Calls line survives being carried from one process (a Ray shard) to another."""

from __future__ import annotations

from evalkit.providers.calls import ModelCaller
from evalkit.results import CallCounts
from evalkit.run.call_counts import CALL_COUNTERS, add_calls, calls_since, process_calls, summed_calls


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
