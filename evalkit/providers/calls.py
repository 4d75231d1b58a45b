"""The one path every model call takes, for targets and judges alike: cache, concurrency, retries.

:class:`ModelCaller` picks the provider for each model string (one instance per model, created on
first use) and wraps every call in, from the outside in:

1. the **response cache**, content-addressed on (model, params, messages, schema, epoch): a hit
   makes no call at all;
2. the **concurrency limit** (:mod:`evalkit.providers.concurrency`): adaptive by default (slow
   start to the maximum, shrunk by rounds with many 429s or a burst of 5xx), or fixed with
   ``--concurrency N``;
3. **retries**: transient errors (429, 5xx, timeouts, connection resets, malformed bodies) are
   retried with exponential backoff and full jitter, or after that call's ``Retry-After``, up to
   ``max_attempts`` in all; then the call fails and the case is recorded as an ``error``. Every
   attempt but the last is bounded by a few typical latencies of the model
   (:class:`~evalkit.providers.concurrency.AttemptDeadlines`), the last by the whole timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from evalkit.errors import ProviderError
from evalkit.providers.base import Completion, CompletionRequest, Provider, get_provider, watching_sent
from evalkit.providers.concurrency import AttemptDeadlines, ConcurrencyLimit, Outcome


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried."""

    max_attempts: int = 4  # first try included: never more than this many requests per call
    base_delay: float = 0.25  # seconds; attempt k waits up to base * 2**k (full jitter)
    max_delay: float = 20.0
    timeout: float = 60.0  # seconds per request (the last attempt's; earlier ones may be cut sooner)

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (attempt counts from 1)."""
        backoff = rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
        if retry_after is not None:
            return min(self.max_delay, retry_after) + rng.uniform(0, self.base_delay / 4)
        return backoff


class ResponseCache(Protocol):
    """Where cached responses live (the results store implements it)."""

    def cached_responses(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...


def cache_key(request: CompletionRequest, epoch: int, identity: str = "") -> str:
    """Content address of a call: model, sampling params, rendered messages, schema, epoch, and the
    provider's ``identity`` (what else its answer depends on: a ``python:`` target's code digest)."""
    digest = _settings_digest(request).copy()
    material: list[Any] = [request.messages or None, None if request.messages else request.variables, epoch]
    if request.target_hash is not None:  # targets naming files (http:, replay:) answer per case
        material.append(request.case_id)
    if request.attachments:  # the files' content, whatever of them the messages show
        material.append(request.attachments)
    if identity:  # providers without one keep the keys they always had
        material.append(identity)
    digest.update(json.dumps(material, sort_keys=True, ensure_ascii=False, default=str).encode())
    return str(digest.hexdigest())


def provider_identity(provider: Provider) -> str | None:
    """What a provider adds to its calls' cache keys ("" for nothing), or None when its answers are never cached."""
    if getattr(provider, "cacheable", True) is False:
        return None
    identity = getattr(provider, "cache_identity", None)
    return str(identity()) if identity is not None else ""


# The parts of a request shared by every case of a run, hashed once (checked by identity).
_SETTINGS: dict[tuple[str, str | None, str | None, int, int, int], tuple[Any, Any, hashlib._Hash, Any]] = {}


def _settings_digest(request: CompletionRequest) -> hashlib._Hash:
    key = (
        request.model,
        request.api_base,
        request.target_hash,
        id(request.params),
        id(request.response_schema),
        id(request.tools),
    )
    cached = _SETTINGS.get(key)
    if (
        cached is not None
        and cached[0] is request.params
        and cached[1] is request.response_schema
        and cached[3] is request.tools
    ):
        return cached[2]
    material = [request.model, request.api_base, request.params, request.response_schema]
    if request.target_hash is not None:  # only then, so the keys of plain model calls stay as they were
        material.append(request.target_hash)
    if request.tools is not None:
        material.append({"tools": request.tools})
    digest = hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False, default=str).encode())
    if len(_SETTINGS) > 256:
        _SETTINGS.clear()
    _SETTINGS[key] = (request.params, request.response_schema, digest, request.tools)
    return digest


