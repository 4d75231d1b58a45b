"""Each provider path reads the cached prompt tokens its protocol reports, against loopback servers
that cache repeated prompt prefixes, and prices them at the cache-read price."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from evalkit.providers.base import Completion, CompletionRequest
from evalkit.providers.calls import ConcurrencyLimit, ModelCaller, RetryPolicy
from evalkit.providers.prices import call_cost, priced_call
from evalkit.testing.openai_server import LoopbackOpenAI
from evalkit.testing.vendor_servers import LoopbackAnthropic, LoopbackGemini

LONG = "Follow these rules exactly. " * 186  # 5,208 characters: 1,302 tokens by the loopbacks' count


def one_after_another(
    model: str, base_url: str, questions: list[str], cache_prefix: bool = False
) -> list[Completion]:
    """Complete one request per question in turn (each the long system prompt, then the question)."""
    caller = ModelCaller(
        limit=ConcurrencyLimit(1, maximum=1, adaptive=False), retry=RetryPolicy(max_attempts=1), seed=1
    )

    async def go() -> list[Completion]:
        try:
            done = []
            for question in questions:
                messages = [{"role": "system", "content": LONG}, {"role": "user", "content": question}]
                request = CompletionRequest(
                    model=model, messages=messages, api_base=base_url, timeout=30, cache_prefix=cache_prefix
                )
                done.append(await caller.complete(request))
            return done
        finally:
            await caller.aclose()

    return asyncio.run(go())


def assert_cached_and_priced(model: str, first: Completion, second: Completion) -> None:
    assert first.cached_prompt_tokens == 0 and first.prompt_cache_saved_usd == 0
    assert second.cached_prompt_tokens == 1280  # 1,024 + 2 blocks of 128 of the shared 1,302
    assert second.prompt_tokens >= 1300  # the cached tokens are counted in the prompt
    full = call_cost(model, second.prompt_tokens, second.completion_tokens)
    assert second.cost_usd == pytest.approx(
        call_cost(model, second.prompt_tokens, second.completion_tokens, 1280)
    )
    assert 0 < second.cost_usd < full
    assert second.prompt_cache_saved_usd == pytest.approx(full - second.cost_usd)


def test_openai_compatible_lean_client() -> None:
    model = "openai/gpt-4o-mini"  # in litellm's map with a cache-read price
    with LoopbackOpenAI() as server:
        first, second = one_after_another(model, server.base_url, ["q1", "q2"])
    assert_cached_and_priced(model, first, second)


def test_anthropic_caches_only_a_prefix_it_was_asked_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API caches up to blocks marked cache_control: unmarked, a repeated prompt is never cached."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-loopback")
    model = "anthropic/claude-haiku-4-5-20251001"
    with LoopbackAnthropic() as server:
        plain = one_after_another(model, server.base_url, ["q1", "q2"])
    assert [c.cached_prompt_tokens for c in plain] == [0, 0] and plain[1].cache_write_tokens == 0
    with LoopbackAnthropic(keep_bodies=True) as server:
        first, second, third = one_after_another(
            model, server.base_url, ["q1", "q2", "q3"], cache_prefix=True
        )
        system = server.stats.bodies[0]["system"]
    assert system == [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    # the first request writes the marked prefix (the system prompt: 1,302 tokens), later ones read it
    assert (first.cache_write_tokens, first.cached_prompt_tokens) == (1302, 0)
    assert (
        (second.cache_write_tokens, second.cached_prompt_tokens)
        == (0, 1302)
        == (
            third.cache_write_tokens,
            third.cached_prompt_tokens,
        )
    )
    # input_tokens excludes cache reads and writes; evalkit's prompt tokens include them, as litellm's do
    assert first.prompt_tokens == second.prompt_tokens == 1302
    full = call_cost(model, 1302, second.completion_tokens)
    assert first.cost_usd == pytest.approx(call_cost(model, 1302, first.completion_tokens, 0, 1302))
    assert first.cost_usd > full  # a cache write costs more than input
    assert second.cost_usd == pytest.approx(call_cost(model, 1302, second.completion_tokens, 1302))
    assert 0 < second.cost_usd < full and second.prompt_cache_saved_usd == pytest.approx(
        full - second.cost_usd
    )


def test_anthropic_marks_the_system_prompt_and_the_turn_before_the_last() -> None:
    from evalkit.providers.anthropic_messages import mark_cache_prefix

    ephemeral = {"type": "ephemeral"}
    body: dict[str, Any] = {
        "system": "rules",
        "messages": [
            {"role": "user", "content": "example in"},
            {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "user", "content": "the case"},
        ],
    }
    mark_cache_prefix(body)
    assert body["system"] == [{"type": "text", "text": "rules", "cache_control": ephemeral}]
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "a"},
        {"type": "text", "text": "b", "cache_control": ephemeral},
    ]
    assert body["messages"][0]["content"] == "example in" and body["messages"][2]["content"] == "the case"
    single: dict[str, Any] = {"messages": [{"role": "user", "content": "the case"}]}
    mark_cache_prefix(single)
    assert single == {"messages": [{"role": "user", "content": "the case"}]}  # nothing stable to mark


def test_gemini_lean_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "gm-loopback")
    model = "gemini/gemini-2.5-flash"
    with LoopbackGemini() as server:
        first, second = one_after_another(model, server.base_url, ["q1", "q2"])
    assert_cached_and_priced(model, first, second)


def test_litellm_reads_the_usage_it_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALKIT_FAST_PATH", "0")  # through litellm.acompletion
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")
    model = "openai/gpt-4o-mini"
    with LoopbackOpenAI() as server:
        first, second = one_after_another(model, server.base_url, ["q1", "q2"])
    assert second.cached_prompt_tokens == 1280 and first.cached_prompt_tokens == 0
    full = call_cost(model, second.prompt_tokens, second.completion_tokens)
    assert second.cost_usd == pytest.approx(full - second.prompt_cache_saved_usd)  # litellm's own pricing
    assert second.prompt_cache_saved_usd == pytest.approx(
        priced_call(model, second.prompt_tokens, second.completion_tokens, 1280)[1]
    )
    assert second.prompt_cache_saved_usd > 0


def test_litellm_usage_shapes() -> None:
    from types import SimpleNamespace

    from evalkit.providers.litellm import prompt_cache_tokens

    anthropic: Any = SimpleNamespace(cache_read_input_tokens=700, cache_creation_input_tokens=300)
    assert prompt_cache_tokens(anthropic) == (700, 300)
    openai: Any = SimpleNamespace(prompt_tokens_details={"cached_tokens": 1024})
    assert prompt_cache_tokens(openai) == (1024, 0)
    assert prompt_cache_tokens(SimpleNamespace(prompt_tokens=10)) == (0, 0)
    assert prompt_cache_tokens(None) == (0, 0)
