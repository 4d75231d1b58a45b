"""Running a suite's shards on a Ray cluster: ``evalkit run SUITE --ray [ADDRESS]``.

The driver (the ``evalkit run`` process) stays the only writer of the results store. It reads the
cases, answers what the response cache already holds itself, and cuts the rest, in order, into equal
shards (about four per CPU, 100 to 1000 calls each). Each shard runs as a Ray task
with evalkit's own async runner inside and streams its results back in small batches; the driver
stores them as they arrive, exactly as a local run does (cache rows, progress, summary, exit
codes). With ``--budget``, each shard is given a share of what is left of it when it starts and
keeps within it (:mod:`evalkit.run.ray_shard`); once a share runs out, no further shard starts. A
shard that ends without reporting its last calls keeps its whole share (:mod:`evalkit.run.ray_budget`).
A worker that dies mid-shard loses nothing: the results it already returned are kept,
and the shard is resubmitted for the cases still missing (at most ``SHARD_ATTEMPTS`` times; then
those cases are stored as errors). Nothing is stored twice.

Workers load the suite from its path, so they need evalkit installed and the suite at the same
path (true on one machine; see docs/distributed.md for clusters). They make their own model calls;
only the driver touches the database. So that a new session's first run does not wait for that,
:func:`prewarm` sends each worker a small task (import evalkit and the model's client, load the
suite and index its cases) as soon as the run's target is known, while the driver validates and
reads the cases; until those tasks are done, the driver makes calls itself (at the run's
concurrency, none once the workers are ready, never with a budget), so the seconds a new session
takes to start its workers are not idle. The shards then start beside the driver's calls still in
flight, with the slots those do not hold (:mod:`evalkit.run.driver_calls`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from evalkit.cases import Case
from evalkit.providers.calls import ModelCaller
from evalkit.providers.concurrency import ADAPTIVE_MAX, ADAPTIVE_START
from evalkit.results import CallCounts, CaseResult, OutputRecord, RayShards
from evalkit.run.budget import BudgetGuard, JudgesOverBudget, TopUps
from evalkit.run.call_counts import add_calls
from evalkit.run.call_plan import case_cost_model, token_bound
from evalkit.run.driver_calls import DRIVER_MAX, DriverCalls
from evalkit.run.evaluate import CHUNK, evaluate_case
from evalkit.run.local_loop import Progress
from evalkit.run.ray_budget import BudgetShares
from evalkit.run.ray_connect import connect
from evalkit.run.ray_shard import ShardBatch, ShardJob, run_shard

SHARD_SIZE = 100  # fewest calls per shard
MAX_SHARD_SIZE = 1000  # most calls per shard (smaller shards balance uneven workers better)
SHARDS_PER_CPU = 4  # each shard boundary idles a worker's slots briefly: 2000 cases in shards of
# 100 took 11.4 s against 10.5 s in shards of 250 (limit 8.0 s); a dead worker's returned results
# are kept whatever the size, so only its missing cases are run again
SHARD_ATTEMPTS = 3
# A shard reports its calls (counters, spend, tokens) with each batch of results: one that ends
# otherwise (its worker died, or the run cancelled it) made calls that no figure can count, and the
# run's counters say so (CallCounts.unreported_shards) rather than look exact
UNREPORTED = CallCounts(unreported_shards=1)


def equal_shards(work: Sequence[tuple[str, int]], size: int, slots: int) -> list[list[tuple[str, int]]]:
    """``work`` cut in order into about ``len(work) / size`` shards of whole rounds of ``slots`` calls.

    The rounds are spread evenly (the shards differ by one round at most, the longer ones first, the
    last one holding the remainder), so the shards end together, and no shard but the last ends on a
    part-filled round, which leaves slots idle for up to one call's latency. Shards cut by a hash
    came out 220-290 calls (25 in flight) and cost a warm 2000-case run at 200 ms 0.5 s.
    """
    count = max(1, math.ceil(len(work) / size))
    rounds = math.ceil(len(work) / slots)
    shards, start = [], 0
    for i in range(count):
        end = min(len(work), start + slots * (rounds // count + (i < rounds % count)))
        if end > start:
            shards.append(list(work[start:end]))
        start = end
    return shards


class _DriverJudging:
    """The driver's evaluation of a case whose target answer is cached: one at a time, its judges'
    worst case (on the answer itself) checked against what is left of the budget first."""

    def __init__(self, suite: Any, target: Any, caller: ModelCaller, budget_usd: float | None) -> None:
        self.suite, self.target, self.caller = suite, target, caller
        self.guard = BudgetGuard(budget_usd, caller) if budget_usd is not None else None
        scorers = [s.spec for s in suite.scorers]
        self.costs = case_cost_model(target.model, target.params, scorers) if self.guard else None

    async def evaluate(self, case: Case, epoch: int, request: Any) -> CaseResult | None:
        """The case's result; None when its judges could cost more than the budget has left."""
        if self.guard is None or self.costs is None:
            return await evaluate_case(self.suite, self.target, self.caller, case, epoch, request)
        guard, costs = self.guard, self.costs
        held = [0.0]  # one case at a time: what it holds until its calls are spent

        async def reserve(more: float) -> None:
            if not guard.reserve(more):
                raise JudgesOverBudget
            held[0] += more

        async def fits(output: OutputRecord) -> None:  # on the answer itself, known by now
            await reserve(costs.judge_worst(case, token_bound(output.text or "")))

        try:
            return await evaluate_case(
                self.suite,
                self.target,
                self.caller,
                case,
                epoch,
                request,
                before_scoring=fits,
                before_call=TopUps(case, costs, reserve).call,
            )
        except JudgesOverBudget:
            return None
        finally:
            guard.release(held[0])


