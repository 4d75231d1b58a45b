"""The call path: retries, Retry-After, timeouts, malformed bodies, adaptive concurrency, cache keys."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import ProviderError
from evalkit.providers.base import CompletionRequest
from evalkit.providers.calls import ModelCaller, RetryPolicy, cache_key
from evalkit.providers.concurrency import AttemptDeadlines, ConcurrencyLimit, Outcome
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
        c = caller()
        (completion,) = complete(c, request(server, timeout=0.3))
        assert completion.attempts == 2 and server.stats.requests == 2
        # the abandoned attempt is counted apart: a provider may still finish and bill it
        assert c.stats.timed_out == 1 and c.stats.retries == 1


def answers(limit: ConcurrencyLimit, outcomes: list[Outcome]) -> None:
    """Calls dispatched in the current generation answering with ``outcomes``, one after another."""

    async def go() -> None:
        for outcome in outcomes:
            generation = await limit.acquire()
            limit.release(generation, outcome)

    asyncio.run(go())


def test_slow_start_doubles_the_limit_each_round_up_to_the_maximum() -> None:
    limit = ConcurrencyLimit(8, maximum=64)
    answers(limit, [Outcome.OK] * 8)  # one round trip at 8 in flight
    assert limit.limit == 16
    answers(limit, [Outcome.OK] * 16)
    assert limit.limit == 32
    answers(limit, [Outcome.OK] * 40)
    assert limit.limit == 64 and limit.decreases == 0


def test_a_few_429s_change_nothing_but_a_round_of_them_shrinks_the_limit_by_their_share() -> None:
    limit = ConcurrencyLimit(40, maximum=40)
    # 10% 429s, as a provider close to its rate limit answers: those calls retry, the limit stays
    answers(limit, ([Outcome.RATE_LIMITED] + [Outcome.OK] * 9) * 8)
    assert limit.limit == 40 and limit.decreases == 0 and limit.slow_start
    # a round of 40 answers of which 30 are 429s: the provider serves about 10 at once
    answers(limit, [Outcome.RATE_LIMITED] * 30 + [Outcome.OK] * 10)
    assert limit.limit == 20 and limit.decreases == 1  # never more than halved at once
    assert not limit.slow_start  # from now on one slot per round
    answers(limit, [Outcome.OK] * 20)
    assert 20 < limit.limit < 21.5


def test_a_burst_of_server_errors_shrinks_the_limit_less_than_a_burst_of_429s() -> None:
    by_429, by_500 = ConcurrencyLimit(40, maximum=40), ConcurrencyLimit(40, maximum=40)
    answers(by_429, [Outcome.RATE_LIMITED] * 40)
    answers(by_500, [Outcome.SERVER_ERROR] * 40)
    assert by_429.limit == 20 and by_500.limit == 32
    # the odd server error (a fifth of the answers) is no burst: retried, the limit kept
    steady = ConcurrencyLimit(40, maximum=40)
    answers(steady, ([Outcome.SERVER_ERROR] + [Outcome.OK] * 4) * 16)
    assert steady.limit == 40 and steady.decreases == 0


def test_answers_to_calls_dispatched_before_a_decrease_are_not_counted_again() -> None:
    async def scenario() -> ConcurrencyLimit:
        limit = ConcurrencyLimit(30, maximum=30)
        stale = [await limit.acquire() for _ in range(10)]  # in flight when the provider pushes back
        for _ in range(30):  # one round, all 429s
            generation = await limit.acquire()
            limit.release(generation, Outcome.RATE_LIMITED)
        assert limit.limit == 15
        for generation in stale:  # their 429s say nothing about the new limit
            limit.release(generation, Outcome.RATE_LIMITED)
        return limit

    limit = asyncio.run(scenario())
    assert limit.limit == 15 and limit.decreases == 1 and limit.in_flight == 0


def test_attempt_deadlines_follow_the_model_latency_and_leave_the_last_attempt_the_whole_timeout() -> None:
    deadlines = AttemptDeadlines()
    assert deadlines.timeout("m", 1, 4, 60.0) == 60.0  # nothing seen yet: no guess
    for _ in range(AttemptDeadlines.WARM_UP):
        deadlines.record("m", 0.5)
    assert [deadlines.timeout("m", k, 4, 60.0) for k in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 60.0]
    assert deadlines.timeout("m", 3, 4, 5.0) == 5.0  # never more than the timeout
    assert deadlines.timeout("other-model", 1, 4, 60.0) == 60.0
    for _ in range(AttemptDeadlines.WARM_UP):
        deadlines.record("fast", 0.01)
    assert deadlines.timeout("fast", 1, 4, 60.0) == AttemptDeadlines.FLOOR


def test_the_adaptive_limit_reaches_the_maximum_in_flight_within_a_few_round_trips() -> None:
    with LoopbackOpenAI(latency=0.2) as server:
        c = ModelCaller(limit=ConcurrencyLimit(8, maximum=32))
        complete(c, *(request(server, f"q{i}") for i in range(200)))
    seen = server.stats.in_flight_at_arrival
    assert max(seen) == 32 and c.limit.limit == 32
    # slow start: 24 successes take the limit from 8 to 32, so 32 are in flight by about the 56th
    # request (twice that leaves room for a loaded machine); growing by one slot per round, as
    # before slow start, took ~470 successes
    assert seen.index(32) < 2 * (8 + 16 + 32)


def test_a_429_with_retry_after_delays_only_that_call() -> None:
    plan = lambda body, seen: "429" if body["messages"][0]["content"] == "q0" and seen == 1 else None  # noqa: E731
    with LoopbackOpenAI(fault_plan=plan, faults=Faults(retry_after=3.0)) as server:
        c = ModelCaller(limit=ConcurrencyLimit(4, maximum=4))
        results = complete(c, *(request(server, f"q{i}") for i in range(40)))
    assert len(results) == 40 and results[0].attempts == 2
    first_q0, retried_q0 = (
        t for key, t in server.stats.arrivals if key == prompt_key(server.stats.bodies[0])
    )
    others = [t for key, t in server.stats.arrivals if key != prompt_key(server.stats.bodies[0])]
    assert retried_q0 - first_q0 >= 3.0  # that call waited what the server asked for ...
    assert max(others) - first_q0 < 3.0  # ... while the 39 others were sent without waiting for it


def test_hung_calls_give_their_slot_back_after_a_few_typical_latencies() -> None:
    """4 slots, 4 calls that hang on their first attempt: the other calls do not wait for them."""
    hung = {f"q{i}" for i in range(30, 34)}
    plan = lambda body, seen: "hang" if body["messages"][0]["content"] in hung and seen == 1 else None  # noqa: E731
    with LoopbackOpenAI(latency=0.01, fault_plan=plan, faults=Faults(hang_seconds=120)) as server:
        c = ModelCaller(limit=ConcurrencyLimit(4, maximum=4, adaptive=False), retry=RetryPolicy(timeout=60))
        results = complete(c, *(request(server, f"q{i}") for i in range(80)))
    assert all(json.loads(r.text)["echo"] == f"q{i}" for i, r in enumerate(results))
    assert [results[i].attempts for i in range(30, 34)] == [2] * 4
    assert server.stats.by_outcome["hang"] == 4 == c.stats.timed_out
    # each was cut at the floor of a few typical latencies (1 s), far from the 60 s timeout
    for i in range(30, 34):
        key = prompt_key({"messages": [{"role": "user", "content": f"q{i}"}]})
        first, retried = (t for k, t in server.stats.arrivals if k == key)
        assert retried - first < 30.0


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


def test_a_slow_python_target_is_not_cut_like_a_hung_connection(tmp_path: Any) -> None:
    (tmp_path / "slowtarget.py").write_text(
        "import asyncio\n"
        "async def answer(question):\n"
        "    if question == 'slow':\n"
        "        await asyncio.sleep(2.5)  # past the 1 s floor (+1 s of grace) a first attempt gets\n"
        "    return question\n"
    )
    c = ModelCaller(
        tmp_path, limit=ConcurrencyLimit(4, maximum=4, adaptive=False), retry=RetryPolicy(timeout=60)
    )
    reqs = [
        CompletionRequest(model="python:slowtarget:answer", messages=[], variables={"question": q})
        for q in [*(f"q{i}" for i in range(AttemptDeadlines.WARM_UP + 4)), "slow"]
    ]

    async def go() -> list[Any]:
        fast = [await c.complete(r) for r in reqs[:-1]]  # warm-up: the model's typical latency is known
        return [*fast, await c.complete(reqs[-1])]

    results = asyncio.run(go())
    assert results[-1].text == "slow" and results[-1].attempts == 1 and c.stats.requests == len(reqs)


def test_a_python_target_past_its_timeout_is_not_called_again(tmp_path: Any) -> None:
    # its thread cannot be stopped: a second call would run the pipeline (and its side effects) twice
    log = tmp_path / "calls.log"
    (tmp_path / "sleepy.py").write_text(
        "import time\n"
        f"LOG = {str(log)!r}\n"
        "def answer(question):\n"
        "    with open(LOG, 'a') as f:\n"
        "        f.write(question + '\\n')\n"
        "    time.sleep(1.5)\n"
        "    return question\n"
    )
    c = ModelCaller(tmp_path, retry=RetryPolicy(timeout=0.3, max_attempts=4))
    req = CompletionRequest(model="python:sleepy:answer", messages=[], variables={"question": "q"})
    with pytest.raises(ProviderError) as err:
        complete(c, req)
    assert err.value.message == "timeout after 0.3s" and not err.value.transient
    assert c.stats.requests == 1 and c.stats.retries == 0
    assert log.read_text().splitlines() == ["q"]


def test_a_resumed_run_pays_for_its_own_cached_answers_and_saves_on_others(tmp_path: Path) -> None:
    """An answer cached by a run's earlier part (stopped while the judge was out, then resumed) is
    that run's cost, stored with its latency, as an uninterrupted run stores it; one made by another
    run is a saving. Neither counts against this invocation's --budget."""
    from evalkit.providers.base import Completion
    from evalkit.store import open_store
    from tests.runs import run_record

    store = open_store(tmp_path / "r.duckdb")
    store.create_run(run_record("first"))
    paid = Completion(
        text='{"a": 1}', prompt_tokens=40, completion_tokens=8, cost_usd=0.002, latency_ms=250.0
    )
    store.add_results("first", [], cache_rows=[("key-1", "openai/gpt-4o-mini", paid)])

    def served(run_id: str) -> tuple[Completion, ModelCaller]:
        caller = ModelCaller(cache=store)
        caller.run_id = run_id
        caller.prefetch(["key-1"])
        hit = caller.cached("key-1")
        assert hit is not None
        return hit, caller

    own, caller = served("first")
    assert (own.cost_usd, own.latency_ms, own.cached, own.saved_cost_usd) == (0.002, 250.0, False, 0.0)
    assert caller.stats.cost_usd == 0.0 and caller.stats.cache_hits == 1
    other, _ = served("second")
    assert (other.cost_usd, other.cached, other.saved_cost_usd) == (0.0, True, 0.002)