@dataclass
class CallStats:
    """What the calls of a run cost, for the summary."""

    requests: int = 0  # requests sent (attempts), including retries
    retries: int = 0  # attempts after a call's first, counted as they are sent (not in their backoff)
    cache_hits: int = 0
    cache_misses: int = 0  # looked up, not found, and sent (not those cancelled while queued)
    failures: int = 0
    rate_limited: int = 0  # attempts answered 429 (then retried after their own Retry-After)
    timed_out: int = 0  # attempts evalkit stopped waiting for (a provider may still bill them)
    cost_usd: float = 0.0  # every call's: the target's and the judges'
    judge_calls: int = 0  # calls made for scorers (the judge): sent or answered from the cache
    judge_cost_usd: float = 0.0
    saved_cost_usd: float = 0.0  # what the answers served from the cache cost when first made
    # the target's answers got (sent, or another run's from the cache), whether or not their results
    # are stored: a run stopped with answers not yet scored used these tokens all the same
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # parts of the run (Ray shard tasks) that ended before reporting their last calls: the figures
    # above are then lower bounds (evalkit.results.CallCounts.unreported_shards)
    unreported_shards: int = 0
    # requests written to a provider and not answered (yet): an attempt cancelled with its request out
    # (a stopped run) stays counted, as a provider may still answer and bill it; one cancelled while
    # it connected, queued or slept before a retry never is (CallCounts.in_flight_at_stop)
    unanswered: int = 0


