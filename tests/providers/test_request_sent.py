"""What a stopped run counts as in flight: requests written to the provider and not answered, and no
call that was still connecting, nor one computed in-process (no provider to bill it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from evalkit.providers.base import CompletionRequest
from evalkit.providers.calls import ModelCaller, RetryPolicy
from evalkit.providers.concurrency import ConcurrencyLimit
from evalkit.testing.openai_server import Faults, LoopbackOpenAI
from tests.providers.test_calls import http_client, request

__all__ = ["http_client"]  # the fixture, shared with test_calls


def one_call(c: ModelCaller, req: CompletionRequest, stop_when: Any) -> None:
    """Start one call and cancel it (as a signal stops a run) once ``stop_when()`` is true, checked
    each time the event loop comes back to this test."""

    async def go() -> None:
        task = asyncio.create_task(c.complete(req))
        try:
            while not stop_when():
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        finally:
            await c.aclose()

    asyncio.run(go())


def test_a_call_stopped_while_it_connects_was_never_sent(http_client: str) -> None:
    """The first call of a client opens a connection, which takes at least one turn of the event
    loop: stopped then, no byte of it reached the server, so no provider can bill it."""
    with LoopbackOpenAI() as server:
        c = ModelCaller(limit=ConcurrencyLimit(1, maximum=1, adaptive=False), seed=1)
        turns = iter(range(1))  # stop on the first turn back: the call is inside its connect
        one_call(c, request(server), lambda: next(turns, None) is None)
        assert server.stats.requests == 0
    assert c.stats.requests == 1  # the attempt was made
    assert c.stats.unanswered == 0  # but its request never left


def test_a_call_stopped_after_its_request_was_written_is_in_flight(http_client: str) -> None:
    with LoopbackOpenAI(latency=30) as server:
        c = ModelCaller(limit=ConcurrencyLimit(1, maximum=1, adaptive=False), seed=1)
        one_call(c, request(server), lambda: c.stats.unanswered > 0)
        assert c.stats.unanswered == 1  # the call path saw it written: a provider may bill it


def test_an_in_process_call_stopped_midway_is_never_in_flight(tmp_path: Path) -> None:
    """A python: target (as the embedded model) runs here: stopping it leaves nothing to bill."""
    started = tmp_path / "started"
    (tmp_path / "blocking.py").write_text(
        "import time\n"
        f"STARTED = {str(started)!r}\n"
        "def answer(question):\n"
        "    open(STARTED, 'w').close()\n"
        "    time.sleep(0.5)\n"
        "    return question\n"
    )
    c = ModelCaller(tmp_path, retry=RetryPolicy(timeout=30))
    req = CompletionRequest(model="python:blocking:answer", messages=[], variables={"question": "q"})
    one_call(c, req, started.exists)
    assert c.stats.requests == 1 and c.stats.unanswered == 0


def test_a_call_stopped_in_its_retry_backoff_made_no_retry() -> None:
    """Answered 429 with a long Retry-After, the call waits before its second request: stopped then,
    it sent one request, which was answered, and no retry."""
    with LoopbackOpenAI(fault_plan=lambda body, seen: "429", faults=Faults(retry_after=300)) as server:
        c = ModelCaller(limit=ConcurrencyLimit(1, maximum=1, adaptive=False), seed=1)
        one_call(c, request(server), lambda: c.stats.rate_limited > 0)
        assert server.stats.requests == 1
    assert (c.stats.requests, c.stats.retries, c.stats.unanswered) == (1, 0, 0)
