"""A Ray shard's concurrency: fixed at its share of --concurrency, adaptive without one, as locally."""

from __future__ import annotations

from evalkit.providers.concurrency import Outcome
from evalkit.run.ray_shard import ShardJob, shard_limit


def job(**kwargs: object) -> ShardJob:
    base: dict[str, object] = dict(
        suite_path="s.yaml", model="m", prompt=None, timeout=None, concurrency=32, max_attempts=4, work=()
    )
    return ShardJob(**{**base, **kwargs})  # type: ignore[arg-type]


def test_without_concurrency_a_shard_starts_small_and_backs_off_on_429s() -> None:
    """Shards ran 32 calls each from the start and never backed off: against a provider capped at
    12 concurrent calls, a run that passed locally ended with 48 of 200 cases errored (exit 3)."""
    limit = shard_limit(job(adaptive=True, adaptive_start=4))
    assert (limit.limit, limit.maximum, limit.adaptive) == (4, 32, True)
    for _ in range(40):  # a round of answers, all 429
        limit.in_flight += 1  # as acquire() counts a call in flight
        limit.release(limit.generation, Outcome.RATE_LIMITED)
    assert limit.decreases >= 1 and limit.limit < 4
    fixed = shard_limit(job())
    assert (fixed.limit, fixed.maximum, fixed.adaptive) == (32, 32, False)
