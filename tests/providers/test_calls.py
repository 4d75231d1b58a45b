"""The call path: retries, Retry-After, timeouts, malformed bodies, adaptive concurrency, cache keys."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from evalkit.errors import ProviderError
from evalkit.providers.base import CompletionRequest
from evalkit.providers.calls import ConcurrencyLimit, ModelCaller, RetryPolicy, cache_key
from evalkit.testing.openai_server import Faults, LoopbackOpenAI, prompt_key


def request(server: LoopbackOpenAI, text: str = "hi", timeout: float | None = None) -> CompletionRequest:
    return CompletionRequest(
        model="openai/loopback",
        messages=[{"role": "user", "content": text}],
        params={"temperature": 0},
        api_base=server.base_url,
        timeout=timeout,
    )


def caller(**retry: Any) -> ModelCaller:
    policy = RetryPolicy(**{"base_delay": 0.01, **retry})
    return ModelCaller(limit=ConcurrencyLimit(4, maximum=4, adaptive=False), retry=policy, seed=1)


def complete(c: ModelCaller, *requests: CompletionRequest) -> list[Any]:
    """Complete requests concurrently on one event loop, then close the caller's connections."""

    async def go() -> list[Any]:
        try:
            return await asyncio.gather(*(c.complete(r) for r in requests))
        finally:
            await c.aclose()

    return asyncio.run(go())


def first_attempts_fail(fault: str, failures: int) -> Any:
    return lambda body, seen: fault if seen <= failures else None


@pytest.fixture(params=["lean", "aiohttp"])
def http_client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both transports of plain-HTTP endpoints: evalkit's own and aiohttp (which https uses)."""
    if request.param == "aiohttp":
        monkeypatch.setenv("EVALKIT_HTTP_CLIENT", "aiohttp")
    return str(request.param)


@pytest.mark.parametrize("fault", ["500", "429", "malformed"])
def test_transient_errors_are_retried_until_success(fault: str, http_client: str) -> None:
    with LoopbackOpenAI(fault_plan=first_attempts_fail(fault, 2)) as server:
        c = caller()
        (completion,) = complete(c, request(server))
        assert json.loads(completion.text) == {"echo": "hi"}
        assert completion.attempts == 3
        assert server.stats.requests == 3
        assert c.stats.retries == 2


def test_attempts_are_bounded_and_the_error_says_so() -> None:
    with LoopbackOpenAI(faults=Faults(error_500=1.0)) as server:
        c = caller(max_attempts=3)
        with pytest.raises(ProviderError) as err:
            complete(c, request(server))
        assert server.stats.requests == 3  # no retry storm
        assert (
            err.value.attempts == 3
            and "(after 3 attempts)" in err.value.message
            and "500" in err.value.message
        )


def test_permanent_errors_are_not_retried(http_client: str) -> None:
    def plan(body: dict[str, Any], seen: int) -> str | None:
        return None

    with LoopbackOpenAI(fault_plan=plan) as server:
        bad = CompletionRequest(model="openai/loopback", messages=[], api_base=server.base_url + "/nowhere")
        c = caller()
        with pytest.raises(ProviderError) as err:
            complete(c, bad)
        assert not err.value.transient and err.value.status == 404
        assert c.stats.requests == 1


def test_retry_after_is_honoured(http_client: str) -> None:
    with LoopbackOpenAI(fault_plan=first_attempts_fail("429", 1), faults=Faults(retry_after=0.4)) as server:
        complete(caller(), request(server))
        (_, first), (_, second) = server.stats.arrivals
        assert second - first >= 0.4  # the client waited at least what the server asked for


def test_hung_request_times_out_and_is_retried(http_client: str) -> None:
    with LoopbackOpenAI(fault_plan=first_attempts_fail("hang", 1), faults=Faults(hang_seconds=30)) as server:
        (completion,) = complete(caller(), request(server, timeout=0.3))
        assert completion.attempts == 2 and server.stats.requests == 2


def test_adaptive_limit_halves_on_rate_limit_and_grows_on_success() -> None:
    async def scenario() -> list[float]:
        limit = ConcurrencyLimit(8, maximum=16, adaptive=True, cooldown=0.0)
        seen = []
        await limit.acquire()
        await limit.release(rate_limited=True)
        seen.append(limit.limit)
        await limit.acquire()
        await limit.release(rate_limited=True)
        seen.append(limit.limit)
        for _ in range(4):
            await limit.acquire()
            await limit.release(ok=True)
        seen.append(limit.limit)
        return seen

    halved, quartered, grown = asyncio.run(scenario())
    assert (halved, quartered) == (4.0, 2.0)
    assert 3.0 <= grown < 4.0  # +1/limit per success: about one slot per round of successes


