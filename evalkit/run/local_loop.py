"""The local loop of a run: cases dispatched with bounded tasks in flight, each result stored as it
completes; with a budget, each case's worst-case cost is reserved before it is sent. The Ray executor
(:mod:`evalkit.run.ray_executor`) is its counterpart across machines.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING

from evalkit.cases import Case
from evalkit.providers.base import CompletionRequest
from evalkit.providers.calls import ModelCaller
from evalkit.results import CaseResult, RayShards
from evalkit.run.batches import BatchWriter
from evalkit.run.budget import BudgetGuard, JudgesOverBudget, TopUps
from evalkit.run.call_plan import case_cost_model
from evalkit.run.evaluate import CHUNK, Target, evaluate_case
from evalkit.suite.loading import Suite

if TYPE_CHECKING:
    from evalkit.run.runner import RunOptions

ResultCallback = Callable[[CaseResult], None]
# the first chunk is one round of calls (at least 16) and each next one twice as big, up to CHUNK:
# the first calls go out after a round of cases is rendered (and looked up), not 256
FIRST_CHUNK = 16


@dataclass
class Progress:
    """What the local loop did: dispatched cases, the tasks in flight, whether the budget stopped it."""

    stopped_by_budget: bool = False
    ray: RayShards | None = None  # added to the run's summary
    # on Ray: what stopped the run was a shard's share of the budget, not the whole budget
    share_spent: bool = False
    dispatched: int = 0
    pending: set[asyncio.Task[CaseResult | None]] = field(default_factory=set)
    # the first case task that ended in an unexpected error (a bug): the run stops and raises it,
    # rather than go on without that case and call itself complete
    error: BaseException | None = None

    def finished(self, task: asyncio.Task[CaseResult | None]) -> None:
        """A case's task is done: no longer pending; its unexpected error kept for the run to raise."""
        self.pending.discard(task)
        if not task.cancelled() and task.exception() is not None and self.error is None:
            self.error = task.exception()


def work_items(
    suite: Suite, options: RunOptions, repeat: int, done: set[tuple[str, int]]
) -> Iterator[tuple[Case, int]]:
    for case in suite.iter_cases():
        if options.case_filter is not None and not options.case_filter(case):
            continue
        for epoch in range(repeat):
            if (case.id, epoch) not in done:
                yield case, epoch


async def evaluate_all(
    suite: Suite,
    target: Target,
    caller: ModelCaller,
    items: Iterator[tuple[Case, int]],
    writer: BatchWriter,
    options: RunOptions,
    on_result: ResultCallback | None,
) -> Progress:
    """Evaluate work items with bounded tasks in flight, committing results as they complete.

    With a budget, each case's worst-case cost is reserved before it is dispatched (see
    :mod:`evalkit.run.budget`); dispatching stops when the next case no longer fits.
    """
    progress = Progress()
    # calls waiting out a backoff or a Retry-After hold a task but no slot: room for them too
    in_flight = asyncio.Semaphore(max(16, 4 * int(caller.limit.maximum)))
    guard = BudgetGuard(options.budget_usd, caller) if options.budget_usd is not None else None
    costs = (
        case_cost_model(target.model, target.params, [s.spec for s in suite.scorers])
        if guard is not None
        else None
    )

    # cases waiting to reserve more, with how many of their calls wait (a scorer may gather several)
    topping_up: Counter[asyncio.Task[CaseResult | None] | None] = Counter()

    async def one(case: Case, epoch: int, request: CompletionRequest, reserved: float) -> CaseResult | None:
        held = [reserved]
        me = asyncio.current_task()  # the case's task: a scorer's calls may run in tasks of their own

        async def top_up(more: float) -> None:
            """Reserve ``more`` for this case, waiting for the cases in flight; JudgesOverBudget when
            it does not fit with none left to release anything."""
            assert guard is not None
            topping_up[me] += 1
            try:
                while not guard.reserve(more):
                    # wait for a case that is not itself waiting here to finish (and release its
                    # reservation); with none left, this case does not fit
                    others = progress.pending - set(+topping_up)
                    if not others:
                        raise JudgesOverBudget
                    await asyncio.wait(others, return_when=asyncio.FIRST_COMPLETED)
            finally:
                topping_up[me] -= 1
            held[0] += more

        tops = TopUps(case, costs, top_up)
        checked = tops.judges if guard is not None and costs is not None and costs.judges else None
        try:
            result = await evaluate_case(
                suite,
                target,
                caller,
                case,
                epoch,
                request,
                options.use_cache,
                before_scoring=checked,
                before_call=tops.call if guard is not None else None,
            )
            await writer.add(result)  # stored (buffered) as soon as it completes
            if on_result is not None:
                on_result(result)
            return result
        except JudgesOverBudget:  # left unscored and unstored: --resume judges it (the answer is cached)
            progress.stopped_by_budget = True
            return None
        finally:
            in_flight.release()
            if guard is not None:
                guard.release(held[0])

    async def reserve(case: Case, epoch: int, request: CompletionRequest) -> float | None:
        """The case's worst case, reserved; None when it does not fit even with nothing in flight."""
        assert guard is not None and costs is not None
        if request.unsent is not None:  # the case's error without a call: nothing to spend
            return 0.0
        key = caller.key_for(request, epoch) if options.use_cache else None
        cached = key is not None and caller.has_cached(key)
        worst = (0.0 if cached else costs.target_worst(request)) + costs.judge_worst(case)
        while not guard.reserve(worst):
            if not progress.pending:
                return None
            await asyncio.wait(set(progress.pending), return_when=asyncio.FIRST_COMPLETED)
        return worst

    size = max(FIRST_CHUNK, int(caller.limit.limit))  # the first round of calls, at least
    try:
        while not progress.stopped_by_budget and writer.failure is None and progress.error is None:
            chunk = list(islice(items, size))
            if not chunk:
                break
            size = min(2 * size, CHUNK)
            requests = {case.id: target.request(case) for case, _ in chunk}
            await writer.add_files_of(requests)  # input files, stored once by hash
            if options.use_cache and caller.cache is not None:
                keys = [caller.key_for(requests[case.id], epoch) for case, epoch in chunk]
                await asyncio.to_thread(caller.prefetch, [k for k in keys if k is not None])
            for case, epoch in chunk:
                if writer.failure is not None or progress.stopped_by_budget or progress.error is not None:
                    break  # a refused commit, a judge that no longer fits or a bug: stop calling
                reserved = 0.0
                if guard is not None:
                    got = await reserve(case, epoch, requests[case.id])
                    if got is None:
                        progress.stopped_by_budget = True
                        break
                    reserved = got
                await in_flight.acquire()
                task = asyncio.create_task(one(case, epoch, requests[case.id], reserved))
                progress.pending.add(task)
                task.add_done_callback(progress.finished)
                progress.dispatched += 1
            await asyncio.sleep(0)  # let the calls just made go out before the next chunk is rendered
            await writer.begin()  # a new database is created while the first round is in flight
        writer.drain(len(progress.pending))
        while progress.pending and progress.error is None:
            await asyncio.gather(*progress.pending)  # an unexpected error (a bug) propagates
        if progress.error is not None:  # of a case whose task ended before the gather saw it
            raise progress.error
    finally:
        for task in progress.pending:
            task.cancel()
        await writer.flush()
    return progress
