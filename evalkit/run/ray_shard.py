"""What a Ray worker runs for ``evalkit run --ray``: one shard of a run, its results streamed back.

A shard is a list of (case id, epoch) pairs. The worker loads the suite from its path (once per run,
see :func:`worker_suite`), evaluates the pairs with evalkit's own async call path at the shard's
concurrency, and yields batches of results with what their calls cost (:class:`ShardBatch`). With a
budget, the shard gets a share of what is left of the run's (``ShardJob.budget_usd``) and reserves
each case's worst case against it before dispatching it, as a local run does against the whole
budget (:mod:`evalkit.run.budget`), and each call of a custom scorer's its own worst case: the
shards' spend stays under the cap together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from evalkit.cases import Case
from evalkit.providers.calls import CallStats, ModelCaller, RetryPolicy
from evalkit.providers.concurrency import ConcurrencyLimit
from evalkit.results import CallCounts, CaseResult
from evalkit.run.budget import BudgetGuard, JudgesOverBudget, TopUps
from evalkit.run.call_counts import calls_since, process_calls
from evalkit.run.call_plan import case_cost_model
from evalkit.run.evaluate import evaluate_case, prepare_target

if TYPE_CHECKING:
    from evalkit.suite.loading import Suite

BATCH_RESULTS = 25  # results per streamed batch
BATCH_SECONDS = 0.5


@dataclass(frozen=True)
class ShardJob:
    """What a worker needs to run one shard."""

    suite_path: str
    model: str
    prompt: str | None
    timeout: float | None
    concurrency: int
    max_attempts: int
    work: tuple[tuple[str, int], ...]  # (case id, epoch) pairs to evaluate
    budget_usd: float | None = None  # the most this shard may spend (its share of the run's budget)
    # the run reads the response cache: the driver looked the target's answers up and found none,
    # so they count as cache misses, as in a local run (the judges' find nothing on a worker)
    use_cache: bool = False
    # without --concurrency a local run adapts (slow start, backing off on 429s); so does each shard
    # then, within its share, so a provider that caps concurrency does not turn its 429s into errors
    adaptive: bool = False
    adaptive_start: int = 1


@dataclass
class ShardBatch:
    """A batch of results streamed back by a worker, with what its calls cost."""

    results: list[CaseResult]
    cache_rows: list[tuple[str, str, Any]]
    # every counter of the run's Calls line (requests, judge calls, 429s, ...) since the last batch
    calls: CallCounts = field(default_factory=CallCounts)
    cost_usd: float = 0.0  # the target's and the judge's
    judge_cost_usd: float = 0.0
    # the shard's budget share stopped it: the next case's worst case did not fit with nothing in
    # flight, so the pairs not yet returned were not evaluated
    stopped_by_budget: bool = False


class _CollectOnly:
    """A response cache that finds nothing: workers still compute keys and collect new answers for the driver."""

    def cached_responses(self, keys: Any) -> dict[str, dict[str, Any]]:
        return {}


# A worker runs many shards of one run: it loads the suite and indexes its cases once, not once a
# shard (re-reading every case file per shard of 100 cost ~30% of a 2000-case run's wall time).
_loaded: dict[tuple[Any, ...], tuple[Suite, dict[str, Case]]] = {}


def worker_suite(path: str) -> tuple[Suite, dict[str, Case]]:
    """The suite at ``path`` and its cases by id, reused while the suite and its case files are unchanged."""
    from evalkit.suite.loading import load_suite

    suite = load_suite(path)
    key = (
        path,
        suite.source_hash,
        *((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in suite.case_files),
    )
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = (suite, {case.id: case for case in suite.iter_cases()})
    return _loaded[key]


def shard_limit(job: ShardJob) -> ConcurrencyLimit:
    """A shard's concurrency limit: fixed at its share of --concurrency, or, without one, adaptive
    up to its share of the local run's maximum, starting at its share of the local run's start."""
    if not job.adaptive:
        return ConcurrencyLimit(job.concurrency, maximum=job.concurrency, adaptive=False)
    return ConcurrencyLimit(min(job.concurrency, max(1, job.adaptive_start)), maximum=job.concurrency)


async def _shard_batches(job: ShardJob) -> AsyncGenerator[ShardBatch, None]:
    """Evaluate a shard's work on a worker, yielding batches of results as they complete."""
    suite, by_id = worker_suite(job.suite_path)
    target = prepare_target(suite, job.model, job.prompt, job.timeout)
    caller = ModelCaller(
        suite.base_dir,
        limit=shard_limit(job),
        retry=RetryPolicy(max_attempts=job.max_attempts),
        cache=_CollectOnly(),
    )
    wanted: dict[str, list[int]] = {}
    for case_id, epoch in job.work:
        wanted.setdefault(case_id, []).append(epoch)
    cases = [by_id[case_id] for case_id in wanted if case_id in by_id]
    slots = asyncio.Semaphore(job.concurrency)
    guard = BudgetGuard(job.budget_usd, caller) if job.budget_usd is not None else None
    costs = case_cost_model(target.model, target.params, [s.spec for s in suite.scorers]) if guard else None
    settled = asyncio.Condition()  # notified as each case releases its reservation
    reserving = 0  # cases in flight holding a reservation
    topping_up: set[tuple[str, int]] = (
        set()
    )  # of them, those waiting to reserve more (long output, a scorer's call)
    stopped = False

    async def one(case: Case, epoch: int) -> CaseResult | None:
        """The case's result; None when the share was spent before it could start."""
        nonlocal reserving, stopped
        async with slots:  # taken in order, as the local loop dispatches
            request = target.request(case)
            worst = 0.0
            if guard is not None:
                assert costs is not None
                if request.unsent is None:  # an unsent case is its error without a call: it costs nothing
                    worst = costs.target_worst(request) + costs.judge_worst(case)
                async with settled:
                    while not stopped and not guard.reserve(worst):
                        if not reserving:  # it does not fit even with nothing in flight
                            stopped = True
                        else:
                            await settled.wait()
                    if stopped:
                        return None
                    reserving += 1

            waiting = [0]  # this case's calls waiting to reserve (a scorer may gather several)

            async def top_up(more: float) -> None:
                """Reserve ``more`` for this case, waiting for the others; JudgesOverBudget when none
                is left to release anything."""
                nonlocal worst
                assert guard is not None
                async with settled:
                    waiting[0] += 1
                    topping_up.add((case.id, epoch))
                    try:
                        while not guard.reserve(more):
                            if reserving - len(topping_up) <= 0:  # no case left to release anything
                                raise JudgesOverBudget
                            await settled.wait()
                    finally:
                        waiting[0] -= 1
                        if not waiting[0]:
                            topping_up.discard((case.id, epoch))
                worst += more

            tops = TopUps(case, costs, top_up)
            key = caller.key_for(request, epoch) if job.use_cache else None
            if key is not None:  # looked up (on the driver) now: no thread hop to ask _CollectOnly
                caller.prefetch([key])
            try:
                return await evaluate_case(
                    suite,
                    target,
                    caller,
                    case,
                    epoch,
                    request,
                    use_cache=job.use_cache,
                    before_scoring=tops.judges if guard is not None else None,
                    before_call=tops.call if guard is not None else None,
                )
            except JudgesOverBudget:  # unscored: the share is spent
                stopped = True
                return None
            finally:
                if guard is not None:
                    async with settled:
                        guard.release(worst)
                        reserving -= 1
                        settled.notify_all()

    pending = {asyncio.create_task(one(c, e)) for c in cases for e in wanted[c.id]}
    batch: list[CaseResult] = []
    last = time.monotonic()
    sent, sent_calls = CallStats(), CallCounts()  # what earlier batches already reported
    try:
        while pending:
            done, pending = await asyncio.wait(
                pending, timeout=BATCH_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            batch.extend(result for t in done if (result := t.result()) is not None)
            if (batch or (stopped and not pending)) and (
                len(batch) >= BATCH_RESULTS or not pending or time.monotonic() - last >= BATCH_SECONDS
            ):
                stats, calls = caller.stats, process_calls(caller)
                out = ShardBatch(
                    results=batch,
                    cache_rows=caller.drain_cache_rows(),
                    calls=calls_since(calls, sent_calls),
                    cost_usd=stats.cost_usd - sent.cost_usd,
                    judge_cost_usd=stats.judge_cost_usd - sent.judge_cost_usd,
                    stopped_by_budget=stopped and not pending,
                )
                # snapshot before yielding: when the generator resumes, the loop has already run
                # other tasks, whose new requests belong to the next batch, not to no batch at all
                sent, sent_calls = replace(stats), calls
                batch, last = [], time.monotonic()
                yield out
    finally:
        for task in pending:
            task.cancel()
        await caller.aclose()


def run_shard(job: ShardJob) -> Iterator[ShardBatch]:
    """The body of the Ray task: drive the async shard runner, yielding each batch to Ray."""
    loop = asyncio.new_event_loop()
    batches = _shard_batches(job)
    try:
        while True:
            try:
                yield loop.run_until_complete(batches.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(batches.aclose())
        loop.close()
