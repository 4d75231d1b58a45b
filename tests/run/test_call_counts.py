"""Every counter of a run's Calls line survives being carried from one process (a Ray shard) to another."""

from __future__ import annotations

from evalkit.providers.calls import ModelCaller
from evalkit.results import CallCounts
from evalkit.run.call_counts import CALL_COUNTERS, add_calls, calls_since, process_calls


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
