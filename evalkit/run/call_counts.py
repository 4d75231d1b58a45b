"""A run's call counters: read off a process's call path, carried by Ray shard batches, summed.

Kept apart from :mod:`evalkit.run.summary` so a Ray worker can count its shard's calls without
importing the store and the gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evalkit.results import CallCounts, RunRecord

if TYPE_CHECKING:
    from evalkit.providers.calls import ModelCaller

# counters of `CallCounts` that add up over the processes or shards of one run
CALL_COUNTERS = (
    "requests",
    "retries",
    "cache_hits",
    "cache_misses",
    "failed_calls",
    "rate_limit_backoffs",
    "rate_limited",
    "judge_calls",
    "timed_out",
    "prompt_tokens",
    "completion_tokens",
    "unreported_shards",
)
# what the calls spent, in `CallStats` as cost_usd and judge_cost_usd: summed over a run's parts, but
# not carried by add_calls (a Ray shard's batch reports its spend apart, for the budget's shares)
SPEND = {"spent_usd": "cost_usd", "judge_spent_usd": "judge_cost_usd"}
# what the end of a part of a run says of its calls (requests abandoned unanswered at a stop, a part
# killed before it recorded its last calls): summed over a run's parts, not carried by a shard's batches
PART_ENDS = ("in_flight_at_stop", "killed_parts")
# where `CallStats` keeps each counter but rate_limit_backoffs (the concurrency limit's `decreases`)
_STATS_NAMES = {
    key: "failures" if key == "failed_calls" else key for key in CALL_COUNTERS if key != "rate_limit_backoffs"
}


def process_calls(caller: ModelCaller, *, ended: bool = False) -> CallCounts:
    """The calls this process made for a run so far (shards' added with :func:`add_calls`), as a
    summary counts them, with what they spent. ``ended``: the run's part has ended, so the requests
    still unanswered were abandoned in flight (``in_flight_at_stop``); before, they are on their way."""
    counts = {key: getattr(caller.stats, name) for key, name in (_STATS_NAMES | SPEND).items()}
    abandoned = caller.stats.unanswered if ended else 0
    return CallCounts(**counts, rate_limit_backoffs=caller.limit.decreases, in_flight_at_stop=abandoned)


def add_calls(caller: ModelCaller, calls: CallCounts) -> None:
    """Count ``calls``, made for this run elsewhere (a Ray shard), as this process's: every counter
    of :data:`CALL_COUNTERS`, so :func:`process_calls` reports the run's, not the driver's alone."""
    for key, name in _STATS_NAMES.items():
        setattr(caller.stats, name, getattr(caller.stats, name) + getattr(calls, key))
    caller.limit.decreases += calls.rate_limit_backoffs


def calls_since(now: CallCounts, before: CallCounts) -> CallCounts:
    """The calls counted in ``now`` and not yet in ``before`` (what a shard's next batch reports)."""
    return CallCounts(**{key: getattr(now, key) - getattr(before, key) for key in CALL_COUNTERS})


def summed_calls(parts: Sequence[CallCounts | None], **last: Any) -> CallCounts:
    """The calls of a run made in ``parts`` (shards, or a run and its resumptions), counters and
    spend summed; ``last`` sets what is not a sum (the adaptive limit at the end)."""
    known = [p for p in parts if p is not None]
    return CallCounts(
        **{key: sum(getattr(p, key) for p in known) for key in (*CALL_COUNTERS, *SPEND, *PART_ENDS)}, **last
    )


def earlier_calls(run: RunRecord, recorded: CallCounts | None) -> CallCounts | None:
    """The calls of the earlier parts of ``run``, about to be resumed: as their last commit or stop
    wrote them (``recorded``), else as its summary says (runs stored before migration 015).

    A clean stop (the run's end, a signal, ``--budget``) marks the run ``complete`` or
    ``incomplete``; a run still ``running`` here ended otherwise (``kill -9``, OOM, a second signal):
    its last part wrote its counters with its last commit, not since, so it counts in
    ``killed_parts`` and the run's figures are lower bounds."""
    calls = recorded or (run.summary.calls if run.summary is not None else None)
    if run.status != "running":
        return calls
    calls = calls or CallCounts()
    return calls.model_copy(update={"killed_parts": calls.killed_parts + 1})