def test_fixed_limit_never_changes_and_bounds_in_flight() -> None:
    with LoopbackOpenAI(latency=0.05) as server:
        c = ModelCaller(limit=ConcurrencyLimit(3, maximum=3, adaptive=False))

        complete(c, *(request(server, f"q{i}") for i in range(12)))
        assert server.stats.max_in_flight <= 3 and c.limit.limit == 3


def test_rate_limited_server_makes_the_adaptive_limit_back_off() -> None:
    with LoopbackOpenAI(latency=0.02, max_concurrent=3, faults=Faults(retry_after=0.02)) as server:
        c = ModelCaller(
            limit=ConcurrencyLimit(12, maximum=12), retry=RetryPolicy(max_attempts=8, base_delay=0.01)
        )

        results = complete(c, *(request(server, f"q{i}") for i in range(40)))
        assert len(results) == 40
        assert c.limit.decreases >= 1 and c.limit.limit < 12
        assert max(server.stats.by_prompt.values()) <= 8


def test_cache_key_covers_what_changes_the_answer() -> None:
    base = CompletionRequest(
        model="m", messages=[{"role": "user", "content": "x"}], params={"temperature": 0}
    )
    variants = [
        CompletionRequest(model="m2", messages=base.messages, params=base.params),
        CompletionRequest(model="m", messages=[{"role": "user", "content": "y"}], params=base.params),
        CompletionRequest(model="m", messages=base.messages, params={"temperature": 1}),
        CompletionRequest(
            model="m", messages=base.messages, params=base.params, response_schema={"type": "object"}
        ),
    ]
    keys = {cache_key(base, 0), cache_key(base, 1), *(cache_key(v, 0) for v in variants)}
    assert len(keys) == 6
    assert cache_key(base, 0) == cache_key(
        CompletionRequest(model="m", messages=list(base.messages), params={"temperature": 0}), 0
    )
    assert prompt_key({"messages": base.messages}) == prompt_key({"messages": list(base.messages)})


def test_queueing_for_a_busy_provider_does_not_count_against_the_timeout() -> None:
    """An in-process model serves one call at a time: calls wait their turn before their timeout starts."""
    from pathlib import Path

    from evalkit.providers.base import Completion, provider, providers

    class OneAtATime:
        max_concurrency = 1

        def __init__(self) -> None:
            self.turn = asyncio.Lock()  # like the embedded model's pool of one context
            self.waited = 0

        async def complete(self, request: CompletionRequest) -> Completion:
            self.waited += self.turn.locked()
            async with self.turn:
                await asyncio.sleep(0.2)  # the work itself, well inside the 0.5 s timeout
            return Completion(text="ok")

    served = OneAtATime()

    @provider("oneatatime")
    def factory(model: str, base_dir: Path | None = None) -> Any:
        return served

    try:
        c = ModelCaller(
            limit=ConcurrencyLimit(8, maximum=8, adaptive=False), retry=RetryPolicy(max_attempts=1)
        )
        reqs = [
            CompletionRequest(
                model="oneatatime:x", messages=[{"role": "user", "content": str(i)}], timeout=0.5
            )
            for i in range(5)
        ]
        results = complete(c, *reqs)  # 5 x 0.2 s in a row: 1 s, longer than any one timeout
    finally:
        providers._items.pop("oneatatime", None)
    assert [r.text for r in results] == ["ok"] * 5 and c.stats.failures == 0
    assert served.waited == 0  # calls queued in the call path, before their clocks started


def test_the_litellm_path_reaches_the_server_and_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """EVALKIT_FAST_PATH=0: the same call through litellm.acompletion, retried on a 500."""
    monkeypatch.setenv("EVALKIT_FAST_PATH", "0")
    with LoopbackOpenAI(fault_plan=first_attempts_fail("500", 1)) as server:
        c = caller()
        (completion,) = complete(c, request(server))
        assert json.loads(completion.text) == {"echo": "hi"}
        assert completion.attempts == 2 and server.stats.requests == 2


def test_a_missing_api_key_is_not_retried_and_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALKIT_FAST_PATH", "0")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with LoopbackOpenAI() as server:
        c = caller()
        with pytest.raises(ProviderError) as err:
            complete(c, request(server))
        assert server.stats.requests == 0 and c.stats.requests == 1  # one attempt, never sent
    assert not err.value.transient
    assert "no API key" in err.value.message and "OPENAI_API_KEY" in err.value.message