@dataclass
class RayDispatch:
    """Driver-side state of a run on Ray."""

    stopped_by_budget: bool = False
    share_spent: bool = False  # a shard's share of the budget ran out, not the budget as a whole
    cost_usd: float = 0.0
    shards: int = 0
    shard_retries: int = 0
    on_driver: int = 0  # calls made by the driver while the workers warmed up
    received: set[tuple[str, int]] = field(default_factory=set)


async def evaluate_on_ray(
    suite: Any,
    target: Any,
    caller: ModelCaller,
    items: Iterator[tuple[Case, int]],
    writer: Any,
    options: Any,
    on_result: Callable[[CaseResult], None] | None,
    progress: Progress,
    warming: Sequence[Any] = (),
) -> None:
    """The Ray counterpart of the runner's local loop (:func:`~evalkit.run.local_loop.evaluate_all`):
    same inputs, same stored results, and like it, every result received is committed before it
    returns, also when the run is stopped (a signal cancels it).

    ``progress`` is filled in as the run ends, also when a signal cancels it: a stopped run's
    summary has the shard figures (``ray``) a complete one has. ``warming``: the refs
    :func:`prewarm` returned; the driver makes calls until they are done.
    """
    state = RayDispatch()
    try:
        await _dispatch(state, suite, target, caller, items, writer, options, on_result, warming)
    finally:
        progress.ray = RayShards(
            shards=state.shards, shard_retries=state.shard_retries, calls_on_driver=state.on_driver
        )
        progress.stopped_by_budget, progress.share_spent = state.stopped_by_budget, state.share_spent
        await writer.flush()


async def _dispatch(
    state: RayDispatch,
    suite: Any,
    target: Any,
    caller: ModelCaller,
    items: Iterator[tuple[Case, int]],
    writer: Any,
    options: Any,
    on_result: Callable[[CaseResult], None] | None,
    warming: Sequence[Any],
) -> None:
    ray = connect(options.ray)

    async def deliver(result: CaseResult) -> None:
        key = (result.case.id, result.epoch)
        if key in state.received:  # a resubmitted shard may repeat a result: never store it twice
            return
        state.received.add(key)
        await writer.add(result)
        if on_result is not None:
            on_result(result)

    # 1. Answer cached calls on the driver (their judges within the budget); collect the rest by shard.
    misses: list[tuple[str, int]] = []
    first: list[tuple[Case, int]] = []  # the first misses, for the driver to call while workers warm
    judged = _DriverJudging(suite, target, caller, options.budget_usd)
    while not state.stopped_by_budget and (chunk := list(islice(items, CHUNK))):
        requests = {case.id: target.request(case) for case, _ in chunk}
        if options.use_cache and caller.cache is not None:
            keys = {(c.id, e): caller.key_for(requests[c.id], e) for c, e in chunk}
            await asyncio.to_thread(caller.prefetch, [k for k in keys.values() if k is not None])
            for case, epoch in chunk:
                cache_key = keys[case.id, epoch]
                if cache_key is not None and caller.has_cached(cache_key):
                    result = await judged.evaluate(case, epoch, requests[case.id])
                    if result is None:  # its judges no longer fit in the budget
                        state.stopped_by_budget = True
                        break
                    await deliver(result)
                else:
                    misses.append((case.id, epoch))
                    if len(first) < DRIVER_MAX:
                        first.append((case, epoch))
        else:
            misses.extend((case.id, epoch) for case, epoch in chunk)
            first.extend(chunk[: max(0, DRIVER_MAX - len(first))])

    async def call_on_driver(case: Case, epoch: int) -> None:
        await deliver(await evaluate_case(suite, target, caller, case, epoch, use_cache=options.use_cache))

    # 2. Until the workers are warm, call the first misses on the driver; then run the shards
    # beside the driver's calls still in flight, with the slots those do not hold.
    driver = DriverCalls(options.concurrency or ADAPTIVE_MAX, call_on_driver)
    try:
        if warming and options.budget_usd is None:
            await driver.call_until_warm(ray, warming, first)
            misses = [key for key in misses if key not in driver.dispatched]
        if misses and not state.stopped_by_budget:
            await _run_shards(state, ray, suite, target, caller, options, misses, driver, deliver)
        await driver.finish()  # its calls still in flight, each result delivered as it ends
    finally:  # a stopped run: no call of the driver's may deliver a result after the last commit
        state.on_driver = len(driver.dispatched)  # also when a signal came while the workers warmed
        await driver.cancel()


