"""Pairwise judging in both orders against the real loopback server: position bias, log-prob and text verdicts."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from evalkit.analysis.pairwise_runs import summarize
from evalkit.judges.letters import read_letter_logprobs
from evalkit.judges.pairwise import (
    OrderVerdict,
    PairVerdict,
    PairwiseJudge,
    PairwiseJudging,
    combine,
)
from evalkit.providers.calls import ModelCaller
from evalkit.testing.openai_server import LoopbackOpenAI

PAIRS = [("q1", "good answer", "bad answer"), ("q2", "bad answer", "good answer"), ("q3", "good one", "poor")]


def responses(body: dict[str, Any]) -> tuple[str, str]:
    """The two fenced responses the judge was shown, in slot order."""
    user = body["messages"][-1]["content"]
    found = re.findall(r"<<<BEGIN RESPONSE [AB] \w+>>>\n(.*?)\n<<<END", user, re.DOTALL)
    assert len(found) == 2, user
    return found[0], found[1]


def is_letter_pass(body: dict[str, Any]) -> bool:
    return bool(body.get("logprobs"))


def first_slot_text(body: dict[str, Any]) -> str:
    """A judge that always prefers whatever it sees first (written verdict; the letter pass says A)."""
    if is_letter_pass(body):
        return "A"
    return json.dumps({"reasoning": "The first one is better.", "winner": "A", "confidence": 0.9})


def content_text(body: dict[str, Any]) -> str:
    """A judge that prefers the response saying "good", wherever it stands."""
    first, _ = responses(body)
    letter = "A" if "good" in first else "B"
    if is_letter_pass(body):
        return letter
    return json.dumps(
        {"reasoning": f"Response {letter} is the good one.", "winner": letter, "confidence": 0.8}
    )


def first_slot_logprobs(body: dict[str, Any], text: str) -> list[dict[str, float]]:
    return [{"A": -0.1, "B": -2.5, "The": -4.0}]


def content_logprobs(body: dict[str, Any], text: str) -> list[dict[str, float]]:
    first, _ = responses(body)
    # a slight first-slot lean on top of the content signal: the content still wins in both orders
    good, bad = -0.3, -1.5
    return [{" A": good + 0.2 if "good" in first else bad + 0.2, " B": bad if "good" in first else good}]


def judge_all(
    server: LoopbackOpenAI, verdict: str = "auto", reasoning: bool = False
) -> tuple[list[PairVerdict], PairwiseJudging]:
    judge = PairwiseJudge(
        model="openai/judge",
        api_base=server.base_url,
        verdict=verdict,
        reasoning=reasoning,  # type: ignore[arg-type]
    )

    async def go() -> tuple[list[PairVerdict], PairwiseJudging]:
        caller = ModelCaller()
        try:
            judging = PairwiseJudging(judge, caller.complete)
            found = []
            for request, a, b in PAIRS:  # one at a time: the first tells whether logprobs come back
                found.append(await judging.judge_pair(request, a, b))
            return found, judging
        finally:
            await caller.aclose()

    return asyncio.run(go())


def stats_of(verdicts: list[PairVerdict]) -> Any:
    from evalkit.analysis.pairwise_runs import JudgedCase

    judge = PairwiseJudge(model="m")
    cases = [JudgedCase(str(i), v, "", "", "") for i, v in enumerate(verdicts)]
    return summarize(cases, judge, "A", "B").stats


def test_first_slot_judge_with_text_verdicts_gets_ties_and_agreement_zero() -> None:
    with LoopbackOpenAI(responder=first_slot_text, logprobs=False) as server:
        verdicts, judging = judge_all(server)
        bodies = server.stats.bodies
    assert [v.winner for v in verdicts] == ["tie", "tie", "tie"]
    assert all(v.decided_by == "disagreement" and v.consistent is False for v in verdicts)
    assert all(
        o.method == "text" and o.reasoning == "The first one is better." for v in verdicts for o in v.orders
    )
    stats = stats_of(verdicts)
    assert (stats.wins, stats.losses, stats.ties) == (0, 0, 3)
    assert stats.win_rate is None and stats.sign_test_p == 1.0
    assert stats.position_agreement == 0.0 and stats.first_slot_share == 1.0
    # the server returns no logprobs: after one letter probe (the other order waits for it), only text
    assert judging.logprobs_available is False
    assert sum(is_letter_pass(b) for b in bodies) == 1
    assert sum(not is_letter_pass(b) for b in bodies) == 6


def test_first_slot_judge_with_logprob_verdicts_cancels_out_to_ties() -> None:
    with LoopbackOpenAI(responder=first_slot_text, top_logprobs=first_slot_logprobs) as server:
        verdicts, _ = judge_all(server, verdict="logprobs")
        bodies = server.stats.bodies
    assert [v.winner for v in verdicts] == ["tie", "tie", "tie"]
    assert all(v.decided_by == "logprobs" and v.margin == pytest.approx(0.0) for v in verdicts)
    assert (verdicts[0].ab.margin, verdicts[0].ba.margin) == (pytest.approx(2.4), pytest.approx(-2.4))
    stats = stats_of(verdicts)
    assert stats.position_agreement == 0.0 and stats.first_slot_share == 1.0
    assert (stats.wins, stats.losses) == (0, 0)
    # one short answer per order, asking for the top log-probabilities
    assert len(bodies) == 6 and all(b["logprobs"] is True and b["top_logprobs"] == 20 for b in bodies)
    assert all(b["max_tokens"] == 2 for b in bodies)


def test_content_following_judge_gets_agreement_one_with_text_verdicts() -> None:
    with LoopbackOpenAI(responder=content_text, logprobs=False) as server:
        verdicts, _ = judge_all(server, verdict="text")
        assert all(not is_letter_pass(b) for b in server.stats.bodies)
    assert [v.winner for v in verdicts] == ["a", "b", "a"]
    assert all(v.decided_by == "agreement" and v.consistent for v in verdicts)
    stats = stats_of(verdicts)
    assert stats.position_agreement == 1.0 and stats.first_slot_share == pytest.approx(0.5)
    assert (stats.wins, stats.losses, stats.ties) == (1, 2, 0)


def test_content_following_judge_read_from_logprobs_with_reasoning_alongside() -> None:
    with LoopbackOpenAI(responder=content_text, top_logprobs=content_logprobs) as server:
        verdicts, judging = judge_all(server, reasoning=True)
        bodies = server.stats.bodies
    assert judging.logprobs_available is True
    assert [v.winner for v in verdicts] == ["a", "b", "a"]
    first = verdicts[0]
    assert first.decided_by == "logprobs" and first.consistent
    # ab: A shown first and good: lp(A)=-0.1, lp(B)=-1.5 -> +1.4; ba: B first, bad: lp(A)=-1.3, lp(B)=-0.3
    # margin for a = lp(B) - lp(A) = +1.0; mean +1.2
    assert first.ab.margin == pytest.approx(1.4) and first.ba.margin == pytest.approx(1.0)
    assert first.margin == pytest.approx(1.2)
    assert all(o.method == "logprobs" and o.text_winner == o.winner and o.reasoning for o in first.orders)
    assert len(bodies) == 12  # per order: the letter pass and the written verdict for its reasoning


def test_a_cached_reply_without_logprobs_is_asked_again(loopback: LoopbackOpenAI, tmp_path: Any) -> None:
    """The response cache keeps text only: a cached letter reply would lose the verdict's margin,
    so the letter pass never reads it (nor counts a hit it would pay for again as saved)."""
    from evalkit.store import open_store

    loopback.responder = content_text
    loopback.top_logprobs = content_logprobs
    store = open_store(str(tmp_path / "c.duckdb"))
    judge = PairwiseJudge(model="openai/judge", api_base=loopback.base_url, reasoning=False)

    async def judge_once() -> tuple[PairVerdict, int]:
        caller = ModelCaller(cache=store)
        try:
            verdict = await PairwiseJudging(judge, caller.complete).judge_pair(*PAIRS[0])
            store.add_results("r", [], cache_rows=caller.drain_cache_rows())
            return verdict, caller.stats.cache_hits
        finally:
            await caller.aclose()

    first, hits = asyncio.run(judge_once())
    assert first.decided_by == "logprobs" and hits == 0
    again, hits = asyncio.run(judge_once())
    assert hits == 0  # the letter replies were not looked up in the cache...
    assert again.decided_by == "logprobs" and again.margin == pytest.approx(
        first.margin
    )  # ...but asked again
    assert loopback.stats.requests == 4


def test_reading_letters_from_top_logprobs() -> None:
    entry = {
        "token": "The",
        "logprob": -0.5,
        "top_logprobs": [
            {"token": "The", "logprob": -0.5},
            {"token": " A", "logprob": -1.0},
            {"token": "A", "logprob": -1.0},
            {"token": '"B', "logprob": -2.0},
        ],
    }
    letters = read_letter_logprobs({"content": [entry]})
    assert letters is not None and not letters.bounded
    assert letters.first == pytest.approx(-1.0 + 0.6931471805599453)  # two variants of A, summed
    assert letters.second == pytest.approx(-2.0)
    only_b = {
        "content": [{"top_logprobs": [{"token": "B", "logprob": -0.2}, {"token": "x", "logprob": -3.0}]}]
    }
    bounded = read_letter_logprobs(only_b)
    assert bounded is not None and bounded.bounded and bounded.first == -3.0 and bounded.margin < 0
    # the first position offering either letter is the answer token
    two = {"content": [{"top_logprobs": [{"token": "Response", "logprob": -0.1}]}, entry]}
    assert read_letter_logprobs(two) == letters
    assert read_letter_logprobs({"content": [{"top_logprobs": [{"token": "no", "logprob": -0.1}]}]}) is None
    assert read_letter_logprobs(None) is None


def test_combining_orders() -> None:
    def order(o: str, winner: str | None, margin: float | None = None) -> OrderVerdict:
        return OrderVerdict(order=o, winner=winner, margin=margin, error=None if winner else "boom")  # type: ignore[arg-type]

    assert combine(order("ab", "a"), order("ba", "a")).winner == "a"
    split = combine(order("ab", "a"), order("ba", "b"))
    assert (split.winner, split.decided_by, split.consistent) == ("tie", "disagreement", False)
    decided = combine(order("ab", "a", 2.0), order("ba", "b", -0.5))
    assert (decided.winner, decided.decided_by, decided.margin) == ("a", "logprobs", 0.75)
    assert combine(order("ab", "a", 0.2), order("ba", "b", -0.1), tie_margin=0.1).winner == "tie"
    failed = combine(order("ab", None), order("ba", "a"))
    assert failed.winner is None and failed.decided_by == "error" and "boom" in (failed.error or "")
