"""How many calls may be in flight, and how long one attempt may take before it is given up.

:class:`ConcurrencyLimit` finds a provider's capacity and keeps it. The limit moves in *rounds*:
a round ends once ``max(limit, MIN_ROUND)`` calls dispatched since the last decrease have
answered, and is judged by the share of those answers that were 429s or server errors.

- **Slow start**: every success adds a slot, so the limit doubles each round trip, until the
  maximum or the first round with too many 429s.
- Then every success adds ``1/limit``: about one slot per round.
- A round in which more than ``RATE_LIMITED_SHARE`` of the answers were 429s shrinks the limit by
  that share (at most halving it): at ``limit`` W against a provider that serves C at once,
  (W - C) / W of the answers are 429s, so the limit lands on C. A few 429s (a provider close to
  its rate limit, or a random one) change nothing: those calls wait their own ``Retry-After``
  and are retried; nobody else is paused.
- A round in which more than ``SERVER_ERROR_SHARE`` of the answers were 5xx or timeouts (a burst,
  not the odd failure) shrinks the limit by ``SERVER_ERROR_DECREASE``, less than a 429 round does:
  an overloaded server is one cause of 5xx among several.
- Answers to calls dispatched before a decrease say nothing about the new limit and are not
  counted (as TCP ignores losses of packets sent before it backed off).

:class:`AttemptDeadlines` bounds each attempt of a call by what the provider's recent successful
calls took, so a hung connection gives its slot back in seconds rather than at ``--timeout``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from enum import Enum


class Outcome(Enum):
    """What an attempt's answer says about the provider's capacity."""

    OK = "ok"
    RATE_LIMITED = "rate_limited"  # 429
    SERVER_ERROR = "server_error"  # 5xx, a timeout, a reset connection
    OTHER = "other"  # says nothing about capacity (a malformed body, a 400, a cancelled call)


# a run without --concurrency starts this many calls in flight and adapts up to the maximum
ADAPTIVE_START, ADAPTIVE_MAX = 8, 64


class ConcurrencyLimit:
    """At most ``limit`` calls in flight; adaptive (slow start, then share-based decrease) unless fixed."""

    MIN_ROUND = 20  # answers a round needs at least: 2 random 429s among 8 answers would be a quarter
    RATE_LIMITED_SHARE = 0.25
    SERVER_ERROR_SHARE = 0.5
    SERVER_ERROR_DECREASE = 0.8  # less than a 429 round, which shrinks by its share: to x0.75 or below

    def __init__(self, initial: int, *, maximum: int | None = None, adaptive: bool = True) -> None:
        self.limit = float(max(1, initial))
        self.maximum = float(maximum or max(initial, 1))
        self.adaptive = adaptive
        self.slow_start = adaptive
        self.in_flight = 0
        self.decreases = 0  # rounds that shrank the limit
        self.generation = 0  # bumped by each decrease; calls dispatched before it are not counted
        self._round = [0, 0, 0]  # answers, 429s, server errors in the current round
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> int:
        """Wait for a slot; returns the generation to give back to :meth:`release`."""
        if not self._waiters and self.in_flight < int(self.limit):  # the common case: no queue
            self.in_flight += 1
            return self.generation
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # a releaser counted this call in flight before waking it
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # woken and cancelled at once: pass the slot on
                self.in_flight -= 1
                self._wake()
            elif waiter in self._waiters:  # still queued (a releaser drops cancelled ones it meets)
                self._waiters.remove(waiter)
            raise
        return self.generation

    def release(self, generation: int, outcome: Outcome = Outcome.OTHER) -> None:
        """Give back a slot taken in ``generation`` and learn from the answer."""
        self.in_flight -= 1
        if self.adaptive and generation == self.generation:
            self._learn(outcome)
        self._wake()

    def _learn(self, outcome: Outcome) -> None:
        if outcome is Outcome.OK and self.limit < self.maximum:
            self.limit = min(self.maximum, self.limit + (1.0 if self.slow_start else 1.0 / self.limit))
        answers = self._round
        answers[0] += 1
        answers[1] += outcome is Outcome.RATE_LIMITED
        answers[2] += outcome is Outcome.SERVER_ERROR
        if answers[0] < max(math.ceil(self.limit), self.MIN_ROUND):
            return
        total, rate_limited, server_errors = answers
        self._round = [0, 0, 0]
        if rate_limited > self.RATE_LIMITED_SHARE * total:
            self._decrease(max(0.5, 1.0 - rate_limited / total))
            self.slow_start = False
        elif server_errors > self.SERVER_ERROR_SHARE * total:
            self._decrease(self.SERVER_ERROR_DECREASE)
            self.slow_start = False

    def _decrease(self, factor: float) -> None:
        self.limit = max(1.0, self.limit * factor)
        self.decreases += 1
        self.generation += 1

    def _wake(self) -> None:
        while self._waiters and self.in_flight < int(self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)


class AttemptDeadlines:
    """Per-attempt timeouts from the latencies of a model's recent successful calls.

    Attempt k of a call (but the last) may take ``FACTOR * 2**(k-1)`` times the 95th percentile of
    the last ``WINDOW`` successes, at least ``FLOOR`` seconds; the last attempt, and every attempt
    until ``WARM_UP`` successes were seen, gets the whole timeout. A hung call is thus given up
    after a few typical latencies and retried, while a call that is merely slow gets more time on
    each attempt; if the provider as a whole slows down, the later attempts still succeed and
    their latencies raise the deadline.
    """

    FACTOR = 4.0
    FLOOR = 1.0  # seconds
    WARM_UP = 20
    WINDOW = 200

    def __init__(self) -> None:
        self._latencies: dict[str, deque[float]] = {}
        self._p95: dict[str, float] = {}
        self._since_update: dict[str, int] = {}

    def record(self, model: str, seconds: float) -> None:
        """A successful attempt of ``model`` took ``seconds``."""
        window = self._latencies.setdefault(model, deque(maxlen=self.WINDOW))
        window.append(seconds)
        seen = self._since_update.get(model, 0) + 1
        if len(window) >= self.WARM_UP and (model not in self._p95 or seen >= self.WARM_UP):
            ordered = sorted(window)
            self._p95[model] = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
            seen = 0
        self._since_update[model] = seen

    def timeout(self, model: str, attempt: int, max_attempts: int, overall: float) -> float:
        """Seconds attempt ``attempt`` (from 1) of a call to ``model`` may take, at most ``overall``."""
        p95 = self._p95.get(model)
        if p95 is None or attempt >= max_attempts:
            return overall
        return min(overall, max(self.FLOOR, self.FACTOR * p95) * 2.0 ** (attempt - 1))
