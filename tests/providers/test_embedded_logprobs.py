"""The embedded model returns log-probabilities through litellm, which the pairwise judge reads."""

from __future__ import annotations

import asyncio
import math

import pytest

pytest.importorskip("llama_cpp", reason="the embedded model needs the [local] extra (.ci/setup installs it)")

from evalkit.judges.letters import read_letter_logprobs
from evalkit.judges.pairwise import PairwiseJudge
from evalkit.providers.base import CompletionRequest
from evalkit.providers.calls import ModelCaller

pytestmark = pytest.mark.embedded


def test_logprobs_reach_the_completion_without_logits_all() -> None:
    request = CompletionRequest(
        model="local/smollm2-135m",
        messages=[{"role": "user", "content": "Say yes."}],
        params={"temperature": 0, "max_tokens": 3, "logprobs": True, "top_logprobs": 5},
    )

    async def go() -> object:
        caller = ModelCaller()
        try:
            return await caller.complete(request)
        finally:
            await caller.aclose()

    completion = asyncio.run(go())
    entries = completion.logprobs.content  # type: ignore[attr-defined]
    assert 1 <= len(entries) <= 3
    tokens = "".join(e.token for e in entries)
    assert completion.text.startswith(tokens.strip()) or tokens.startswith(completion.text)  # type: ignore[attr-defined]
    for entry in entries:
        top = entry.top_logprobs
        assert len(top) == 5
        assert [t.logprob for t in top] == sorted((t.logprob for t in top), reverse=True)
        assert all(t.logprob <= 0 for t in top) and sum(math.exp(t.logprob) for t in top) <= 1 + 1e-6
        # greedy decoding: the chosen token is the most likely one
        assert entry.token == top[0].token and entry.logprob == pytest.approx(top[0].logprob)


def test_a_letter_verdict_is_read_from_the_embedded_model() -> None:
    judge = PairwiseJudge(model="local/smollm2-135m", reasoning=False)
    request = judge.letter_request("What is 2 + 2?", "4", "5")

    async def go() -> object:
        caller = ModelCaller()
        try:
            return await caller.complete(request)
        finally:
            await caller.aclose()

    letters = read_letter_logprobs(asyncio.run(go()).logprobs)  # type: ignore[attr-defined]
    assert letters is not None and letters.first < 0 and letters.second < 0