async def _run_shards(
    state: RayDispatch,
    ray: Any,
    suite: Any,
    target: Any,
    caller: ModelCaller,
    options: Any,
    misses: list[tuple[str, int]],
    driver: DriverCalls,
    deliver: Callable[[CaseResult], Awaitable[None]],
) -> None:
    """Run ``misses`` in shards, as many at once as the cluster has CPUs, splitting the
    concurrency between them; each takes its slots from ``driver`` as it starts."""

    async def deliver_batch(results: list[CaseResult]) -> None:
        """A received batch handed to the writer whole, even when the run is cancelled midway: its
        results are answered, and a stopped run stores every answer it took."""
        try:
            for result in results:
                await deliver(result)
        except asyncio.CancelledError:
            for result in results:  # those already handed over are skipped
                await deliver(result)
            raise

    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    size = min(MAX_SHARD_SIZE, max(SHARD_SIZE, math.ceil(len(misses) / (cpus * SHARDS_PER_CPU))))
    parallel = min(cpus, math.ceil(len(misses) / size))
    per_task = max(1, (options.concurrency or ADAPTIVE_MAX) // parallel)
    shards = dict(enumerate(equal_shards(misses, size, per_task)))
    state.shards = len(shards)
    remote = ray.remote(num_cpus=1, num_gpus=options.ray_num_gpus or 0, max_retries=0)(run_shard)
    remote = remote.options(num_returns="streaming")
    budget_hit = asyncio.Event()
    running: set[Any] = set()
    shares = BudgetShares(float(options.budget_usd), parallel) if options.budget_usd is not None else None

    async def run_one(work: list[tuple[str, int]], width: int) -> None:
        missing = list(work)
        for attempt in range(1, SHARD_ATTEMPTS + 1):
            if budget_hit.is_set():
                return
            share = shares.start(caller.stats.cost_usd) if shares is not None else None
            job = ShardJob(
                suite_path=str(Path(suite.path).resolve()),
                model=target.model,
                prompt=target.prompt.name if target.prompt else None,
                timeout=target.timeout,
                concurrency=width,
                max_attempts=options.max_attempts,
                work=tuple(missing),
                budget_usd=share.part if share is not None else None,
                use_cache=options.use_cache,
                adaptive=options.concurrency is None,
                adaptive_start=max(1, ADAPTIVE_START // parallel),
            )
            generator = remote.remote(job)
            running.add(generator)
            reported = False  # every batch of the task came, the last one with its last calls
            try:
                async for ref in generator:
                    batch: ShardBatch = await ref
                    if share is not None:
                        share.spent += batch.cost_usd
                    caller.new_cache_rows.extend(batch.cache_rows)
                    add_calls(caller, batch.calls)
                    caller.stats.cost_usd += batch.cost_usd
                    caller.stats.judge_cost_usd += batch.judge_cost_usd
                    state.cost_usd += batch.cost_usd
                    await deliver_batch(batch.results)
                    if batch.stopped_by_budget:  # its share is spent: start no more shards
                        budget_hit.set()
                        state.stopped_by_budget = state.share_spent = True
                    if options.budget_usd is not None and caller.stats.cost_usd >= options.budget_usd:
                        budget_hit.set()
                        state.stopped_by_budget = True
                        for other in list(running):
                            ray.cancel(other)
                        add_calls(caller, UNREPORTED)  # this one; the others end in an exception
                        return
                reported = True
                return
            except asyncio.CancelledError:  # the run was stopped: so is the shard's task
                ray.cancel(generator)
                add_calls(caller, UNREPORTED)
                raise
            except Exception as exc:  # the worker died or the task failed: resubmit what is missing
                add_calls(caller, UNREPORTED)
                if budget_hit.is_set():
                    return
                missing = [k for k in missing if k not in state.received]
                if not missing:
                    return
                if attempt == SHARD_ATTEMPTS:
                    reason = f"shard failed {SHARD_ATTEMPTS} times on Ray: {type(exc).__name__}"
                    by_id = {c.id: c for c in suite.iter_cases() if c.id in {k[0] for k in missing}}
                    for case_id, epoch in missing:
                        output = OutputRecord(status="error", error=reason)
                        await deliver(
                            CaseResult(case=by_id[case_id], epoch=epoch, output=output, verdict="error")
                        )
                    return
                state.shard_retries += 1
            finally:
                running.discard(generator)
                if shares is not None and share is not None:
                    if reported:
                        shares.release(share)
                    else:
                        shares.forfeit(share)

    gate = asyncio.Semaphore(parallel)

    async def limited(work: list[tuple[str, int]]) -> None:
        async with gate:
            width = await driver.take(per_task)  # fewer beside a driver's call taken as hung
            try:
                await run_one(work, width)
            finally:
                driver.give_back(width)

    await asyncio.gather(*(limited(work) for _, work in sorted(shards.items())))
