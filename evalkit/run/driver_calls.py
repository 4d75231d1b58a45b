"""The calls the driver of a Ray run makes itself while the workers warm up, and the run's slots
they share with the shard tasks.

Until the pre-warming tasks are done, the driver calls the first cases itself, at the run's
concurrency (:meth:`DriverCalls.call_until_warm`). Once the workers are ready it dispatches no more,
but its calls in flight go on, each holding its slot until it ends, and the shard tasks start with
the other slots (:meth:`DriverCalls.take`): the run never has more calls in flight than its
concurrency allows, and the shards never call a case the driver has called.

A shard task's concurrency is fixed when it starts, so a shard waits for its whole share while the
driver's calls are within a normal latency (they end within one, and a shard started short would
run short for its whole length). A driver call still in flight after ``PATIENCE_FACTOR`` times the
95th percentile of what the driver's ended calls took (at least ``PATIENCE_FLOOR`` seconds: the
bound :class:`~evalkit.providers.concurrency.AttemptDeadlines` puts on an attempt) is taken as hung;
once every one still in flight is, a waiting shard starts with the slots that are free, and the
shards after it get the hung calls' slots back as those calls end. Before, every shard waited for
every driver call: one hung call held back the whole run until its attempt timed out (the whole
``--timeout``, 60 s by default, until 20 calls have succeeded).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from evalkit.cases import Case
from evalkit.providers.concurrency import AttemptDeadlines

WARM_GRACE = 0.1  # seconds warm workers take to answer a pre-warming task (the driver then calls nothing)
DRIVER_MAX = 4096  # calls the driver may make itself while the workers warm up (their cases stay in memory)
PATIENCE_FACTOR = AttemptDeadlines.FACTOR
PATIENCE_FLOOR = AttemptDeadlines.FLOOR


class DriverCalls:
    """The driver's calls of a Ray run and the ``slots`` (the run's concurrency) they share with the
    shard tasks. ``call``: evaluates a case and delivers its result (on the driver)."""

    def __init__(self, slots: int, call: Callable[[Case, int], Awaitable[None]]) -> None:
        self.slots = max(1, slots)
        self.taken = 0  # slots held by shard tasks
        self.dispatched: set[tuple[str, int]] = set()  # (case id, epoch) the driver has called
        self._call = call
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight: dict[tuple[str, int], float] = {}  # each call's start (monotonic)
        self._took: list[float] = []  # seconds each ended call took
        self._change = asyncio.Event()  # set (and replaced) when a slot is given back

    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def _wait_change(self, timeout: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._change.wait(), timeout)

    async def call_until_warm(self, ray: Any, warming: Sequence[Any], work: list[tuple[Case, int]]) -> int:
        """Call ``work`` in order until every pre-warming task is done; returns how many calls were
        made. Those in flight go on (:meth:`finish`)."""

        def warm(timeout: float) -> bool:
            return len(ray.wait(list(warming), num_returns=len(warming), timeout=timeout)[0]) == len(warming)

        if warm(WARM_GRACE):
            return 0  # workers already warm (a later run in the session): shards start at once
        for case, epoch in work:
            while len(self._in_flight) >= self.slots:
                await self._wait_change(None)
            if warm(0):
                break
            self.dispatched.add((case.id, epoch))
            self._in_flight[case.id, epoch] = time.monotonic()
            self._tasks.append(asyncio.create_task(self._one(case, epoch)))
        return len(self._tasks)

    async def _one(self, case: Case, epoch: int) -> None:
        try:
            await self._call(case, epoch)
        finally:
            self._took.append(time.monotonic() - self._in_flight.pop((case.id, epoch)))
            self._changed()

    def patience(self) -> float | None:
        """Seconds after which a driver call still in flight is taken as hung; None until one ended."""
        if not self._took:
            return None
        ordered = sorted(self._took)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        return max(PATIENCE_FLOOR, PATIENCE_FACTOR * p95)

    async def take(self, share: int) -> int:
        """Slots for a shard task whose share is ``share``: all of them once free, or, once every
        driver call still in flight is taken as hung, those free (at least one). Give them back
        with :meth:`give_back`."""
        while True:
            free = self.slots - self.taken - len(self._in_flight)
            patience, now = self.patience(), time.monotonic()
            late_in = [] if patience is None else [s + patience - now for s in self._in_flight.values()]
            hung = not self._in_flight or (patience is not None and all(left <= 0 for left in late_in))
            if free >= share or (free >= 1 and hung):
                width = min(share, free)
                self.taken += width
                return width
            pending = [left for left in late_in if left > 0]
            await self._wait_change(min(pending) if pending else None)

    def give_back(self, width: int) -> None:
        """A shard task ended: its slots are free for the next one."""
        self.taken -= width
        self._changed()

    async def finish(self) -> None:
        """Wait for the driver's calls still in flight (their results are delivered as they end)."""
        await asyncio.gather(*self._tasks)

    async def cancel(self) -> None:
        """Cancel the driver's calls still in flight: a stopped run delivers nothing after its last commit."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
