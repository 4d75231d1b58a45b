"""The loopback servers' prompt cache: repeated prefixes come back as cached tokens, OpenAI-style."""

from __future__ import annotations

import asyncio

import pytest

from evalkit.providers.base import Completion, CompletionRequest
from evalkit.providers.calls import ConcurrencyLimit, ModelCaller, RetryPolicy
from evalkit.testing.prompt_cache import PrefixCache


def test_short_prompts_are_never_cached() -> None:
    cache = PrefixCache(min_tokens=1024, block_tokens=128)
    prompt = "x" * 4 * 1000  # 1,000 tokens by the loopback's count
    assert cache.lookup_and_remember(prompt) == 0
    assert cache.lookup_and_remember(prompt) == 0


def test_a_repeated_prefix_is_cached_in_whole_blocks() -> None:
    cache = PrefixCache(min_tokens=1024, block_tokens=128)
    shared = "s" * 4 * 1200  # 1,200 tokens every prompt starts with
    assert cache.lookup_and_remember(shared + "first question") == 0  # nothing seen yet
    # the shared part covers the 1,024 and 1,152 boundaries, not 1,280
    assert cache.lookup_and_remember(shared + "second question") == 1152
    assert cache.lookup_and_remember("t" + shared) == 0  # a different start shares no prefix


def test_an_identical_prompt_is_cached_up_to_its_last_whole_block() -> None:
    cache = PrefixCache(min_tokens=64, block_tokens=32)
    prompt = "p" * 4 * 200  # 200 tokens: boundaries 64, 96, 128, 160, 192
    assert cache.lookup_and_remember(prompt) == 0
    assert cache.lookup_and_remember(prompt) == 192
    assert cache.lookup_and_remember(prompt[: 4 * 100] + "q" * 4 * 100) == 96  # diverges at token 100


def test_the_cache_is_per_model() -> None:
    cache = PrefixCache(min_tokens=64, block_tokens=32)
    prompt = "p" * 4 * 200
    assert cache.lookup_and_remember(prompt, "gpt-4o-mini") == 0
    assert cache.lookup_and_remember(prompt, "gpt-4o") == 0  # another model's cache is cold
    assert cache.lookup_and_remember(prompt, "gpt-4o-mini") == 192


def test_the_openai_loopback_reports_cached_tokens_in_its_usage() -> None:
    import json
    import urllib.request

    from evalkit.testing.openai_server import LoopbackOpenAI

    system = "Follow these rules. " * 260  # 5,200 characters: 1,300 tokens
    with LoopbackOpenAI() as server, LoopbackOpenAI(cache_min_tokens=None) as silent:

        def usage(base_url: str, question: str) -> dict[str, object]:
            body = {
                "model": "m",
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
            }
            request = urllib.request.Request(
                base_url + "/chat/completions",
                json.dumps(body).encode(),
                {"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.loads(answer.read())["usage"]  # type: ignore[no-any-return]

        assert usage(server.base_url, "a")["prompt_tokens_details"] == {"cached_tokens": 0}
        again = usage(server.base_url, "b")
        assert again["prompt_tokens_details"] == {"cached_tokens": 1280}
        assert again["prompt_tokens"] == 1300
        usage(silent.base_url, "a")
        assert usage(silent.base_url, "b")["prompt_tokens_details"] == {"cached_tokens": 0}


@pytest.mark.parametrize("server_kind", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("fault", ["500", "429", "malformed"])
def test_a_request_that_failed_does_not_warm_the_cache(
    server_kind: str, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider caches a prompt it processed: a retry after an injected fault is not a cache hit,
    and the first request answered is what fills the cache for the next one."""
    from evalkit.testing.openai_server import LoopbackOpenAI
    from evalkit.testing.vendor_servers import LoopbackAnthropic, LoopbackGemini

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-loopback")
    monkeypatch.setenv("GEMINI_API_KEY", "gm-loopback")
    servers = {"openai": LoopbackOpenAI, "anthropic": LoopbackAnthropic, "gemini": LoopbackGemini}
    models = {
        "openai": "openai/gpt-4o-mini",
        "anthropic": "anthropic/claude-haiku-4-5-20251001",
        "gemini": "gemini/gemini-2.5-flash",
    }
    with servers[server_kind](fault_plan=lambda body, seen: fault if seen == 1 else None) as server:
        first, second = retried_one_after_another(models[server_kind], server.base_url, ["q1", "q2"])
        assert server.stats.requests == 4  # each question failed once, then was answered
    assert first.attempts == 2 and first.cached_prompt_tokens == 0  # the failed attempt cached nothing
    if server_kind == "anthropic":  # the answered attempt wrote the marked prefix, the next one read it
        assert first.cache_write_tokens == 1302 and second.cached_prompt_tokens == 1302
    else:
        assert second.cached_prompt_tokens == 1280


def retried_one_after_another(model: str, base_url: str, questions: list[str]) -> list[Completion]:
    """One request per question in turn (a long shared system prompt, then the question), each
    retried once after a failure."""
    caller = ModelCaller(
        limit=ConcurrencyLimit(1, maximum=1, adaptive=False),
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05),
        seed=1,
    )
    system = "Follow these rules exactly. " * 186  # 1,302 tokens by the loopbacks' count

    async def go() -> list[Completion]:
        try:
            done = []
            for question in questions:
                messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
                request = CompletionRequest(
                    model=model, messages=messages, api_base=base_url, timeout=30, cache_prefix=True
                )
                done.append(await caller.complete(request))
            return done
        finally:
            await caller.aclose()

    return asyncio.run(go())