class ModelCaller:
    """Completes requests through the provider registered for each request's model."""

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        limit: ConcurrencyLimit | None = None,
        retry: RetryPolicy | None = None,
        cache: ResponseCache | None = None,
        seed: int | None = None,
    ) -> None:
        self.base_dir = base_dir
        self.limit = limit or ConcurrencyLimit(8, maximum=64)
        self.retry = retry or RetryPolicy()
        self.deadlines = AttemptDeadlines()
        self.cache = cache
        # the run these calls are for: a cached answer its own earlier part made (a run stopped, then
        # resumed) is its own cost, not a saving (set by the runner once the run is known)
        self.run_id: str | None = None
        self.stats = CallStats()
        self.new_cache_rows: list[
            tuple[str, str, Completion]
        ] = []  # (key, model, completion), drained by the writer
        self._prefetched: dict[str, dict[str, Any]] = {}  # looked up and found, not yet used
        self._looked_up: set[str] = set()  # keys already asked of the cache (found or not)
        self._providers: dict[str, Provider] = {}
        self._identities: dict[str, str | None] = {}
        self._capacity: dict[str, asyncio.Semaphore] = {}
        self._rng = random.Random(seed)

    def provider_for(self, model: str) -> Provider:
        """The provider for ``model`` (created once; creation may raise a ConfigError)."""
        if model not in self._providers:
            self._providers[model] = get_provider(model, self.base_dir)
        return self._providers[model]

    def key_for(self, request: CompletionRequest, epoch: int = 0) -> str | None:
        """The cache key of a call, or None when there is no cache or its provider's answers are not cached."""
        if self.cache is None:
            return None
        if request.model not in self._identities:
            self._identities[request.model] = provider_identity(self.provider_for(request.model))
        identity = self._identities[request.model]
        return None if identity is None else cache_key(request, epoch, identity)

    def prefetch(self, keys: Sequence[str]) -> int:
        """Load cached responses for ``keys`` in one query (call from a worker thread). Returns hits."""
        if self.cache is None or not keys:
            return 0
        found = self.cache.cached_responses(keys)
        self._prefetched.update(found)
        self._looked_up.update(keys)
        return len(found)

    def has_cached(self, key: str) -> bool:
        """Whether a prefetched cached response for ``key`` is waiting to be used."""
        return key in self._prefetched

    def cached(self, key: str) -> Completion | None:
        """A prefetched cached response for ``key``, consumed (each is used once)."""
        row = self._prefetched.pop(key, None)
        self._looked_up.discard(key)
        if row is None:
            return None
        self.stats.cache_hits += 1
        if self.run_id is not None and row.get("run_id") == self.run_id:
            # paid by this run before it was stopped: stored at its cost and latency, as an
            # uninterrupted run stores it (not counted against this invocation's --budget)
            return Completion(
                text=row["raw_text"],
                prompt_tokens=row["prompt_tokens"],
                completion_tokens=row["completion_tokens"],
                cost_usd=float(row.get("cost_usd") or 0.0),
                latency_ms=float(row.get("latency_ms") or 0.0),
                model=row["model"],
            )
        return Completion(
            text=row["raw_text"],
            prompt_tokens=row["prompt_tokens"],
            completion_tokens=row["completion_tokens"],
            cost_usd=0.0,  # already paid for; the original cost stays in the cache row
            latency_ms=0.0,
            model=row["model"],
            cached=True,
            saved_cost_usd=float(row.get("cost_usd") or 0.0),
        )

    async def complete(
        self, request: CompletionRequest, *, epoch: int = 0, use_cache: bool = True, judge: bool = False
    ) -> Completion:
        """Complete one request: from the cache, or through the limit and retries.

        ``use_cache=False`` skips the lookup (the answer is still cached for next time). ``epoch``
        is part of the cache key, so repeated samples of one case are separate calls. ``judge``
        counts the call as a scorer's (its cost is reported apart from the target's).
        Raises ProviderError when every attempt failed (or the error is not transient).
        """
        key = self.key_for(request, epoch)
        if key is not None and use_cache:
            if key not in self._looked_up:  # not prefetched with its chunk (e.g. a judge call): ask now
                await asyncio.to_thread(self.prefetch, [key])
            hit = self.cached(key)
            if hit is not None:
                self.stats.saved_cost_usd += hit.saved_cost_usd
                self.stats.judge_calls += judge
                if hit.cached and not judge:  # not this run's own earlier answer: counted when got
                    self._count_tokens(hit)
                return hit
        completion = await self._call_with_retries(request, miss=key is not None and use_cache, judge=judge)
        self.stats.cost_usd += completion.cost_usd
        if judge:
            self.stats.judge_cost_usd += completion.cost_usd
        else:
            self._count_tokens(completion)
        if key is not None:
            self.new_cache_rows.append((key, request.model, completion))
        return completion

    def _count_tokens(self, completion: Completion) -> None:
        self.stats.prompt_tokens += completion.prompt_tokens
        self.stats.completion_tokens += completion.completion_tokens

    async def _call_with_retries(self, request: CompletionRequest, *, miss: bool, judge: bool) -> Completion:
        provider = self.provider_for(request.model)
        timeout = request.timeout or self.retry.timeout
        capacity = self._capacity_for(request.model, provider)
        # an in-process model or function is never hung, only busy: its attempts get the whole timeout
        cut = getattr(provider, "max_concurrency", None) is None and getattr(
            provider, "cut_slow_attempts", True
        )
        deadlines = self.deadlines if cut else None
        # a provider whose client bounds the request itself (the lean path: the HTTP/1.1
        # transport's timer or aiohttp's total timeout) is awaited directly: asyncio.wait_for adds
        # a task and a timer per call (~15% of a 0 ms-latency run)
        own_timeout = getattr(provider, "enforces_timeout", None)
        # a remote call gets a second past its deadline for its client's own timeout to speak first;
        # an in-process call (the embedded model, a python: function) has no client: its deadline is
        # the one enforced, and a call that ran out of it is not made again (a function's thread
        # cannot be stopped: a pipeline's side effects, or its own paid calls, would repeat)
        grace = 1.0 if cut else 0.0
        # an attempt stopped unanswered counts in flight (a provider may bill it) once its request is
        # out: from when the provider says it wrote it, else from its start; an in-process one never
        watched = cut and getattr(provider, "reports_sent", False)
        attempt = 0
        while True:
            attempt += 1
            generation = await self.limit.acquire()
            deadline = timeout
            request_out = _RequestOut(self.stats)
            unwatch = watching_sent(request_out.sent) if watched else None
            try:
                # the timeout starts once the provider can take the call, not while it queues for it
                async with capacity:
                    # counted as it is sent: a call cancelled while queued (a stopped run) made no
                    # request, missed no cache and is no judge call
                    self.stats.requests += 1
                    if cut and not watched:
                        request_out.sent()
                    if attempt == 1:
                        self.stats.cache_misses += miss
                        self.stats.judge_calls += judge
                    else:  # a retry counts when it is made, not while it waits out its backoff
                        self.stats.retries += 1
                    if deadlines is not None:  # what the latest calls took, not those before the queue
                        deadline = deadlines.timeout(request.model, attempt, self.retry.max_attempts, timeout)
                    timed = request if request.timeout == deadline else replace(request, timeout=deadline)
                    started = time.monotonic()
                    if own_timeout is not None and own_timeout(timed):
                        completion = await provider.complete(timed)
                    else:
                        completion = await asyncio.wait_for(
                            provider.complete(timed), timeout=deadline + grace
                        )
            except (ProviderError, asyncio.TimeoutError) as exc:  # wait_for's; TimeoutError on 3.11+
                request_out.settled()  # answered with an error, or given up on (timed out)
                error = (
                    exc
                    if isinstance(exc, ProviderError)
                    else ProviderError(f"timeout after {deadline + grace:g}s", transient=cut, timed_out=True)
                )
                self.limit.release(generation, _outcome(error))
                self.stats.rate_limited += error.status == 429
                self.stats.timed_out += error.timed_out
                if not error.transient or attempt >= self.retry.max_attempts:
                    self.stats.failures += 1
                    if attempt > 1:
                        error = ProviderError(
                            f"{error.message} (after {attempt} attempts)",
                            transient=error.transient,
                            status=error.status,
                        )
                    error.attempts = attempt
                    raise error from None
                # only this call waits out its Retry-After; the others carry on
                await asyncio.sleep(self.retry.delay(attempt, error.retry_after, self._rng))
                continue
            except BaseException as exc:
                self.limit.release(generation)
                # cancelled with its request out (the run stopped): it stays unanswered
                if not isinstance(exc, asyncio.CancelledError):
                    request_out.settled()
                raise
            finally:
                if unwatch is not None:
                    unwatch()
            request_out.settled()
            self.limit.release(generation, Outcome.OK)
            if deadlines is not None:
                deadlines.record(request.model, time.monotonic() - started)
            return completion if attempt == 1 else replace(completion, attempts=attempt)

    def _capacity_for(self, model: str, provider: Provider) -> asyncio.Semaphore:
        """A semaphore sized to what the provider can serve at once (e.g. the embedded model's
        contexts); unbounded providers get one the concurrency limit never fills."""
        if model not in self._capacity:
            size = getattr(provider, "max_concurrency", None) or 1_000_000
            self._capacity[model] = asyncio.Semaphore(size)
        return self._capacity[model]

    def drain_cache_rows(self) -> list[tuple[str, str, Completion]]:
        """New responses to store in the cache (the writer takes them with each batch of results)."""
        rows, self.new_cache_rows = self.new_cache_rows, []
        return rows

    async def aclose(self) -> None:
        """Close providers that hold connections."""
        for provider in self._providers.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()


class _RequestOut:
    """Whether an attempt's request was written to the provider: in ``CallStats.unanswered`` until settled."""

    def __init__(self, stats: CallStats) -> None:
        self.stats, self.out = stats, False

    def sent(self) -> None:
        self.stats.unanswered += not self.out
        self.out = True

    def settled(self) -> None:  # answered, failed, or given up on (timed out)
        self.stats.unanswered -= self.out


def _outcome(error: ProviderError) -> Outcome:
    """What a failed attempt says about the provider's capacity."""
    if error.status == 429:
        return Outcome.RATE_LIMITED
    if (error.status is not None and error.status >= 500) or error.message.startswith(
        ("timeout", "connection")
    ):
        return Outcome.SERVER_ERROR
    return Outcome.OTHER