class _EmptyCache:
    """A response cache that has nothing yet: every lookup is a miss."""

    def cached_responses(self, keys: Any) -> dict[str, dict[str, Any]]:
        return {}


def test_calls_cancelled_while_queued_are_neither_misses_nor_judge_calls() -> None:
    """A run stopped (a signal) with calls queued behind the concurrency limit: only the calls that
    went to the provider are cache misses and judge calls, as the summary's Calls line prints them."""
    with LoopbackOpenAI(latency=0.3) as server:
        c = ModelCaller(limit=ConcurrencyLimit(1, maximum=1, adaptive=False), cache=_EmptyCache(), seed=1)

        async def go() -> None:
            try:
                tasks = [
                    asyncio.create_task(c.complete(request(server, f"q{i}"), judge=True)) for i in range(5)
                ]
                while server.stats.requests < 1:  # one call sent; four queued for the limit
                    await asyncio.sleep(0.01)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                await c.aclose()

        asyncio.run(go())
        assert server.stats.requests == 1
    assert c.stats.requests == 1
    assert c.stats.cache_misses == 1  # not 5: four never left the queue
    assert c.stats.judge_calls == 1
    assert c.stats.unanswered == 1  # sent, then abandoned: a provider may still answer and bill it


def test_answered_failed_and_timed_out_attempts_leave_no_request_unanswered(http_client: str) -> None:
    """What a stopped run counts as in flight is what was sent and got nothing back: an answer, an
    error and an attempt evalkit stopped waiting for (counted as timed out) are none of it."""

    def plan(body: dict[str, Any], seen: int) -> str | None:
        text = body["messages"][-1]["content"]
        return {"bad": "500", "slow": "hang"}.get(text)

    with LoopbackOpenAI(fault_plan=plan, faults=Faults(hang_seconds=5)) as server:
        c = caller(max_attempts=2)

        async def one(text: str, timeout: float | None = None) -> Any:
            try:
                return await c.complete(request(server, text, timeout=timeout))
            except ProviderError as exc:
                return exc

        async def go() -> list[Any]:
            try:
                return await asyncio.gather(one("ok"), one("bad"), one("slow", timeout=0.2))
            finally:
                await c.aclose()

        ok, bad, slow = asyncio.run(go())
    assert not isinstance(ok, ProviderError)
    assert isinstance(bad, ProviderError) and isinstance(slow, ProviderError)
    assert (c.stats.requests, c.stats.timed_out) == (5, 2)
    assert c.stats.unanswered == 0
